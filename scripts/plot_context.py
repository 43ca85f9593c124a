"""Leave-one-network-out evaluation of the in-context time model: tables and a plot.

    python scripts/plot_context.py CONTEXT.csv[.gz] OUT.png [--workers 2] [--json OUT.json] \
        [--profile PROFILE.json]

Every network of the measurements (``cnncalc calibrate`` writes them) is predicted by a model
fitted on the others. Prints, as Markdown, the summary by thread count and batch and one row per
held-out run (the tables of docs/cost-model.md), then draws predicted against measured time,
log-log, for whole networks (left) and layers (right), with the x1.1 and x1.25 bands. Needs
LightGBM (the ``cost`` extra) and matplotlib (the ``tables`` extra).

With ``--profile``, also refits that profile's in-context model on all the measurements, with
the bands and scores of this evaluation, and rewrites the profile: nothing is timed, the rest of
the profile (single-layer models, peaks, machine) is kept, and the cache sizes the features use
are the profile's machine's.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cnncalc.cost import load_profile
from cnncalc.cost.features import Caches
from cnncalc.cost.lono import (
    calibrated_model,
    evaluation_tables,
    leave_one_network_out,
    load_context_csv,
)
from cnncalc.cost.machine import caches
from cnncalc.report.plot import predicted_vs_measured


def markdown(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write the held-out predictions as JSON")
    ap.add_argument("--profile", help="refit this profile's in-context model (see above)")
    args = ap.parse_args()
    data = load_context_csv(args.data)
    prof = load_profile(args.profile) if args.profile else None
    cache = caches()
    if prof is not None:
        m = prof.meta.get("machine", {})
        cache = Caches(int(m.get("l2_bytes", 0)), int(m.get("l3_bytes", 0)))
    start = time.monotonic()
    ev = leave_one_network_out(data, cache, workers=args.workers)
    took = time.monotonic() - start
    summary, per = evaluation_tables(ev)
    ls = ev.layer_summary()
    print(markdown(summary))
    print(f"\n{len(data.runs)} runs of {len(data.networks())} networks, {len(data.rows)} "
          f"layers; each network predicted by a model fitted on the others ({took:.0f} s). "
          f"Layers: median error {ls['median_error']:.1%}, {ls['within_20']:.0%} within 20 %, "
          f"time-weighted median {ls['time_weighted_median_error']:.1%}.\n")
    print(markdown(per))
    if prof is not None:
        prof.context, prof.scores["context"] = calibrated_model(data, cache, evaluation=ev)
        prof.meta.update(context_csv=args.data, thread_counts=list(prof.context.threads))
        prof.save(args.profile)
        print(f"\nrefitted the in-context model of {args.profile}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"summary": ev.summary(), "layers": ls,
                       "runs": [{"run": r.run.id, "measured_ms": 1e3 * r.run.seconds,
                                 "predicted_ms": 1e3 * r.predicted} for r in ev.runs]}, f,
                      indent=1)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    nets = (np.array([1e3 * r.run.seconds for r in ev.runs]),
            np.array([1e3 * r.predicted for r in ev.runs]))
    lays = (1e3 * ev.layer_measured, 1e3 * ev.layer_predicted)
    s = ev.summary()
    titles = (f"networks ({s['runs']} runs): median {s['median_error']:.1%}, "
              f"Spearman {s['spearman']:.3f}",
              f"layers ({ls['layers']}): median {ls['median_error']:.1%}")
    colours = np.array(["tab:blue" if r.run.threads == 1 else "tab:orange" for r in ev.runs])
    for ax, (m, p), title, size in ((axes[0], nets, titles[0], 18),
                                    (axes[1], lays, titles[1], 3)):
        predicted_vs_measured(ax, m, p, bands=(1.1, 1.25), title=title,
                              ylabel="predicted ms (network left out)", s=size,
                              alpha=0.8 if size > 5 else 0.3,
                              c=colours if size > 5 else "tab:blue")
    axes[0].legend(loc="upper left", fontsize=8, title="blue: 1 thread, orange: 2")
    fig.tight_layout()
    fig.savefig(args.out, dpi=130)
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
