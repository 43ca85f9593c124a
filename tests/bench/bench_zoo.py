"""Validate every zoo model in PyTorch at two sizes and, with a device profile, put predicted
next to measured whole-network time.

    python tests/bench/bench_zoo.py [--profile docs/data/cpu_profile.json] [--device cpu]
        [--dtype bfloat16] [--threads 1] [--repeats 10] [--plot docs/img/zoo_time.png]
        [--json out.json]

Prints a Markdown table (the one in docs/validation.md and docs/cost-model.md): per model and
size, whether shapes, params and MACs all matched torch, the measured median time, the
per-layer sum / network ratio, and (with a profile) the predicted time and its error.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import cnncalc
from cnncalc.report.plot import predicted_vs_measured

# Two sizes per model: the smallest comfortable one and the published one (lenet5 is 32x32
# by design; inception_v3 needs at least 75x75).
SIZES: dict[str, list[tuple[int, int]]] = {
    "seed_example": [(32, 32), (64, 48)],
    "lenet5": [(32, 32), (36, 40)],
    "alexnet": [(127, 127), (224, 224)],
    "vgg16": [(64, 64), (224, 224)],
    "resnet18": [(64, 96), (224, 224)],
    "resnet50": [(64, 96), (224, 224)],
    "mobilenet_v2": [(64, 96), (224, 224)],
    "squeezenet1_0": [(64, 96), (224, 224)],
    "densenet121": [(64, 96), (224, 224)],
    "googlenet": [(64, 96), (224, 224)],
    "inception_v3": [(107, 107), (299, 299)],
    "unet": [(64, 64), (256, 256)],
}


def bindings(name: str, h: int, w: int) -> dict[str, int]:
    free = cnncalc.analyze(name).free_symbols
    b = {"H": h, "W": w}
    if "N" in free:
        b["N"] = 1
    return {k: v for k, v in b.items() if k in free}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None, help="float32 (default), bfloat16, float16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--models", default=",".join(SIZES))
    ap.add_argument("--plot", help="write predicted-vs-measured scatter (needs matplotlib)")
    ap.add_argument("--json", help="write the rows as JSON")
    args = ap.parse_args()

    rows: list[dict[str, Any]] = []
    layer_points: list[tuple[float, float]] = []
    start = time.monotonic()
    for name in args.models.split(","):
        for h, w in SIZES[name]:
            r = cnncalc.validate(name, bindings(name, h, w), args.device, dtype=args.dtype,
                                 repeats=args.repeats,
                                 warmup=3, threads=args.threads, profile=args.profile,
                                 max_bytes="8GiB")
            assert r.network_time is not None
            rows.append({"model": name, "size": f"{h}x{w}", "ok": r.ok,
                         "layers": len(r.layers), "mismatches": len(r.mismatches),
                         "params": r.predicted_params, "macs": r.predicted_macs,
                         "measured_ms": r.network_time.median_ms,
                         "iqr_ms": r.network_time.spread_ms,
                         "layer_sum_ratio": r.layer_time_ratio,
                         "predicted_ms": r.predicted_time_ms, "error": r.time_error})
            layer_points += [(c.time.median_ms, c.predicted_ms) for c in r.layers
                             if c.time is not None and c.predicted_ms is not None]
            print(f"{name} {h}x{w}: {r.summary()}", file=sys.stderr)
    print(f"environment: {r.env.line()}; {args.repeats} repeats after 3 warm-up; "
          f"{time.monotonic() - start:.0f} s in all\n")
    head = ["model", "input", "layers", "shapes, params, MACs", "params", "MACs",
            "measured ms (IQR)", "layer sum / network"]
    if args.profile:
        head += ["predicted ms", "error"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for x in rows:
        cells = [x["model"], x["size"], str(x["layers"]),
                 "match" if x["ok"] else f"{x['mismatches']} MISMATCH",
                 f"{x['params']:,}", f"{x['macs']:,}",
                 f"{x['measured_ms']:.3g} ({x['iqr_ms']:.2g})", f"{x['layer_sum_ratio']:.2f}"]
        if args.profile:
            cells += [f"{x['predicted_ms']:.3g}", f"{x['error']:+.0%}"]
        print("| " + " | ".join(cells) + " |")
    if args.profile:
        errs = [abs(x["error"]) for x in rows]
        errs.sort()
        lp = [(m, p) for m, p in layer_points if m > 0 and p > 0]
        rel = sorted(abs(p / m - 1) for m, p in lp)
        print(f"\nnetworks: median |error| {errs[len(errs) // 2]:.1%}, worst "
              f"{errs[-1]:.1%}; layers ({len(lp)}): median |error| "
              f"{rel[len(rel) // 2]:.1%}, within 25 % {sum(e <= 0.25 for e in rel) / len(rel):.0%}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"rows": rows, "layers": layer_points}, f, indent=1)
    if args.plot and args.profile:
        plot(rows, layer_points, args.plot)
    return 0 if all(x["ok"] for x in rows) else 1


def plot(rows: list[dict[str, Any]], layers: list[tuple[float, float]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    for ax, pts, title in (
            (axes[0], [(m, p) for m, p in layers if m > 0 and p > 0], "layers"),
            (axes[1], [(x["measured_ms"], x["predicted_ms"]) for x in rows], "networks")):
        predicted_vs_measured(
            ax, [m for m, _ in pts], [p for _, p in pts], bands=(1.25, 2.0),
            band_labels=title == "layers", s=8 if title == "layers" else 30,
            alpha=0.5 if title == "layers" else 0.9, ylabel="predicted ms (device profile)",
            title=f"zoo {title}, predicted vs measured ({len(pts)})")
    if rows:
        for x in rows:
            axes[1].annotate(f"{x['model']} {x['size']}", (x["measured_ms"], x["predicted_ms"]),
                             fontsize=6, alpha=0.7)
    axes[0].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
