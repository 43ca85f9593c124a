"""The library bounds its own symbolic work and the size of every result: past the budget an
analysis is a CnnCalcError (kind 'limit') naming the layer and the symbols to bind,
never minutes of sympy or a number ``str()`` cannot print."""

from __future__ import annotations

import time
from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError
from cnncalc.algebra.arith import symbolic_budget


def pools(n: int, **kw: Any) -> dict[str, Any]:
    layer = {"type": "max_pool", "kernel_size": "K", "stride": "S", "ceil_mode": True, **kw}
    return {"input": {"shape": [1, 3, "H", "W"]}, "symbols": {"K": {}, "S": {}},
            "layers": [{**layer, "name": f"pool{i}"} for i in range(n)]}


@pytest.mark.parametrize("n", [5, 7])
def test_ceil_mode_pools_with_symbolic_kernel_and_stride_are_bounded(n: int) -> None:
    """5 such pools took 35-50 s and 7 took minutes. Now: either the analysis is exact and
    quick, or it refuses naming the layer and the symbols to bind."""
    arch = pools(n)
    try:
        an = cnncalc.analyze(arch)
    except CnnCalcError as e:
        assert e.kind == "limit", str(e)
        assert e.layer is not None and e.layer.startswith("pool"), str(e)
        assert "K" in e.message and "S" in e.message and "bind" in e.message, str(e)
        assert "CNNCALC_SYMBOLIC_BUDGET" in e.message or "symbolic_budget" in e.message
    else:  # an exact formulation: it must agree with the bound analysis
        b = {"H": 200, "W": 150, "K": 3, "S": 2}
        assert an.evaluate(**b).layers[-1].output_shape == \
            cnncalc.analyze(arch, b).layers[-1].output_shape


def test_the_same_pools_analyse_when_kernel_and_stride_are_bound() -> None:
    an = cnncalc.analyze(pools(7), {"K": 3, "S": 2})
    h = "H"
    assert an.layers[-1].output_shape[2] != h
    bound = cnncalc.analyze(pools(7), {"K": 3, "S": 2, "H": 500, "W": 500})
    n = 500
    for _ in range(7):  # PyTorch's ceil_mode rule with no padding: ceil((n - 3)/2) + 1
        n = -(-(n - 3) // 2) + 1
    assert bound.layers[-1].output_shape[2:] == (n, n)


def test_node_cap_names_the_layer_and_its_symbols() -> None:
    with symbolic_budget(max_nodes=40):
        with pytest.raises(CnnCalcError) as ei:
            cnncalc.analyze(pools(3))
    e = ei.value
    assert e.kind == "limit"
    assert e.layer is not None and e.layer.startswith("pool")
    assert "bind K, S" in e.message
    assert "40" in e.message


def test_deadline_names_the_layer() -> None:
    with symbolic_budget(seconds=1e-9):
        with pytest.raises(CnnCalcError) as ei:
            cnncalc.analyze(pools(2))
    assert ei.value.kind == "limit"
    assert ei.value.layer == "pool0"
    assert "second" in ei.value.message


def test_budget_only_bounds_symbolic_work() -> None:
    """Every size bound: numbers only, no sympy, so no budget applies."""
    with symbolic_budget(seconds=1e-9, max_nodes=1):
        an = cnncalc.analyze(pools(3), {"H": 64, "W": 64, "K": 3, "S": 2})
    assert an.layers[-1].output_shape == (1, 3, 8, 8)  # 64 -> 32 -> 16 -> 8 with k3 s2 ceil


def test_budget_setting_is_restored_after_the_block() -> None:
    with symbolic_budget(max_nodes=5):
        pass
    cnncalc.analyze(pools(2))


@pytest.mark.parametrize("bad", ["ten", "0", "-3", "1e3", "99999999"])
def test_invalid_budget_variable_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("CNNCALC_SYMBOLIC_BUDGET", bad)
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(pools(1))
    assert "CNNCALC_SYMBOLIC_BUDGET" in str(ei.value)


def test_budget_variable_sets_the_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCALC_SYMBOLIC_BUDGET", "30")
    assert cnncalc.analyze(pools(2)).layers[-1].output_shape[0] == 1


def test_invalid_library_budget_is_refused() -> None:
    for kw in ({"seconds": 0}, {"seconds": float("nan")}, {"max_nodes": 0}):
        with pytest.raises(CnnCalcError):
            with symbolic_budget(**kw):  # type: ignore[arg-type]
                pass


def test_symbolic_zoo_models_stay_within_the_default_budget() -> None:
    t0 = time.perf_counter()
    for name in ("resnet50", "inception_v3", "densenet121", "unet"):
        an = cnncalc.analyze(name)
        assert an.symbols
    assert time.perf_counter() - t0 < 60


# --- item 8: no result outgrows str() ---------------------------------------------------------

def test_numeric_upsample_chain_past_the_result_limit_is_refused() -> None:
    """400 upsamples by 10**12 on a 1x1 input: 10**4800, HTTP 500 and CLI tracebacks."""
    arch = {"input": {"shape": [1, 1, 1, 1]},
            "layers": [{"type": "upsample", "name": f"up{i}", "scale_factor": 10**12}
                       for i in range(400)]}
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch)
    e = ei.value
    assert e.kind == "limit"
    assert e.layer is not None and e.layer.startswith("up")
    assert int(e.layer[2:]) < 30  # 1 * 10**(12*13 + 12*13) elements after 13 of them
    assert "10**300" in e.message


def test_receptive_field_stride_past_the_result_limit_is_refused() -> None:
    """Stride 10**12 windows on a 1x1 input keep one output but multiply the field's stride."""
    arch = {"input": {"shape": [1, 1, 1, 1]},
            "layers": [{"type": "max_pool", "name": f"p{i}", "kernel_size": 1,
                        "stride": 10**12} for i in range(400)]}
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch)
    assert ei.value.kind == "limit" and "receptive" in ei.value.message


def test_symbolic_result_that_would_pass_the_limit_when_bound_is_refused() -> None:
    """120 upsamples by a symbol S: S**120 reaches 10**1080 at S = 10**9 (the largest
    binding); refused (past 10**300) rather than failing to print or convert later."""
    arch = {"input": {"shape": [1, 1, "H", 1]}, "symbols": {"S": {}},
            "layers": [{"type": "upsample", "name": f"up{i}", "scale_factor": ["S", 1]}
                       for i in range(120)]}
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch)
    assert ei.value.kind == "limit"
    assert "bind" in ei.value.message


def test_large_but_printable_results_are_kept() -> None:
    """Ten upsamples by 10**12 on 1x1: 10**120 per axis, far below the limit; exact."""
    arch = {"input": {"shape": [1, 1, 1, 1]},
            "layers": [{"type": "upsample", "scale_factor": 10**12} for _ in range(10)]}
    an = cnncalc.analyze(arch)
    assert an.layers[-1].output_shape == (1, 1, 10**120, 10**120)
    assert an.layers[-1].activations == 10**240
