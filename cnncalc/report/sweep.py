"""Design sweeps: the totals of an architecture over a grid of sizes, one row per combination.

The architecture is analysed once with the grid's symbols left free; every combination is then
evaluated at once with :meth:`Analysis.evaluate_many` (exact integer floors over NumPy arrays,
int64 where every value fits, Python ints otherwise). Each combination is checked as a
per-binding :func:`cnncalc.analyze` would check it: a rule that fails is an error naming the
first such combination; where merged sizes differ (an error, or a size of 1 that broadcasts)
that combination is analysed on its own. A swept symbol that
changes the structure (a repeat count) makes every combination an analysis of its own.

``grid`` maps a symbol to its values: a list of integers, ``"32,64,128"``, or an inclusive range
``"32:512:32"`` (start:stop:step). A key naming several symbols joined by ``=`` (``"H=W"``) makes
them take the same values together (square inputs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..core.bindings import Ranges, format_bindings, in_range
from ..core.graph import symbols
from ..core.load import ArchLike, analyze, load
from ..core.schema import Architecture
from ..errors import CnnCalcError
from .quantities import QUANTITIES, check_quantities

MAX_POINTS = 10_000_000
"""Most combinations in one sweep."""

MAX_SLOW_POINTS = 2_000
"""Most combinations when a swept symbol changes the structure (one analysis per point)."""

GridValues = Iterable[int] | str


def parse_values(text: str) -> list[int]:
    """``"32,64,128"`` or an inclusive range ``"32:512:32"`` (or ``"1:8"``, step 1)."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if ":" in part:
                bits = [int(b) for b in part.split(":")]
                if len(bits) not in (2, 3) or (len(bits) == 3 and bits[2] < 1):
                    raise ValueError
                start, stop, step = bits[0], bits[1], bits[2] if len(bits) == 3 else 1
                if len(out) + (stop - start) // step > MAX_POINTS:
                    raise CnnCalcError(f"{text!r} has more than {MAX_POINTS} values",
                                       kind="limit")
                out.extend(range(start, stop + 1, step))
            else:
                out.append(int(part))
            if len(out) > MAX_POINTS:
                raise CnnCalcError(f"more than {MAX_POINTS} grid values", kind="limit")
        except CnnCalcError:
            raise
        except ValueError:
            raise CnnCalcError(f"grid values must be integers, lists 32,64,128 or ranges "
                               f"start:stop:step, got {part!r}", kind="input") from None
    if not out:
        raise CnnCalcError(f"no grid values in {text!r}", kind="input")
    return out


def parse_grid(text: str) -> tuple[str, list[int]]:
    """``"H=32,64"`` or ``"H=W=32:512:32"`` as (key, values)."""
    key, sep, values = text.rpartition("=")
    if not sep or not key.strip():
        raise CnnCalcError(f"expected NAME=VALUES for a grid, got {text!r}", kind="input")
    return key.replace(" ", ""), parse_values(values)


def _grid_columns(grid: Mapping[str, GridValues], syms: list[str], bound: Mapping[str, int],
                  arch_name: str, ranges: Ranges | None = None
                  ) -> tuple[list[str], dict[str, Any]]:
    """The swept names (in order) and their flattened meshgrid columns."""
    import numpy as np

    if not grid:
        raise CnnCalcError("the grid is empty; give at least one NAME=VALUES", kind="input")
    keys: list[tuple[str, ...]] = []
    axes: list[list[int]] = []
    seen: set[str] = set()
    for key, values in grid.items():
        names = tuple(n.strip() for n in str(key).split("="))
        for n in names:
            if n not in syms:
                raise CnnCalcError(
                    f"unknown grid symbol {n!r}; the symbols of {arch_name} are "
                    f"{', '.join(syms) if syms else 'none'}", kind="binding")
            if n in seen or n in bound:
                raise CnnCalcError(f"{n} is given twice (grid and bindings)", kind="binding")
            seen.add(n)
        vals = parse_values(values) if isinstance(values, str) else list(values)
        for v in vals:
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise CnnCalcError(f"grid values of {'='.join(names)} must be integers, got "
                                   f"{v!r}", kind="binding")
            for n in names:
                why = in_range(n, int(v), ranges)
                if why:
                    raise CnnCalcError(f"grid value {n}={int(v)} is {why}", kind="binding")
        if not vals:
            raise CnnCalcError(f"no values for {'='.join(names)}", kind="input")
        keys.append(names)
        axes.append([int(v) for v in vals])
    missing = [s for s in syms if s not in seen and s not in bound]
    if missing:
        raise CnnCalcError(f"{arch_name}: {', '.join(missing)} neither bound nor in the grid; "
                           f"bind them (--bind {missing[0]}=...) or sweep them",
                           kind="binding")
    count = 1
    for a in axes:
        count *= len(a)
    if count > MAX_POINTS:
        raise CnnCalcError(f"the grid has {count} combinations, more than {MAX_POINTS}",
                           kind="limit")
    mesh = np.meshgrid(*[np.asarray(a, dtype=np.int64) for a in axes], indexing="ij")
    cols: dict[str, Any] = {}
    order: list[str] = []
    for names, m in zip(keys, mesh, strict=True):
        for n in names:
            cols[n] = m.ravel()
            order.append(n)
    return order, cols


def _evaluate(arch: Architecture, cols: Mapping[str, Any], bound: Mapping[str, int],
              quantities: Sequence[str]) -> dict[str, Any]:
    """Totals at every combination: vectorised over the symbolic analysis when the swept
    symbols leave the structure fixed (:meth:`Analysis.evaluate_many` checks every row as a
    bound analysis would), one analysis per point otherwise."""
    try:
        an = analyze(arch, dict(bound))
    except CnnCalcError as e:
        if e.kind in ("binding", "limit"):
            raise
        return _evaluate_each(arch, cols, bound, quantities)
    return an.evaluate_many(tuple(quantities), **cols)


def _evaluate_each(arch: Architecture, cols: Mapping[str, Any], bound: Mapping[str, int],
                   quantities: Sequence[str]) -> dict[str, Any]:
    import numpy as np
    n = len(next(iter(cols.values())))
    if n > MAX_SLOW_POINTS:
        raise CnnCalcError(f"a swept symbol changes the structure of {arch.name}, so each "
                           f"combination is analysed on its own: at most {MAX_SLOW_POINTS} "
                           f"combinations, got {n}", kind="limit")
    out: dict[str, list[int]] = {q: [] for q in quantities}
    for i in range(n):
        point = {k: int(v[i]) for k, v in cols.items()}
        try:
            t = analyze(arch, {**bound, **point}).totals
        except CnnCalcError as e:
            at = format_bindings(point)
            raise CnnCalcError(f"{at} is not a valid size: {e}", kind="binding") from None
        for q in quantities:
            out[q].append(int(getattr(t, q)))
    return {q: np.asarray(v, dtype=np.int64 if all(-2**63 <= x < 2**63 for x in v) else object)
            for q, v in out.items()}


def sweep(arch: ArchLike, grid: Mapping[str, GridValues], bindings: Mapping[str, int] | None =
          None, quantities: Sequence[str] = QUANTITIES, *, as_frame: bool | None = None) -> Any:
    """Totals of ``arch`` for every combination of ``grid`` (the other symbols bound by
    ``bindings``): a pandas DataFrame when pandas is installed (or ``as_frame=True``), else a
    list of dicts, one per combination, with the swept symbols first.

    >>> sweep("seed_example", {"H": [32, 64], "W": "32"}, as_frame=False)[0]["macs"]
    254016
    """
    a = load(arch)
    bound = dict(bindings or {})
    syms = symbols(a)
    for k in bound:
        if k not in syms:
            raise CnnCalcError(f"binding for {k!r}, but the symbols of {a.name} are "
                               f"{', '.join(syms) if syms else 'none'}", path=["bindings", k],
                               kind="binding")
    qs = check_quantities(quantities)
    order, cols = _grid_columns(grid, syms, bound, a.name, a.ranges())
    values = _evaluate(a, cols, bound, qs)
    data = {**{n: cols[n] for n in order}, **values}
    if as_frame is None:
        try:
            import pandas  # noqa: F401
            as_frame = True
        except ImportError:
            as_frame = False
    if as_frame:
        try:
            import pandas as pd
        except ImportError:
            raise CnnCalcError("as_frame=True needs pandas: pip install 'cnncalc[tables]' "
                               "(or pip install pandas)", kind="input") from None
        return pd.DataFrame(data)
    keys = list(data)
    return [dict(zip(keys, (int(x) for x in row), strict=True))
            for row in zip(*(data[k] for k in keys), strict=True)]


def records(result: Any) -> list[dict[str, int]]:
    """A sweep's result as a list of dicts (from a DataFrame or a list)."""
    if isinstance(result, list):
        return result
    return [{k: int(v) for k, v in row.items()} for row in result.to_dict("records")]

