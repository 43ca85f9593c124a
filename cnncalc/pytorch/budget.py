"""The memory budget of a validation run: every tensor torch will allocate, counted first.

:func:`memory_plan` predicts, from the analysis alone (no torch), what a run of
:func:`cnncalc.validate` allocates; :func:`check_budget` refuses a run over the budget before
anything is allocated. The budget is ``max_bytes=``, ``--max-memory`` or
``$CNNCALC_VALIDATE_MAX_BYTES`` (default 2 GiB).
"""

from __future__ import annotations

import ctypes
import math
import os
import re
from dataclasses import dataclass

from ..algebra.arith import as_int
from ..core.analysis import Analysis
from ..core.bindings import format_bindings
from ..core.engine import liveness
from ..core.graph import INPUT, expand
from ..errors import CnnCalcError
from ..layers import Ctx
from .builders import Shape, as_ints
from .scratch import scratch_bytes

DEFAULT_MAX_BYTES = 2 * 1024**3
"""Default memory budget of a validation run (activations + parameters), bytes."""
ENV_MAX_BYTES = "CNNCALC_VALIDATE_MAX_BYTES"
"""Environment variable that overrides the default budget (bytes, or e.g. ``4GiB``)."""
_UNITS = {"k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
          "ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40}
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
      (:func:`cnncalc.pytorch.scratch.scratch_bytes`, per builder). Timing repeats and the MAC
      count run the same pass and keep nothing.

    Probe phase (``rf``): the network rebuilt in float32 then float64 (``12 P`` while
    converting, ``8 P`` after), then, in float64 for ``S = spatial rank + 1`` samples: the input,
    every layer's output and every tensor autograd keeps inside a layer (kept twice: once
    recorded, once as its gradient), the largest workspace of one layer (native im2col, also
    for col2im in backward), the largest output's seed gradient, and the input's gradient.

    :func:`check_budget` refuses a run whose ``total`` passes the budget before anything is
    allocated.
    """
    t = an.totals
    b = an.dtype_bytes
    p_elems = as_int(t.params) + as_int(t.buffers)
    shapes: dict[str, Shape] = {INPUT: as_ints(an.input_shape)}
    for r in an.layers:
        shapes[r.name] = as_ints(r.output_shape)
        for j, part in enumerate(r.output_shapes):  # a split's outputs, read as "NAME.j"
            shapes[f"{r.name}.{j}"] = as_ints(part)
    n_in = math.prod(shapes[INPUT])
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
        kept = scale(8 * (n_in + sum(math.prod(shapes[r.name]) for r in owned)) + probe_kept)
        largest = max((math.prod(shapes[r.name]) for r in an.layers), default=0)
        probe = max(12 * p_elems,
                    8 * p_elems + 2 * kept + scale(probe_ws) + scale(8 * (largest + n_in)))
    return MemoryPlan(forward=forward, probe=probe, params=params, activations=acts)


def _live_peak(an: Analysis, shapes: dict[str, Shape], scratch: dict[str, int], byte: int) -> int:
    """Largest live set of one forward pass, bytes: the analysis's walk (a tensor lives from its
    producer until its last reader has run; layers that return their input allocate nothing),
    plus each layer's scratch at its own step."""
    results = an.layers
    owner, last_use = liveness(results)
    live = {INPUT: math.prod(shapes[INPUT]) * byte}
    running = best = live[INPUT]
    for i, r in enumerate(results):
        step = scratch.get(r.name, 0)
        if owner[r.name] == r.name:
            live[r.name] = math.prod(shapes[r.name]) * byte
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
    binds = format_bindings(an.bindings, "no bindings")
    need = plan.forward
    if need > budget:
        raise CnnCalcError(
            f"running {an.name!r} under {binds} needs about {_gib(need)} "
            f"({need:,} bytes: peak activations with layers' internal buffers "
            f"{_gib(plan.activations)}, parameters and buffers {_gib(plan.params)}), over the "
            f"validation budget of {_gib(budget)}; use smaller sizes or raise the budget "
            f"(--max-memory, max_bytes= or ${ENV_MAX_BYTES})", kind="limit")
    if plan.probe > budget:
        samples = len(an.input_shape) - 1
        raise CnnCalcError(
            f"the receptive-field probe of {an.name!r} under {binds} needs "
            f"about {_gib(plan.probe)} ({plan.probe:,} bytes: every activation kept in float64 "
            f"for {samples} samples, and their gradients), over the validation budget of "
            f"{_gib(budget)}; use smaller sizes, drop rf, or raise the budget", kind="limit")
    return plan


MMAP_THRESHOLD_BYTES = 4 * 2**20
"""Blocks at least this large are mapped and unmapped by glibc during a validation run."""


def pin_mmap_threshold() -> None:
    """Make glibc map every block of :data:`MMAP_THRESHOLD_BYTES` or more and unmap it on free.

    glibc's default threshold grows with each freed mapping up to 32 MiB, after which tensors
    below that come from the heap, where freed and reallocated outputs fragment it: measured,
    twice the live tensors in RSS. With a fixed threshold the process holds what is live, which
    is what :func:`memory_plan` counts. Process-wide and kept (glibc has no way to read the old
    setting); a no-op where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, MMAP_THRESHOLD_BYTES)  # M_MMAP_THRESHOLD
