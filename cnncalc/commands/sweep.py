"""``cnncalc sweep ARCH --grid H=32,64,128 --grid C=16,32 [--bind ...] [--format ...]``."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..core.bindings import format_bindings
from ..errors import CnnCalcError
from ..report.sweep import MAX_POINTS, parse_grid, records, sweep
from ..report.tables import Table, write
from .common import add_arch, add_bindings, add_totals_options, check_grid_size

NAME = "sweep"
HELP = "totals of an architecture over a grid of sizes, one row per combination"


def _grid(text: str) -> tuple[str, list[int]]:
    check_grid_size(text, MAX_POINTS)
    try:
        return parse_grid(text)
    except CnnCalcError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_arch(p)
    p.add_argument("--grid", "-g", action="append", type=_grid, default=[], required=True,
                   metavar="NAME=VALUES",
                   help="values of a symbol: 32,64,128 or an inclusive range 32:512:32; "
                        "H=W=... sweeps H and W together (repeatable)")
    add_bindings(p)
    add_totals_options(p)


def sweep_table(name: str, rows: list[dict[str, int]], swept: list[str],
                bindings: dict[str, int]) -> Table:
    """A sweep's rows as a :class:`Table` (swept symbols first, then the totals)."""
    keys = list(rows[0]) if rows else swept
    title = f"{name}  sweep over {', '.join(swept)}"
    if bindings:
        title += f"  bindings {format_bindings(bindings)}"
    kinds = ["int" if k in swept else "bytes" if k.endswith("_bytes") else "count"
             for k in keys]
    body: list[list[Any]] = [[r[k] for k in keys] for r in rows]
    return Table(title=title, header=keys, kinds=kinds, body=body, label=f"{name}-sweep")


def run(args: argparse.Namespace) -> int:
    grid = dict(args.grid)
    if len(grid) != len(args.grid):
        raise CnnCalcError("a grid symbol is given twice", kind="input")
    from ..core.load import load
    arch = load(args.arch)
    rows = records(sweep(arch, grid, dict(args.bind), args.quantities, as_frame=False))
    if args.format == "json":
        print(json.dumps(rows, indent=1))
        return 0
    swept = [n for key in grid for n in key.split("=")]
    sys.stdout.write(write(sweep_table(arch.name, rows, swept, dict(args.bind)), args.format,
                           args.units or False))
    return 0
