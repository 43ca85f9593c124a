"""Speed of ``cnncalc batch`` (:func:`cnncalc.analyze_many`): architectures per second for
distinct random 20-layer networks, with 1 and 2 worker processes side by side; prints figures,
asserts nothing.

Run: ``python tests/bench/bench_batch.py [--count 4000]`` (target: >= 2,000 architectures/s with 2
workers); ``python tests/bench/bench_batch.py --million`` streams 1,000,000 random networks
through the ``cnncalc batch`` command (a temporary JSONL file, CSV to /dev/null) and reports the
wall time and the peak resident memory of the command's process tree.

The networks are drawn from a fixed seed: conv (kernels 1-7, strides 1-2, padding, bias or
not), batch norm, activations and pools mixed freely, then a global pool and a linear layer;
the batch size ``N`` is bound with ``--bind N=1``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

ACTIVATIONS = ("relu", "relu6", "silu", "gelu", "hardswish", "sigmoid")


def random_arch(rng: random.Random, i: int, n_layers: int = 20) -> dict[str, Any]:
    """A valid network of ``n_layers`` layers over ``[N, C, S, S]`` (every layer fits)."""
    c, size = rng.choice((1, 3, 4)), rng.choice((32, 48, 64, 96, 128, 224))
    shape: list[Any] = ["N", c, size, size]
    layers: list[dict[str, Any]] = []
    while len(layers) < n_layers - 2:
        r = rng.random()
        if r < 0.45:
            k = rng.choice((1, 3, 5, 7)) if size >= 7 else 1
            s = rng.choice((1, 1, 1, 2)) if size >= 8 else 1
            p = rng.choice((0, k // 2))
            layers.append({"type": "conv", "out_channels": rng.choice((8, 16, 24, 32, 48, 64, 96)),
                           "kernel_size": k, "stride": s, "padding": p,
                           "bias": rng.random() < 0.5})
            size = (size + 2 * p - k) // s + 1
        elif r < 0.65:
            layers.append({"type": "batch_norm"})
        elif r < 0.85:
            layers.append({"type": rng.choice(ACTIVATIONS)})
        elif size >= 4:
            k = 2 if rng.random() < 0.7 else 3
            layers.append({"type": rng.choice(("max_pool", "avg_pool")), "kernel_size": k,
                           "stride": 2})
            size = (size - k) // 2 + 1
    layers.append({"type": "global_avg_pool"})
    layers.append({"type": "linear", "out_features": rng.choice((10, 100, 1000))})
    return {"name": f"net{i}", "input": {"shape": shape}, "layers": layers}


def lines(count: int, seed: int = 0) -> Iterator[str]:
    rng = random.Random(seed)
    for i in range(count):
        yield json.dumps(random_arch(rng, i))


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (the pool's workers)."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + c.ru_utime + c.ru_stime


def rate(texts: list[str], workers: int) -> tuple[float, float, int]:
    """Architectures per second through :func:`cnncalc.batch.analyze_lines`, CPU milliseconds
    per architecture (all processes: robust to other load on the machine), and failures."""
    from cnncalc.batch import analyze_lines
    t0, c0 = time.perf_counter(), _cpu_s()
    failed = sum(not r.ok for r in analyze_lines(enumerate(texts, 1), {"N": 1},
                                                 workers=workers))
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    return len(texts) / wall, cpu / len(texts) * 1000, failed


def main_rates(count: int) -> None:
    texts = list(lines(count))
    rate(texts[:200], 1)  # warm: imports, caches of the parent
    print(f"{count} distinct random 20-layer architectures, N bound, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'workers':>8s} {'archs/s':>10s} {'cpu ms/arch':>12s} {'failed':>7s}")
    for workers in (1, 2):
        per_s, cpu_ms, failed = rate(texts, workers)
        print(f"{workers:8d} {per_s:10.0f} {cpu_ms:12.3f} {failed:7d}")
    print("target: >= 2000 archs/s with 2 workers")


def main_million(count: int, workers: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "nets.jsonl")
        t0 = time.perf_counter()
        with open(path, "w", encoding="utf-8") as f:
            for text in lines(count, seed=1):
                f.write(text + "\n")
        size_mb = os.path.getsize(path) / 1e6
        print(f"wrote {count} architectures ({size_mb:.0f} MB) in "
              f"{time.perf_counter() - t0:.0f} s")
        cmd = [sys.executable, "-m", "cnncalc", "batch", path, "--bind", "N=1",
               "--output", os.devnull]
        if workers is not None:
            cmd += ["--workers", str(workers)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        print(f"$ {' '.join(cmd[1:])}")
        print(f"exit {proc.returncode}; {proc.stderr.strip()[:300]}")
        print(f"wall {wall:.0f} s ({count / wall:.0f} archs/s); peak RSS of the largest "
              f"process (parent or a worker) {usage.ru_maxrss / 1024:.0f} MB")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=4000, help="architectures per rate (default 4000)")
    p.add_argument("--million", action="store_true",
                   help="stream 1,000,000 architectures through `cnncalc batch`")
    p.add_argument("--workers", type=int, default=None, help="--workers of the --million run")
    args = p.parse_args()
    if args.million:
        main_million(1_000_000 if args.count == 4000 else args.count, args.workers)
    else:
        main_rates(args.count)


if __name__ == "__main__":
    main()
