"""The quicker paths of a symbolic analysis agree with the plain ones.

The peak activation memory keeps, of the totals of the live sets, those no other one provably
bounds: :func:`cnncalc.core.engine._peak_candidates` compares them as sums of expanded
terms and builds only the totals it keeps; it is checked against
:func:`cnncalc.core.engine._undominated` on every distinct total. The intersection of solution
sets (:func:`cnncalc.core.constraints.sets.meet`) walks only the residues both sides can hold;
it is checked against the walk over every residue and against the values themselves. The
shortest modulus of a residue set (:func:`cnncalc.core.constraints.describe.residues`) counts
lifted classes; it is checked against the test on every residue and written-out cases.
"""

from __future__ import annotations

import math
import random

import sympy

from cnncalc.algebra.arith import sym, total
from cnncalc.core.constraints.describe import residues
from cnncalc.core.constraints.sets import Intervals, Sol, cut, meet, tight, values
from cnncalc.core.engine import _peak_candidates, _undominated

N, H, W, K = sym("N"), sym("H"), sym("W"), sym("K")
ATOMS = [N, H * W, sympy.ceiling(H / 2), sympy.floor(H / 4) * sympy.ceiling(W / 4),
         sympy.floor(H / 2 - K / 2),  # no sign of its own: a size floor(H/2 - K/2) + 1 gives one
         N * sympy.ceiling(W / 8), K]


def _reference(sets: list[frozenset[str]], size: dict[str, object],
               sizes: list[object]) -> list[object]:
    return _undominated(list(dict.fromkeys(total(size[n] for n in st) for st in sets)),
                        sizes)  # type: ignore[arg-type]


def _random_size(rng: random.Random) -> object:
    if rng.random() < 0.15:
        return rng.randint(1, 50)
    terms = []
    for _ in range(rng.randint(1, 3)):
        c = sympy.Rational(rng.choice([1, 2, 3, 64, 128]), rng.choice([1, 1, 1, 2, 3]))
        if rng.random() < 0.2:
            c = -c
        terms.append(c * rng.choice(ATOMS))
    if rng.random() < 0.3:
        terms.append(sympy.Integer(rng.randint(-3, 5)))
    v = sympy.Add(*terms)
    if rng.random() < 0.2:
        v = sympy.Mul(rng.choice([2, 3]), v, evaluate=False)  # expanded only by expand()
    return int(v) if v.is_Integer else v


def test_peak_candidates_match_every_total_compared() -> None:
    rng = random.Random(20240611)
    for trial in range(300):
        names = [f"t{i}" for i in range(rng.randint(1, 9))]
        size: dict[str, object] = {n: _random_size(rng) for n in names}
        for n in names:  # repeated sizes, as along a network
            if rng.random() < 0.3:
                size[n] = size[rng.choice(names)]
        sets = [frozenset(rng.sample(names, rng.randint(1, len(names))))
                for _ in range(rng.randint(1, 12))]
        sizes = [sympy.floor(H / 2 - K / 2) + 1] if rng.random() < 0.5 else []
        sizes += [v for v in size.values() if rng.random() < 0.5]
        got = _peak_candidates(sets, size, sizes)  # type: ignore[arg-type]
        want = _reference(sets, size, sizes)
        assert got == want, (trial, sets, size)
        assert [str(v) for v in got] == [str(v) for v in want]


def test_peak_candidates_written_out() -> None:
    """Sizes a = 2*N*H, b = N*H, c = N: {a, b} totals 3*N*H, which bounds {a} (2*N*H) and
    {b} (N*H); 3*N*H - N has the term -N, so neither 3*N*H nor N bounds the other: both
    stay, in the order of their first set; the same total again ({b, a}) adds nothing."""
    size = {"a": 2 * N * H, "b": N * H, "c": N}
    sets = [frozenset("a"), frozenset("ab"), frozenset("b"), frozenset("c"), frozenset("ba")]
    got = _peak_candidates(sets, size, [])  # type: ignore[arg-type]
    assert got == [3 * N * H, N]
    # Equal polynomials from different sizes: N*(H + 1) and N*H + N; the first set's total is
    # kept, as it is written.
    size2 = {"x": sympy.Mul(N, H + 1, evaluate=False), "y": N * H, "z": N}
    sets2 = [frozenset("x"), frozenset("yz")]
    got2 = _peak_candidates(sets2, size2, [])  # type: ignore[arg-type]
    assert got2 == [sympy.Mul(N, H + 1, evaluate=False)]
    assert got2 == _reference(sets2, size2, [])  # type: ignore[arg-type]


def _meet_every_residue(a: Sol, b: Sol) -> Sol | None:
    p = math.lcm(a[0], b[0])
    out: dict[int, Intervals] = {}
    for r in range(p):
        ia, ib = a[1].get(r % a[0]), b[1].get(r % b[0])
        if ia and ib:
            got = tight(cut(ia, ib), r, p)
            if got:
                out[r] = got
    return p, out


def _random_sol(rng: random.Random, top: int) -> Sol:
    p = rng.choice([1, 2, 3, 4, 6, 8, 12, 16])
    out: dict[int, Intervals] = {}
    for r in sorted(rng.sample(range(p), rng.randint(0, p))):
        ivs: Intervals = []
        lo = r if r >= 1 else p
        while lo <= top and rng.random() < 0.8:
            hi = lo + p * rng.randint(0, 6)
            ivs.append((lo, min(hi, top - (top - r) % p)))
            lo = hi + p * rng.randint(2, 4)
        ivs = [(x, y) for x, y in ivs if x <= y]
        if ivs or rng.random() < 0.2:  # an empty list stays possible
            out[r] = ivs
    return p, out


def test_meet_matches_every_residue_and_the_values() -> None:
    rng = random.Random(7)
    top = 200
    for _ in range(2000):
        a, b = _random_sol(rng, top), _random_sol(rng, top)
        got = meet(a, b)
        want = _meet_every_residue(a, b)
        assert got is not None and want is not None
        assert got[0] == want[0] and list(got[1].items()) == list(want[1].items()), (a, b)
        assert values(got) == sorted(set(values(a)) & set(values(b)))


def test_meet_written_out() -> None:
    """H mod 2 == 0 from 2 to 20 meets H mod 3 == 1 from 1 to 19: H mod 6 == 4 from 4 to 16."""
    a: Sol = (2, {0: [(2, 20)]})
    b: Sol = (3, {1: [(1, 19)]})
    assert meet(a, b) == (6, {4: [(4, 16)]})
    assert values(meet(a, b) or (1, {})) == [4, 10, 16]


def _residues_every_residue(s: str, p: int, res: set[int]) -> str:
    for q in range(1, p + 1):
        if p % q:
            continue
        small = {r % q for r in res}
        if all((r % q in small) == (r in res) for r in range(p)):
            if q == 1:
                return f"{s}: any value"
            if len(small) == 1:
                return f"{s} mod {q} == {next(iter(small))}"
            return f"{s} mod {q} in {{{', '.join(map(str, sorted(small)))}}}"
    raise AssertionError


def test_residues_match_every_residue() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        p = rng.choice([1, 2, 4, 6, 8, 12, 16, 32, 36])
        res = set(rng.sample(range(p), rng.randint(1, p)))
        if rng.random() < 0.5:  # a union of classes of a divisor
            q = rng.choice([d for d in range(1, p + 1) if p % d == 0])
            small = set(rng.sample(range(q), rng.randint(1, q)))
            res = {r for r in range(p) if r % q in small}
        assert residues("H", p, res) == _residues_every_residue("H", p, res), (p, res)


def test_residues_written_out() -> None:
    assert residues("H", 32, {1}) == "H mod 32 == 1"
    assert residues("H", 8, {1, 3, 5, 7}) == "H mod 2 == 1"
    assert residues("H", 12, {0, 4, 8, 2, 6, 10}) == "H mod 2 == 0"
    assert residues("H", 12, {1, 5, 9, 3, 7, 11, 0}) == "H mod 12 in {0, 1, 3, 5, 7, 9, 11}"
    assert residues("H", 6, set(range(6))) == "H: any value"
