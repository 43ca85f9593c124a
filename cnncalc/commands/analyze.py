"""``cnncalc analyze ARCH [--bind NAME=VALUE ...] [--format ...] [--columns ...] [--depth D]
[--units [si|iec]]``."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import analyze
from ..tables import ALL_COLUMNS, render
from ..tables import FORMATS as TABLE_FORMATS
from .common import add_arch, add_bindings

NAME = "analyze"
HELP = "analyse an architecture (JSON file or zoo name)"
FORMATS = (*TABLE_FORMATS, "json")


def add_table_options(p: argparse.ArgumentParser) -> None:
    """``--columns``, ``--depth`` and ``--units`` (shared with other table commands)."""
    p.add_argument("--columns", "-c", metavar="LIST",
                   help="comma-separated columns, from: " + ", ".join(ALL_COLUMNS))
    p.add_argument("--depth", "-d", type=int, metavar="D",
                   help="one row per group of layers sharing the first D parts of their "
                        "dotted names (summed)")
    p.add_argument("--units", "-u", nargs="?", const="si", choices=("si", "iec"),
                   help="K/M/G for counts and KB/MB/GB for bytes (si, the default) or "
                        "KiB/MiB/GiB (iec)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arch(p)
    add_bindings(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="table",
                   help="output format (default: table; json is the full analysis)")
    add_table_options(p)


def run(args: argparse.Namespace) -> int:
    an = analyze(args.arch, dict(args.bind))
    if args.format == "json":
        print(json.dumps(an.to_dict(), indent=2))
    else:
        sys.stdout.write(render(an, args.format, columns=args.columns, depth=args.depth,
                                units=args.units or False))
    return 0
