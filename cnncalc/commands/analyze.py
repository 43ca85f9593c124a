"""``cnncalc analyze ARCH [--bind NAME=VALUE ...] [--format ...]``."""

from __future__ import annotations

import argparse
import json
import sys

from ..api import analyze
from ..tables import plain
from .common import add_arch, add_bindings

NAME = "analyze"
HELP = "analyse an architecture (JSON file or zoo name)"
FORMATS = ("table", "json")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arch(p)
    add_bindings(p)
    p.add_argument("--format", "-f", choices=FORMATS, default="table")


def run(args: argparse.Namespace) -> int:
    an = analyze(args.arch, dict(args.bind))
    if args.format == "json":
        print(json.dumps(an.to_dict(), indent=2))
    else:
        sys.stdout.write(plain(an))
    return 0
