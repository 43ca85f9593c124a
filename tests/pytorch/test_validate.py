"""``cnncalc.validate`` and ``cnncalc validate``: the zoo in torch, receptive fields by autograd,
timing, the memory budget, failures and exit codes.

Runs use one CPU thread: on a shared two-core machine torch's spinning worker threads make small
networks slower and far noisier than one thread does.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import pytest

import cnncalc
import cnncalc.pytorch.validation as vmod
from cnncalc.cli import main
from cnncalc.layers import ReLU6
from cnncalc.progress import Progress
from cnncalc.pytorch import budget
from cnncalc.pytorch.builders import BUILDERS
from cnncalc.pytorch.timing import Stats
from cnncalc.pytorch.vreport import MemoryCheck

torch = pytest.importorskip("torch")

# Two small sizes per zoo model (inception_v3 needs >= 75, unet multiples of 16, alexnet >= 63).
ZOO_SIZES = {
    "alexnet": [(63, 63), (70, 64)],
    "vgg16": [(32, 32), (40, 36)],
    "resnet18": [(32, 32), (40, 33)],
    "resnet50": [(32, 32), (36, 45)],
    "mobilenet_v2": [(32, 32), (33, 40)],
    "squeezenet1_0": [(48, 48), (51, 60)],
    "densenet121": [(32, 32), (40, 37)],
    "googlenet": [(32, 32), (33, 40)],
    "inception_v3": [(75, 75), (80, 90)],
    "lenet5": [(32, 32), (28, 40)],
    "unet": [(32, 32), (48, 32)],
    "seed_example": [(32, 32), (17, 40)],
}
FAST: dict[str, Any] = {"device": "cpu", "repeats": 2, "warmup": 1, "threads": 1}

MIX2D: dict[str, Any] = {"name": "rfmix", "input": {"shape": [1, 3, "H", "W"]}, "layers": [
    {"type": "conv", "name": "c1", "out_channels": 8, "kernel_size": 3, "stride": 2,
     "padding": "same"},
    {"type": "relu"},
    {"type": "max_pool", "name": "mp", "kernel_size": 3, "stride": 2, "padding": 1,
     "ceil_mode": True, "dilation": 2},
    {"type": "conv", "name": "c2", "out_channels": 8, "kernel_size": [3, 5], "dilation": [2, 1],
     "padding": [[1, 2], [0, 3]]},
    {"type": "pad", "name": "pd", "padding": [1, 2]},
    {"type": "separable_conv", "name": "sep", "out_channels": 8, "kernel_size": 3, "stride": 2},
    {"type": "avg_pool", "name": "ap", "kernel_size": 2, "stride": 1, "ceil_mode": True},
    {"type": "conv", "name": "b1", "inputs": ["ap"], "out_channels": 4, "kernel_size": 1},
    {"type": "conv", "name": "b2", "inputs": ["ap"], "out_channels": 4, "kernel_size": 3,
     "padding": 1},
    {"type": "concat", "name": "cat", "inputs": ["b1", "b2"]},
    {"type": "add", "name": "res", "inputs": ["cat", "ap"]},
    {"type": "mul", "name": "gate", "inputs": ["res", "res"]},
    {"type": "gelu"}, {"type": "group_norm", "num_groups": 2}, {"type": "hardswish"},
    {"type": "batch_norm"}, {"type": "leaky_relu"}, {"type": "layer_norm", "normalized_dims": 1},
    {"type": "conv", "out_channels": 4, "kernel_size": 3, "groups": 2, "stride": 3},
]}


def _bindings(name: str, h: int, w: int) -> dict[str, int]:
    an = cnncalc.analyze(name)
    return {k: v for k, v in {"N": 1, "H": h, "W": w}.items() if k in an.symbols}


def test_every_zoo_model_has_sizes() -> None:
    assert sorted(ZOO_SIZES) == sorted(cnncalc.zoo_names())


@pytest.mark.parametrize("name", sorted(ZOO_SIZES))
def test_zoo_validates_on_cpu_at_two_sizes(name: str) -> None:
    for h, w in ZOO_SIZES[name]:
        r = cnncalc.validate(name, _bindings(name, h, w), **FAST)
        assert r.ok, r.to_table()
        assert r.mismatches == [] and r.failure is None
        assert r.real_params == r.predicted_params and r.real_macs == r.predicted_macs
        assert all(c.real_shape == c.predicted_shape for c in r.layers)
        assert r.summary().startswith("OK ") and "\n" not in r.summary()


def test_report_records_environment_and_timing() -> None:
    r = cnncalc.validate("resnet18", {"N": 1, "H": 40, "W": 40}, "cpu", repeats=3,
                         warmup=1, threads=1)
    env = r.env
    assert env.device == "cpu" and env.dtype == "float32" and env.threads == 1
    assert env.torch_version == torch.__version__ and env.device_name
    assert r.network_time is not None and r.network_time.n == 3
    assert all(c.time is not None and c.time.n == 3 for c in r.layers)
    ratio = r.layer_time_ratio
    assert ratio is not None and 0.2 < ratio < 2.0
    d = json.loads(json.dumps(r.to_dict()))
    assert d["ok"] is True and d["environment"]["threads"] == 1
    assert d["time"]["layer_sum_ratio"] == pytest.approx(ratio)
    assert d["layers"][0]["params"] == {"predicted": 9408, "measured": 9408}
    text = r.to_table()
    assert "per-layer medians sum" in text and text.rstrip().splitlines()[-1] == r.summary()


def test_threads_are_restored_and_repeats_zero_skips_timing() -> None:
    before = torch.get_num_threads()
    r = cnncalc.validate("seed_example", {"H": 16, "W": 16}, "cpu", repeats=0, threads=1)
    assert torch.get_num_threads() == before
    assert r.ok and r.network_time is None and r.layer_time_ratio is None
    assert all(c.time is None for c in r.layers)


def test_bfloat16_on_cpu_is_recorded_and_sizes_memory_by_it() -> None:
    r = cnncalc.validate("resnet18", {"N": 1, "H": 32, "W": 32}, dtype="bfloat16", **FAST)
    assert r.ok and r.env.dtype == "bfloat16"
    with pytest.raises(cnncalc.CnnCalcError, match="unknown dtype 'int8'"):
        cnncalc.validate("resnet18", {"N": 1, "H": 32, "W": 32}, dtype="int8")


# --- receptive fields by autograd ---------------------------------------------------------------

def test_receptive_fields_match_autograd_in_2d() -> None:
    r = cnncalc.validate(MIX2D, {"H": 160, "W": 150}, rf=True, **FAST)
    assert r.ok, r.to_table()
    assert r.rf_counts == {"match": len(r.layers)}
    sep = next(c for c in r.layers if c.name == "sep")
    assert sep.rf is not None and sep.rf.measured == {
        "size": [35, 35], "stride": [8, 8], "start": [-10, -10]}


@pytest.mark.parametrize("shape", [[2, 3, "L"], [1, 2, "L", "L", "L"]])
def test_receptive_fields_match_autograd_in_1d_and_3d(shape: list[Any]) -> None:
    arch = {"input": {"shape": shape}, "layers": [
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "stride": 2, "dilation": 2,
         "padding": "same"},
        {"type": "max_pool", "kernel_size": 2, "ceil_mode": True},
        {"type": "conv", "out_channels": 4, "kernel_size": 3, "padding": [[2, 0]] * (
            len(shape) - 2)},
        {"type": "avg_pool", "kernel_size": 3, "stride": 2, "padding": 1,
         "count_include_pad": False},
        {"type": "sigmoid"}]}
    r = cnncalc.validate(arch, {"L": 40}, rf=True, **FAST)
    assert r.ok, r.to_table()
    assert r.rf_counts == {"match": len(r.layers)}


def test_receptive_field_skips_are_listed_with_reasons() -> None:
    arch = {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
        {"type": "conv", "name": "c", "out_channels": 4, "kernel_size": 3},
        {"type": "upsample", "name": "up", "scale_factor": 2},
        {"type": "conv", "name": "big", "out_channels": 4, "kernel_size": 3, "dilation": 20},
        {"type": "global_avg_pool", "name": "g"}]}
    r = cnncalc.validate(arch, {"H": 60, "W": 60}, rf=True, **FAST)
    assert r.ok
    status = {c.name: c.rf.status for c in r.layers if c.rf}
    assert status == {"c": "match", "up": "skipped", "big": "skipped", "g": "skipped"}
    notes = " | ".join(r.notes)
    assert "fractional" in notes and "whole input" in notes
    clipped = cnncalc.validate("resnet18", {"N": 1, "H": 32, "W": 32}, rf=True, **FAST)
    assert clipped.ok and "clipped by the border" in " | ".join(clipped.notes)


def _tampered(monkeypatch: pytest.MonkeyPatch, edit: Any) -> None:
    real = vmod.analyze

    def fake(arch: Any, bindings: Any = None) -> Any:
        an = real(arch, bindings)
        edit(an)
        return an
    monkeypatch.setattr(vmod, "analyze", fake)


def test_a_wrong_receptive_field_is_a_mismatch(monkeypatch: pytest.MonkeyPatch) -> None:
    def edit(an: Any) -> None:
        rf = an.layer("sep").receptive_field
        rf.size = (rf.size[0] + 2, rf.size[1])
    _tampered(monkeypatch, edit)
    r = cnncalc.validate(MIX2D, {"H": 160, "W": 150}, rf=True, **FAST)
    assert not r.ok
    assert [str(m) for m in r.mismatches] == [
        "sep: receptive field predicted size=37x35, torch size=35x35"]


# --- bad input, budget, failures ------------------------------------------------------------

def test_memory_budget_refuses_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_build(an: Any) -> Any:
        raise AssertionError("built despite the budget")
    monkeypatch.setattr("cnncalc.pytorch.run.build", no_build)
    monkeypatch.setattr("cnncalc.pytorch.rf_probe.build", no_build)
    with pytest.raises(cnncalc.CnnCalcError, match=r"needs about 3\.59 GiB \(3,856,510,112 "
                       r"bytes.*over the validation budget of 2\.00 GiB") as e:
        cnncalc.validate("vgg16", {"N": 64, "H": 224, "W": 224})
    assert e.value.kind == "limit"
    with pytest.raises(cnncalc.CnnCalcError, match="budget of 1.00 KiB"):
        cnncalc.validate("seed_example", {"H": 32, "W": 32}, max_bytes="1KiB")
    monkeypatch.setenv(budget.ENV_MAX_BYTES, "10000")
    with pytest.raises(cnncalc.CnnCalcError, match=r"budget of 9\.77 KiB"):
        cnncalc.validate("seed_example", {"H": 32, "W": 32})
    with pytest.raises(cnncalc.CnnCalcError, match="receptive-field probe"):
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, rf=True, max_bytes=30000)


def test_parse_bytes() -> None:
    assert budget.parse_bytes("2GiB") == 2**31 and budget.parse_bytes("500MB") == 500 * 10**6
    assert budget.parse_bytes("1.5e9") == 1_500_000_000 and budget.parse_bytes(4096) == 4096
    for bad in ("lots", "0", "-3", "2 XB"):
        with pytest.raises(cnncalc.CnnCalcError):
            budget.parse_bytes(bad)
    # no OverflowError from huge or infinite values: the limit is 1 PiB = 2**50 bytes
    assert budget.parse_bytes(2**50) == 2**50 and budget.parse_bytes("1024TiB") == 2**50
    for huge in ("1e400", "2e15", 2**50 + 1):
        with pytest.raises(cnncalc.CnnCalcError, match="more than 1 PiB"):
            budget.parse_bytes(huge)


def test_budget_env_var_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCALC_VALIDATE_MAX_BYTES", "1e400")
    with pytest.raises(cnncalc.CnnCalcError, match="CNNCALC_VALIDATE_MAX_BYTES"):
        budget.budget_bytes()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_unavailable_says_so() -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="CUDA is not available") as e:
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, device="cuda")
    assert e.value.kind == "device"


def test_unknown_device_and_bad_arguments() -> None:
    with pytest.raises(cnncalc.CnnCalcError, match="unknown device 'tpu'"):
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, device="tpu")
    with pytest.raises(cnncalc.CnnCalcError, match="repeats"):
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, repeats=-1)
    with pytest.raises(cnncalc.CnnCalcError, match="threads"):
        cnncalc.validate("seed_example", {"H": 16, "W": 16}, threads=0)
    with pytest.raises(cnncalc.CnnCalcError, match="unbound: N, W"):
        cnncalc.validate("resnet18", {"H": 32})


def test_a_failure_inside_torch_names_the_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    class Boom(torch.nn.Module):
        def forward(self, x: Any) -> Any:
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setitem(BUILDERS, ReLU6, lambda *a: Boom())
    r = cnncalc.validate("mobilenet_v2", {"N": 1, "H": 32, "W": 32}, **FAST)
    assert not r.ok
    assert r.failure == "layer 'features.0.2': RuntimeError: mat1 and mat2 shapes cannot be " \
                        "multiplied"
    assert [(m.layer, m.quantity) for m in r.mismatches] == [("features.0.2", "run")]
    assert r.summary().startswith("FAILED ")


def test_memory_check_tolerance() -> None:
    assert MemoryCheck(1000, 1200, 0.25).ok
    assert not MemoryCheck(1000, 1300, 0.25).ok
    assert MemoryCheck(1000, 800, 0.25).ratio == pytest.approx(0.8)


def test_stats() -> None:
    s = Stats.of([0.004, 0.001, 0.002, 0.003])
    assert (s.median_ms, s.min_ms, s.max_ms, s.n) == (2.5, 1.0, 4.0, 4)
    assert math.isclose(s.spread_ms, 1.5)


# --- the command ------------------------------------------------------------------------------

def test_cli_exit_0_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "seed_example", "-b", "H=32", "-b", "W=32", "--repeats", "2",
                 "--threads", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.rstrip().splitlines()[-1].startswith("OK seed-example")
    assert err == ""  # no progress bar when stderr is not a terminal
    assert main(["validate", "seed_example", "-b", "H=32", "-b", "W=32", "-n", "1",
                 "--rf", "--format", "json", "--device", "cpu"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["ok"] and d["layers"][0]["receptive_field"]["status"] == "match"


def test_cli_exit_1_on_a_mismatch(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    def edit(an: Any) -> None:
        an.layers[0].params += 1
    _tampered(monkeypatch, edit)
    assert main(["validate", "seed_example", "-b", "H=32", "-b", "W=32", "-n", "1"]) == 1
    out = capsys.readouterr().out
    assert "mismatch: conv1: params predicted 1309, torch 1308" in out
    assert out.rstrip().splitlines()[-1].startswith("MISMATCH seed-example")


@pytest.mark.parametrize("argv", [
    ["seed_example", "-b", "H=32"],
    ["seed_example", "-b", "H=32", "-b", "W=32", "--device", "tpu"],
    ["vgg16", "-b", "N=64", "-b", "H=224", "-b", "W=224"],
    ["seed_example", "-b", "H=32", "-b", "W=32", "--max-memory", "lots"],
    ["seed_example", "-b", "H=32", "-b", "W=32", "--repeats", "-1"],
    ["no_such_model.json"],
])
def test_cli_exit_2_on_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc: int | str | None
    try:
        rc = main(["validate", *argv])
    except SystemExit as e:  # argparse refuses malformed options itself
        rc = e.code
    assert rc == 2
    err = capsys.readouterr().err
    assert "cnncalc: error:" in err and "Traceback" not in err


def test_progress_bar_only_on_a_terminal() -> None:
    quiet = io.StringIO()
    with Progress(5, "x", stream=quiet) as p:
        for _ in range(5):
            p.advance()
    assert quiet.getvalue() == ""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True
    loud = Tty()
    with Progress(2, "timing", stream=loud) as p:
        p.advance()
        p.advance()
    assert "[" in loud.getvalue() and "2/2" in loud.getvalue()
    assert loud.getvalue().endswith("\r")
