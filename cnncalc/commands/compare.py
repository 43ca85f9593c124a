"""``cnncalc compare A B ... [--bind NAME=VALUE ...] [--format ...] [--profile P.json
[--threads T]]``."""

from __future__ import annotations

import argparse
import sys

from ..report.compare import compare
from .common import add_bindings, add_profile, add_totals_options, read_profile

NAME = "compare"
HELP = "architectures side by side: totals and their formulas (design-choice tables)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archs", nargs="+", metavar="ARCH",
                   help="JSON files or zoo model names (see `cnncalc zoo`)")
    add_bindings(p)
    add_totals_options(p)
    add_profile(p, "predict each architecture's time with a device profile (from `cnncalc "
                "calibrate`) and rank them by it")


def run(args: argparse.Namespace) -> int:
    profile = read_profile(args)
    cmp = compare(args.archs, dict(args.bind), args.quantities, profile, args.threads)
    sys.stdout.write(cmp.render(args.format, args.units or False))
    for note in sorted({n for p in cmp.times or [] for n in p.notes}):
        print(f"note: {note}", file=sys.stderr)
    return 0
