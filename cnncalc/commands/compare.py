"""``cnncalc compare A B ... [--bind NAME=VALUE ...] [--format ...]``."""

from __future__ import annotations

import argparse
import sys

from ..report.compare import compare
from .common import add_bindings, add_totals_options

NAME = "compare"
HELP = "architectures side by side: totals and their formulas (design-choice tables)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archs", nargs="+", metavar="ARCH",
                   help="JSON files or zoo model names (see `cnncalc zoo`)")
    add_bindings(p)
    add_totals_options(p)


def run(args: argparse.Namespace) -> int:
    cmp = compare(args.archs, dict(args.bind), args.quantities)
    sys.stdout.write(cmp.render(args.format, args.units or False))
    return 0
