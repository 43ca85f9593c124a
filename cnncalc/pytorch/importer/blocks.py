"""Blocks from repeated submodules: the layers of every instance of one module class (a
torchvision ``Bottleneck``, ``InvertedResidual``) that have the same structure become one
entry of ``blocks``, each instance a ``{"type": "block"}`` layer named by its module path.

An instance qualifies when its layers (two or more) are contiguous in the layer list, read one
tensor from outside, and are read from outside only through their last layer. Sizes that
differ between the instances of a group become the block's arguments (named after the field,
``out_channels``, ``stride_2``); equal ones stay literal. The expanded result is compared,
layer by layer (name, inputs, every field), with the flat list; on any difference the flat
list is kept, so blocks never change what is analysed.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ...core.graph import expand
from ...core.schema import ARG_RE, LAYER_TYPES, Architecture
from ...errors import CnnCalcError
from ...layers import LAYER_CLASSES
from ...layers.base import expr_fields
from .shapes import INPUT

_RESERVED = {"floor", "ceil", "min", "max", "input"}


def blocked(arch: Architecture, root: Any) -> Architecture:
    """``arch`` with repeated submodules as blocks (``arch`` itself when none repeats or the
    result would differ)."""
    try:
        return _blocked(arch, root)
    except (CnnCalcError, ValidationError):  # a body the schema refuses: keep the flat list
        return arch


def _blocked(arch: Architecture, root: Any) -> Architecture:
    flat = [la.model_dump(exclude_unset=True) for la in arch.layers]
    full = [_fields(la.model_dump()) for la in arch.layers]  # defaults included: compared
    names = [d["name"] for d in flat]
    ins = _inputs(flat)
    where = {n: i for i, n in enumerate(names)}
    symbols = {str(v) for v in arch.input.shape if isinstance(v, str)}
    groups: dict[tuple[str, str], list[tuple[str, int, int, list[Any], list[Any], str]]] = {}
    for path, m in root.named_modules():
        cls = type(m)
        if not path or cls.__module__.startswith("torch."):
            continue
        inst = _instance(path, flat, full, names, ins, where)
        if inst is None:
            continue
        a, b, body, ext = inst
        skel, vals = _skeleton(body)
        key = (f"{cls.__module__}.{cls.__qualname__}", json.dumps(skel, sort_keys=True,
                                                                  default=str))
        groups.setdefault(key, []).append((path, a, b, body, vals, ext))
    taken = [False] * len(flat)
    blocks: dict[str, Any] = {}
    refs: dict[int, tuple[int, str, dict[str, Any]]] = {}  # first index: last, input, layer

    def order(kv: Any) -> tuple[float, int]:  # outer modules first (mean depth), then order
        items = kv[1]
        return sum(it[0].count(".") for it in items) / len(items), min(it[1] for it in items)

    for (cname, _), items in sorted(groups.items(), key=order):
        items = [it for it in items if not any(taken[it[1]:it[2] + 1])]
        if len(items) < 2:
            continue
        bname = _unique(cname.rsplit(".", 1)[-1].lower(), blocks)
        args, per_inst = _args(items, symbols)
        a0, b0 = items[0][1], items[0][2]
        body = _fill(items[0][3], items[0][4], args, [set(d) for d in flat[a0:b0 + 1]])
        blocks[bname] = {"args": list(dict.fromkeys(args.values())), "layers": body}
        for k, (path, a, b, _, _, ext) in enumerate(items):
            for i in range(a, b + 1):
                taken[i] = True
            ref: dict[str, Any] = {"type": "block", "name": path, "block": bname}
            if per_inst[k]:
                ref["args"] = per_inst[k]
            refs[a] = (b, ext, ref)
    if not blocks:
        return arch
    out_layers: list[Any] = []
    rename: dict[str, str] = {}
    prev = INPUT
    for i, d in enumerate(flat):
        if i in refs:
            b, ext, ref = refs[i]
            ext = rename.get(ext, ext)
            if ext != prev:
                ref = {**ref, "inputs": [ext]}
            out_layers.append(ref)
            rename[names[b]] = ref["name"]
            prev = ref["name"]
            continue
        if taken[i]:
            continue
        d = dict(d)
        mine = [rename.get(n, n) for n in ins[i]]
        d.pop("inputs", None)
        if mine != [prev]:
            d["inputs"] = mine
        out_layers.append(d)
        prev = d["name"]
    new = Architecture.model_validate({**arch.model_dump(exclude_unset=True),
                                       "blocks": blocks, "layers": out_layers})
    return new if _same(new, full, names, ins) else arch


def _inputs(flat: list[dict[str, Any]]) -> list[list[str]]:
    """The names each layer reads (its default, the previous layer, made explicit)."""
    out, prev = [], INPUT
    for d in flat:
        out.append(list(d["inputs"]) if "inputs" in d else [prev])
        prev = d["name"]
    return out


def _fields(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("name", "inputs")}


def _instance(path: str, flat: list[dict[str, Any]], full: list[dict[str, Any]],
              names: list[str], ins: list[list[str]],
              where: dict[str, int]) -> tuple[int, int, list[dict[str, Any]], str] | None:
    """(first, last index, body with names relative to ``path``, the tensor it reads) if the
    module's layers qualify as one block instance."""
    pre = path + "."
    idx = [i for i, n in enumerate(names) if n.startswith(pre)]
    if len(idx) < 2 or idx[-1] - idx[0] + 1 != len(idx):  # a block of one layer saves nothing
        return None
    a, b = idx[0], idx[-1]
    inside = set(names[a:b + 1])
    outside: set[str] = set()
    for i in range(a, b + 1):
        for r in ins[i]:
            if r not in inside:
                if r != INPUT and r not in where:
                    return None  # a part of a multi-output layer
                outside.add(r)
    if len(outside) != 1:
        return None
    for i in range(b + 1, len(flat)):
        for r in ins[i]:
            if r in inside and r != names[b] or (r not in where and r.startswith(pre)):
                return None  # an inner layer (or part) read from outside
    ext = next(iter(outside))
    body = []
    for i in range(a, b + 1):
        d = {"name": names[i][len(pre):], **full[i]}
        mine = [("input" if r == ext else r[len(pre):]) for r in ins[i]]
        d.pop("inputs", None)
        if d["type"] != "parameter" and not (i == a and mine == ["input"]) and \
                not (i > a and mine == [names[i - 1][len(pre):]]):
            d["inputs"] = mine
        elif d["type"] == "parameter":
            d["inputs"] = []
        body.append(d)
    return a, b, body, ext


def _skeleton(body: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    """The body with every size of an expression field replaced by a mark, and the sizes in
    order (marks carry the field name)."""
    vals: list[Any] = []

    def walk(v: Any, f: str) -> Any:
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            vals.append((f, v))
            return "#"
        if isinstance(v, list):
            return [walk(x, f) for x in v]
        return v

    skel = []
    for d in body:
        fields = _EXPR_CACHE[d["type"]]
        skel.append({k: (walk(v, k) if k in fields else v) for k, v in d.items()})
    return skel, vals


def _args(items: list[Any], symbols: set[str]) -> tuple[dict[int, str], list[dict[str, int]]]:
    """Argument name of every varying size position; each instance's argument values."""
    n = len(items[0][4])
    names: dict[tuple[int, ...], str] = {}
    args: dict[int, str] = {}
    taken = set(symbols) | _RESERVED
    for k in range(n):
        vec = tuple(it[4][k][1] for it in items)
        if len(set(vec)) == 1:
            continue
        if vec not in names:
            base = items[0][4][k][0][:28]
            name, j = base, 1
            while name in taken or not ARG_RE.fullmatch(name):
                j += 1
                name = f"{base}_{j}"
            taken.add(name)
            names[vec] = name
        args[k] = names[vec]
    per = [{args[k]: it[4][k][1] for k in args} for it in items]
    return args, per


def _fill(body: list[dict[str, Any]], vals: list[Any], args: dict[int, str],
          set_fields: list[set[str]]) -> list[Any]:
    """The body of the first instance with the varying sizes replaced by argument names, and
    without the fields left at their defaults (``set_fields``: those the import set)."""
    k = 0
    out = []

    def walk(v: Any) -> Any:
        nonlocal k
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            r = args.get(k, v)
            k += 1
            return r
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    for d, given in zip(body, set_fields, strict=True):  # the traversal of _skeleton
        fields = _EXPR_CACHE[d["type"]]
        layer = {}
        for f, v in d.items():
            start = k
            new = walk(v) if f in fields else v
            if f in given or f in ("name", "inputs") or any(j in args
                                                              for j in range(start, k)):
                layer[f] = new
        out.append(layer)
    return out


def _unique(base: str, taken: dict[str, Any]) -> str:
    name, k = base or "block", 1
    while name in taken:
        k += 1
        name = f"{base}_{k}"
    return name


def _same(arch: Architecture, full: list[dict[str, Any]], names: list[str],
          ins: list[list[str]]) -> bool:
    """Whether ``arch`` expands to exactly the flat layers (names, inputs, every field)."""
    try:
        nodes = expand(arch, {})
    except CnnCalcError:
        return False
    if len(nodes) != len(full):
        return False
    want = {n: (full[i], ins[i]) for i, n in enumerate(names)}
    for node in nodes:
        if node.name not in want:
            return False
        d, reads = want[node.name]
        if node.inputs != reads:
            return False
        got = {k: _subst(v, node.env) for k, v in _fields(node.layer.model_dump()).items()}
        if got != d:
            return False
    return True


def _subst(v: Any, env: dict[str, Any]) -> Any:
    if isinstance(v, str) and v in env:
        return env[v]
    if isinstance(v, list):
        return [_subst(x, env) for x in v]
    return v


_EXPR_CACHE = {t: set(expr_fields(c)) for t, c in zip(LAYER_TYPES, LAYER_CLASSES, strict=True)}
"""Per layer type, the fields that may hold an expression (so an argument)."""
