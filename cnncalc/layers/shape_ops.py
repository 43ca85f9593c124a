"""Tensor shape operations: ``permute``, ``transpose``, ``reshape``, ``expand``, ``split``,
``chunk``, ``slice`` and ``index``.

None computes anything: no params, no MACs and 0 other ops (views and copies move elements,
they compute none). Every one is a view in PyTorch (``aliases_input``); ``reshape`` is one
when its input is contiguous, and is counted as a view. ``split`` and ``chunk`` have several
outputs, read as ``NAME.0``, ``NAME.1``...

Receptive field (docs/conventions.md): a field follows its axis wherever these move it; a
``reshape`` that splits or merges it makes it undefined; a ``slice`` (or ``split`` part) along
a spatial axis shifts and strides it; ``index`` keeps that of the row it selects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field

from ..algebra.arith import Value, ceildiv, is_num, norm, prod, ratio, same, total, vmax, vmin
from ..algebra.printing import pretty
from .base import Ctx, IntLike, LayerBase, Note, Out, RFAxis, Segments, Src, StrictInt, Tensor
from .merge import cut_segments, joined, union_fields
from .regroup import regroup

if TYPE_CHECKING:
    import sympy
else:
    from ..algebra.lazy import sympy  # a bound analysis needs no sympy


def _dim(d: int, rank: int, ctx: Ctx, what: str = "dim") -> int:
    """Axis ``d`` of a tensor of rank ``rank`` as a non-negative index (negative counts from
    the end); out of range is an error."""
    if not -rank <= d < rank:
        raise ctx.error(f"{what} {d} is out of range for an input of rank {rank} "
                        f"(give {-rank} to {rank - 1})")
    return d + rank if d < 0 else d


def _text(entries: Sequence[int | str]) -> str:
    return "[" + ", ".join(str(e) for e in entries) + "]"


def _moved(t: Tensor, order: Sequence[int]) -> Out:
    """The output whose axis ``i`` is input axis ``order[i]`` (fields unchanged)."""
    return Out(shape=tuple(t.shape[i] for i in order), rf=t.rf,
               axes=tuple(t.axes[i] for i in order), aliases_input=True)


class Permute(LayerBase):
    """``x.permute(dims)``: the axes reordered; ``dims`` is a permutation of every axis."""

    type: Literal["permute"]
    dims: list[StrictInt] = Field(min_length=1, max_length=64)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r = len(t.shape)
        order = [_dim(d, r, ctx, "dims entry") for d in self.dims]
        if sorted(order) != list(range(r)):
            raise ctx.error(f"dims {_text(self.dims)} is not a permutation of the axes "
                            f"0..{r - 1} of an input of rank {r}")
        return _moved(t, order)


class Transpose(LayerBase):
    """``x.transpose(dim0, dim1)``: two axes swapped."""

    type: Literal["transpose"]
    dim0: StrictInt
    dim1: StrictInt
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r = len(t.shape)
        a, b = _dim(self.dim0, r, ctx, "dim0"), _dim(self.dim1, r, ctx, "dim1")
        order = list(range(r))
        order[a], order[b] = b, a
        return _moved(t, order)


def _sizes(entries: Sequence[int | str], ctx: Ctx, what: str) -> tuple[list[Value], int | None]:
    """The sizes of a ``shape`` field (``-1`` kept as -1) and the index of its one -1."""
    hole: int | None = None
    out: list[Value] = []
    for i, x in enumerate(entries):
        if isinstance(x, int) and x == -1:
            if hole is not None:
                raise ctx.error(f"{what} {_text(entries)} has more than one -1; give at most one")
            hole = i
            out.append(-1)
        else:
            out.append(ctx.val(x, what))
    return out, hole


class Reshape(LayerBase):
    """``x.reshape(shape)`` (or ``view``): the same elements in a new shape. At most one entry
    is -1, the length that makes the element counts match; the counts must match (a
    constraint when symbolic). Counted as a view (it is one when the input is contiguous)."""

    type: Literal["reshape"]
    shape: list[IntLike] = Field(min_length=1, max_length=64)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        sizes, hole = _sizes(self.shape, ctx, "shape")
        n_in = t.numel()
        txt = _text(self.shape)
        if hole is not None:
            known = prod(v for i, v in enumerate(sizes) if i != hole)
            if is_num(n_in) and is_num(known) and n_in % known:
                raise ctx.error(f"reshape to {txt} needs a multiple of {known} elements, the "
                                f"input has {n_in}")
            # Cancel common factors first (the batch): what must divide is what remains.
            num, den = (n_in, known) if is_num(n_in) and is_num(known) else \
                sympy.fraction(sympy.together(sympy.sympify(n_in) / known))
            sizes[hole] = ctx.divisible(norm(num), norm(den), f"reshape to {txt}: the -1 axis")
        else:
            n_out = prod(sizes)
            eq = same(n_out, n_in)
            if eq is False:
                raise ctx.error(f"reshape to {txt} needs {pretty(n_out)} elements, the input "
                                f"has {pretty(n_in)}")
            if eq is None:  # common factors cancelled: H*D == H*C is D == C
                num, den = sympy.fraction(sympy.together(sympy.sympify(n_out) / n_in))
                ctx.require("eq", f"reshape to {txt}: {pretty(n_out)} elements == the input's "
                                  f"{pretty(n_in)}", norm(num), norm(den))
        shape = tuple(sizes)
        rf, axes = regroup(t, shape, ctx)
        return Out(shape=shape, rf=rf, axes=axes, aliases_input=True)


class Expand(LayerBase):
    """``x.expand(shape)``: size-1 axes repeated to a larger size (a view, nothing copied);
    -1 keeps an axis; new leading axes may be added. Positions along a grown axis all see the
    field of its one row (the axis is then made of no input axis)."""

    type: Literal["expand"]
    shape: list[IntLike] = Field(min_length=1, max_length=64)
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r, big = len(t.shape), len(self.shape)
        if big < r:
            raise ctx.error(f"expand to {_text(self.shape)} gives {big} axes, the input has "
                            f"rank {r}; give at least {r}")
        lead = big - r
        shape: list[Value] = []
        axes: list[Src] = []
        for i, x in enumerate(self.shape):
            keep = isinstance(x, int) and x == -1
            if i < lead:
                if keep:
                    raise ctx.error(f"expand to {_text(self.shape)}: -1 (keep) cannot be used "
                                    f"for the new leading axis {i}")
                shape.append(ctx.val(x, "shape"))
                axes.append(())
                continue
            n = t.shape[i - lead]
            src = t.axes[i - lead]
            if keep:
                shape.append(n)
                axes.append(src)
                continue
            v = ctx.val(x, "shape")
            if same(n, 1) is True:
                shape.append(v)
                axes.append(src if same(v, 1) is True else ())
                continue
            eq = same(n, v)
            if eq is False and same(n, 1) is None:  # it grows, so it must be 1
                ctx.require("eq", f"expand: input axis {i - lead} size {pretty(n)} == 1 (it "
                                  f"grows to {pretty(v)})", n, 1)
                shape.append(v)
                axes.append(())
                continue
            if eq is False:
                raise ctx.error(f"expand to {_text(self.shape)}: axis {i - lead} of the input "
                                f"has size {pretty(n)}; only a size-1 axis can grow")
            if eq is None:
                # or n == 1, which grows ("broadcast": the constraints allow that too)
                ctx.require("eq", f"expand: input axis {i - lead} size {pretty(n)} == "
                                  f"{pretty(v)} (or 1, to broadcast)", v, n)
            shape.append(n)
            axes.append(src)
        return Out(shape=tuple(shape), rf=t.rf, axes=tuple(axes), aliases_input=True)


def _slice_rf(t: Tensor, d: int, offset: Value, step: Value) -> tuple[RFAxis, ...]:
    """Fields after keeping positions ``offset, offset + step, ...`` of axis ``d``: a window of
    size 1, stride ``step`` and left padding ``-offset``."""
    ax = t.src(d)
    if ax is None or not t.rf[ax].window:
        return t.rf
    f = t.rf[ax]
    rf = list(t.rf)
    rf[ax] = RFAxis(size=f.size, stride=norm(f.stride * step),
                    start=norm(f.start + offset * f.stride))
    return tuple(rf)


MAX_PARTS = 4096
"""The most outputs a ``split`` or ``chunk`` may have."""


def _parts(t: Tensor, d: int, lengths: Sequence[Value], ctx: Ctx) -> Out:
    """The outputs of cutting axis ``d`` of ``t`` into consecutive parts of ``lengths``."""
    parts: list[Tensor] = []
    offset: Value = 0
    channels = d == 1 and t.segments is not None
    for n in lengths:
        shape = tuple(n if i == d else s for i, s in enumerate(t.shape))
        end = norm(offset + n)
        if channels:  # the fields of the channels kept
            rf, segs = cut_segments(t, offset, end, ctx)
            parts.append(Tensor(shape, rf, t.axes, segs))
        else:
            parts.append(Tensor(shape, _slice_rf(t, d, offset, 1), t.axes))
        offset = end
    p0 = parts[0]
    return Out(shape=p0.shape, rf=p0.rf, axes=p0.axes, aliases_input=True, parts=tuple(parts),
               segments=p0.segments)


def _by_size(n: Value, size: Value, ctx: Ctx, why: str) -> list[Value]:
    """``torch.split(x, size)`` along an axis of length ``n``: parts of ``size``, the last
    smaller; ``ceil(n / size)`` of them, which must be decidable (``why`` says what to do
    otherwise)."""
    q = ratio(n, size)
    k = q if is_num(q) else -(-n // size) if is_num(n) and is_num(size) else None
    if k is None:
        raise ctx.error(why)
    if k > MAX_PARTS:
        raise ctx.error(f"{k} parts: at most {MAX_PARTS} are supported")
    parts: list[Value] = [size] * (k - 1)
    return [*parts, norm(n - size * (k - 1))]


class Split(LayerBase):
    """``torch.split(x, sizes, dim)``: consecutive parts along ``dim``, of the listed sizes
    (which must sum to the axis length) or, for one size, parts of that size with the last
    smaller. Several outputs, ``NAME.0``, ``NAME.1``...; a part along a spatial axis is a
    slice of it (its field shifts)."""

    type: Literal["split"]
    sizes: IntLike | Annotated[list[IntLike], Field(min_length=1, max_length=MAX_PARTS)]
    dim: StrictInt = 0
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        d = _dim(self.dim, len(t.shape), ctx)
        n = t.shape[d]
        if not isinstance(self.sizes, list):
            size = ctx.val(self.sizes, "sizes")
            why = (f"split of axis {d} (length {pretty(n)}) into parts of {pretty(size)}: the "
                   "number of parts depends on the free sizes; give sizes as a list, or bind "
                   "the sizes")
            return _parts(t, d, _by_size(n, size, ctx, why), ctx)
        lengths = [ctx.val(x, "sizes") for x in self.sizes]
        s = total(lengths)
        eq = same(s, n)
        if eq is False:
            raise ctx.error(f"split sizes {_text(self.sizes)} sum to {pretty(s)}, but axis {d} "
                            f"has length {pretty(n)}")
        if eq is None:
            ctx.require("eq", f"split sizes sum {pretty(s)} == axis {d} length {pretty(n)}",
                        s, n)
        return _parts(t, d, lengths, ctx)


class Chunk(LayerBase):
    """``torch.chunk(x, chunks, dim)``: parts of ``ceil(L / chunks)`` along ``dim``, the last
    smaller; as PyTorch, fewer than ``chunks`` parts when that size covers the axis sooner
    (length 5 in 4 chunks gives 3 parts of 2, 2, 1). Several outputs, ``NAME.0``..."""

    type: Literal["chunk"]
    chunks: IntLike
    dim: StrictInt = 0
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        d = _dim(self.dim, len(t.shape), ctx)
        n = t.shape[d]
        c = ctx.val(self.chunks, "chunks")
        why = (f"chunk of axis {d} (length {pretty(n)}) into {pretty(c)}: the number and sizes "
               "of the chunks depend on the free sizes; bind them, or use split with a list "
               "of sizes")
        return _parts(t, d, _by_size(n, ceildiv(n, c), ctx, why), ctx)


def _kept_channels(t: Tensor, start: Value, length: Value, step: Value, ctx: Ctx
                   ) -> tuple[tuple[RFAxis, ...], Segments | None]:
    """Field and segments of channels ``start, start + step, ...`` (``length`` of them) of a
    tensor with segments: per segment, the channels of it kept. A step that is not 1 over
    counts that are not all numbers: the union (a bound; a 'recheck' note)."""
    if same(step, 1) is True:
        return cut_segments(t, start, norm(start + length), ctx)
    assert t.segments is not None
    if not all(is_num(v) for v in (start, length, step, *(n for n, _ in t.segments))):
        free = next(v for v in (start, length, step, *(n for n, _ in t.segments))
                    if not is_num(v))
        ctx.notes.append(Note("recheck", ctx.name, ctx.index, "the channel ranges read "
                              "depend on the free sizes", free, 0))
        return t.rf, None
    kept = range(int(start), int(start) + int(length) * int(step), int(step))
    pieces: list[tuple[Value, tuple[RFAxis, ...]]] = []
    lo = 0
    for n, rf in t.segments:
        hi = lo + int(n)
        m = len(kept[_first(kept, lo):_first(kept, hi)])
        if m:
            pieces.append((m, rf))
        lo = hi
    return union_fields([rf for _, rf in pieces], None), joined(pieces)


def _first(kept: range, c: int) -> int:
    """The index in ``kept`` (increasing) of its first channel at or past ``c``."""
    return min(max(-(-(c - kept.start) // kept.step), 0), len(kept))


class Slice(LayerBase):
    """``x[..., start:end:step]`` along ``dim`` (``narrow`` when ``step`` is 1). Numbers follow
    Python's slicing (negative from the end, clamped to the axis: ``x[:, :16]`` of a symbolic
    length ``C`` keeps ``min(16, C)``); expressions must satisfy ``0 <= start`` and
    ``end <= length`` (constraints when symbolic). The result must not be empty. Along a
    spatial axis the field shifts by ``start`` steps and its stride multiplies by ``step``."""

    type: Literal["slice"]
    dim: StrictInt
    start: IntLike = 0
    end: IntLike | None = None
    step: IntLike = 1

    @property
    def moves_axes(self) -> bool:
        """Slicing the batch or channel axis (or an axis given from the end) moves positions
        the receptive-field probe would compare."""
        return self.dim < 2

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        d = _dim(self.dim, len(t.shape), ctx)
        n = t.shape[d]
        step = ctx.val(self.step, "step")
        start = ctx.val(self.start, "start", None if isinstance(self.start, int) else 0)
        end: Value = n if self.end is None else ctx.val(
            self.end, "end", None if isinstance(self.end, int) else 0)
        length: Value
        where = f"slice {self.start}:{'' if self.end is None else self.end}:{self.step}"
        if isinstance(self.end, str):  # an expression is not clamped: it must lie within
            ctx.check_ge(n, end, f"{where}: end {pretty(end)} <= axis {d} length {pretty(n)}",
                         lambda: f"{where}: end {pretty(end)} is past the end of axis {d} "
                                 f"(length {pretty(n)})")
        if is_num(n) and is_num(start) and is_num(end) and is_num(step):
            kept = range(*slice(start, end, step).indices(n))
            if not kept:
                raise ctx.error(f"{where} of axis {d} (length {n}) is empty; cnncalc sizes are "
                                ">= 1")
            start, length = kept.start, len(kept)
        else:
            # Python's clamping of numbers (a start past the end leaves the slice empty)
            if is_num(start) and start < 0:
                start = vmax(norm(n + start), 0)
            if isinstance(self.end, int):
                end = norm(n + end) if end < 0 else vmin(end, n)
            length = ceildiv(norm(end - start), step)
            if not (same(start, 0) is True and same(end, n) is True):  # else a size >= 1
                ctx.check_ge(length, 1, f"{where}: {pretty(length)} >= 1",
                             lambda: f"{where} of axis {d} (length {pretty(n)}) is empty; "
                                     "cnncalc sizes are >= 1")
        shape = tuple(length if i == d else s for i, s in enumerate(t.shape))
        if d == 1 and t.segments is not None:  # the fields of the channels kept
            rf, segs = _kept_channels(t, start, length, step, ctx)
            return Out(shape=shape, rf=rf, axes=t.axes, aliases_input=True, segments=segs)
        return Out(shape=shape, rf=_slice_rf(t, d, start, step), axes=t.axes,
                   aliases_input=True)


class Index(LayerBase):
    """``x.select(dim, index)`` (``x[:, index]``): one position of ``dim``, which is removed.
    ``index`` may be negative (from the end) or an expression below the length. The field is
    that of the selected row."""

    type: Literal["index"]
    dim: StrictInt
    index: IntLike
    moves_axes: ClassVar[bool] = True

    def apply(self, ins: Sequence[Tensor], ctx: Ctx) -> Out:
        t = ins[0]
        r = len(t.shape)
        d = _dim(self.dim, r, ctx)
        if r < 2:
            raise ctx.error("index needs an input of rank >= 2 (the output keeps an axis)")
        n = t.shape[d]
        i = ctx.val(self.index, "index", None if isinstance(self.index, int) else 0)
        if is_num(i) and i < 0:
            back, i = -i, norm(n + i)
            ctx.check_ge(n, back, f"index {self.index}: axis {d} length {pretty(n)} >= {back}",
                         lambda: f"index {self.index} is out of range for axis {d} of length "
                                 f"{pretty(n)}")
        if not (same(i, 0) is True or same(i, norm(n - 1)) is True):  # else within a size >= 1
            ctx.check_ge(norm(n - 1), i, f"index {pretty(i)} < axis {d} length {pretty(n)}",
                         lambda: f"index {self.index} is out of range for axis {d} of length "
                                 f"{pretty(n)}")
        rf = cut_segments(t, i, norm(i + 1), ctx)[0] if d == 1 else _slice_rf(t, d, i, 1)
        keep = [j for j in range(r) if j != d]
        return Out(shape=tuple(t.shape[j] for j in keep), rf=rf,
                   axes=tuple(t.axes[j] for j in keep), aliases_input=True)
