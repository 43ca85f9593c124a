"""One validation run: build the network, run it, compare shapes, params, MACs; time it.

Output shapes come from forward hooks, params from ``numel`` of each layer's module, MACs from
``torch.utils.flop_counter.FlopCounterMode`` (whose FLOPs are 2 per MAC; attention runs in its
math kernels there, the fused ones count as 0). On CUDA the predicted inference peak is
compared with ``torch.cuda.max_memory_allocated`` over one forward pass (input included,
weights excluded). Timing: see :mod:`cnncalc.pytorch.timing`. Receptive
fields: :mod:`cnncalc.pytorch.rf_probe`. A failure inside torch is a mismatch naming the layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..algebra.arith import as_int
from ..core.analysis import Analysis
from ..progress import Progress
from .build import LayerFailure, build
from .builders import as_ints
from .builders_attention import counted_attention
from .device import device_name
from .rf_probe import probe_fields
from .timing import interleaved
from .vreport import Environment, LayerCheck, MemoryCheck, Mismatch, ValidationReport


class Run:
    """One validation run of an analysis with every size bound; :meth:`go` makes the report."""

    def __init__(self, torch: Any, an: Analysis, dev: Any, dtype: str, repeats: int,
                 warmup: int, rf: bool, memory_tolerance: float, progress: bool) -> None:
        self.torch, self.an, self.dev, self.dtype = torch, an, dev, dtype
        self.tdtype = getattr(torch, dtype)
        self.repeats, self.warmup, self.rf = repeats, warmup, rf
        self.memory_tolerance = memory_tolerance
        self.progress = progress
        self.names = [r.name for r in an.layers]
        self.mismatches: list[Mismatch] = []
        self.notes: list[str] = []

    def env(self) -> Environment:
        torch, dev = self.torch, self.dev
        cuda = dev.type == "cuda"
        return Environment(
            device=str(dev),
            device_name=device_name(dev),
            torch_version=torch.__version__, dtype=self.dtype,
            threads=torch.get_num_threads(),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark) if cuda else None,
            tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
            tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            cuda_version=torch.version.cuda)

    def go(self) -> ValidationReport:
        from torch.utils.flop_counter import FlopCounterMode

        torch, an = self.torch, self.an
        steps = 1 + (self.warmup + 2 * self.repeats if self.repeats else 0) + \
            (len(self.names) if self.rf else 0)
        bar = Progress(steps, f"{an.name}: build", enabled=None if self.progress else False)
        with bar:
            net: Any = build(an).to(device=self.dev, dtype=self.tdtype)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(as_ints(an.input_shape), generator=gen)
            x = x.to(device=self.dev, dtype=self.tdtype)
            modules = {n: net.layer(n) for n in self.names}
            shapes: dict[str, tuple[int, ...]] = {}
            hooks = [m.register_forward_hook(self._shape_hook(shapes, n))
                     for n, m in modules.items()]
            failure = None
            counts: dict[str, Any] = {}
            try:
                # the math kernels of attention: FlopCounterMode counts the fused ones as 0
                with torch.inference_mode(), counted_attention(), \
                        FlopCounterMode(display=False) as fc:
                    net(x)
                counts = fc.get_flop_counts()
            except LayerFailure as e:
                failure = e
            finally:
                for h in hooks:
                    h.remove()
            bar.advance(label=f"{an.name}: counted")
            params = {n: sum(p.numel() for p in net.layer_parameters(n)) for n in self.names}
            checks = self._checks(params, shapes, counts)
            report = ValidationReport(
                name=an.name, bindings={k: as_int(v) for k, v in an.bindings.items()},
                input_shape=as_ints(an.input_shape),
                env=self.env(), layers=checks,
                predicted_params=as_int(an.totals.params),
                real_params=sum(p.numel() for p in net.parameters()),
                predicted_macs=as_int(an.totals.macs),
                real_macs=None if failure else sum(counts.get("Global", {}).values()) // 2,
                mismatches=self.mismatches, warmup=self.warmup, repeats=self.repeats,
                notes=self.notes,
                predicted_peak_bytes=as_int(an.totals.peak_activation_bytes))
            if failure is not None:
                report.failure = str(failure)
                self.mismatches.append(Mismatch(failure.layer, "run", "runs",
                                                str(failure).split(": ", 1)[1]))
                return report
            self._totals(report)
            if self.dev.type == "cuda":
                report.memory = self._memory(net, x)
                if not report.memory.ok:
                    self.mismatches.append(Mismatch(
                        "(network)", "peak activation bytes", report.memory.predicted_bytes,
                        report.memory.measured_bytes))
            if self.repeats:
                self._timing(net, x, modules, checks, report, bar)
            # free the network before the probe (which builds its own): drop every reference
            del net, x, modules, fc
            if self.rf:
                mismatches, notes = probe_fields(self.torch, an, self.dev, checks, bar)
                self.mismatches += mismatches
                self.notes += notes
        return report

    @staticmethod
    def _shape_hook(shapes: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            if isinstance(out, tuple):  # several outputs (split): part 0, and each as NAME.j
                shapes.update((f"{name}.{j}", tuple(o.shape)) for j, o in enumerate(out))
                out = out[0]
            shapes[name] = tuple(out.shape)
        return hook

    def _checks(self, params: dict[str, int], shapes: dict[str, tuple[int, ...]],
                counts: dict[str, Any]) -> list[LayerCheck]:
        checks = []
        for r in self.an.layers:
            ran = r.name in shapes
            c = LayerCheck(
                name=r.name, type=r.type,
                predicted_shape=as_ints(r.output_shape),
                real_shape=shapes.get(r.name),
                predicted_params=as_int(r.params),
                real_params=params[r.name],
                predicted_macs=as_int(r.macs),
                real_macs=(sum(counts.get(f"Network.{r.name}", {}).values()) // 2
                           if ran and counts else None))
            checks.append(c)
            if c.real_shape is not None and c.real_shape != c.predicted_shape:
                self.mismatches.append(Mismatch(r.name, "output shape", c.predicted_shape,
                                                c.real_shape))
            for j, part in enumerate(r.output_shapes):
                real = shapes.get(f"{r.name}.{j}")
                if ran and real != as_ints(part):
                    self.mismatches.append(Mismatch(f"{r.name}.{j}", "output shape",
                                                    as_ints(part), real))
            if c.real_params != c.predicted_params:
                self.mismatches.append(Mismatch(r.name, "params", c.predicted_params,
                                                c.real_params))
            if c.real_macs is not None and c.real_macs != c.predicted_macs:
                self.mismatches.append(Mismatch(r.name, "MACs", c.predicted_macs,
                                                c.real_macs))
        return checks

    def _totals(self, report: ValidationReport) -> None:
        if report.real_params != report.predicted_params:
            self.mismatches.append(Mismatch("(total)", "params", report.predicted_params,
                                            report.real_params))
        if report.real_macs != report.predicted_macs:
            self.mismatches.append(Mismatch("(total)", "MACs", report.predicted_macs,
                                            report.real_macs))

    def _memory(self, net: Any, x: Any) -> MemoryCheck:
        """CUDA allocator peak over one forward pass, above what was allocated before it
        (weights, input), plus the input (which the prediction counts while it is read)."""
        torch = self.torch
        with torch.inference_mode():
            net(x)  # warm (cuDNN choices, lazy allocations) before measuring
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            base = torch.cuda.memory_allocated(self.dev)
            y = net(x)
            torch.cuda.synchronize(self.dev)
            peak = torch.cuda.max_memory_allocated(self.dev)
            del y
        measured = peak - base + x.numel() * x.element_size()
        return MemoryCheck(as_int(self.an.totals.peak_activation_bytes),
                           int(measured), self.memory_tolerance)

    def _timing(self, net: Any, x: Any, modules: dict[str, Any], checks: list[LayerCheck],
                report: ValidationReport, bar: Progress) -> None:
        """Warm-up, then each repeat times one plain pass (the network figure) and one pass with
        per-layer hooks, interleaved so that both see the same machine load."""
        torch, dev = self.torch, self.dev
        name = self.an.name

        def run() -> None:
            net(x)

        def tick(step: str) -> None:
            bar.advance(label=f"{name}: {step}" if step else None)

        with torch.inference_mode():
            for _ in range(self.warmup):
                run()
                bar.advance(label=f"{name}: warm-up")
            report.network_time, stats = interleaved(run, modules, dev, self.repeats, tick)
        for c in checks:
            c.time = stats.get(c.name)
