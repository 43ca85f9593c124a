"""``evaluate_many`` and ``sweep`` check every recorded condition with its own kind.

A merge equality and a ``>=`` note can reduce to the same expression: here the conv's
``kernel_size >= 1`` note is ``floor(K/2) - 1 >= 0`` and the concat's equality of its inputs'
heights, ``8 == 8 - floor(K/2) + 1``, is ``floor(K/2) - 1 == 0``. Both must be checked (found by
the differential survey over symbolic fields: K=6 was given numbers a bound analysis refuses).
"""

import numpy as np
import pytest

import cnncalc

ARCH = {"name": "t", "input": {"shape": [1, 1, "H", "W"]}, "symbols": {"K": {}},
        "layers": [{"type": "conv", "name": "c", "out_channels": 1, "kernel_size": "K // 2"},
                   {"type": "concat", "name": "cat", "inputs": ["input", "c"], "dim": 1}]}
SIZES = {"H": 8, "W": 8}


def test_bound_analysis_refuses_the_mismatch() -> None:
    # K=6: kernel 3, conv output 8 - 3 + 1 = 6 rows against the input's 8.
    with pytest.raises(cnncalc.CnnCalcError, match="8 != 6"):
        cnncalc.analyze(ARCH, {**SIZES, "K": 6})
    # K=2: kernel 1, a 1x1 conv of one channel to one: 1*1*1*1 + 1 = 2 parameters.
    assert cnncalc.analyze(ARCH, {**SIZES, "K": 2}).totals.params == 1 * 1 * 1 * 1 + 1


def test_evaluate_many_refuses_the_row_a_bound_analysis_refuses() -> None:
    an = cnncalc.analyze(ARCH, SIZES)
    assert an.evaluate_many(("params",), K=np.array([2, 3]))["params"].tolist() == [2, 2]
    with pytest.raises(cnncalc.CnnCalcError, match=r"K=6 is not a valid size \(row 1\)") as e:
        an.evaluate_many(("params",), K=np.array([2, 6]))
    assert e.value.kind == "binding"


def test_sweep_refuses_the_invalid_grid_value() -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="K=6 is not a valid size") as e:
        cnncalc.sweep(ARCH, {"K": [2, 6]}, SIZES, as_frame=False)
    assert e.value.kind == "binding"
