"""Order and constant memory: rows come out in input order with a process pool, and the input
is read only a bounded number of architectures ahead of the rows handed out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cnncalc.batch import analyze_many
from cnncalc.batch.local import AHEAD


def net(i: int) -> dict[str, Any]:
    """Distinct small networks: conv 3 -> c channels with a 3x3 kernel over 8x8."""
    c = 1 + i % 50
    return {"name": f"n{i}", "input": {"shape": [1, 3, 8, 8]},
            "layers": [{"type": "conv", "out_channels": c, "kernel_size": 3}, {"type": "relu"}]}


def params(i: int) -> int:
    c = 1 + i % 50
    return 3 * 3 * 3 * c + c


class Counting:
    """A generator of networks that counts how many have been read."""

    def __init__(self, n: int) -> None:
        self.n, self.read = n, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self.n):
            self.read += 1
            yield net(i)


def test_order_kept_with_two_workers() -> None:
    bad = {"input": {"shape": [1, 3, 2, 2]}, "layers": [{"type": "conv", "out_channels": 1,
                                                         "kernel_size": 3}]}
    archs: list[Any] = [net(i) if i % 7 else bad for i in range(300)]
    rows = list(analyze_many(archs, workers=2, chunk=8))
    assert [r.index for r in rows] == list(range(1, 301))
    assert [r.name for r in rows] == [f"n{i}" if i % 7 else str(i + 1) for i in range(300)]
    assert [r.params for r in rows] == [params(i) if i % 7 else None for i in range(300)]
    assert all(bool(r.error) == (i % 7 == 0) for i, r in enumerate(rows))


def test_serial_reads_one_at_a_time() -> None:
    src = Counting(20_000)
    rows = analyze_many(src, workers=1)
    assert src.read == 0  # lazy: nothing read before the first row is asked for
    for k in range(1, 6):
        r = next(rows)
        assert r.params == params(k - 1) and src.read == k


@pytest.mark.parametrize("workers, chunk", [(2, 64)])
def test_pool_reads_a_bounded_number_ahead(workers: int, chunk: int) -> None:
    """20,000 networks through a pool: never more than the in-flight chunks read ahead."""
    src = Counting(20_000)
    bound = workers * AHEAD * chunk + chunk
    most_ahead = 0
    for k, r in enumerate(analyze_many(src, workers=workers, chunk=chunk), 1):
        assert r.index == k and r.params == params(k - 1)
        most_ahead = max(most_ahead, src.read - k)
        assert src.read - k <= bound
    assert k == 20_000 and src.read == 20_000
    assert most_ahead >= chunk  # the pool did work ahead (the check above can fail)
