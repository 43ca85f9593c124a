"""``cnncalc batch NETS.jsonl [--bind NAME=VALUE ...] [--workers N] [--scheduler ADDRESS]
[--format csv|jsonl|parquet] [--output FILE]``: one row of totals per architecture of a JSONL
file (``-``: standard input), in input order, as they finish (docs/batch.md)."""

from __future__ import annotations

import argparse
import sys

from ..batch import CHUNK, analyze_lines, default_workers
from ..batch.io import FORMATS, bar_wanted, check_output, count_lines, progress, read_lines, writer
from .common import add_bindings, int_at_least

NAME = "batch"
HELP = "totals of every architecture of a JSONL file, one row each (CSV, JSONL or Parquet)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="NETS.jsonl",
                   help="one architecture per line (a JSON object, or a zoo model's name as a "
                        "JSON string); - reads standard input; blank lines are skipped")
    add_bindings(p)
    p.add_argument("--workers", "-j", type=int_at_least(1), default=None, metavar="N",
                   help="processes on this machine (default: one per CPU; 1: no pool)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run on the Dask cluster of this scheduler, e.g. tcp://host:8786 "
                        "(needs cnncalc[cluster]; --workers is then unused)")
    p.add_argument("--format", "-f", choices=FORMATS, default="csv",
                   help="output format (default: csv)")
    p.add_argument("--output", "-o", metavar="FILE",
                   help="write to FILE (default: standard output; parquet needs a file)")
    p.add_argument("--chunk", type=int_at_least(1), default=CHUNK, metavar="K",
                   help=f"architectures per task sent to a worker (default: {CHUNK})")


def run(args: argparse.Namespace) -> int:
    check_output(args.format, args.output)
    lines = read_lines(args.input)
    workers = args.workers if args.workers is not None else default_workers()
    rows = analyze_lines(lines, dict(args.bind), workers=workers, scheduler=args.scheduler,
                         chunk=args.chunk)
    show = bar_wanted(args.output)
    total = count_lines(args.input) if show else None
    failed = done = 0
    with writer(args.format, args.output) as out, progress(total, show) as bar:
        for r in rows:
            out.write(r)
            done += 1
            failed += not r.ok
            bar.advance()
    if failed:
        print(f"cnncalc: {failed} of {done} architectures failed (see the error column)",
              file=sys.stderr)
    return 0
