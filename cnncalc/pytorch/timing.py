"""Wall-clock timing of a torch network and of each of its layers, done carefully.

Whole network (:func:`time_once`): on CPU ``time.perf_counter`` around the call; on CUDA a pair
of CUDA events around it after a ``torch.cuda.synchronize()``, read once the second event has
completed, so that the figure is the device's time and not the launch time.

Per layer (:class:`LayerTimer`): forward pre- and post-hooks on each layer's module. On CPU the
hooks read ``time.perf_counter``; on CUDA they record a CUDA event before and after the module
and the pass ends with one synchronisation, so hooks add no synchronisation of their own. The
sum of the per-layer medians is compared with the whole-network median by the caller (hooks and
the Python glue between layers make them differ by a few percent).

Callers warm up first, repeat, report median and quartiles (:class:`Stats`), and run under
``torch.inference_mode()``. Events are recorded on the current stream of the timed device
(``cuda:N`` included).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .device import load_torch


@dataclass(frozen=True)
class Stats:
    """Summary of repeated timings, in milliseconds: median, quartiles (spread = q3 - q1),
    minimum, maximum and the number of samples."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    min_ms: float
    max_ms: float
    n: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Stats:
        """Summarise samples given in seconds."""
        if not seconds:
            raise ValueError("no samples")
        ms = sorted(s * 1e3 for s in seconds)
        if len(ms) >= 2:
            q1, _, q3 = statistics.quantiles(ms, n=4, method="inclusive")
        else:
            q1 = q3 = ms[0]
        return cls(statistics.median(ms), q1, q3, ms[0], ms[-1], len(ms))

    @property
    def spread_ms(self) -> float:
        """Interquartile range."""
        return self.q3_ms - self.q1_ms

    def to_dict(self) -> dict[str, float | int]:
        return {"median_ms": self.median_ms, "q1_ms": self.q1_ms, "q3_ms": self.q3_ms,
                "iqr_ms": self.spread_ms, "min_ms": self.min_ms, "max_ms": self.max_ms,
                "n": self.n}


def _cuda(device: Any) -> bool:
    return getattr(device, "type", str(device)).startswith("cuda")


def time_once(run: Callable[[], Any], device: Any) -> float:
    """Seconds for one call of ``run()``: ``perf_counter`` on CPU; on CUDA, a pair of events
    around the call after a synchronisation, read once the second event has completed."""
    if _cuda(device):
        torch = load_torch()
        torch.cuda.synchronize(device)
        stream = torch.cuda.current_stream(device)
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record(stream)
        run()
        end.record(stream)
        end.synchronize()
        return float(start.elapsed_time(end)) / 1e3
    t0 = time.perf_counter()
    run()
    return time.perf_counter() - t0


def time_network(run: Callable[[], Any], device: Any, warmup: int, repeats: int,
                 tick: Callable[[], None] | None = None) -> Stats:
    """Time ``run()`` (one forward pass) ``repeats`` times after ``warmup`` untimed calls."""
    for _ in range(warmup):
        run()
        if tick:
            tick()
    samples = []
    for _ in range(repeats):
        samples.append(time_once(run, device))
        if tick:
            tick()
    return Stats.of(samples)


class LayerTimer:
    """Hooks that time each named module of a network once per forward pass.

    ``with lt: net(x); lt.end_pass()`` for each timed pass (the hooks exist only inside the
    ``with``, so passes without them can be interleaved); then ``lt.stats()`` maps each name to
    its :class:`Stats`.
    """

    def __init__(self, modules: dict[str, Any], device: Any) -> None:
        self.modules = modules
        self.cuda = _cuda(device)
        self.device = device
        self.samples: dict[str, list[float]] = {n: [] for n in modules}
        self._open: dict[str, Any] = {}
        self._events: list[tuple[str, Any, Any]] = []
        self._handles: list[Any] = []

    def __enter__(self) -> LayerTimer:
        for name, m in self.modules.items():
            self._handles.append(m.register_forward_pre_hook(self._pre(name)))
            self._handles.append(m.register_forward_hook(self._post(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _pre(self, name: str) -> Callable[..., None]:
        if self.cuda:
            torch = load_torch()

            def pre_cuda(module: Any, args: Any) -> None:
                ev = torch.cuda.Event(enable_timing=True)
                ev.record(torch.cuda.current_stream(self.device))
                self._open[name] = ev
            return pre_cuda

        def pre(module: Any, args: Any) -> None:
            self._open[name] = time.perf_counter()
        return pre

    def _post(self, name: str) -> Callable[..., None]:
        if self.cuda:
            torch = load_torch()

            def post_cuda(module: Any, args: Any, out: Any) -> None:
                ev = torch.cuda.Event(enable_timing=True)
                ev.record(torch.cuda.current_stream(self.device))
                self._events.append((name, self._open.pop(name), ev))
            return post_cuda

        def post(module: Any, args: Any, out: Any) -> None:
            self.samples[name].append(time.perf_counter() - self._open.pop(name))
        return post

    def end_pass(self) -> None:
        """Collect the CUDA events of the pass that just ran (a no-op on CPU)."""
        if not self._events:
            return
        self._events[-1][2].synchronize()
        for name, a, b in self._events:
            self.samples[name].append(a.elapsed_time(b) / 1e3)
        self._events.clear()

    def stats(self) -> dict[str, Stats]:
        return {n: Stats.of(s) for n, s in self.samples.items() if s}


def interleaved(run: Callable[[], Any], modules: dict[str, Any], device: Any, repeats: int,
                tick: Callable[[str], None] | None = None) -> tuple[Stats, dict[str, Stats]]:
    """``repeats`` rounds of one plain pass of ``run()`` (timed whole) then one pass with a
    :class:`LayerTimer` on ``modules``, so that both figures see the same machine load; the
    caller has warmed up and holds ``torch.inference_mode()``. ``tick("timing")`` after each
    plain pass and ``tick("")`` after each hooked one (a progress bar's steps)."""
    whole: list[float] = []
    lt = LayerTimer(modules, device)
    for _ in range(repeats):
        whole.append(time_once(run, device))
        if tick:
            tick("timing")
        with lt:
            run()
            lt.end_pass()
        if tick:
            tick("")
    return Stats.of(whole), lt.stats()
