"""Validation in PyTorch: build the network, run it, compare every prediction with reality.

:func:`validate` analyses an architecture under bindings that fix every size, refuses runs that
would need more memory than a budget (before anything is allocated), builds the network with
:func:`cnncalc.torch_build.build` and then measures, per layer and in total:

- **output shape** (forward hooks), **params** (``numel`` of each layer's module),
  **MACs** (``torch.utils.flop_counter.FlopCounterMode``, whose FLOPs are 2 per MAC);
- **receptive field** (optional, ``rf=True``): by autograd, on a copy of the network in float64
  with every activation and normalisation made the identity, max-pools made window sums, weights
  positive and biases zero, so that a gradient is non-zero exactly where an output can see. One
  central output (and its neighbour along each axis, in other batch samples) is back-propagated
  to an all-ones input: the extent of the non-zero gradient is the field's ``size``, the shift
  between neighbours its ``stride``, and the first pixel minus ``index * stride`` its ``start``.
  Layers whose field is the whole input, fractional (after upsampling or a transposed
  convolution), a union of different strides, or clipped by the border at these sizes are
  listed as skipped;
- **activation memory** (CUDA only): the predicted inference peak against
  ``torch.cuda.max_memory_allocated`` over one forward pass (input included, weights excluded);
- **time**: whole network and per layer, see :mod:`cnncalc.timing` (warm-up, repeats, median and
  quartiles, CUDA events, ``cudnn.benchmark`` on, ``torch.inference_mode``).

A failure inside torch is reported as a mismatch naming the layer. The report records the
device, torch version, dtype, thread count and TF32 state.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .analysis import Analysis, jsonable
from .api import analyze, load
from .arith import is_num
from .engine import liveness
from .errors import CnnCalcError
from .graph import INPUT
from .progress import Progress
from .timing import LayerTimer, Stats, time_once

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Default memory budget of a validation run (activations + parameters), bytes."""
ENV_MAX_BYTES = "CNNCALC_VALIDATE_MAX_BYTES"
"""Environment variable that overrides the default budget (bytes, or e.g. ``4GiB``)."""
DTYPES = ("float32", "float64", "bfloat16", "float16")
"""Floating dtypes a network can be validated in."""
DEVICES = ("auto", "cpu", "cuda")

_WHOLE = {"global_avg_pool", "adaptive_avg_pool", "adaptive_max_pool", "linear", "flatten"}
_FRACTIONAL = {"upsample", "conv_transpose"}
_LINEARISED = {"relu", "relu6", "leaky_relu", "gelu", "silu", "sigmoid", "tanh", "hardswish",
               "softmax", "batch_norm", "layer_norm", "group_norm", "dropout"}
_UNITS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}


# --- report ---------------------------------------------------------------------------------

@dataclass
class Mismatch:
    """One disagreement between a prediction and torch."""

    layer: str
    quantity: str
    predicted: Any
    measured: Any

    def __str__(self) -> str:
        return f"{self.layer}: {self.quantity} predicted {_show(self.predicted)}, " \
               f"torch {_show(self.measured)}"

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "quantity": self.quantity,
                "predicted": _plain(self.predicted), "measured": _plain(self.measured)}


@dataclass
class RFCheck:
    """Receptive field of one layer: predicted, measured by autograd, and the verdict
    (``match``, ``mismatch`` or ``skipped`` with the reason)."""

    status: str
    predicted: dict[str, list[Any]]
    measured: dict[str, list[int | None]] | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "predicted": self.predicted,
                "measured": self.measured, "reason": self.reason}


@dataclass
class LayerCheck:
    """Predicted and measured figures of one layer (measured ones are None when not run)."""

    name: str
    type: str
    predicted_shape: tuple[int, ...]
    real_shape: tuple[int, ...] | None
    predicted_params: int
    real_params: int | None
    predicted_macs: int
    real_macs: int | None
    time: Stats | None = None
    rf: RFCheck | None = None
    predicted_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "predicted_time_ms": self.predicted_ms,
                "output_shape": {"predicted": list(self.predicted_shape),
                                 "measured": _plain(self.real_shape)},
                "params": {"predicted": self.predicted_params, "measured": self.real_params},
                "macs": {"predicted": self.predicted_macs, "measured": self.real_macs},
                "time": self.time.to_dict() if self.time else None,
                "receptive_field": self.rf.to_dict() if self.rf else None}


@dataclass
class Environment:
    """Where and how the network ran."""

    device: str
    device_name: str
    torch_version: str
    dtype: str
    threads: int
    cudnn_benchmark: bool | None
    tf32_matmul: bool
    tf32_cudnn: bool
    float32_matmul_precision: str
    cuda_version: str | None
    python: str = field(default_factory=platform.python_version)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def line(self) -> str:
        tf32 = ""
        if self.device.startswith("cuda"):
            tf32 = (f", TF32 matmul {'on' if self.tf32_matmul else 'off'} / cuDNN "
                    f"{'on' if self.tf32_cudnn else 'off'}, cudnn.benchmark "
                    f"{'on' if self.cudnn_benchmark else 'off'}")
        return (f"{self.device} ({self.device_name}), torch {self.torch_version}, {self.dtype}, "
                f"{self.threads} CPU thread{'s' if self.threads != 1 else ''}{tf32}")


@dataclass
class MemoryCheck:
    """Predicted peak of live activations at inference vs the CUDA allocator's peak during one
    forward pass (input included, weights excluded), bytes."""

    predicted_bytes: int
    measured_bytes: int
    tolerance: float

    @property
    def ratio(self) -> float:
        return self.measured_bytes / self.predicted_bytes if self.predicted_bytes else 1.0

    @property
    def ok(self) -> bool:
        return abs(self.ratio - 1.0) <= self.tolerance

    def to_dict(self) -> dict[str, Any]:
        return {"predicted_bytes": self.predicted_bytes, "measured_bytes": self.measured_bytes,
                "ratio": self.ratio, "tolerance": self.tolerance, "ok": self.ok}


@dataclass
class ValidationReport:
    """The outcome of :func:`validate`: per-layer checks, totals, timing and every mismatch."""

    name: str
    bindings: dict[str, int]
    input_shape: tuple[int, ...]
    env: Environment
    layers: list[LayerCheck]
    predicted_params: int
    real_params: int | None
    predicted_macs: int
    real_macs: int | None
    mismatches: list[Mismatch]
    warmup: int
    repeats: int
    network_time: Stats | None = None
    predicted_peak_bytes: int = 0
    memory: MemoryCheck | None = None
    notes: list[str] = field(default_factory=list)
    failure: str | None = None
    predicted_time_ms: float | None = None
    profile_device: str | None = None

    @property
    def time_error(self) -> float | None:
        """Network-level error of the profile's prediction: predicted / measured - 1."""
        if self.predicted_time_ms is None or self.network_time is None \
                or not self.network_time.median_ms:
            return None
        return self.predicted_time_ms / self.network_time.median_ms - 1.0

    @property
    def ok(self) -> bool:
        """True when every prediction matched (and torch ran the whole network)."""
        return not self.mismatches and self.failure is None

    @property
    def layer_time_sum_ms(self) -> float | None:
        """Sum of the per-layer median times."""
        times = [c.time.median_ms for c in self.layers if c.time is not None]
        return sum(times) if times else None

    @property
    def layer_time_ratio(self) -> float | None:
        """Sum of per-layer medians / whole-network median (close to 1 when hooks cost little
        and nothing runs between layers)."""
        s = self.layer_time_sum_ms
        if s is None or self.network_time is None or not self.network_time.median_ms:
            return None
        return s / self.network_time.median_ms

    @property
    def rf_counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.layers:
            if c.rf is not None:
                out[c.rf.status] = out.get(c.rf.status, 0) + 1
        return out

    def summary(self) -> str:
        """One line: the verdict, what was compared, and the network time."""
        where = f"{self.name} ({_binds(self.bindings)}) on {self.env.device}, {self.env.dtype}"
        if self.failure:
            return f"FAILED {where}: {self.failure}"
        what = "shapes, params, MACs"
        rf = self.rf_counts
        if rf:
            what += f", {rf.get('match', 0) + rf.get('mismatch', 0)} receptive fields"
        if self.memory is not None:
            what += ", peak memory"
        t = (f"; network {self.network_time.median_ms:.3g} ms median"
             if self.network_time else "")
        if self.ok:
            return f"OK {where}: all {len(self.layers)} layers match torch ({what}){t}"
        return f"MISMATCH {where}: {len(self.mismatches)} mismatch" \
               f"{'es' if len(self.mismatches) != 1 else ''} ({what} compared){t}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "ok": self.ok, "summary": self.summary(),
            "bindings": dict(self.bindings), "input_shape": list(self.input_shape),
            "environment": self.env.to_dict(), "warmup": self.warmup, "repeats": self.repeats,
            "totals": {"params": {"predicted": self.predicted_params,
                                  "measured": self.real_params},
                       "macs": {"predicted": self.predicted_macs, "measured": self.real_macs}},
            "time": None if self.network_time is None else {
                "network": self.network_time.to_dict(),
                "layer_sum_ms": self.layer_time_sum_ms,
                "layer_sum_ratio": self.layer_time_ratio,
                "predicted_ms": self.predicted_time_ms, "profile": self.profile_device,
                "predicted_error": self.time_error},
            "memory": self.memory.to_dict() if self.memory else {
                "predicted_bytes": self.predicted_peak_bytes, "measured_bytes": None},
            "layers": [c.to_dict() for c in self.layers],
            "mismatches": [m.to_dict() for m in self.mismatches],
            "notes": list(self.notes), "failure": self.failure,
        }

    def to_table(self) -> str:
        """Plain-text report: environment, one row per layer, totals, timing, verdict."""
        head = ["layer", "type", "output shape", "params", "MACs", "ms", "IQR", "pred ms", "RF"]
        rows = []
        for c in self.layers:
            shape = _dims(c.predicted_shape)
            if c.real_shape is not None and c.real_shape != c.predicted_shape:
                shape += f" != {_dims(c.real_shape)}"
            rows.append([
                c.name, c.type, shape,
                _pair(c.predicted_params, c.real_params), _pair(c.predicted_macs, c.real_macs),
                f"{c.time.median_ms:.3f}" if c.time else "",
                f"{c.time.spread_ms:.3f}" if c.time else "",
                "" if c.predicted_ms is None else f"{c.predicted_ms:.3f}",
                "" if c.rf is None else ("skip" if c.rf.status == "skipped" else
                                          "ok" if c.rf.status == "match" else "MISMATCH")])
        foot = ["total", "", "", _pair(self.predicted_params, self.real_params),
                _pair(self.predicted_macs, self.real_macs),
                f"{self.network_time.median_ms:.3f}" if self.network_time else "",
                f"{self.network_time.spread_ms:.3f}" if self.network_time else "",
                "" if self.predicted_time_ms is None else f"{self.predicted_time_ms:.3f}", ""]
        keep = [i for i in range(len(head))
                if i < 7 or any(r[i] for r in rows) or foot[i]]
        head, foot = [head[i] for i in keep], [foot[i] for i in keep]
        rows = [[r[i] for i in keep] for r in rows]
        table = [head, *rows, foot]
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]

        def line(r: list[str]) -> str:
            return "  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                             for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()

        rule = "-" * len(line(head))
        out = [f"validate {self.name}  input {_dims(self.input_shape)}  {_binds(self.bindings)}",
               f"on {self.env.line()}", line(head), rule, *[line(r) for r in rows], rule,
               line(foot), ""]
        if self.network_time is not None:
            t = self.network_time
            ratio = self.layer_time_ratio
            out.append(f"time: network median {t.median_ms:.3f} ms (IQR {t.spread_ms:.3f}, "
                       f"min {t.min_ms:.3f}, {t.n} repeats after {self.warmup} warm-up); "
                       f"per-layer medians sum {self.layer_time_sum_ms or 0:.3f} ms = "
                       f"{ratio or 0:.2f} x the network")
        if self.predicted_time_ms is not None:
            err = self.time_error
            out.append(f"predicted time: {self.predicted_time_ms:.3f} ms by the profile of "
                       f"{self.profile_device}"
                       + ("" if err is None else f"; measured/predicted error {err:+.1%}"))
        if self.memory is not None:
            m = self.memory
            out.append(f"memory: predicted peak activations {m.predicted_bytes:,} B, CUDA peak "
                       f"{m.measured_bytes:,} B (ratio {m.ratio:.3f}, tolerance "
                       f"{m.tolerance:.0%})")
        else:
            out.append(f"memory: predicted peak activations {self.predicted_peak_bytes:,} B "
                       "(measured on CUDA only)")
        out += [f"note: {n}" for n in self.notes]
        out += [f"mismatch: {m}" for m in self.mismatches]
        out.append(self.summary())
        return "\n".join(out) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    return v


def _show(v: Any) -> str:
    if isinstance(v, tuple):
        return _dims(v)
    if isinstance(v, dict):
        return " ".join(f"{k}={'x'.join(str(x) for x in vals)}" for k, vals in v.items())
    return str(v)


def _dims(shape: Any) -> str:
    return "x".join(str(v) for v in shape)


def _binds(b: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in b.items()) or "no bindings"


def _pair(pred: int, real: int | None) -> str:
    if real is None or real == pred:
        return str(pred)
    return f"{pred} != {real}"


# --- inputs ---------------------------------------------------------------------------------

MAX_BUDGET_BYTES = 2**50
"""The largest memory budget accepted (1 PiB)."""


def parse_bytes(text: str | int) -> int:
    """A byte count: an integer, or a number with a unit (``2GiB``, ``500MB``, ``1.5e9``);
    K, M, G, T are powers of 1000, KiB, MiB, GiB, TiB powers of 1024."""
    if isinstance(text, int) and not isinstance(text, bool):
        n = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([kmgt]i?)?b?\s*",
                         str(text).lower().replace("_", ""))
        if not m:
            raise CnnCalcError(f"memory budget {text!r} is not a byte count (e.g. 2147483648, "
                               "2GiB, 500MB)", kind="input")
        x = float(m.group(1)) * _UNITS.get(m.group(2) or "", 1)
        if not x <= MAX_BUDGET_BYTES:  # also inf (1e400)
            raise CnnCalcError(f"memory budget {text!r} is more than 1 PiB", kind="input")
        n = int(x)
    if n < 1:
        raise CnnCalcError(f"memory budget must be positive, got {text!r}", kind="input")
    if n > MAX_BUDGET_BYTES:
        raise CnnCalcError(f"memory budget {text!r} is more than 1 PiB", kind="input")
    return n


def budget_bytes(max_bytes: int | str | None = None) -> int:
    """The memory budget: the argument, else ``$CNNCALC_VALIDATE_MAX_BYTES``, else 2 GiB."""
    if max_bytes is not None:
        return parse_bytes(max_bytes)
    env = os.environ.get(ENV_MAX_BYTES)
    if not env:
        return DEFAULT_MAX_BYTES
    try:
        return parse_bytes(env)
    except CnnCalcError as e:
        raise CnnCalcError(f"environment variable {ENV_MAX_BYTES}: {e.message}",
                           kind=e.kind) from None


def _gib(n: int) -> str:
    """A byte count for people: B, KiB, MiB or GiB."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


@dataclass(frozen=True)
class MemoryPlan:
    """Predicted memory of a validation run, bytes, phase by phase (see :func:`memory_plan`).

    ``forward``: building the network and running it (shapes, MACs, timing); ``probe``: the
    receptive-field probe (0 without ``rf``); ``total``: the larger, since the network is freed
    before the probe is built. ``params`` and ``activations`` split ``forward`` for messages.
    """

    forward: int
    probe: int
    params: int
    activations: int

    @property
    def total(self) -> int:
        return max(self.forward, self.probe)


RSS_MARGIN_BYTES = 48 * 2**20
"""What a validation run's process may hold above :attr:`MemoryPlan.total`, besides what it held
before (torch's libraries, thread pools): allocator slack, oneDNN's primitive caches, the
Python objects of the report. The test of every layer type near a budget checks peak RSS
against ``budget + RSS_MARGIN_BYTES``."""


def memory_plan(an: Analysis, rf: bool = False) -> MemoryPlan:
    """What a validation run of ``an`` (every size bound) allocates, bytes: a sum over the
    tensors torch really creates, the larger of two phases.

    Forward phase, the largest of three moments (``P`` = parameters + buffers, ``b`` = the
    dtype's bytes, ``n`` = the input's elements):

    - build: the modules are made in float32 (``4 P``) and converted (``b P`` more when ``b`` is
      not 4);
    - input: ``b P`` + the input drawn in float32 and converted (``4 n``, + ``b n`` when not 4);
    - run: ``b P`` + the largest live set of one forward pass: walking the layers in order,
      every tensor lives from its producer to its last reader (as the analysis's peak), and at
      each layer's step its own scratch is added: a separable convolution's depthwise output,
      explicitly padded copies of the input, im2col columns or oneDNN's reordered copies, the
      per-group outputs of a grouped native convolution, max-pool indices, partial sums of a
      merge of 3+ inputs, the linear upsampling modes' buffers, normalisation statistics
      (:func:`cnncalc.torch_build.scratch_bytes`, per builder). Timing repeats and the MAC
      count run the same pass and keep nothing.

    Probe phase (``rf``): the network rebuilt in float32 then float64 (``12 P`` while
    converting, ``8 P`` after), then, in float64 for ``S = spatial rank + 1`` samples: the input,
    every layer's output and every tensor autograd keeps inside a layer (kept twice: once
    recorded, once as its gradient), the largest workspace of one layer (native im2col, also
    for col2im in backward), the largest output's seed gradient, and the input's gradient.

    :func:`check_budget` refuses a run whose ``total`` passes the budget before anything is
    allocated.
    """
    from .graph import expand
    from .layers.base import Ctx
    from .torch_build import scratch_bytes
    t = an.totals
    b = an.dtype_bytes
    p_elems = int(t.params) + int(t.buffers)  # type: ignore[call-overload]
    shapes: dict[str, tuple[int, ...]] = {
        INPUT: tuple(int(v) for v in an.input_shape)}  # type: ignore[call-overload]
    for r in an.layers:
        shapes[r.name] = tuple(int(v) for v in r.output_shape)  # type: ignore[call-overload]
    n_in = _numel(shapes[INPUT])
    extent = tuple(an.input_shape[2:])
    fwd_scratch: dict[str, int] = {}
    probe_kept = probe_ws = 0
    for node in expand(an.arch, dict(an.bindings)):
        ins = [shapes[i] for i in node.inputs]
        ctx = Ctx(node.env, node.name, node.index, extent, [])
        fwd_scratch[node.name] = scratch_bytes(node.layer, ctx, ins, shapes[node.name],
                                               b).total
        if rf:
            sc = scratch_bytes(node.layer, ctx, ins, shapes[node.name], 8, probe=True)
            probe_kept += sc.kept
            probe_ws = max(probe_ws, sc.transient)
    acts = _live_peak(an, shapes, fwd_scratch, b)
    params = p_elems * b
    build = 4 * p_elems + (params if b != 4 else 0)
    inp = params + n_in * b + (4 * n_in if b != 4 else 0)
    forward = max(build, inp, params + acts)
    probe = 0
    if rf:
        batch = max(shapes[INPUT][0], 1)
        samples = len(shapes[INPUT]) - 1

        def scale(v: int) -> int:
            return -(-v * samples // batch)
        owned = [r for r in an.layers if not (r.aliases_input and r.inputs)]
        kept = scale(8 * (n_in + sum(_numel(shapes[r.name]) for r in owned)) + probe_kept)
        largest = max((_numel(shapes[r.name]) for r in an.layers), default=0)
        probe = max(12 * p_elems,
                    8 * p_elems + 2 * kept + scale(probe_ws) + scale(8 * (largest + n_in)))
    return MemoryPlan(forward=forward, probe=probe, params=params, activations=acts)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for v in shape:
        n *= v
    return n


def _live_peak(an: Analysis, shapes: dict[str, tuple[int, ...]], scratch: dict[str, int],
               byte: int) -> int:
    """Largest live set of one forward pass, bytes: the analysis's walk (a tensor lives from its
    producer until its last reader has run; layers that return their input allocate nothing),
    plus each layer's scratch at its own step."""
    results = an.layers
    owner, last_use = liveness(results)
    live = {INPUT: _numel(shapes[INPUT]) * byte}
    running = best = live[INPUT]
    for i, r in enumerate(results):
        step = scratch.get(r.name, 0)
        if owner[r.name] == r.name:
            live[r.name] = _numel(shapes[r.name]) * byte
            running += live[r.name]
        best = max(best, running + step)
        for n in list(live):
            if last_use[n] <= i:
                running -= live.pop(n)
    return best


def check_budget(an: Analysis, budget: int, rf: bool = False) -> MemoryPlan:
    """Refuse (before anything is allocated) a run whose predicted memory
    (:func:`memory_plan`) passes ``budget``; return the plan otherwise."""
    plan = memory_plan(an, rf)
    need = plan.forward
    if need > budget:
        raise CnnCalcError(
            f"running {an.name!r} under {_binds(an.bindings)} needs about {_gib(need)} "
            f"({need:,} bytes: peak activations with layers' internal buffers "
            f"{_gib(plan.activations)}, parameters and buffers {_gib(plan.params)}), over the "
            f"validation budget of {_gib(budget)}; use smaller sizes or raise the budget "
            f"(--max-memory, max_bytes= or ${ENV_MAX_BYTES})", kind="limit")
    if plan.probe > budget:
        samples = len(an.input_shape) - 1
        raise CnnCalcError(
            f"the receptive-field probe of {an.name!r} under {_binds(an.bindings)} needs "
            f"about {_gib(plan.probe)} ({plan.probe:,} bytes: every activation kept in float64 "
            f"for {samples} samples, and their gradients), over the validation budget of "
            f"{_gib(budget)}; use smaller sizes, drop rf, or raise the budget", kind="limit")
    return plan


MMAP_THRESHOLD_BYTES = 4 * 2**20
"""Blocks at least this large are mapped and unmapped by glibc during a validation run."""


def _pin_mmap_threshold() -> None:
    """Make glibc map every block of :data:`MMAP_THRESHOLD_BYTES` or more and unmap it on free.

    glibc's default threshold grows with each freed mapping up to 32 MiB, after which tensors
    below that come from the heap, where freed and reallocated outputs fragment it: measured,
    twice the live tensors in RSS. With a fixed threshold the process holds what is live, which
    is what :func:`memory_plan` counts. Process-wide and kept (glibc has no way to read the old
    setting); a no-op where the C library is not glibc."""
    import ctypes
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, MMAP_THRESHOLD_BYTES)  # M_MMAP_THRESHOLD


def _device(torch: Any, device: str) -> Any:
    d = str(device).strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if d == "cpu":
        return torch.device("cpu")
    if d == "cuda" or d.startswith("cuda:"):
        if not torch.cuda.is_available():
            built = "without CUDA" if torch.version.cuda is None else \
                f"with CUDA {torch.version.cuda}, but no GPU is visible"
            raise CnnCalcError(f"--device {device}: CUDA is not available here (torch "
                               f"{torch.__version__}, built {built}); use --device cpu or auto",
                               kind="device")
        dev = torch.device(d)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CnnCalcError(f"no CUDA device {dev.index}; this machine has "
                               f"{torch.cuda.device_count()}", kind="device")
        return dev
    raise CnnCalcError(f"unknown device {device!r}; one of cpu, cuda, cuda:N, auto",
                       kind="device")


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _resolve_dtype(arch_dtype: str, dtype: str | None) -> str:
    if dtype is None:
        return arch_dtype if arch_dtype in DTYPES else "float32"
    if dtype not in DTYPES:
        raise CnnCalcError(f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}", kind="input")
    return dtype


# --- the run --------------------------------------------------------------------------------

def validate(arch: Any, bindings: Mapping[str, int] | None = None, device: str = "auto", *,
             dtype: str | None = None, repeats: int = 20, warmup: int = 3,
             threads: int | None = None, rf: bool = False,
             max_bytes: int | str | None = None, memory_tolerance: float = 0.25,
             progress: bool = False, profile: Any = None) -> ValidationReport:
    """Build ``arch`` in torch under ``bindings`` (every size bound), run it on ``device``
    (``auto``, ``cpu``, ``cuda`` or ``cuda:N``) and compare every prediction with what torch
    does; see the module docstring for what is measured and how.

    ``dtype``: float32, float64, bfloat16 or float16 (default: the architecture's input dtype
    when it is one of these, else float32); memory predictions use its size. ``repeats`` timed
    runs after ``warmup`` untimed ones (``repeats=0`` skips timing); ``threads`` sets torch's
    CPU thread count for the run. ``rf`` measures receptive fields by autograd. ``max_bytes``
    is the memory budget (default ``$CNNCALC_VALIDATE_MAX_BYTES`` or 2 GiB); a run predicted to
    need more is refused before anything is allocated. ``memory_tolerance`` is the relative
    difference allowed between predicted and measured CUDA peak memory. ``progress`` draws a
    bar on stderr when it is a terminal. ``profile`` (a :class:`cnncalc.cost.DeviceProfile` or
    the path of one) puts predicted time next to measured time, per layer and in total; a
    prediction is evidence, never a mismatch.
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise CnnCalcError(f"repeats must be a non-negative integer, got {repeats!r}",
                           kind="input")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise CnnCalcError(f"warmup must be a non-negative integer, got {warmup!r}",
                           kind="input")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise CnnCalcError(f"threads must be a positive integer, got {threads!r}",
                           kind="input")
    a = load(arch)
    dt = _resolve_dtype(a.input.dtype, dtype)
    if dt != a.input.dtype:
        a = a.model_copy(update={"input": a.input.model_copy(update={"dtype": dt})})
    an = analyze(a, bindings)
    if an.free_symbols:
        raise CnnCalcError(f"bind every size to validate in torch; unbound: "
                           f"{', '.join(an.free_symbols)} (e.g. --bind "
                           f"{an.free_symbols[0]}=...)", kind="binding")
    budget = budget_bytes(max_bytes)
    check_budget(an, budget, rf)
    prof = times = None
    if profile is not None:
        from .cost import load_profile, predicted_ms
        prof = load_profile(profile)
        times = predicted_ms(an, prof)
    from .torch_build import _torch
    torch = _torch()
    dev = _device(torch, device)
    _pin_mmap_threshold()
    old_threads = torch.get_num_threads()
    cudnn = torch.backends.cudnn
    old_bench = cudnn.benchmark
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if dev.type == "cuda":
            cudnn.benchmark = True
        report = _Run(torch, an, dev, dt, repeats, warmup, rf, memory_tolerance,
                      progress).go()
        if prof is not None and times is not None:
            _add_prediction(report, prof, times)
        return report
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)
        cudnn.benchmark = old_bench


def _add_prediction(report: ValidationReport, prof: Any, times: dict[str, float]) -> None:
    for c in report.layers:
        c.predicted_ms = times.get(c.name)
    report.predicted_time_ms = sum(times.values())
    report.profile_device = str(prof.meta.get("device_name", prof.device))
    env = report.env
    if prof.device != env.device.split(":")[0] or prof.dtype != env.dtype:
        report.notes.append(f"the profile is for {prof.device} {prof.dtype}; this run is "
                            f"{env.device} {env.dtype}")
    threads = prof.meta.get("threads")
    if env.device == "cpu" and threads is not None and threads != env.threads:
        report.notes.append(f"the profile was calibrated with {threads} CPU threads; this run "
                            f"used {env.threads}")


class _Run:
    """One validation run (state shared by its passes)."""

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
            device_name=torch.cuda.get_device_name(dev) if cuda else _cpu_name(),
            torch_version=torch.__version__, dtype=self.dtype,
            threads=torch.get_num_threads(),
            cudnn_benchmark=bool(torch.backends.cudnn.benchmark) if cuda else None,
            tf32_matmul=bool(torch.backends.cuda.matmul.allow_tf32),
            tf32_cudnn=bool(torch.backends.cudnn.allow_tf32),
            float32_matmul_precision=torch.get_float32_matmul_precision(),
            cuda_version=torch.version.cuda)

    def go(self) -> ValidationReport:
        from torch.utils.flop_counter import FlopCounterMode

        from .torch_build import LayerFailure, build
        torch, an = self.torch, self.an
        steps = 1 + (self.warmup + 2 * self.repeats if self.repeats else 0) + \
            (len(self.names) if self.rf else 0)
        bar = Progress(steps, f"{an.name}: build", enabled=None if self.progress else False)
        with bar:
            net: Any = build(an).to(device=self.dev, dtype=self.tdtype)
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(tuple(int(v) for v in an.input_shape), generator=gen)  # type: ignore[call-overload]
            x = x.to(device=self.dev, dtype=self.tdtype)
            modules = {n: net.layer(n) for n in self.names}
            shapes: dict[str, tuple[int, ...]] = {}
            hooks = [m.register_forward_hook(self._shape_hook(shapes, n))
                     for n, m in modules.items()]
            failure = None
            counts: dict[str, Any] = {}
            try:
                with torch.inference_mode(), FlopCounterMode(display=False) as fc:
                    net(x)
                counts = fc.get_flop_counts()
            except LayerFailure as e:
                failure = e
            finally:
                for h in hooks:
                    h.remove()
            bar.advance(label=f"{an.name}: counted")
            checks = self._checks(modules, shapes, counts)
            report = ValidationReport(
                name=an.name, bindings={k: int(v) for k, v in an.bindings.items()},  # type: ignore[call-overload]
                input_shape=tuple(int(v) for v in an.input_shape),  # type: ignore[call-overload]
                env=self.env(), layers=checks,
                predicted_params=int(an.totals.params),  # type: ignore[call-overload]
                real_params=sum(p.numel() for p in net.parameters()),
                predicted_macs=int(an.totals.macs),  # type: ignore[call-overload]
                real_macs=None if failure else sum(counts.get("Global", {}).values()) // 2,
                mismatches=self.mismatches, warmup=self.warmup, repeats=self.repeats,
                notes=self.notes,
                predicted_peak_bytes=int(an.totals.peak_activation_bytes))  # type: ignore[call-overload]
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
                self._receptive_fields(checks, bar)
        return report

    @staticmethod
    def _shape_hook(shapes: dict[str, tuple[int, ...]], name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any, out: Any) -> None:
            shapes[name] = tuple(out.shape)
        return hook

    def _checks(self, modules: dict[str, Any], shapes: dict[str, tuple[int, ...]],
                counts: dict[str, Any]) -> list[LayerCheck]:
        checks = []
        for r in self.an.layers:
            ran = r.name in shapes
            c = LayerCheck(
                name=r.name, type=r.type,
                predicted_shape=tuple(int(v) for v in r.output_shape),  # type: ignore[call-overload]
                real_shape=shapes.get(r.name),
                predicted_params=int(r.params),  # type: ignore[call-overload]
                real_params=sum(p.numel() for p in modules[r.name].parameters()),
                predicted_macs=int(r.macs),  # type: ignore[call-overload]
                real_macs=(sum(counts.get(f"Network.{r.name}", {}).values()) // 2
                           if ran and counts else None))
            checks.append(c)
            if c.real_shape is not None and c.real_shape != c.predicted_shape:
                self.mismatches.append(Mismatch(r.name, "output shape", c.predicted_shape,
                                                c.real_shape))
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
        return MemoryCheck(int(self.an.totals.peak_activation_bytes),  # type: ignore[call-overload]
                           int(measured), self.memory_tolerance)

    def _timing(self, net: Any, x: Any, modules: dict[str, Any], checks: list[LayerCheck],
                report: ValidationReport, bar: Progress) -> None:
        """Warm-up, then each repeat times one plain pass (the network figure) and one pass with
        per-layer hooks, interleaved so that both see the same machine load."""
        torch, dev = self.torch, self.dev
        name = self.an.name

        def run() -> None:
            net(x)

        whole: list[float] = []
        with torch.inference_mode():
            for _ in range(self.warmup):
                run()
                bar.advance(label=f"{name}: warm-up")
            lt = LayerTimer(modules, dev)
            for _ in range(self.repeats):
                whole.append(time_once(run, dev))
                bar.advance(label=f"{name}: timing")
                with lt:
                    run()
                    lt.end_pass()
                bar.advance()
        report.network_time = Stats.of(whole)
        stats = lt.stats()
        for c in checks:
            c.time = stats.get(c.name)

    # --- receptive fields by autograd -------------------------------------------------------

    def _rf_plan(self) -> dict[str, str]:
        """Layers not to probe, with the reason."""
        an = self.an
        skip: dict[str, str] = {}
        merged = {n.layer for n in an.notes if n.kind == "warn" and "strides" in n.text}
        rank = len(an.input_shape)
        shapes = {INPUT: tuple(an.input_shape), **{r.name: tuple(r.output_shape)
                                                   for r in an.layers}}
        for r in an.layers:
            inherited = next((skip[i] for i in r.inputs if i in skip), None)
            fld = r.receptive_field
            if r.type in _WHOLE:
                skip[r.name] = "the field is the whole input (by convention)"
            elif inherited:
                skip[r.name] = inherited
            elif len(r.inputs) > 1 and any(shapes[i][2:] != tuple(r.output_shape)[2:]
                                           for i in r.inputs):
                skip[r.name] = "a merge that broadcasts or concatenates along a spatial " \
                               "axis: positions do not line up (the union is a convention)"
            elif r.type in _FRACTIONAL or not all(
                    is_num(v) for v in (*fld.size, *fld.stride, *fld.start)):
                skip[r.name] = "after upsampling or a transposed convolution the field is " \
                               "fractional"
            elif r.name in merged:
                skip[r.name] = "a union of fields of different strides (by convention)"
            elif len(r.output_shape) != rank:
                skip[r.name] = "the output has other axes than the input"
        return skip

    def _receptive_fields(self, checks: list[LayerCheck], bar: Progress) -> None:
        from .torch_build import build
        torch, an = self.torch, self.an
        skip = self._rf_plan()
        ext = [int(v) for v in an.input_shape[2:]]  # type: ignore[call-overload]
        nd = len(ext)
        by_name = {c.name: c for c in checks}
        positions: dict[str, list[tuple[int, ...]]] = {}
        for r in an.layers:
            fld = r.receptive_field
            pred = {"size": [jsonable(v) for v in fld.size],
                    "stride": [jsonable(v) for v in fld.stride],
                    "start": [jsonable(v) for v in fld.start]}
            if r.name in skip:
                by_name[r.name].rf = RFCheck("skipped", pred, reason=skip[r.name])
                continue
            pos = _probe_positions(ext, [int(v) for v in r.output_shape[2:]],  # type: ignore[call-overload]
                                   [int(v) for v in fld.size], [int(v) for v in fld.stride],  # type: ignore[call-overload]
                                   [int(v) for v in fld.start])  # type: ignore[call-overload]
            if pos is None:
                by_name[r.name].rf = RFCheck(
                    "skipped", pred, reason="the field is clipped by the border at these "
                    "sizes; validate at larger sizes to measure it")
                continue
            positions[r.name] = pos
            by_name[r.name].rf = RFCheck("match", pred)
        if positions:
            probe = _rf_network(torch, build(an), an, self.dev)
            outs: dict[str, Any] = {}
            hooks = [probe.layer(n).register_forward_hook(
                lambda m, a, o, n=n: outs.__setitem__(n, o)) for n in positions]
            x = torch.ones((nd + 1, int(an.input_shape[1]), *ext), dtype=torch.float64,  # type: ignore[call-overload]
                           device=self.dev, requires_grad=True)
            try:
                with torch.enable_grad():
                    probe(x)
            finally:
                for h in hooks:
                    h.remove()
            for name, pos in positions.items():
                out = outs.pop(name)
                go = torch.zeros_like(out)
                for b, p in enumerate(pos):
                    go[(b, slice(None), *p)] = 1.0
                (g,) = torch.autograd.grad(out, x, go, retain_graph=True)
                check = by_name[name].rf
                assert check is not None
                check.measured = _measure(g, pos)
                del g, go, out
                bad = {k: (check.predicted[k], check.measured[k]) for k in check.measured
                       if any(m is not None and m != p for p, m in
                              zip(check.predicted[k], check.measured[k], strict=True))}
                if bad:
                    check.status = "mismatch"
                    self.mismatches.append(Mismatch(
                        name, "receptive field", {k: v[0] for k, v in bad.items()},
                        {k: v[1] for k, v in bad.items()}))
                bar.advance(label=f"{an.name}: receptive fields")
            del outs, x, probe
        skipped: dict[str, int] = {}
        for c in checks:
            if c.rf is not None and c.rf.status == "skipped":
                skipped[c.rf.reason] = skipped.get(c.rf.reason, 0) + 1
        for reason, n in skipped.items():
            self.notes.append(f"receptive field not measured for {n} layer"
                              f"{'s' if n != 1 else ''}: {reason}")


def _probe_positions(ext: list[int], out: list[int], size: list[int], stride: list[int],
                     start: list[int]) -> list[tuple[int, ...]] | None:
    """Output positions to back-propagate: a central one (sample 0) and its neighbour along
    each axis (sample 1 + axis), all with predicted fields inside the input; None if clipped."""
    centre: list[int] = []
    near: list[int] = []
    for n, o, k, s, a in zip(ext, out, size, stride, start, strict=True):
        def fits(i: int, n: int = n, k: int = k, s: int = s, a: int = a) -> bool:
            return a + i * s >= 0 and a + i * s + k <= n
        c = min(max(((n - k) // 2 - a) // s, 0), o - 1)
        if not fits(c):
            return None
        nb = c + 1 if c + 1 < o and fits(c + 1) else c - 1 if c >= 1 and fits(c - 1) else c
        if o >= 2 and nb == c:
            return None
        centre.append(c)
        near.append(nb)
    pos = [tuple(centre)]
    for ax in range(len(ext)):
        p = list(centre)
        p[ax] = near[ax]
        pos.append(tuple(p))
    return pos


def _measure(g: Any, pos: list[tuple[int, ...]]) -> dict[str, list[int | None]]:
    """Size, stride and start per axis from the input gradients of the probed outputs."""
    nd = len(pos[0])
    nz = (g != 0).any(dim=1)  # (samples, *spatial)

    def span(b: int, ax: int) -> tuple[int, int]:
        prof = nz[b]
        dims = [d for d in range(nd) if d != ax]
        if dims:
            prof = prof.any(dim=tuple(dims)) if len(dims) > 1 else prof.any(dim=dims[0])
        idx = prof.nonzero().flatten().tolist()
        return (idx[0], idx[-1]) if idx else (-1, -2)

    size: list[int | None] = []
    stride: list[int | None] = []
    start: list[int | None] = []
    for ax in range(nd):
        first, last = span(0, ax)
        size.append(last - first + 1)
        step = pos[1 + ax][ax] - pos[0][ax]
        s: int | None = None
        if step:
            s = (span(1 + ax, ax)[0] - first) // step
        stride.append(s)
        start.append(first - pos[0][ax] * (s if s is not None else 0)
                     if s is not None or pos[0][ax] == 0 else None)
    return {"size": size, "stride": stride, "start": start}


def _rf_network(torch: Any, net: Any, an: Analysis, dev: Any) -> Any:
    """The probe: float64, activations and normalisations the identity, max-pools window sums,
    weights positive (1 / fan-in), biases zero."""
    nn = torch.nn
    for r in an.layers:
        if r.type in _LINEARISED:
            net.replace(r.name, nn.Identity())
        elif r.type == "max_pool":
            net.replace(r.name, _window_sum(torch, net.layer(r.name)))
    net = net.to(device=dev, dtype=torch.float64)
    with torch.no_grad():
        for pname, p in net.named_parameters():
            if p.dim() >= 2:
                p.fill_(1.0 / max(p[0].numel(), 1))
            else:
                p.fill_(0.0 if pname.endswith("bias") else 1.0)
    return net


def _window_sum(torch: Any, pool: Any) -> Any:
    """A module with the windows of max-pool ``pool`` (kernel, stride, padding, dilation,
    ceil_mode, explicit padding) that sums them: a depthwise convolution with ones."""
    functional = torch.nn.functional

    class WindowSum(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.pool = pool

        def forward(self, x: Any) -> Any:
            with torch.no_grad():
                out = self.pool(x.detach()).shape[2:]
            nd = x.dim() - 2
            flat = getattr(self.pool, "explicit_padding", None)
            if flat:
                x = functional.pad(x, flat)

            def per_axis(v: Any) -> tuple[int, ...]:
                return tuple(v) if isinstance(v, (tuple, list)) else (int(v),) * nd
            k, s = per_axis(self.pool.kernel_size), per_axis(self.pool.stride)
            p, d = per_axis(self.pool.padding), per_axis(self.pool.dilation)
            pads: list[int] = []
            for i in reversed(range(nd)):
                need = (out[i] - 1) * s[i] + d[i] * (k[i] - 1) + 1
                extra = max(0, need - (x.shape[2 + i] + 2 * p[i]))
                pads += [p[i], p[i] + extra]
            x = functional.pad(x, pads)
            c = x.shape[1]
            w = torch.ones((c, 1, *k), dtype=x.dtype, device=x.device)
            conv = getattr(functional, f"conv{nd}d")
            y = conv(x, w, None, s, 0, d, c)
            return y[(slice(None), slice(None), *(slice(0, o) for o in out))]
    return WindowSum()
