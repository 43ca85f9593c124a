"""``cnncalc compare A B ... [--bind NAME=VALUE ...] [--format ...] [--profile P.json
[--threads T]]``."""

from __future__ import annotations

import argparse
import sys

from ..report.compare import compare
from .common import add_bindings, add_totals_options, int_between

NAME = "compare"
HELP = "architectures side by side: totals and their formulas (design-choice tables)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("archs", nargs="+", metavar="ARCH",
                   help="JSON files or zoo model names (see `cnncalc zoo`)")
    add_bindings(p)
    add_totals_options(p)
    p.add_argument("--profile", "-p", metavar="PROFILE.json",
                   help="predict each architecture's time with a device profile (from `cnncalc "
                        "calibrate`) and rank them by it (every size must be bound)")
    p.add_argument("--threads", type=int_between(1, 1024), default=None, metavar="T",
                   help="with --profile: predict for T CPU threads (default: the profile's "
                        "first)")
    p.set_defaults(_parser=p)


def run(args: argparse.Namespace) -> int:
    if args.threads is not None and not args.profile:
        args._parser.error("--threads needs --profile")
    profile = None
    if args.profile:
        from ..cost import load_profile
        profile = load_profile(args.profile)
        for w in profile.warnings():
            print(f"warning: {w}", file=sys.stderr)
    cmp = compare(args.archs, dict(args.bind), args.quantities, profile, args.threads)
    sys.stdout.write(cmp.render(args.format, args.units or False))
    for note in sorted({n for p in cmp.times or [] for n in p.notes}):
        print(f"note: {note}", file=sys.stderr)
    return 0
