"""``cnncalc plot ARCH --kind layers|rf|scaling -o fig.png|svg|pdf [--bind ...]``."""

from __future__ import annotations

import argparse

from ..report.plot import KINDS, plot
from ..report.sweep import MAX_POINTS
from .common import add_arch, add_bindings, check_grid_size

NAME = "plot"
HELP = "plot MACs and params per layer, receptive-field growth, or totals against a size"


def _over(text: str) -> str:
    check_grid_size(text, MAX_POINTS)
    return text


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arch(p)
    add_bindings(p)
    p.add_argument("--kind", "-k", choices=KINDS, default="layers",
                   help="layers: MACs and params bars; rf: receptive field through the depth; "
                        "scaling: totals against the size given by --over")
    p.add_argument("--output", "-o", required=True, metavar="FILE",
                   help="the figure to write: .png, .svg or .pdf")
    p.add_argument("--depth", "-d", type=int, metavar="D",
                   help="one bar per group of layers sharing the first D name parts")
    p.add_argument("--over", metavar="NAME=VALUES", type=_over,
                   help="the size a scaling plot sweeps: H=32:512:32, or H=W=32,64,128")


def run(args: argparse.Namespace) -> int:
    plot(args.arch, args.kind, args.output, bindings=dict(args.bind), depth=args.depth,
         over=args.over)
    print(f"wrote {args.output}")
    return 0
