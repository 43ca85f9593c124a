"""``cnncalc cost score DATA.csv``: score cost measures against measured layer timings;
``cnncalc cost lono CONTEXT.csv``: the in-context model's leave-one-network-out evaluation."""

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
    lo = sub.add_parser("lono", help="leave-one-network-out evaluation of the in-context time "
                        "model on layers timed inside networks (the .context.csv `cnncalc "
                        "calibrate` writes); needs the cost extra")
    lo.add_argument("data", help="CSV of layers timed inside networks")
    lo.add_argument("--runs", action="store_true", help="also one row per held-out run")
    lo.add_argument("--format", "-f", choices=("table", "markdown", "json"), default="table")


def _print(rows: list[list[str]], fmt: str) -> None:
    if fmt == "markdown":
        print("| " + " | ".join(rows[0]) + " |")
        print("|" + "---|" * len(rows[0]))
        for r in rows[1:]:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))))


def _lono(args: argparse.Namespace) -> int:
    from ..cost.lono import evaluation_tables, leave_one_network_out, load_context_csv
    from ..cost.machine import caches
    data = load_context_csv(args.data)
    ev = leave_one_network_out(data, caches())
    if args.format == "json":
        print(json.dumps({"summary": ev.summary(), "layers": ev.layer_summary(),
                          "runs": [{"run": r.run.id, "network": r.run.network,
                                    "measured_ms": 1e3 * r.run.seconds,
                                    "predicted_ms": 1e3 * r.predicted, "error": r.error}
                                   for r in ev.runs]}, indent=2))
        return 0
    summary, per = evaluation_tables(ev)
    _print(summary, args.format)
    ls = ev.layer_summary()
    print(f"\n{len(data.runs)} runs of {len(data.networks())} networks, each predicted by a "
          f"model fitted on the other networks; layers ({ls['layers']}): median error "
          f"{ls['median_error']:.1%}, {ls['within_20']:.0%} within 20 %, time-weighted median "
          f"{ls['time_weighted_median_error']:.1%}")
    if args.runs:
        print()
        _print(per, args.format)
    return 0


def run(args: argparse.Namespace) -> int:
    if args.cost_command == "lono":
        return _lono(args)
    m = load_csv(args.data, device=args.device)
    k = folds_k(args.folds, len(m))
    scores = score(m, args.measure, k=k)
    if args.format == "json":
        print(json.dumps({"rows": len(m), "folds": k, "scores": scores}, indent=2))
        return 0
    _print(score_table(scores), args.format)
    print(f"\n{len(m)} measurements; k-fold k={k}; rank scores of fixed "
          "measures are the measure's own, errors through an affine fit per fold")
    return 0
