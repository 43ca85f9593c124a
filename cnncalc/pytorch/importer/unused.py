"""Parameters a module owns that its traced forward never reads (googlenet's auxiliary heads
in eval mode, a layer defined but not called): reported apart from the architecture, which
counts what the forward computes with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .trace import trace


def graph_unused(gm: Any, root: Any) -> dict[str, int]:
    """``{module path or parameter name: parameter count}`` for the parameters of ``root``
    that the graph of ``gm`` (its trace) never reads: a parameter is read when its module
    is called or a ``get_attr`` reads it. Wholly unread modules are reported as one entry
    (the outermost such module)."""
    read: set[int] = set()
    for n in gm.graph.nodes:
        if n.op == "call_module":
            read.update(id(p) for p in gm.get_submodule(str(n.target)).parameters())
        elif n.op == "get_attr":
            obj = gm
            for part in str(n.target).split("."):
                obj = getattr(obj, part, None)
            read.add(id(obj))
    unread = {id(p): p for p in root.parameters() if id(p) not in read}
    if not unread:
        return {}
    out: dict[str, int] = {}
    claimed: set[int] = set()
    for path, m in root.named_modules():
        ps = list(m.parameters())
        if not path or not ps or any(id(p) not in unread or id(p) in claimed for p in ps):
            continue
        out[path] = sum(int(p.numel()) for p in ps)
        claimed.update(id(p) for p in ps)
    for pname, p in root.named_parameters():
        if id(p) in unread and id(p) not in claimed:
            out[pname] = int(p.numel())
            claimed.add(id(p))
    return out


def unused_parameters(module: Any, input_shape: Sequence[int | str] = ("N", 3, "H", "W")
                      ) -> dict[str, int]:
    """The parameters of ``module`` its forward (in eval mode) never reads, as
    ``{module path or parameter name: count}`` (what :func:`cnncalc.from_torch` leaves out of
    the architecture and names in its description)."""
    gm, _ = trace(module, list(input_shape))
    return graph_unused(gm, module)


def describe_unused(unused: dict[str, int]) -> str:
    """A sentence for the architecture's description ('' when every parameter is used)."""
    if not unused:
        return ""
    total = sum(unused.values())
    items = ", ".join(f"{k} ({v:,})" for k, v in unused.items())
    return (f" Parameters the forward never uses ({total:,}, not counted): {items}.")
