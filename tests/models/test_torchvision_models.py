"""Every torchvision classification model (``list_models``) and four segmentation models,
imported by ``cnncalc.from_torch`` with N, H and W open and checked against torch at 224x224
and at a non-square size: parameters, MACs (FlopCounterMode / 2) and the output shape
(tests/support/model_sweep.py says how).

A model the import cannot take yet is in XFAIL with the reason (strict: once it imports, the
test fails until its line is removed).
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")
# torch.fx's meta tracer (imports at a concrete size) warns for every shape assertion it skips.
pytestmark = pytest.mark.filterwarnings("ignore:Could not compute metadata:UserWarning")

from model_sweep import Case, check, torchvision_cases  # noqa: E402

XFAIL: dict[str, str] = {
    "maxvit_t": (
        "_operator.getitem: indexing with a Param (advanced indexing)"),
    "swin_b": (
        "torchvision.models.swin_transformer._get_relative_position_bias: no cnncalc layer for "
        "it"),
    "swin_s": (
        "torchvision.models.swin_transformer._get_relative_position_bias: no cnncalc layer for "
        "it"),
    "swin_t": (
        "torchvision.models.swin_transformer._get_relative_position_bias: no cnncalc layer for "
        "it"),
    "swin_v2_b": (
        "torch.nn.modules.linear.Linear: the buffer 'features.1.0.attn.relative_coords_table' "
        "is used as a tensor; cnncalc counts learned parameters only"),
    "swin_v2_s": (
        "torch.nn.modules.linear.Linear: the buffer 'features.1.0.attn.relative_coords_table' "
        "is used as a tensor; cnncalc counts learned parameters only"),
    "swin_v2_t": (
        "torch.nn.modules.linear.Linear: the buffer 'features.1.0.attn.relative_coords_table' "
        "is used as a tensor; cnncalc counts learned parameters only"),
}
"""Models that do not import yet, and why (the unsupported operation)."""

if importlib.util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed (scripts/venv.sh installs it with the models "
                "extra)", allow_module_level=True)

CASES = torchvision_cases()


def _param(case: Case) -> object:
    marks: list[pytest.MarkDecorator] = []
    if case.name in XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[case.name]))
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_model_matches_torch(case: Case) -> None:
    check(case)


def test_tables_name_only_models_of_the_sweep() -> None:
    names = {c.name for c in CASES}
    assert not set(XFAIL) - names
