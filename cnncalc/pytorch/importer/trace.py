"""Tracing a module with torch.fx: symbolically, or at concrete sizes where it must be.

``torch.fx.symbolic_trace`` records the forward once, with ``torch.nn`` modules kept as
leaves, in a few milliseconds (torchvision's resnet50: about 20 ms). A forward whose Python
control flow depends on tensor sizes cannot be traced symbolically; with a fully concrete
``input_shape`` it is traced again by torch.fx's meta tracer, which runs every operation on
``meta`` tensors (no data, no arithmetic) so that such conditions take their value at that
size. Shapes at one concrete size (for ``opaque`` layers) come from
``torch.fx.passes.shape_prop.ShapeProp`` under a ``FakeTensorMode``: no weights are read and
nothing is computed.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import traceback
from collections.abc import Iterator
from typing import Any

from ...errors import CnnCalcError
from ..device import load_torch

DEFAULT_SIZE = 224
"""The size each symbolic spatial axis takes where a concrete shape is needed (``N``: 1)."""


@contextlib.contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """Trace the inference graph (``eval()``: no auxiliary training heads, dropout off); every
    submodule's ``training`` flag is restored afterwards."""
    flags = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, t in flags:
            m.training = t


def trace(module: Any, shape: list[int | str]) -> tuple[Any, bool]:
    """(GraphModule, whether it was traced at concrete sizes)."""
    load_torch()
    fx = importlib.import_module("torch.fx")
    try:
        with eval_mode(module):
            return fx.symbolic_trace(module), False
    except Exception as e:  # TraceError, or any error the forward raised on proxies
        first = e
    concrete = all(isinstance(v, int) for v in shape)
    where = _where(first, module)
    if not concrete:
        example = [v if isinstance(v, int) else (1 if i == 0 else DEFAULT_SIZE)
                   for i, v in enumerate(shape)]
        raise CnnCalcError(f"cannot trace {type(module).__name__} symbolically{where}: "
                           f"{_why(first)}; give a concrete input_shape such as {example} "
                           f"(--input {','.join(map(str, example))}) to import it at that size",
                           kind="input") from None
    torch = load_torch()
    meta = importlib.import_module("torch.fx.experimental.meta_tracer")
    arg = _first_arg(module)
    try:
        with eval_mode(module):
            gm = meta.symbolic_trace(module, meta_args={arg: torch.empty(*shape, device="meta")})
    except Exception as e:
        raise CnnCalcError(f"cannot trace {type(module).__name__}{_where(e, module)}, even at "
                           f"the concrete size {shape}: {_why(e)}", kind="input") from None
    return gm, True


def _first_arg(module: Any) -> str:
    params = list(inspect.signature(module.forward).parameters.values())
    if not params:
        raise CnnCalcError(f"{type(module).__name__}.forward takes no input", kind="input")
    return params[0].name


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}"[:300]


def _where(e: BaseException, root: Any) -> str:
    """`` in module 'layer1.0' (file.py:12: if x.shape[2] > 8:)``, from the traceback: the
    innermost frame of the user's code and the module whose forward it is in."""
    torch = load_torch()
    torch_dir = os.path.dirname(torch.__file__)
    paths = {id(m): n for n, m in root.named_modules()}
    path, frame = None, None
    tb = e.__traceback__
    while tb is not None:
        f = tb.tb_frame
        if not f.f_code.co_filename.startswith(torch_dir):
            frame = traceback.FrameSummary(f.f_code.co_filename, tb.tb_lineno, f.f_code.co_name)
            me = f.f_locals.get("self")
            if me is not None and id(me) in paths:
                path = paths[id(me)]
        tb = tb.tb_next
    out = ""
    if path is not None:
        out += f" in module {path or type(root).__name__!r}"
    if frame is not None and not frame.filename.endswith(("importer/trace.py",)):
        line = (frame.line or "").strip()
        out += f" ({os.path.basename(frame.filename)}:{frame.lineno}" + \
            (f": {line})" if line else ")")
    return out


def concrete_shapes(gm: Any, shape: list[int | str]) -> dict[str, tuple[int, ...] | None]:
    """Each node's output shape at ``shape`` with symbols at their default sizes (batch 1,
    others :data:`DEFAULT_SIZE`); None for a node whose output is not one tensor."""
    torch = load_torch()
    sp = importlib.import_module("torch.fx.passes.shape_prop")
    fake = importlib.import_module("torch._subclasses.fake_tensor")
    sizes = [v if isinstance(v, int) else (1 if i == 0 else DEFAULT_SIZE)
             for i, v in enumerate(shape)]
    p = next(gm.parameters(), None)
    device = p.device if p is not None else torch.device("cpu")
    try:
        if device.type == "meta":  # meta tensors carry shapes already
            sp.ShapeProp(gm).propagate(torch.empty(*sizes, device="meta"))
        else:  # weights become fake tensors as they are read (no copy of the module)
            with fake.FakeTensorMode(allow_non_fake_inputs=True) as mode:
                sp.ShapeProp(gm).propagate(mode.from_tensor(torch.empty(*sizes,
                                                                        device=device)))
    except Exception as e:
        raise CnnCalcError(f"cannot run the traced module at the size {sizes} to record the "
                           f"shape of an opaque layer: {_why(e)}", kind="input") from None
    out: dict[str, tuple[int, ...] | None] = {}
    for n in gm.graph.nodes:
        tm = n.meta.get("tensor_meta")
        out[n.name] = tuple(int(s) for s in tm.shape) if hasattr(tm, "shape") else None
    return out
