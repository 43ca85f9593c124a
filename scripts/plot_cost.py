"""Predicted vs measured layer time, out of sample, for every measure on a timing table.

    python scripts/plot_cost.py DATA.csv OUT.png [--title TEXT]

Each panel is one measure (FLOPs, alpha-FLOPs with the paper's constants, roofline, the cnncalc
model): its 10-fold cross-validated prediction (a fixed measure through an affine fit per fold,
as ``cnncalc cost score`` does) against the measured time, log-log, with the x1.1 and x2 bands.
The title of each panel gives the Spearman correlation and median error of the ``kfold`` row of
``cnncalc cost score`` (for a fixed measure, the measure's own ranks), so that the figure and
the table agree. Needs matplotlib (the ``tables`` extra).
"""

from __future__ import annotations

import argparse

from cnncalc.cost.score import PREDICTORS, cross_validate, folds_k, folds_kfold, load_csv, score
from cnncalc.report.plot import predicted_vs_measured

MEASURES = ("flops", "alpha_flops", "roofline", "cnncalc_model")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    args = ap.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = load_csv(args.data)
    folds = folds_kfold(len(m), folds_k(10, len(m)))  # the folds of score()'s kfold scheme
    scores = score(m, MEASURES)
    fig, axes = plt.subplots(1, len(MEASURES), figsize=(4.2 * len(MEASURES), 4.4))
    for ax, name in zip(axes, MEASURES, strict=True):
        pred = cross_validate(m, PREDICTORS[name], folds)
        s = scores[name]["kfold"]
        predicted_vs_measured(
            ax, m.t * 1e3, pred * 1e3, bands=(1.1, 2.0), clip=True, s=6, alpha=0.5,
            xlabel="measured ms", ylabel="", band_labels=False,
            title=f"{name}\nSpearman {s['spearman']:.3f}, median err "
                  f"{s['median_rel_err']:.0%}")
    axes[0].set_ylabel("predicted ms (10-fold, out of sample)")
    fig.suptitle(f"{args.title} ({len(m)} layers)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
