"""What torch refuses, cnncalc refuses: an architecture PyTorch cannot run (a pool padded past
half its kernel, a window larger than its input...) is either refused by cnncalc with a
:class:`cnncalc.CnnCalcError` or run by torch in agreement with every layer's prediction."""

from __future__ import annotations

from typing import Any

import pytest
from test_arithmetic import L, net

import cnncalc

pytest.importorskip("torch")
from torch_oracle import mismatches  # noqa: E402 - imports torch


def agrees_with_torch(arch: dict[str, Any], bindings: dict[str, int] | None = None) -> bool:
    """cnncalc refuses the architecture, or torch runs it and agrees on every layer."""
    try:
        cnncalc.analyze(arch, bindings)
    except cnncalc.CnnCalcError:
        return True
    return mismatches(arch, bindings) == []


def _refusal(id_: str, arch: dict[str, Any], bindings: dict[str, int] | None = None,
             bug: str | None = None) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=f"BUG: {bug}")] if bug else []
    return pytest.param(arch, bindings, id=id_, marks=marks)


REFUSALS = [
    _refusal("pool-pad-list-over-half",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, padding=[2, 0]))),
    _refusal("pool-pad-sym-pairs-over-half",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, padding=[[2, 2], [0, 0]]))),
    _refusal("pool-pad-expr-over-half",
             net([1, 1, 8, 8], L("avg_pool", kernel_size=3, stride=1, padding="P")), {"P": 2}),
    _refusal("maxpool-dilated-same",
             net([1, 1, 8, 8], L("max_pool", kernel_size=3, stride=1, dilation=2,
                                 padding="same"))),
    _refusal("ceil-asymmetric-pairs",
             net([1, 1, 5], L("avg_pool", kernel_size=3, stride=2, ceil_mode=True,
                              padding=[[0, 1]]))),
    _refusal("avgpool3d-input-under-kernel",
             net([1, 1, 1, 4, 4], L("avg_pool", kernel_size=2, stride=1, padding=1))),
    _refusal("groupnorm-one-value-per-group",
             net([1, 2, 1, 1], L("group_norm", num_groups=2))),
    _refusal("ceil-overhang-one-output",
             net([1, 1, 2], L("max_pool", kernel_size=3, stride=2, ceil_mode=True))),
    _refusal("batchnorm-batch-stats-one-value",
             net([1, 2, 1, 1], L("batch_norm", track_running_stats=False))),
    _refusal("prelu-num-parameters-not-the-channels",
             net([1, 4, 3, 3], L("prelu", num_parameters=3))),
    _refusal("prelu-per-channel-on-rank-1",
             net([2, 3, 2], L("flatten", start_dim=0), L("prelu", num_parameters=12))),
    _refusal("reflect-pad-equal-to-the-input",
             net([1, 1, 4, 6], L("pad", padding=[[0, 4], 1], mode="reflect"))),
    _refusal("reflect-pad-symbol-over-the-input",
             net([1, 1, "H", 6], L("pad", padding="P", mode="reflect")), {"H": 3, "P": 3}),
    _refusal("reduce-a-repeated-axis", net([1, 2, 4, 4], L("sum", dim=[1, -3]))),
    _refusal("sub-shapes-that-do-not-broadcast",
             net([1, 2, 4, 4], L("max_pool", name="p", kernel_size=2),
                 L("sub", inputs=["input", "p"]))),
    _refusal("div-one-input", net([1, 2, 4, 4], L("div"))),
    _refusal("channel-shuffle-groups-not-dividing", net([1, 3, 4, 4],
                                                        L("channel_shuffle", groups=2))),
    _refusal("channel-shuffle-rank-2", net([2, 4], L("channel_shuffle", groups=2))),
    _refusal("channel-shuffle-groups-symbol-not-dividing",
             net([1, "C", 4, 4], L("channel_shuffle", groups="G")), {"C": 6, "G": 4}),
]


@pytest.mark.parametrize(("arch", "bindings"), REFUSALS)
def test_cnncalc_refuses_what_torch_refuses(arch: dict[str, Any],
                                            bindings: dict[str, int] | None) -> None:
    assert agrees_with_torch(arch, bindings)


def test_reflect_padding_records_its_condition_when_symbolic() -> None:
    arch = net([1, 1, "H", "W"], L("pad", padding=[["P", 2], 0], mode="reflect"),
               symbols={"P": {}})
    an = cnncalc.analyze(arch)
    texts = [n.text for n in an.notes]
    assert "reflect padding P < the input length H along spatial axis 0" in texts
    assert "reflect padding 2 < the input length H along spatial axis 0" in texts
    assert not any("axis 1" in t for t in texts)  # width 0 always fits
    with pytest.raises(cnncalc.CnnCalcError):
        cnncalc.analyze(arch, {"H": 2, "W": 5, "P": 1})
    assert mismatches(arch, {"H": 3, "W": 5, "P": 2}) == []


@pytest.mark.parametrize(("dim", "keepdim", "match"), [
    (0, True, "batch axis"), ([2, -4], False, "batch axis"), (4, False, "out of range"),
    (-5, True, "out of range"), ([], True, "at least one axis"), ([3, -1], True, "twice"),
    ([1, 2, 3], False, "at least one other")])
def test_reductions_refuse_bad_axes(dim: Any, keepdim: bool, match: str) -> None:
    arch = net([1, 2, 4, 4], L("mean", dim=dim, keepdim=keepdim))
    with pytest.raises(cnncalc.CnnCalcError, match=match) as e:
        cnncalc.analyze(arch)
    assert e.value.kind == "invalid"


@pytest.mark.parametrize("arch", [
    pytest.param(net([1, 2, 4, 4], L("relu", name="r"), L(op, scalar=2.0, inputs=["r", "input"])),
                 id=f"{op}-scalar-two-inputs") for op in ("add", "sub", "mul", "div")] + [
    pytest.param(net([1, 2, 4, 4], L("div", scalar=z)), id=f"div-by-scalar-{z}")
    for z in (0, 0.0, -0.0)])
def test_scalar_arithmetic_refusals_are_invalid(arch: dict[str, Any]) -> None:
    """A scalar layer takes exactly one input; a division by a scalar 0 is refused."""
    with pytest.raises(cnncalc.CnnCalcError) as e:
        cnncalc.analyze(arch)
    assert e.value.kind == "invalid"


def test_channel_shuffle_records_groups_dividing_channels() -> None:
    arch = net([1, "C", "H", "W"], L("channel_shuffle", groups="G"), symbols={"G": {}})
    an = cnncalc.analyze(arch)
    assert "groups must divide the channels: C divisible by G" in [n.text for n in an.notes]
    assert an.layers[0].other_ops == 0 and an.layers[0].macs == 0
    with pytest.raises(cnncalc.CnnCalcError):
        cnncalc.analyze(arch, {"C": 6, "G": 4, "H": 3, "W": 3})
    assert cnncalc.analyze(arch, {"C": 6, "G": 3, "H": 3, "W": 3}).layers[0].params == 0
