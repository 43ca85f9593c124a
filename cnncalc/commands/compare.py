"""``cnncalc compare A B ... [--bind NAME=VALUE ...] [--format ...]``."""

from __future__ import annotations

import argparse
import sys

from ..compare import QUANTITIES, compare
from ..tables import FORMATS
from .common import add_bindings

NAME = "compare"
HELP = "architectures side by side: totals and their formulas (design-choice tables)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archs", nargs="+", metavar="ARCH",
                   help="JSON files or zoo model names (see `cnncalc zoo`)")
    add_bindings(p)
    p.add_argument("--quantities", "-q", default=",".join(QUANTITIES), metavar="LIST",
                   help=f"comma-separated totals (default: {','.join(QUANTITIES)})")
    p.add_argument("--format", "-f", choices=(*FORMATS, "json"), default="table")
    p.add_argument("--units", "-u", nargs="?", const="si", choices=("si", "iec"),
                   help="K/M/G for counts and KB/MB/GB (si) or KiB/MiB/GiB (iec) for bytes")


def run(args: argparse.Namespace) -> int:
    qs = tuple(q.strip() for q in args.quantities.split(",") if q.strip())
    cmp = compare(args.archs, dict(args.bind), qs)
    sys.stdout.write(cmp.render(args.format, args.units or False))
    return 0
