"""How far apart two measurements of the same network are on this machine: the noise floor
under the cost model's leave-one-network-out errors.

    python tests/bench/bench_cost_noise.py [--dir DIR] [--threads 1,2] [--batches 1,4,16,64]
        [--shipped docs/data/cpu_context.csv.gz]

Times every run of the calibration suite twice in this sitting, with the calibration's own
method (:func:`cnncalc.pytorch.incontext.collect`: warm-up, interleaved plain and hooked
passes, medians, retried while plain and hooked disagree), one full pass after the other, into
``DIR/a.csv`` and ``DIR/b.csv`` (resumable: a rerun times only what is missing). It then prints
how much the two passes disagree, and how much each disagrees with the measurements the shipped
profile was fitted on (another sitting): per whole network and per layer, as the median and
worst of ``|t_b / t_a - 1|`` and the share within 10 %. A perfect model of one measurement is
off by this much against the other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from cnncalc.cost.lono import load_context_csv
from cnncalc.pytorch.incontext import SUITE, collect, plan


def _times(path: Path) -> tuple[dict[str, float], dict[tuple[str, str], float], dict[str, int]]:
    """Whole-network and per-layer medians of a context CSV, by run id (and layer name), and
    each run's thread count."""
    data = load_context_csv(path)
    nets = {k: r.seconds for k, r in data.runs.items()}
    layers = {(r["run"], r["layer"]): float(r["seconds"]) for r in data.rows}
    return nets, layers, {k: r.threads for k, r in data.runs.items()}


def _row(label: str, a: dict, b: dict) -> str:
    keys = sorted(set(a) & set(b))
    if not keys:
        return f"{label:<44} (nothing in common)"
    err = [abs(b[k] / a[k] - 1) for k in keys if a[k] > 0]
    within = sum(e <= 0.10 for e in err) / len(err)
    return (f"{label:<44} {len(err):>6} {100 * statistics.median(err):>8.1f}% "
            f"{100 * max(err):>8.1f}% {100 * within:>9.0f}%")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", default="/tmp/cnncalc-noise")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--batches", default="1,4,16,64")
    p.add_argument("--shipped", default="docs/data/cpu_context.csv.gz")
    args = p.parse_args()
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    runs = plan(SUITE, [int(t) for t in args.threads.split(",")],
                [int(b) for b in args.batches.split(",")])
    for name in ("a", "b"):
        t0 = time.monotonic()
        collect(out / f"{name}.csv", runs, budget_s=7 * 86400, progress=False,
                log=lambda s: print(s, file=sys.stderr))
        print(f"pass {name}: {time.monotonic() - t0:.0f} s", file=sys.stderr)
    a_net, a_lay, threads = _times(out / "a.csv")
    b_net, b_lay, _ = _times(out / "b.csv")
    s_net, s_lay, _ = _times(Path(args.shipped))
    print(f"{'comparison':<44} {'count':>6} {'median':>9} {'worst':>9} {'within 10%':>10}")
    for t in sorted(set(threads.values())):
        def keep(d: dict, t: int = t) -> dict:
            return {k: v for k, v in d.items()
                    if threads.get(k if isinstance(k, str) else k[0]) == t}
        print(_row(f"networks, {t} thread(s): pass b vs pass a", keep(a_net), keep(b_net)))
        print(_row(f"networks, {t} thread(s): pass a vs shipped", keep(s_net), keep(a_net)))
        print(_row(f"layers,   {t} thread(s): pass b vs pass a", keep(a_lay), keep(b_lay)))
        print(_row(f"layers,   {t} thread(s): pass a vs shipped", keep(s_lay), keep(a_lay)))
    print(_row("networks, all: pass b vs pass a", a_net, b_net))
    print(_row("networks, all: pass a vs shipped", s_net, a_net))
    print(_row("layers,   all: pass b vs pass a", a_lay, b_lay))
    print(_row("layers,   all: pass a vs shipped", s_lay, a_lay))


if __name__ == "__main__":
    main()
