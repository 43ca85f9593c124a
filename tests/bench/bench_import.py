"""Speed of ``cnncalc.from_torch`` against its targets; prints figures, asserts nothing.

Run: ``python tests/bench/bench_import.py [--no-export]`` (figures in docs/benchmarks.md).

- torchvision resnet50 (built once, weights on the CPU) imported with N, H, W open: median of
  5 imports (one untimed first, so imports of torch.fx and friends are not counted);
- the symbolic analysis of the imported architecture (``cnncalc.analyze``, nothing bound):
  median of 5;
- for comparison, ``torch.export.export`` of resnet18 with dynamic batch, height and width,
  once (``--no-export`` skips it): what a shape-symbolic trace costs in torch itself.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
from bench_core import median_ms  # run as a script: tests/bench is on the path

import cnncalc
from cnncalc.pytorch.tvshim import declare_torchvision_ops


def median_s(fn: Callable[[], Any], repeats: int = 5) -> float:
    """Seconds: bench_core's median (one untimed call first, a collection before each)."""
    return median_ms(fn, repeats) / 1000


def export_s(model: Any) -> float:
    dim = torch.export.Dim
    x = torch.randn(2, 3, 224, 224)
    shapes = {"x": {0: dim("N", min=1, max=64), 2: dim("H", min=64, max=1024),
                    3: dim("W", min=64, max=1024)}}
    t0 = time.perf_counter()
    torch.export.export(model, (x,), dynamic_shapes=shapes)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-export", action="store_true", help="skip the torch.export run")
    args = ap.parse_args()
    declare_torchvision_ops()
    import torchvision
    r50 = torchvision.models.resnet50().eval()
    arch = cnncalc.from_torch(r50, ["N", 3, "H", "W"])
    rows = [("resnet50: cnncalc.from_torch, N H W open", median_s(lambda: cnncalc.from_torch(
                r50, ["N", 3, "H", "W"])), "<= 1 s"),
            ("resnet50 imported: cnncalc.analyze, nothing bound",
             median_s(lambda: cnncalc.analyze(arch)), "<= 0.1 s")]
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'case':52s} {'median s':>9s} {'target':>9s}")
    for name, s, target in rows:
        print(f"{name:52s} {s:9.3f} {target:>9s}")
    if not args.no_export:
        r18 = torchvision.models.resnet18().eval()
        print(f"{'resnet18: torch.export.export, N H W dynamic (once)':52s} "
              f"{export_s(r18):9.3f} {'-':>9s}")


if __name__ == "__main__":
    main()
