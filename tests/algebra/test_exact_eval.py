"""Exact evaluation under every binding: ``evaluate_many`` / ``sweep``
give every value exactly (int64 where every value fits, Python ints otherwise) or refuse with a
CnnCalcError naming the row; the exact evaluator never recurses for ever nor divides by zero.

Every expected value is a bound ``analyze`` (exact Python ints) or arithmetic written out here.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
import sympy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnncalc
from cnncalc.algebra.compile import compile_exact, compile_int
from cnncalc.core.analysis import TOTALS
from cnncalc.core.bindings import MAX_BINDING
from cnncalc.errors import CnnCalcError
from cnncalc.report.sweep import records, sweep

EDGE = 2**63
EXAMPLES = int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60"))

GROUPS = {"name": "groups", "input": {"shape": [1, "C", "H", "W"]}, "symbols": {"G": {}},
          "layers": [{"type": "conv", "out_channels": "C", "groups": "G", "kernel_size": 3}]}
GROUPS4 = {"name": "groups4", "input": {"shape": [1, "C", "H", "W"]},
           "layers": [{"type": "conv", "out_channels": "C", "groups": 4, "kernel_size": 1,
                       "bias": False}]}
KERNEL = {"name": "kernel", "input": {"shape": [1, "C", "H", "H"]}, "symbols": {"K": {}},
          "layers": [{"type": "conv", "out_channels": "C", "kernel_size": "K", "bias": False}]}
STRIDE = {"name": "stride", "input": {"shape": [1, 3, "H", "H"]}, "symbols": {"S": {}},
          "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": "S"}]}
STRIDE_FLAT = {"name": "stride_flat", "input": {"shape": [1, 3, 32, 32]},
               "symbols": {"S": {}},
               "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": "S"},
                          {"type": "flatten"}]}
STRIDE_M1 = {"name": "stride_m1", "input": {"shape": [1, 3, "H", "H"]}, "symbols": {"S": {}},
             "layers": [{"type": "conv", "out_channels": 4, "kernel_size": 3,
                         "stride": "S-1"}]}
# Every total but buffers grows with D; buffers come from a batch norm over C*D*E channels.
NET = {"name": "net", "input": {"shape": ["N", "C", "H", "W"]}, "symbols": {"D": {}},
       "layers": [{"type": "conv", "out_channels": "D", "kernel_size": 4},
                  {"type": "batch_norm"}, {"type": "relu"}]}
BUFFERS = {"name": "buffers", "input": {"shape": [1, "C*D*E", 1, 1]},
           "layers": [{"type": "batch_norm"}]}


def _bound(arch: Any, point: dict[str, int], q: str) -> int:
    v = getattr(cnncalc.analyze(arch, point).totals, q)
    assert isinstance(v, int)
    return v


def _many(arch: Any, q: str, rows: list[dict[str, int]]) -> Any:
    an = cnncalc.analyze(arch)
    return an.evaluate_many((q,), **{k: np.array([r[k] for r in rows]) for k in rows[0]})[q]


# --- item 1: intermediates larger than the total, totals that fall -----------------------------

def test_symbolic_groups_intermediate_overflow() -> None:
    """A conv: C/G cleared by multiplying first made C*C*... pass 2**63."""
    point = {"C": 10**6, "G": 10**6, "H": 2000, "W": 2000}
    # out positions (2000-2)**2 * k*k * (C/G) in-channels per group * C out channels
    want = (2000 - 2) ** 2 * 3 * 3 * (10**6 // 10**6) * 10**6
    assert want == 35_928_036_000_000 == _bound(GROUPS, point, "macs")
    got = _many(GROUPS, "macs", [point])
    assert got.dtype == np.int64 and got.tolist() == [want]


def test_constant_groups_rational_coefficient() -> None:
    """groups 4: macs = H*W*C*C/4; the numerator H*W*C*C passes 2**63 for totals in
    [2**61, 2**62)."""
    point = {"C": 2**20, "H": 3436, "W": 3436}
    want = 3436 * 3436 * 2**20 * (2**20 // 4)
    assert 2**61 <= want < 2**62 and 3436 * 3436 * 2**40 >= EDGE
    assert want == _bound(GROUPS4, point, "macs")
    got = _many(GROUPS4, "macs", [point, {"C": 8, "H": 5, "W": 5}])
    assert got.dtype == np.int64 and got.tolist() == [want, 5 * 5 * 8 * 2]


def test_decreasing_total_symbolic_kernel() -> None:
    """macs = (H-K+1)**2 * K*K * C*C fall as K grows: the value at the largest bindings does
    not bound the others."""
    rows = [{"C": 2 * 10**4, "H": 10**5, "K": 5 * 10**4},
            {"C": 2 * 10**4, "H": 10**5, "K": 10**5}]
    want = [(10**5 - 5 * 10**4 + 1) ** 2 * (5 * 10**4) ** 2 * (2 * 10**4) ** 2,
            1 * (10**5) ** 2 * (2 * 10**4) ** 2]
    assert want[1] < 2**62 < EDGE <= want[0]
    assert want == [_bound(KERNEL, r, "macs") for r in rows]
    got = _many(KERNEL, "macs", rows)
    assert got.dtype == object and got.tolist() == want


def test_constant_total_over_int64() -> None:
    """params = 4*4 * 10**6 * 10**12 + 10**12 whatever H and W (np.full overflowed)."""
    arch = {"name": "wide", "input": {"shape": [1, 10**6, "H", "W"]},
            "layers": [{"type": "conv", "out_channels": 10**12, "kernel_size": 4}]}
    params = 4 * 4 * 10**6 * 10**12 + 10**12
    assert params >= EDGE
    an = cnncalc.analyze(arch)
    got = an.evaluate_many(("params", "macs"), H=np.array([4, 5]), W=np.array([4, 4]))
    assert got["params"].tolist() == [params, params]
    macs = [(h - 3) * (4 - 3) * 16 * 10**6 * 10**12 for h in (4, 5)]
    assert got["macs"].tolist() == macs
    rows = records(sweep(arch, {"H": [4, 5]}, {"W": 4}, ("params", "macs"), as_frame=False))
    assert [r["params"] for r in rows] == [params, params]
    assert [r["macs"] for r in rows] == macs == [_bound(arch, {"H": h, "W": 4}, "macs")
                                                 for h in (4, 5)]


def _edge(arch: Any, q: str, fixed: dict[str, int], sym: str) -> tuple[int, int]:
    """The largest value of ``sym`` whose total is below 2**63, and the next one."""
    lo, hi = 1, MAX_BINDING
    assert _bound(arch, {**fixed, sym: lo}, q) < EDGE <= _bound(arch, {**fixed, sym: hi}, q)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _bound(arch, {**fixed, sym: mid}, q) < EDGE:
            lo = mid
        else:
            hi = mid
    return lo, hi


BIG_MAP = {"N": 1, "C": 1, "H": 10**5 + 3, "W": 10**5 + 3}
EDGE_CASES = {
    "params": (NET, {"N": 1, "C": 10**9, "H": 4, "W": 4}, "D"),
    "buffers": (BUFFERS, {"C": 10**6, "D": 10**6}, "E"),
    "macs": (NET, BIG_MAP, "D"),
    "flops": (NET, BIG_MAP, "D"),
    "other_ops": (NET, BIG_MAP, "D"),
    "activations": (NET, BIG_MAP, "D"),
    "activation_bytes": (NET, BIG_MAP, "D"),
    "param_bytes": (NET, {"N": 1, "C": 10**9, "H": 4, "W": 4}, "D"),
    "peak_activation_bytes": (NET, BIG_MAP, "D"),
    "training_activation_bytes": (NET, BIG_MAP, "D"),
}


def test_edge_cases_cover_every_total() -> None:
    assert set(EDGE_CASES) == set(TOTALS)


@pytest.mark.parametrize("q", TOTALS)
def test_int64_edge(q: str) -> None:
    arch, fixed, sym = EDGE_CASES[q]
    below, above = _edge(arch, q, fixed, sym)
    want = [_bound(arch, {**fixed, sym: x}, q) for x in (below, above)]
    assert want[0] < EDGE <= want[1] and want[1] - want[0] < want[0] // 10**6
    rows = [{**fixed, sym: below}, {**fixed, sym: above}, {**fixed, sym: 1}]
    got = _many(arch, q, rows)
    assert got.dtype == object and got.tolist() == [*want, _bound(arch, rows[2], q)]
    alone = _many(arch, q, rows[:1])
    assert alone.dtype == np.int64 and alone.tolist() == want[:1]
    assert _many(arch, q, rows[1:2]).tolist() == want[1:]


def test_decreasing_total_through_sweep() -> None:
    fixed = {"C": 2 * 10**4, "H": 10**5}
    got = sweep(KERNEL, {"K": [5 * 10**4, 10**5]}, fixed, ("macs", "params"), as_frame=False)
    assert [r["macs"] for r in got] == [_bound(KERNEL, {**fixed, "K": k}, "macs")
                                        for k in (5 * 10**4, 10**5)]
    assert got[0]["macs"] == (10**5 - 5 * 10**4 + 1) ** 2 * (5 * 10**4) ** 2 * (2 * 10**4) ** 2


# --- bindings refused as analyze refuses them ---------------------------------------------------

@pytest.mark.parametrize(("values", "message"), [
    (np.array([2**63], dtype=np.uint64), "outside 1..1000000000"),
    (np.array([MAX_BINDING + 1]), r"binding H=1000000001 \(row 0\) is outside"),
    (np.array([32, 0]), r"binding H=0 \(row 1\) is outside"),
    (np.array([32.0]), "must be an array of integers"),
    (np.array([True]), "must be an array of integers"),
    (np.array([2**70], dtype=object), "outside 1..1000000000"),
    (np.array([1.5], dtype=object), "must be an array of integers"),
])
def test_bindings_refused(values: Any, message: str) -> None:
    an = cnncalc.analyze(STRIDE)
    with pytest.raises(CnnCalcError, match=message):
        an.evaluate_many(("macs",), H=values, S=np.ones(len(values), dtype=np.int64))
    with pytest.raises(CnnCalcError):
        cnncalc.analyze(STRIDE, {"H": values.tolist()[-1], "S": 1})


def test_object_array_of_small_ints_is_taken() -> None:
    an = cnncalc.analyze(STRIDE)
    got = an.evaluate_many(("macs",), H=np.array([100], dtype=object), S=[2])["macs"]
    assert got.tolist() == [_bound(STRIDE, {"H": 100, "S": 2}, "macs")]


# --- item 7 and 8: symbolic denominators ---------------------------------------------------------

def test_symbolic_stride_evaluate_no_recursion() -> None:
    an = cnncalc.analyze(STRIDE).evaluate(H=100, S=2)
    # out = floor((100 - 3) / 2) + 1 = 49 per side; 3 -> 4 channels, 3x3 kernel
    assert an.totals.macs == 49 * 49 * 3 * 3 * 3 * 4 == _bound(STRIDE, {"H": 100, "S": 2}, "macs")


def test_symbolic_stride_flatten_numeric_input() -> None:
    an = cnncalc.analyze(STRIDE_FLAT)
    # out = floor(29 / S) + 1 per side
    for s in (1, 2, 3, 29, 30):
        side = 29 // s + 1
        assert an.evaluate(S=s).totals.macs == side * side * 3 * 3 * 3 * 4 \
            == _bound(STRIDE_FLAT, {"S": s}, "macs")
    got = an.evaluate_many(("macs", "activations"), S=np.array([1, 2, 29]))
    assert got["macs"].tolist() == [(29 // s + 1) ** 2 * 108 for s in (1, 2, 29)]


def test_zero_stride_is_refused_not_zero_division() -> None:
    an = cnncalc.analyze(STRIDE_M1)
    with pytest.raises(CnnCalcError):
        an.evaluate(S=1, H=10)
    with pytest.raises(CnnCalcError, match=r"H=10, S=1 is not a valid size \(row 1\)"):
        an.evaluate_many(("macs",), H=np.array([10, 10]), S=np.array([2, 1]))
    h, s = sympy.symbols("H S", integer=True, positive=True)
    fn = compile_int(sympy.floor((h - 3) / (s - 1)))
    assert fn({"H": 10, "S": 3}) == 3
    with pytest.raises(CnnCalcError, match="denominator"):
        fn({"H": 10, "S": 1})


def test_exact_division_refuses_remainder() -> None:
    c, g = sympy.symbols("C G", integer=True, positive=True)
    e = c * c / g
    assert compile_exact(e)({"C": 6, "G": 3}) == 12
    with pytest.raises(CnnCalcError, match="not an integer"):
        compile_exact(e)({"C": 6, "G": 5})  # 36 / 5


# --- evaluate_many refuses what a bound analysis refuses -----------------------------------------

def test_rows_refused_like_analyze() -> None:
    an = cnncalc.analyze(KERNEL)
    with pytest.raises(CnnCalcError) as e:
        an.evaluate_many(("macs",), C=[1, 1, 1], H=[8, 5, 4], K=[3, 7, 9])
    with pytest.raises(CnnCalcError) as ref:
        cnncalc.analyze(KERNEL, {"C": 1, "H": 5, "K": 7})
    assert str(e.value).startswith("C=1, H=5, K=7 is not a valid size (row 1): ")
    assert str(ref.value) in str(e.value)


def test_groups_must_divide_channels() -> None:
    an = cnncalc.analyze(GROUPS)
    got = an.evaluate_many(("params",), C=[6], G=[3], H=[5], W=[5])["params"]
    assert got.tolist() == [6 * (6 // 3) * 3 * 3 + 6]
    with pytest.raises(CnnCalcError, match=r"C=6, G=4, H=5, W=5 is not a valid size"):
        an.evaluate_many(("params",), C=[6, 6], G=[3, 4], H=[5, 5], W=[5, 5])


# --- property: evaluate_many == bound analyze, huge values included ------------------------------

PROP = {"name": "prop", "input": {"shape": ["N", "C*G", "H", "H"]},
        "symbols": {"D": {}, "K": {}, "S": {}, "P": {}},
        "layers": [{"type": "conv", "out_channels": "D*G", "groups": "G", "kernel_size": "K",
                    "stride": "S", "padding": "P"},
                   {"type": "relu"},
                   {"type": "conv", "out_channels": "C", "kernel_size": 1}]}
PROP_SYMS = ("N", "C", "G", "H", "D", "K", "S", "P")


def _size() -> st.SearchStrategy[int]:
    return st.one_of(st.integers(1, 8), st.integers(1, 10**5), st.integers(1, MAX_BINDING))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({s: _size() for s in PROP_SYMS}), min_size=1,
                max_size=4))
def test_evaluate_many_equals_bound_analyze(rows: list[dict[str, int]]) -> None:
    an = cnncalc.analyze(PROP)
    want: list[dict[str, int] | None] = []
    for r in rows:
        try:
            t = cnncalc.analyze(PROP, r).totals
            want.append({q: getattr(t, q) for q in TOTALS})
        except CnnCalcError:
            want.append(None)
    arrays = {s: np.array([r[s] for r in rows]) for s in PROP_SYMS}
    if any(w is None for w in want):
        with pytest.raises(CnnCalcError, match="is not a valid size"):
            an.evaluate_many(TOTALS, **arrays)
        return
    got = an.evaluate_many(TOTALS, **arrays)
    for q in TOTALS:
        vals = [w[q] for w in want if w is not None]
        assert got[q].tolist() == vals, q
        assert got[q].dtype == (np.int64 if all(-EDGE <= v < EDGE for v in vals) else object)
