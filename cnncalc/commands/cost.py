"""``cnncalc cost score DATA.csv``: score cost measures against measured layer timings."""

from __future__ import annotations

import argparse
import json

from ..cost.score import MAX_FOLDS, PREDICTORS, folds_k, load_csv, score, score_table
from .common import int_between

NAME = "cost"
HELP = "score cost measures (params, FLOPs, bytes, alpha-FLOPs, roofline, fitted) on timings"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="cost_command", required=True)
    s = sub.add_parser("score", help="score every measure on a CSV of measured layer timings "
                       "(columns H, W, Cin, Cout, K1, K2, time_ms; optional stride, batch, "
                       "groups, device, family/plot)")
    s.add_argument("data", help="CSV of measured layer timings")
    s.add_argument("--measure", action="append", choices=list(PREDICTORS),
                   help="score only these measures (repeatable; default all)")
    s.add_argument("--folds", type=int_between(2, MAX_FOLDS), default=10,
                   help=f"k of k-fold cross-validation (2 to {MAX_FOLDS}, at most the number "
                        "of rows; default 10)")
    s.add_argument("--device", help="use only rows whose device column equals this")
    s.add_argument("--format", "-f", choices=("table", "markdown", "json"), default="table")


def run(args: argparse.Namespace) -> int:
    m = load_csv(args.data, device=args.device)
    k = folds_k(args.folds, len(m))
    scores = score(m, args.measure, k=k)
    if args.format == "json":
        print(json.dumps({"rows": len(m), "folds": k, "scores": scores}, indent=2))
        return 0
    rows = score_table(scores)
    if args.format == "markdown":
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    print(f"\n{len(m)} measurements; k-fold k={k}; rank scores of fixed "
          "measures are the measure's own, errors through an affine fit per fold")
    return 0
