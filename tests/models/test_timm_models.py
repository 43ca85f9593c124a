"""timm models across its families (model_sweep.TIMM_MODELS), imported by
``cnncalc.from_torch`` with N, H and W open and checked against torch at 224x224 and at a
non-square size: parameters, MACs (FlopCounterMode / 2) and the output shape. Built with
``pretrained=False``: nothing is downloaded.

A model the import cannot take yet is in XFAIL with the reason (strict: once it imports, the
test fails until its line is removed).
"""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")
# torch.fx's meta tracer (imports at a concrete size) warns for every shape assertion it skips.
pytestmark = pytest.mark.filterwarnings("ignore:Could not compute metadata:UserWarning")

from model_sweep import TIMM_MODELS, Case, check, timm_cases  # noqa: E402

XFAIL: dict[str, str] = {
    "skresnet18": (
        "torch.stack: no cnncalc layer for it"),
    "tresnet_m": (
        "the imported layers count 31397096 parameters but the module's forward uses 31389032: "
        "some parameters are read in a way the import does not count (a weight shared by "
        "several layers, or read directly)"),
    "nf_resnet26": (
        "torch.nn.functional.batch_norm: weights that are computed in forward (cnncalc counts "
        "the module's own parameters)"),
    "dm_nfnet_f0": (
        "torch.nn.functional.batch_norm: weights that are computed in forward (cnncalc counts "
        "the module's own parameters)"),
    "edgenext_xx_small": (
        "torch.zeros: no cnncalc layer for it"),
    "swin_tiny_patch4_window7_224": (
        "torch.nn.functional.pad: padding of the batch or channel axis"),
    "levit_128s": (
        "_operator.getitem: indexing with a Param (advanced indexing)"),
    "coatnet_0_rw_224": (
        "_operator.getitem: indexing with a Param (advanced indexing)"),
    "efficientformer_l1": (
        "_operator.getitem: indexing with a Param (advanced indexing)"),
}
"""Models that do not import yet, and why (the unsupported operation)."""

if importlib.util.find_spec("timm") is None:
    pytest.skip("timm is not installed (pip install 'cnncalc[models]')",
                allow_module_level=True)

CASES = timm_cases()


def _param(case: Case) -> object:
    marks: list[pytest.MarkDecorator] = []
    if case.name in XFAIL:
        marks.append(pytest.mark.xfail(strict=True, reason=XFAIL[case.name]))
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_model_matches_torch(case: Case) -> None:
    check(case)


def test_at_least_forty_models_across_families() -> None:
    assert len(TIMM_MODELS) >= 40
    assert not set(XFAIL) - set(TIMM_MODELS)
