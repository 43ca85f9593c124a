"""``cnncalc explain ARCH [--bind NAME=VALUE ...] [--layer NAME] [--format text|markdown|latex|
json]``: each layer's formulas in names, with its numbers, and the result (as a lecture writes
them)."""

from __future__ import annotations

import argparse
import json
import sys

from ..core.explain import explain
from ..core.load import analyze
from ..report.explain import FORMATS, render
from .common import add_arch, add_bindings

NAME = "explain"
HELP = "show the working: each layer's formulas with its numbers and the result"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arch(p)
    add_bindings(p)
    p.add_argument("--layer", "-l", metavar="NAME",
                   help="only this layer, or every layer of the block of this name")
    p.add_argument("--format", "-f", choices=(*FORMATS, "json"), default="text",
                   help="output format (default: text; json holds every step)")


def run(args: argparse.Namespace) -> int:
    ex = explain(analyze(args.arch, dict(args.bind)), args.layer)
    if args.format == "json":
        print(json.dumps(ex.to_dict(), indent=2))
    else:
        sys.stdout.write(render(ex, args.format))
    return 0
