"""Calibration on this machine's CPU, kept tiny: the sweep, resuming, fitting, the profile."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.cost import DeviceProfile, predict_seconds
from cnncalc.pytorch.calibrate import configs, time_configs

pytest.importorskip("torch")


def test_sweep_covers_every_family_and_stays_small() -> None:
    cs = configs(seed=0, n_conv=300, n_other=50)
    fams = {c.family for c in cs}
    assert {"conv_k1", "conv_k3", "conv_k5", "conv_k7", "depthwise", "dense", "max_pool",
            "avg_pool", "relu", "add", "batch_norm"} <= fams
    assert {c.stride for c in cs if c.kind == "conv"} == {1, 2}
    assert all(c.macs() <= 4e8 for c in cs)
    assert len({c.id for c in cs}) == len(cs)
    assert configs(seed=0, n_conv=300, n_other=50) == cs  # deterministic


def test_time_configs_appends_and_resumes(tmp_path: Path) -> None:
    todo = configs(seed=1, n_conv=4, n_other=2)
    out = tmp_path / "m.csv"
    assert time_configs(todo[:3], out, repeats=2, progress=False) == 3
    assert time_configs(todo, out, repeats=2, progress=False) == len(todo) - 3  # resumes
    rows = list(csv.DictReader(out.open()))
    assert [r["id"] for r in rows] == [c.id for c in todo]
    assert all(float(r["time_ms"]) > 0 for r in rows)
    assert time_configs(todo, out, repeats=2, progress=False) == 0


def test_calibrate_cli_writes_a_usable_profile(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "cpu.json"
    assert main(["calibrate", "--device", "cpu", "-o", str(prof), "--configs", "40",
                 "--budget", "60", "--threads", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] >= 40 and summary["peak_gflops"] > 0
    p = DeviceProfile.load(prof)
    assert p.device == "cpu" and p.meta["threads"] == 1
    assert "kfold" in p.scores["cnncalc_model"]
    per, whole = predict_seconds(cnncalc.analyze("seed_example", {"H": 32, "W": 32}), p)
    assert len(per) == 2 and whole == pytest.approx(sum(per)) and whole > 0


def test_calibrate_cuda_without_cuda_is_a_clear_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["calibrate", "--device", "cuda", "-o", str(tmp_path / "p.json")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err
