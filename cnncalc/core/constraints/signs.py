"""Signs and monotonicity of size expressions, proved structurally (cheap, never sampled)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sympy
else:
    from ...algebra.lazy import sympy  # imported on first symbolic use


def sign_of(e: sympy.Expr, known: frozenset[sympy.Expr] = frozenset()) -> int:
    """1 when ``e >= 0`` for all positive integer symbols (and the ``known`` atoms >= 0), -1
    when ``e <= 0``, 0 when neither is proved."""
    if e.is_Number:
        return 1 if e >= 0 else -1
    if e.is_Symbol:
        return 1 if e.is_nonnegative else 0
    if e in known:
        return 1
    if e.is_Add:
        ss = {sign_of(t, known) for t in e.args}
        return ss.pop() if len(ss) == 1 else 0
    if e.is_Mul:
        out = 1
        for f in e.args:
            out *= sign_of(f, known)
        return out
    if e.is_Pow:
        b, x = e.args
        if x.is_Integer and x > 0 and x % 2 == 0:
            return 1
        sb = sign_of(b, known)
        if x.is_Integer and x > 0:
            return sb
        return 1 if sb == 1 else 0
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        # floor(x) >= 0 iff x >= 0 and floor(x) <= 0 when x <= 0; ceiling(x) >= 0 when x >= 0
        # and ceiling(x) <= 0 iff x <= 0.
        return sign_of(e.args[0], known)
    if isinstance(e, (sympy.Max, sympy.Min)):
        sl = [sign_of(a, known) for a in e.args]
        if (isinstance(e, sympy.Max) and 1 in sl) or all(x == 1 for x in sl):
            return 1
        if (isinstance(e, sympy.Min) and -1 in sl) or all(x == -1 for x in sl):
            return -1
    return 0


def mono(e: sympy.Expr, s: sympy.Symbol) -> int | None:
    """Direction of ``e`` in ``s`` over the positive integers: 1 non-decreasing, -1
    non-increasing, 0 constant, None when not proved."""
    if not e.has(s):
        return 0
    if e == s:
        return 1
    if e.is_Add:
        ds = {mono(t, s) for t in e.args} - {0}
        return ds.pop() if len(ds) == 1 else None
    if e.is_Mul:
        flip, dirs = 1, set()
        for f in e.args:
            d = mono(f, s)
            if d is None:
                return None
            if d == 0:
                if f.is_Number:
                    flip *= 1 if f > 0 else -1
                    continue
            sg = sign_of(f)
            if sg == 0:
                return None
            flip *= sg
            if d:
                dirs.add(d * sg)  # the direction of |f|
        if len(dirs) > 1:
            return None
        return flip * dirs.pop() if dirs else 0
    if e.is_Pow:
        b, x = e.args
        d = mono(b, s)
        if x.has(s) or d is None or not x.is_Integer:
            return None
        if x < 0:
            return -d if b.is_positive else None  # 1/b**k falls as b > 0 grows
        if x % 2 == 1:
            return d  # odd powers are increasing
        sb = sign_of(b)
        return d * sb if sb else None
    if isinstance(e, (sympy.floor, sympy.ceiling)):
        return mono(e.args[0], s)
    if isinstance(e, (sympy.Max, sympy.Min)):
        ds = {mono(a, s) for a in e.args} - {0}
        return ds.pop() if len(ds) == 1 and None not in ds else None
    return None
