"""Solution sets in words: ``H >= 16``, ``H mod 16 == 0``, ``1 <= K <= 32``, ``C in {2}``."""

from __future__ import annotations

from collections.abc import Iterable

from .sets import TOP, Sol, count, cut, empty, meet, shape, tight, values

LIST_MAX = 16
"""A finite solution set up to this size is listed (``H in {...}``)."""


def describe_sol(s: str, sol: Sol, rng: Sol | None) -> tuple[list[str], list[str]]:
    """Lines for the solutions of ``s``: bounds (``H >= 16``, ``K <= 32``) and the rest
    (``H mod 16 == 0``, ``H in {5000}``); ``rng`` is the set the range conditions alone
    allow (its bounds are kept next to the residues)."""
    p = sol[0]
    n = count(sol)
    form = shape(sol)
    if form is None or n == 1 or (n <= LIST_MAX and
                                  not residues(s, p, form[2]).endswith("any value")):
        if n <= LIST_MAX:
            return [], [listed(s, sol)]
        return [], [_with_exceptions(s, sol, rng)]
    lo, hi, res = form
    # The widest bounds that describe the same set together with the residues, narrowed to
    # the bounds of the range conditions (so ``H >= 16`` stays next to ``H mod 16 == 0``).
    below = [v for v in range(max(1, lo - p), lo) if v % p in res]
    lo_p = below[-1] + 1 if below else 1
    above = [v for v in range(hi + 1, min(TOP, hi + p) + 1) if v % p in res]
    hi_p = above[0] - 1 if above else TOP
    if rng is not None and not empty(rng):
        lo_p = max(lo_p, min(ivs[0][0] for ivs in rng[1].values()))
        hi_p = min(hi_p, max(ivs[-1][1] for ivs in rng[1].values()))
    lo_p, hi_p = min(lo_p, lo), max(hi_p, hi)
    bounds = []
    if lo_p > 1 and hi_p < TOP:
        bounds.append(f"{lo_p} <= {s} <= {hi_p}")
    elif lo_p > 1:
        bounds.append(f"{s} >= {lo_p}")
    elif hi_p < TOP:
        bounds.append(f"{s} <= {hi_p}")
    rest = residues(s, p, res)
    return bounds, ([] if rest.endswith("any value") else [rest])


def listed(s: str, sol: Sol) -> str:
    """``H in {5000}``."""
    return f"{s} in {{{', '.join(map(str, values(sol)))}}}"


def same(req: Sol, sol: Sol) -> bool:
    """``sol`` (a subset of ``req``) == ``req`` restricted to the residues of ``sol``."""
    p = sol[0]
    lifted = meet(req, (p, {r: [(1, TOP)] for r in sol[1]}))
    return lifted is not None and lifted[0] == p and lifted[1] == sol[1]


def _with_exceptions(s: str, sol: Sol, rng: Sol | None) -> str:
    """One line for solutions that are a regular set (bounds and residues) plus a few values
    outside its residues (a merge that broadcasts a size 1): ``H in {3} or H mod 2 == 0``."""
    p, res = sol
    first = sorted(ivs[0][0] for ivs in res.values())
    for x in first[:LIST_MAX]:
        tail = (p, {r: got for r, ivs in res.items()
                    if (got := tight(cut(ivs, [(x, TOP)]), r, p))})
        tshape = shape(tail) if not empty(tail) else None
        if tshape is None:
            continue
        keep = (p, {r: ivs for r, ivs in res.items() if r in tshape[2]})
        if shape(keep) is None:
            continue
        outside = (p, {r: ivs for r, ivs in res.items() if r not in tshape[2]})
        if count(outside) > LIST_MAX:
            continue
        extra = values(outside)
        bounds, rest = describe_sol(s, keep, rng)
        regular = " and ".join([*bounds, *rest]) or f"{s} >= 1"
        return f"{s} in {{{', '.join(map(str, sorted(extra)))}}} or {regular}"
    return pieces(s, sol)


def pieces(s: str, sol: Sol) -> str:
    """Every interval of every residue class, as it is."""
    p = sol[0]
    return " or ".join(f"{lo} <= {s} <= {hi} and {s} mod {p} == {r}"
                       for r, ivs in sorted(sol[1].items()) for lo, hi in ivs)


def residues(s: str, p: int, res: Iterable[int]) -> str:
    """The shortest modulus describing the residue set, in words."""
    res = set(res)
    inside = all(0 <= r < p for r in res)
    for q in range(1, p + 1):
        if p % q:
            continue
        small = {r % q for r in res}
        # The residues mod p of the classes ``small`` mod q hold ``res``; they are ``res``
        # when there are as many (p/q lifts of each class).
        if (len(small) * (p // q) == len(res) if inside
                else all((r % q in small) == (r in res) for r in range(p))):
            if q == 1:
                return f"{s}: any value"
            if len(small) == 1:
                return f"{s} mod {q} == {next(iter(small))}"
            return f"{s} mod {q} in {{{', '.join(map(str, sorted(small)))}}}"
    return f"{s} mod {p} in {sorted(res)}"  # pragma: no cover
