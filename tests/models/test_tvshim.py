"""cnncalc.pytorch.tvshim: torchvision imports over the CPU torch, and the shim is idempotent."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytest.importorskip("torch")

if importlib.util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed", allow_module_level=True)


def test_torchvision_imports_after_the_shim() -> None:
    """In a fresh interpreter: the first call declares the operators when torchvision's
    extension does not load (and only then), later calls do nothing, torchvision imports."""
    code = (
        "import sys, torch\n"
        "from cnncalc.pytorch.tvshim import declare_torchvision_ops as d\n"
        "first = d()\n"
        "assert d() is False\n"
        "import torchvision\n"
        "assert d() is False\n"
        "assert hasattr(torch.ops.torchvision, 'nms')\n"
        "m = torchvision.models.resnet18()\n"
        "print(first, torchvision.extension._has_ops(), sum(p.numel() for p in m.parameters()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    declared, has_ops, params = out
    assert declared == str(has_ops == "False")  # declared exactly when _C did not load
    assert params == str(11_689_512)


def test_nothing_is_declared_once_torchvision_is_imported() -> None:
    from cnncalc.pytorch.tvshim import declare_torchvision_ops
    declare_torchvision_ops()
    import torchvision  # noqa: F401
    assert declare_torchvision_ops() is False
