"""One rule, one place: evaluating a symbolic analysis checks exactly what a bound one checks.

For every check a layer (or the input) makes on numbers, a symbolic analysis records a 'ge' or
'eq' note; ``Analysis.evaluate`` checks the notes that its bindings decide and, where one fails,
answers with the bound analysis (its numbers or its error). Each test: at a bad binding,
``analyze(arch).evaluate(**b)`` refuses with the very message of ``analyze(arch, b)``; at a good
binding both give identical per-layer numbers and totals.
"""

from __future__ import annotations

from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError


def net(shape: list[Any], *layers: dict[str, Any],
        symbols: dict[str, Any] | None = None) -> dict[str, Any]:
    """An architecture; ``symbols`` declares the sizes the layers use besides the shape's."""
    return {"name": "checks", "input": {"shape": shape}, "symbols": symbols or {},
            "layers": list(layers)}


def numbers(an: cnncalc.Analysis) -> dict[str, Any]:
    d = an.to_dict()
    return {"layers": d["layers"], "totals": d["totals"], "input_shape": d["input_shape"]}


def refuses_alike(arch: dict[str, Any], bad: dict[str, int],
                  first: dict[str, int] | None = None) -> str:
    """``evaluate`` at ``bad`` refuses exactly as the bound analysis does; its message."""
    with pytest.raises(CnnCalcError) as want:
        cnncalc.analyze(arch, {**(first or {}), **bad})
    sym = cnncalc.analyze(arch)
    if first:
        sym = sym.evaluate(**first)
    with pytest.raises(CnnCalcError) as got:
        sym.evaluate(**bad)
    assert str(got.value) == str(want.value)
    assert got.value.kind == want.value.kind
    return want.value.message


def agrees(arch: dict[str, Any], good: dict[str, int]) -> cnncalc.Analysis:
    """``evaluate`` at ``good`` gives the bound analysis's numbers."""
    ev = cnncalc.analyze(arch).evaluate(**good)
    assert numbers(ev) == numbers(cnncalc.analyze(arch, good))
    return ev


def conv(k: Any = 3, **kw: Any) -> dict[str, Any]:
    return {"type": "conv", "out_channels": 2, "kernel_size": k, **kw}


# --- reproducers of past wrong answers ---------------------------------------------------

def test_issue_kernel_k_minus_2_at_k1_is_refused() -> None:
    arch = net([1, 1, 8, 8], {"type": "conv", "out_channels": 1, "kernel_size": "K-2"},
              symbols={"K": {}})
    msg = refuses_alike(arch, {"K": 1})
    assert msg == "kernel_size must be >= 1, got -1"
    ev = agrees(arch, {"K": 5})
    assert ev.totals.params == 3 * 3 * 1 * 1 + 1


def test_issue_input_h_over_2_at_h3_is_refused() -> None:
    arch = net([1, 1, "H/2", 8], {"type": "relu"})
    msg = refuses_alike(arch, {"H": 3})
    assert "3/2 is not an integer" in msg
    assert agrees(arch, {"H": 6}).layers[0].output_shape == (1, 1, 3, 8)


def test_issue_stride_s_minus_1_at_s1_is_refused_not_zero_division() -> None:
    arch = net([1, 1, 8, 8], conv(stride="S-1"), symbols={"S": {}})
    assert refuses_alike(arch, {"S": 1}) == "stride must be >= 1, got 0"
    agrees(arch, {"S": 3})


# --- one test per recorded check ---------------------------------------------------------------

def test_dilation_minimum() -> None:
    arch = net([1, 1, 16, 16], conv(dilation="D-1"), symbols={"D": {}})
    assert refuses_alike(arch, {"D": 1}) == "dilation must be >= 1, got 0"
    agrees(arch, {"D": 3})


def test_padding_minimum() -> None:
    arch = net([1, 1, 8, 8], conv(padding="P-2"), symbols={"P": {}})
    assert refuses_alike(arch, {"P": 1}) == "padding must be >= 0, got -1"
    agrees(arch, {"P": 3})


def test_padding_pair_minimum() -> None:
    arch = net([1, 1, 8, 8], conv(padding=[[0, "P-2"], 1]), symbols={"P": {}})
    assert refuses_alike(arch, {"P": 1}) == "padding must be >= 0, got -1"
    agrees(arch, {"P": 2})


def test_out_channels_minimum() -> None:
    arch = net([1, 1, 8, 8], {"type": "conv", "out_channels": "C-4", "kernel_size": 3},
              symbols={"C": {}})
    assert refuses_alike(arch, {"C": 4}) == "out_channels must be >= 1, got 0"
    agrees(arch, {"C": 6})


def test_linear_out_features_minimum() -> None:
    arch = net([1, 2, 4], {"type": "linear", "out_features": "F-1"}, symbols={"F": {}})
    assert refuses_alike(arch, {"F": 1}) == "out_features must be >= 1, got 0"
    assert agrees(arch, {"F": 3}).totals.params == 4 * 2 + 2


def test_upsample_size_minimum() -> None:
    arch = net([1, 1, 4, 4], {"type": "upsample", "size": "S-1"}, symbols={"S": {}})
    assert refuses_alike(arch, {"S": 1}) == "size must be >= 1, got 0"
    agrees(arch, {"S": 9})


def test_adaptive_output_size_minimum() -> None:
    arch = net([1, 1, 8, 8], {"type": "adaptive_avg_pool", "output_size": "S-2"},
              symbols={"S": {}})
    assert refuses_alike(arch, {"S": 2}) == "output_size must be >= 1, got 0"
    agrees(arch, {"S": 4})


def test_pad_minimum() -> None:
    arch = net([1, 1, 8, 8], {"type": "pad", "padding": "P-3"}, symbols={"P": {}})
    assert refuses_alike(arch, {"P": 1}) == "padding must be >= 0, got -2"
    assert agrees(arch, {"P": 4}).layers[0].output_shape == (1, 1, 10, 10)


def test_input_size_minimum() -> None:
    arch = net([1, 1, "H-2", 8], {"type": "relu"})
    assert refuses_alike(arch, {"H": 2}) == "input size must be >= 1, got 0"
    agrees(arch, {"H": 5})


def test_kernel_larger_than_input() -> None:
    arch = net([1, 1, 8, 8], conv("K"), symbols={"K": {}})
    assert "larger than the padded input" in refuses_alike(arch, {"K": 9})
    agrees(arch, {"K": 8})


def test_pool_padding_at_most_half_the_kernel() -> None:
    arch = net([1, 1, 8, 8], {"type": "max_pool", "kernel_size": 3, "stride": 1,
                              "padding": "P"}, symbols={"P": {"min": 0}})
    assert "at most half the kernel" in refuses_alike(arch, {"P": 2})
    agrees(arch, {"P": 1})


def test_pool_padding_symbolic_kernel() -> None:
    arch = net([1, 1, 16, 16], {"type": "avg_pool", "kernel_size": "K", "stride": 1,
                                "padding": 2}, symbols={"K": {}})
    assert "at most half the kernel" in refuses_alike(arch, {"K": 3})
    agrees(arch, {"K": 4})


def test_avg_pool3d_input_at_least_kernel() -> None:
    arch = net([1, 1, "D", 6, 6], {"type": "avg_pool", "kernel_size": 3, "stride": 1,
                                   "padding": 1})
    assert "at least as large as the kernel" in refuses_alike(arch, {"D": 2})
    agrees(arch, {"D": 3})


def test_conv_transpose_output_padding_below_stride() -> None:
    arch = net([1, 1, 5, 5], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                              "stride": 2, "output_padding": "P"}, symbols={"P": {"min": 0}})
    assert "output_padding must be smaller" in refuses_alike(arch, {"P": 2})
    agrees(arch, {"P": 1})


def test_conv_transpose_output_padding_symbolic_stride() -> None:
    arch = net([1, 1, 5, 5], {"type": "conv_transpose", "out_channels": 1, "kernel_size": 3,
                              "stride": "S", "output_padding": 2}, symbols={"S": {}})
    assert "output_padding must be smaller" in refuses_alike(arch, {"S": 2})
    agrees(arch, {"S": 3})


def test_ceil_mode_same_padding_needs_symmetric_padding() -> None:
    # kernel 3 stride 2 "same": total padding 1 on even inputs (asymmetric), 2 on odd ones.
    arch = net([1, 1, "H", 9], {"type": "max_pool", "kernel_size": 3, "stride": 2,
                                "padding": "same", "ceil_mode": True})
    assert "asymmetric padding" in refuses_alike(arch, {"H": 8})
    agrees(arch, {"H": 9})


def test_batch_norm_without_running_stats_needs_two_values() -> None:
    arch = net(["N", 3, 1, 1], {"type": "batch_norm", "track_running_stats": False})
    assert "more than one value per channel" in refuses_alike(arch, {"N": 1})
    agrees(arch, {"N": 2})


def test_group_norm_needs_two_values_per_group() -> None:
    arch = net([1, 4, "H", 1], {"type": "group_norm", "num_groups": 4})
    assert "more than one value per group" in refuses_alike(arch, {"H": 1})
    agrees(arch, {"H": 2})


def test_groups_divide_channels() -> None:
    arch = net([1, "C", 8, 8], conv(groups=2))
    assert "not divisible" in refuses_alike(arch, {"C": 3})
    agrees(arch, {"C": 4})


def test_exact_division_in_a_layer_field() -> None:
    arch = net([1, 1, 8, 8], {"type": "conv", "out_channels": "C/2", "kernel_size": 3},
              symbols={"C": {}})
    assert "3/2 is not an integer" in refuses_alike(arch, {"C": 3})
    agrees(arch, {"C": 4})


def test_exact_division_inside_an_expression() -> None:
    # The value (H/2)*2 is H, an integer, but the bound analysis refuses the division.
    arch = net([1, 1, "(H/2)*2", 8], {"type": "relu"})
    assert "3/2 is not an integer" in refuses_alike(arch, {"H": 3})
    agrees(arch, {"H": 4})


def test_symbolic_divisor_must_be_positive() -> None:
    arch = net([1, 1, 8, 8], {"type": "conv", "out_channels": "16 // (S - 1)",
                              "kernel_size": 3}, symbols={"S": {}})
    assert "division by zero" in refuses_alike(arch, {"S": 1})
    agrees(arch, {"S": 3})


def test_exact_division_by_a_symbol() -> None:
    arch = net([1, 1, "H/S", 8], {"type": "relu"})
    assert "is not an integer" in refuses_alike(arch, {"H": 6, "S": 4})
    agrees(arch, {"H": 6, "S": 3})


def test_block_argument_division_reaches_the_field() -> None:
    arch = {"name": "blk", "input": {"shape": [1, 1, 16, 16]}, "symbols": {"K": {}},
            "blocks": {"b": {"args": ["k"], "layers": [
                {"type": "conv", "out_channels": 1, "kernel_size": "k"}]}},
            "layers": [{"type": "block", "block": "b", "args": {"k": "K/2"}}]}
    refuses_alike(arch, {"K": 5})
    agrees(arch, {"K": 6})


def test_merge_broadcast_still_rechecked() -> None:
    arch = net([1, "C", 4, 4], {"type": "conv", "name": "a", "out_channels": 3,
                                "kernel_size": 1, "inputs": ["input"]},
               {"type": "add", "inputs": ["a", "input"]})
    assert agrees(arch, {"C": 1}).layers[-1].output_shape == (1, 3, 4, 4)
    refuses_alike(arch, {"C": 2})


# --- partial bindings: undecided notes stay, with the bound values substituted -----------------

def test_partial_binding_keeps_undecided_checks() -> None:
    arch = net([1, 1, "H", 8], conv("K-2"), {"type": "max_pool", "kernel_size": 2,
                                              "padding": "P"},
              symbols={"K": {}, "P": {"min": 0}})
    # P is free here: the message may go on to say how a free size declared from 0 is analysed.
    assert refuses_alike(arch, {"K": 1}).startswith("kernel_size must be >= 1, got -1")
    refuses_alike(arch, {"P": 2}, first={"K": 3, "H": 9})
    refuses_alike(arch, {"H": 2, "P": 0}, first={"K": 5})
    ev = cnncalc.analyze(arch).evaluate(K=5).evaluate(H=20, P=1)
    assert numbers(ev) == numbers(cnncalc.analyze(arch, {"K": 5, "H": 20, "P": 1}))


def test_evaluate_refuses_bindings_above_the_maximum() -> None:
    arch = net([1, 1, "H", 8], {"type": "relu"})
    refuses_alike(arch, {"H": 10**9 + 1})


def test_notes_say_what_must_hold() -> None:
    an = cnncalc.analyze(net([1, 1, 8, 8], conv("K-2", padding="P"),
                                 symbols={"K": {}, "P": {"min": 0}}))
    texts = [n.text for n in an.notes if n.kind == "ge"]
    assert "kernel_size >= 1" in texts
    assert all(">=" in t or "<" in t for t in texts)


def test_expression_magnitude_limit() -> None:
    # The evaluator refuses any intermediate beyond 10**30; a symbolic H**4 may pass it.
    arch = net([1, 1, 8, 8], {"type": "conv", "out_channels": "H**4 // H**3", "kernel_size": 3},
              symbols={"H": {}})
    assert "exceeds 10**30" in refuses_alike(arch, {"H": 10**8})
    agrees(arch, {"H": 1000})
    small = cnncalc.analyze(net([1, 1, 8, 8], {"type": "conv", "out_channels": "2*C",
                                               "kernel_size": 3}, symbols={"C": {}}))
    assert not [n for n in small.notes if "10**30" in n.text]
