"""Speed of the symbolic core against its targets; prints figures, asserts nothing.

Run: ``python tests/bench/bench_core.py`` (figures recorded in docs/benchmarks.md).

Method: in-process, warm (imports done, one untimed call first), median of repeats, with a full
garbage collection before each timed call so every repeat starts from the same heap (one
analysis in a steady-state process, as a server sees it).
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

import cnncalc


def median_ms(fn: Callable[[], object], repeats: int = 21) -> float:
    fn()
    times = []
    for _ in range(repeats):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def stack(n: int) -> cnncalc.Architecture:
    layers: list[dict] = []
    for _ in range(n // 2):
        layers += [{"type": "conv", "out_channels": 16, "kernel_size": 3, "padding": 1},
                   {"type": "relu"}]
    return cnncalc.load({"input": {"shape": ["N", 16, "H", "W"]}, "layers": layers})


def flop_counter_ratio(arch: cnncalc.Architecture, bound: dict[str, int],
                       numeric_ms: Callable[[], float]) -> None:
    """torch's FlopCounterMode on the same network (``cnncalc.to_torch``, built once), timed
    as tests/bench/bench_peers.py times it, beside cnncalc's numeric analysis in the same
    run; skipped without torch."""
    try:
        import torch
        from torch.utils.flop_counter import FlopCounterMode
    except ImportError:
        print("torch not installed: FlopCounterMode ratio skipped")
        return
    net = cnncalc.to_torch(arch, bound)
    x = torch.randn(bound["N"], 3, bound["H"], bound["W"])

    def fcm() -> int:
        with torch.inference_mode(), FlopCounterMode(display=False) as fc:
            net(x)
        return int(fc.get_total_flops())

    macs = cnncalc.analyze(arch, bound).totals.macs
    assert fcm() == 2 * macs, "FlopCounterMode and cnncalc disagree"
    default = torch.get_num_threads()
    for threads in dict.fromkeys((default, 1)):
        torch.set_num_threads(threads)
        # Interleaved so that both see the same machine load.
        ours, theirs = [], []
        for _ in range(3):
            ours.append(numeric_ms())
            theirs.append(median_ms(fcm, 5))
        a, b = statistics.median(ours), statistics.median(theirs)
        print(f"resnet50 numeric: cnncalc.analyze {a:.2f} ms, FlopCounterMode ({threads} torch "
              f"thread{'s' if threads > 1 else ''}) {b:.1f} ms: {b / a:.0f}x faster "
              "(target >= 100x)")
    torch.set_num_threads(default)


def main() -> None:
    r50 = cnncalc.load("resnet50")
    bound = {"N": 1, "H": 224, "W": 224}
    sym = cnncalc.analyze(r50)
    rows = [
        ("resnet50, N H W bound, analyze", median_ms(lambda: cnncalc.analyze(r50, bound)), 1),
        ("resnet50, N H W bound, analyze + to_dict",
         median_ms(lambda: cnncalc.analyze(r50, bound).to_dict()), 20),
        ("resnet50, N H W free, analyze", median_ms(lambda: cnncalc.analyze(r50)), 5),
        ("resnet50, N H W free, analyze + to_dict",
         median_ms(lambda: cnncalc.analyze(r50).to_dict()), 100),
        ("resnet50 from its zoo name, bound, analyze",
         median_ms(lambda: cnncalc.analyze("resnet50", bound)), 1),
        ("resnet50 from its zoo name, bound, + to_dict",
         median_ms(lambda: cnncalc.analyze("resnet50", bound).to_dict()), 20),
        ("resnet50 symbolic, evaluate(N=1, H=224, W=224)",
         median_ms(lambda: sym.evaluate(**bound), 101), 0.2),
        ("resnet50 symbolic, evaluate(...).totals",
         median_ms(lambda: sym.evaluate(**bound).totals, 101), 0.2),
        ("resnet50 symbolic, evaluate(...).to_dict()",
         median_ms(lambda: sym.evaluate(**bound).to_dict()), 20),
    ]
    print(f"{'case':52s} {'median ms':>10s} {'target':>8s}")
    for name, ms, target in rows:
        print(f"{name:52s} {ms:10.3f} {'<= ' + str(target):>8s}")
    flop_counter_ratio(r50, bound, lambda: median_ms(lambda: cnncalc.analyze(r50, bound)))

    for symbolic in (False, True):
        b = None if symbolic else {"N": 1, "H": 32, "W": 32}
        s100, s1000 = stack(100), stack(1000)
        t100 = median_ms(lambda s=s100, b=b: cnncalc.analyze(s, b).to_dict(), 11)
        t1000 = median_ms(lambda s=s1000, b=b: cnncalc.analyze(s, b).to_dict(), 11)
        kind = "symbolic" if symbolic else "bound"
        print(f"conv+relu stack, {kind:8s}: 100 layers {t100:7.2f} ms, 1000 layers "
              f"{t1000:7.2f} ms, ratio {t1000 / t100:5.2f} (target <= 12)")

    cold = subprocess.run(
        [sys.executable, "-c", "import time, cnncalc; t = time.perf_counter(); "
         "cnncalc.analyze('resnet50', {'N': 1, 'H': 224, 'W': 224}).to_dict(); "
         "print((time.perf_counter() - t) * 1000)"], capture_output=True, text=True, check=True)
    print(f"first call in a fresh process (imports done, caches empty), resnet50 bound + "
          f"to_dict: {float(cold.stdout):.1f} ms")

    an = cnncalc.analyze(r50)
    n = 1_000_000
    rng = np.random.default_rng(0)
    arrays = {"N": rng.integers(1, 64, n), "H": rng.integers(32, 1024, n),
              "W": rng.integers(32, 1024, n)}
    qs = ("params", "macs", "flops", "activations")
    sweep = median_ms(lambda: an.evaluate_many(qs, **arrays), 5)
    print(f"resnet50 totals {qs} at {n:,} bindings: {sweep:.1f} ms = "
          f"{n / sweep * 1000:,.0f} bindings/s (target >= 1,000,000)")


if __name__ == "__main__":
    main()
