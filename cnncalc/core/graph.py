"""Expand an architecture into a flat, topologically ordered list of layer nodes.

Blocks are instantiated with their arguments (names inside become ``outer.inner``), repeats are
unrolled (iteration ``i`` named ``NAME.{start+i}``), unnamed layers are called by their type and
list index (``relu1``). Inputs may name any layer of the same list, earlier or later, or any
full name already defined; ``"input"`` is the network (or block) input. Duplicate names,
unknown names and cycles are errors, as are expansions past the layer and nesting limits.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Union

from pydantic import BaseModel

from ..algebra.arith import Value, is_num, start_clock
from ..algebra.expr import evaluate, names_in
from ..envvars import limit as _env_limit
from ..errors import CnnCalcError
from ..layers.base import LayerBase, expr_fields
from .schema import Architecture, BlockRef, Repeat, check_declared

MAX_LAYERS = _env_limit("CNNCALC_MAX_LAYERS", 10000, 1, 1_000_000)
MAX_NESTING = 32
INPUT = "input"


@dataclass
class Node:
    """One layer instance: full name, its spec, the names it reads, its argument scope."""

    name: str
    layer: LayerBase
    env: dict[str, Value]
    index: int
    path: list[str | int]
    refs: list[Any] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)

    @property
    def type(self) -> str:
        return self.layer.type


@dataclass
class _Scope:
    prefix: str
    input_ref: Any
    local_out: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Ref:
    scope: _Scope
    name: str
    owner: str
    index: int
    path: tuple[str | int, ...]


Ref = Union[_Ref, str]


class _Expander:
    def __init__(self, arch: Architecture, env: dict[str, Value]) -> None:
        self.arch = arch
        self.env = env
        self.nodes: list[Node] = []
        self.full_out: dict[str, str] = {}
        self.stack: list[str] = []
        self.used: set[str] = set()  # the sizes the expansion evaluated (block args, times)
        self.args: dict[int, dict[str, Value]] = {}  # a block instance's scope: its arguments

    def _evaluate(self, v: int | str, env: dict[str, Value]) -> Value:
        self.used |= names_in(v)
        return evaluate(v, env)

    def _join(self, prefix: str, local: str) -> str:
        return f"{prefix}.{local}" if prefix else local

    def expand(self, items: list[Any], scope: _Scope, env: dict[str, Value],
               path: list[str | int], depth: int) -> str:
        if depth > MAX_NESTING:
            raise CnnCalcError(f"blocks and repeats nested deeper than {MAX_NESTING}", path=path)
        local_names: list[str] = []
        seen: set[str] = set()
        for idx, item in enumerate(items):
            local = item.name or f"{item.type}{idx}"
            if local == INPUT:
                raise CnnCalcError('"input" is reserved for the network input; rename the layer',
                                   layer=local, index=idx, path=[*path, idx])
            if local in seen:
                raise CnnCalcError(f"the name {self._join(scope.prefix, local)!r} is given twice; "
                                   "names must be unique", layer=self._join(scope.prefix, local),
                                   index=idx, path=[*path, idx])
            local_names.append(local)
            seen.add(local)
        prev: Ref = scope.input_ref
        out = ""
        for idx, item in enumerate(items):
            local = local_names[idx]
            full = self._join(scope.prefix, local)
            ipath = [*path, idx]
            reads = getattr(item, "n_inputs", (1, 1))[1] > 0  # a parameter reads nothing
            refs: list[Ref] = ([_Ref(scope, n, full, idx, tuple(ipath)) for n in item.inputs]
                               if item.inputs else [prev] if reads else [])
            if isinstance(item, BlockRef):
                out = self._block(item, full, refs, env, ipath, depth, index=idx)
            elif isinstance(item, Repeat):
                out = self._repeat(item, full, refs, env, ipath, depth, index=idx)
            else:
                if len(self.nodes) >= MAX_LAYERS:
                    raise CnnCalcError(f"more than {MAX_LAYERS} layers after expanding blocks and "
                                       "repeats (set CNNCALC_MAX_LAYERS to raise the limit)",
                                       path=ipath, kind="limit")
                if full in self.full_out:
                    raise CnnCalcError(f"the name {full!r} is given twice; names must be unique",
                                       layer=full, index=len(self.nodes), path=ipath)
                self.nodes.append(Node(full, item, env, len(self.nodes), ipath, refs))
                out = full
            scope.local_out[local] = out
            self.full_out[full] = out
            prev = out
        return out

    def _single_input(self, refs: list[Ref], what: str, full: str, path: list[str | int],
                      index: int | None) -> Ref:
        if len(refs) != 1:
            raise CnnCalcError(f"a {what} takes exactly one input, got {len(refs)}", layer=full,
                               index=index, path=path)
        return refs[0]

    def _block(self, item: BlockRef, full: str, refs: list[Ref], env: dict[str, Value],
               path: list[str | int], depth: int, prefix: str | None = None,
               index: int | None = None) -> str:
        blk = self.arch.blocks.get(item.block)
        if blk is None:
            known = ", ".join(sorted(self.arch.blocks)) or "none defined"
            raise CnnCalcError(f"unknown block {item.block!r} (blocks: {known})", layer=full,
                               index=index, path=path)
        if item.block in self.stack:
            chain = " -> ".join([*self.stack, item.block])
            raise CnnCalcError(f"block {item.block!r} instantiates itself ({chain})",
                               layer=full, index=index, path=path)
        missing = [a for a in blk.args if a not in item.args]
        extra = [a for a in item.args if a not in blk.args]
        if missing or extra:
            raise CnnCalcError(f"block {item.block!r} takes args {blk.args}; "
                               + (f"missing {missing}" if missing else f"unknown {extra}"),
                               layer=full, index=index, path=path)
        new_env = dict(self.env)
        for a, v in item.args.items():
            try:
                new_env[a] = self._evaluate(v, env)
            except CnnCalcError as e:
                raise CnnCalcError(f"argument {a!r}: {e.message}", layer=full, index=index,
                                   path=path) from None
        self.args[id(new_env)] = {a: new_env[a] for a in item.args}
        src = self._single_input(refs, "block", full, path, index)
        self.stack.append(item.block)
        sub = _Scope(prefix if prefix is not None else full, src)
        out = self.expand(list(blk.layers), sub, new_env, ["blocks", item.block, "layers"],
                          depth + 1)
        self.stack.pop()
        return out

    def _repeat(self, item: Repeat, full: str, refs: list[Ref], env: dict[str, Value],
                path: list[str | int], depth: int, index: int | None = None) -> str:
        try:
            times = self._evaluate(item.times, env)
        except CnnCalcError as e:
            raise CnnCalcError(f"times: {e.message}", layer=full, index=index, path=path) from None
        if not is_num(times):
            raise CnnCalcError(f"times must be a number, got {times}; bind the sizes it uses",
                               layer=full, index=index, path=path)
        if times < 1:
            raise CnnCalcError(f"times must be at least 1, got {times}", layer=full,
                               index=index, path=path)
        if times > MAX_LAYERS:
            raise CnnCalcError(f"times {times} is more than the {MAX_LAYERS} layers allowed "
                               "(set CNNCALC_MAX_LAYERS to raise the limit)", layer=full,
                               index=index, path=path, kind="limit")
        cur: Ref = self._single_input(refs, "repeat", full, path, index)
        body = list(item.body)
        only_block = body[0] if len(body) == 1 and isinstance(body[0], BlockRef) \
            and body[0].name is None else None
        out = ""
        for i in range(int(times)):
            prefix = f"{full}.{item.start + i}"
            if only_block is not None:
                out = self._block(only_block, prefix, [cur], env, [*path, "body", 0], depth + 1,
                                  prefix=prefix)
            else:
                out = self.expand(body, _Scope(prefix, cur), env, [*path, "body"], depth + 1)
            self.full_out[prefix] = out
            cur = out
        return out

    def resolve(self, ref: Ref, seen: int = 0) -> str:
        if isinstance(ref, str):
            return ref
        if seen > MAX_NESTING * 4:
            raise CnnCalcError("inputs refer to each other in a loop", layer=ref.owner)
        if ref.name == INPUT:
            return self.resolve(ref.scope.input_ref, seen + 1)
        if ref.name in ref.scope.local_out:
            return ref.scope.local_out[ref.name]
        full = self._join(ref.scope.prefix, ref.name)
        if full in self.full_out:
            return self.full_out[full]
        if ref.name in self.full_out:
            return self.full_out[ref.name]
        base, dot, part = ref.name.rpartition(".")
        if dot and part.isdigit() and base:  # an output of a layer with several: "split.1"
            try:
                whole = self.resolve(_Ref(ref.scope, base, ref.owner, ref.index, ref.path),
                                     seen + 1)
                return f"{whole}.{part}"
            except CnnCalcError:
                pass
        known = sorted(ref.scope.local_out)
        raise CnnCalcError(f"unknown input {ref.name!r}; known names here: "
                           f"{', '.join(['input', *known][:20])}", layer=ref.owner,
                           index=ref.index, path=[*ref.path, "inputs"])


def expand(arch: Architecture, env: dict[str, Value]) -> list[Node]:
    """The layer nodes of ``arch`` in a topological order (list order where it is free).

    An architecture is frozen: its expansion is kept (with the architecture object, at most
    :data:`PLANS_PER_ARCH` of them) and reused where the sizes it evaluated (block arguments,
    repeat counts) have the same values; only the nodes' scopes are made anew."""
    return expansion(arch, env).nodes_for(env)


def expansion(arch: Architecture, env: dict[str, Value]) -> _Plan:
    """The kept expansion of ``arch`` under ``env`` (:func:`expand`), made on first use: its
    nodes (scopes empty) with :meth:`_Plan.scopes_for` to give them theirs. Starts the
    symbolic budget of an analysis."""
    start_clock()  # the symbolic budget of this analysis starts now
    plans = _plans(arch)
    for plan in plans:
        if all(env.get(k) == v for k, v in plan.key):
            return plan
    ex = _Expander(arch, env)
    ex.expand(list(arch.layers), _Scope("", INPUT), env, ["layers"], 0)
    by_name = {n.name: n for n in ex.nodes}
    for n in ex.nodes:
        n.inputs = [ex.resolve(r) for r in n.refs]
        if n.name in (producer(i, by_name) for i in n.inputs):
            raise CnnCalcError("a layer cannot read its own output (cycle)", layer=n.name,
                               index=n.index, path=n.path)
    order = _toposort(ex.nodes, by_name)
    plan = _Plan(tuple((k, env.get(k)) for k in sorted(ex.used)),
                 [replace(n, env={}, refs=[]) for n in order],
                 [ex.args.get(id(n.env)) for n in order])
    plans.insert(0, plan)
    del plans[PLANS_PER_ARCH:]
    return plan


PLANS_PER_ARCH = 8
"""Expansions kept per architecture object (one per set of values of the sizes they use)."""


@dataclass
class _Plan:
    """An architecture's expansion, apart from the sizes bound: the values of the sizes it
    evaluated (``key``), its nodes in order, and each node's block arguments (None: top
    level)."""

    key: tuple[tuple[str, Value | None], ...]
    nodes: list[Node]
    scopes: list[dict[str, Value] | None]

    def nodes_for(self, env: dict[str, Value]) -> list[Node]:
        """The nodes, each with its scope under ``env`` (:meth:`scopes_for`)."""
        return [Node(n.name, n.layer, scope, n.index, n.path, [], n.inputs)
                for n, scope in zip(self.nodes, self.scopes_for(env), strict=True)]

    def scopes_for(self, env: dict[str, Value]) -> list[dict[str, Value]]:
        """Each node's scope under ``env``: ``env`` itself at the top level; a block
        instance's is ``env`` and its arguments, shared by its layers, as :class:`_Expander`
        makes it."""
        made: dict[int, dict[str, Value]] = {}
        out = []
        for args in self.scopes:
            if args is None:
                out.append(env)
            elif id(args) in made:
                out.append(made[id(args)])
            else:
                scope = made[id(args)] = {**env, **args}
                out.append(scope)
        return out


@dataclass
class _Kept:
    """What is kept with one architecture object: its expansions and its symbols."""

    ref: weakref.ref[Architecture]
    plans: list[_Plan] = field(default_factory=list)
    symbols: list[str] | None = None


_KEPT: dict[int, _Kept] = {}


def _kept(arch: Architecture) -> _Kept:
    """What is kept for ``arch`` (dropped with the architecture object)."""
    got = _KEPT.get(id(arch))
    if got is not None and got.ref() is arch:
        return got
    key = id(arch)
    got = _KEPT[key] = _Kept(weakref.ref(arch, lambda _: _KEPT.pop(key, None)))
    return got


def _plans(arch: Architecture) -> list[_Plan]:
    return _kept(arch).plans


def producer(name: str, by_name: Mapping[str, Node]) -> str:
    """The layer that makes tensor ``name``: itself, or for part ``"s.1"`` of a layer with
    several outputs, ``"s"`` (an exact layer name wins)."""
    if name in by_name or name == INPUT:
        return name
    base, _, part = name.rpartition(".")
    return base if part.isdigit() and base in by_name else name


def _toposort(nodes: list[Node], by_name: dict[str, Node]) -> list[Node]:
    indeg = {n.name: 0 for n in nodes}
    users: dict[str, list[str]] = {n.name: [] for n in nodes}
    for n in nodes:
        for i in {producer(x, by_name) for x in n.inputs}:
            if i != INPUT:
                indeg[n.name] += 1
                users[i].append(n.name)
    heap = [(n.index, n.name) for n in nodes if indeg[n.name] == 0]
    heapq.heapify(heap)
    order: list[Node] = []
    while heap:
        _, name = heapq.heappop(heap)
        order.append(by_name[name])
        for u in users[name]:
            indeg[u] -= 1
            if indeg[u] == 0:
                heapq.heappush(heap, (by_name[u].index, u))
    if len(order) != len(nodes):
        stuck = [n for n in nodes if indeg[n.name] > 0]
        names = ", ".join(n.name for n in stuck[:8])
        raise CnnCalcError(f"the inputs form a cycle through: {names}", layer=stuck[0].name,
                           index=stuck[0].index, path=stuck[0].path)
    return order


def symbols(arch: Architecture) -> list[str]:
    """The free size names an architecture uses (input shape and layer fields; block arguments
    are not free); every one declared (:func:`~cnncalc.core.schema.check_declared`). Found
    once per architecture object (it is frozen)."""
    kept = _kept(arch)
    if kept.symbols is None:
        kept.symbols = _symbols(arch)
    return list(kept.symbols)


def _symbols(arch: Architecture) -> list[str]:
    check_declared(arch)
    found: set[str] = set()
    for v in arch.input.shape:
        found |= names_in(v)

    def walk(obj: Any, args: frozenset[str]) -> Iterator[str]:
        if isinstance(obj, BaseModel):
            for fname in expr_fields(type(obj)):
                yield from walk(getattr(obj, fname), args)
            if isinstance(obj, Repeat):
                for sub in obj.body:
                    yield from walk(sub, args)
        elif isinstance(obj, str):
            if obj not in ("same", "valid"):
                yield from (n for n in names_in(obj) if n not in args)
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from walk(v, args)
        elif isinstance(obj, list):
            for v in obj:
                yield from walk(v, args)

    for item in arch.layers:
        found.update(walk(item, frozenset()))
    for blk in arch.blocks.values():
        for item in blk.layers:
            found.update(walk(item, frozenset(blk.args)))
    return sorted(found)
