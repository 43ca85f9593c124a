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
]


@pytest.mark.parametrize(("arch", "bindings"), REFUSALS)
def test_cnncalc_refuses_what_torch_refuses(arch: dict[str, Any],
                                            bindings: dict[str, int] | None) -> None:
    assert agrees_with_torch(arch, bindings)
