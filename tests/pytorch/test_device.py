"""One device parser for validation and calibration: cpu, cuda, cuda:N, auto; clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnncalc
from cnncalc.pytorch.calibrate import configs, time_configs
from cnncalc.pytorch.device import resolve_device

torch = pytest.importorskip("torch")


def _gpus(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    """Pretend this machine has ``n`` GPUs (only the parser is exercised)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)


def test_cpu_and_auto_without_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 0)
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert resolve_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "CUDA:1"])
def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    _gpus(monkeypatch, 0)
    with pytest.raises(cnncalc.CnnCalcError, match="CUDA is not available") as e:
        resolve_device(spec)
    assert e.value.kind == "device"


@pytest.mark.parametrize("spec", ["tpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1.5", "gpu:0", ""])
def test_unknown_devices_are_refused(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    _gpus(monkeypatch, 2)
    with pytest.raises(cnncalc.CnnCalcError, match="unknown device") as e:
        resolve_device(spec)
    assert e.value.kind == "device"


def test_cuda_n_is_accepted_when_the_gpu_exists(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 2)
    assert resolve_device("cuda") == torch.device("cuda")
    assert resolve_device("auto") == torch.device("cuda")
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(cnncalc.CnnCalcError, match="no CUDA device 2; this machine has 2") as e:
        resolve_device("cuda:2")
    assert e.value.kind == "device"


def test_validation_and_calibration_share_the_parser(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    _gpus(monkeypatch, 1)
    todo = configs(seed=0, n_conv=1, n_other=0)
    for run in (lambda d: cnncalc.validate("seed_example", {"H": 16, "W": 16}, d, repeats=0),
                lambda d: time_configs(todo, tmp_path / "m.csv", device=d)):
        with pytest.raises(cnncalc.CnnCalcError, match="no CUDA device 3") as e:
            run("cuda:3")
        assert e.value.kind == "device"
        with pytest.raises(cnncalc.CnnCalcError, match="unknown device 'tpu'") as e:
            run("tpu")
        assert e.value.kind == "device"
    assert not (tmp_path / "m.csv").exists()  # refused before anything was written
