"""Calibration on this machine's CPU, kept tiny: the sweep, resuming, fitting, the profile."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.cost import DeviceProfile, predict_seconds, predict_time
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
    pytest.importorskip("lightgbm")
    prof = tmp_path / "cpu.json"
    assert main(["calibrate", "--device", "cpu", "-o", str(prof), "--configs", "40",
                 "--budget", "60", "--threads", "1", "--networks", "seed_example,lenet5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] >= 40 and summary["peak_gflops"] > 0
    p = DeviceProfile.load(prof)
    assert p.device == "cpu" and p.meta["threads"] == 1
    assert "kfold" in p.scores["cnncalc_model"]
    # in context: both networks at their three sizes, each predicted by a model of the other
    ctx = p.scores["context"]
    assert (ctx["runs"], ctx["networks"]) == (6, 2)
    assert ctx["layers"] == 3 * (2 + 12)  # seed_example has 2 layers, lenet5 12
    assert ctx["leave_one_network_out"]["all"]["runs"] == 6
    assert p.context is not None and p.context.threads == (1,)
    assert p.context.network_band.n == 6 and p.context.layer_band.n == 3 * 14
    assert p.meta["machine"]["cores"] >= 1
    per, whole = predict_seconds(cnncalc.analyze("seed_example", {"H": 32, "W": 32}), p)
    assert len(per) == 2 and whole == pytest.approx(sum(per)) and whole > 0
    with pytest.raises(cnncalc.CnnCalcError, match="--threads 2"):
        predict_time(cnncalc.analyze("seed_example", {"H": 32, "W": 32}), p, threads=2)


def test_calibrate_cuda_without_cuda_is_a_clear_error(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import torch
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["calibrate", "--device", "cuda", "-o", str(tmp_path / "p.json")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_in_context_timing_resumes_without_losing_finished_runs(tmp_path: Path) -> None:
    from cnncalc.pytorch.incontext import SUITE, collect, plan
    seed = [n for n in SUITE if n.name == "seed_example"]
    runs = plan(seed)
    out = tmp_path / "ctx.csv"
    assert collect(out, runs[:2], progress=False, target_s=0.01) == 2
    finished = out.read_text()
    # an interrupted third run: its first layer row written, its network row never
    row = finished.splitlines()[1].split(",")
    row[0] = runs[2].id
    out.write_text(finished + ",".join(row) + "\n")
    assert collect(out, runs, progress=False, target_s=0.01) == 1  # only the third again
    text = out.read_text()
    assert text.startswith(finished)  # the finished runs kept as they were
    rows = list(csv.DictReader(text.splitlines()))
    assert [r["run"] for r in rows if r["layer"] == "(network)"] == [r.id for r in runs]
    assert len(rows) == 3 * (2 + 1)  # conv1, relu1 and the network row per run
    assert collect(out, runs, progress=False, target_s=0.01) == 0
    # a network of one fixed batch is not timed at other batches
    assert collect(tmp_path / "b.csv", plan(seed, batches=(1, 4))[3:], progress=False,
                   target_s=0.01) == 0


def test_in_context_rows_carry_the_layers_features(tmp_path: Path) -> None:
    from cnncalc.cost.features import layer_features
    from cnncalc.cost.lono import load_context_csv
    from cnncalc.cost.machine import caches
    from cnncalc.pytorch.incontext import SUITE, collect, plan
    lenet = [n for n in SUITE if n.name == "lenet5"]
    out = tmp_path / "ctx.csv"
    collect(out, plan(lenet)[:1], progress=False, target_s=0.01)
    data = load_context_csv(out)
    (run,) = data.runs.values()
    assert (run.network, run.batch, run.threads, run.layers) == ("lenet5", 1, 1, 12)
    assert run.seconds > 0 and run.layer_sum_s == pytest.approx(
        sum(r["seconds"] for r in data.rows), rel=1e-6)
    want = layer_features(cnncalc.analyze("lenet5", {"N": 1, "H": 32, "W": 32}), 1, caches())
    assert [r["type"] for r in data.rows] == [w["type"] for w in want]
    assert [r["log_macs"] for r in data.rows] == pytest.approx([w["log_macs"] for w in want])


def test_in_context_timing_in_bfloat16_counts_two_bytes(tmp_path: Path) -> None:
    """The GPU path's dtype handling, on the CPU: a bfloat16 run's features count 2 bytes per
    element (conv1 reads 3*32*32 inputs)."""
    import math

    from cnncalc.cost.lono import load_context_csv
    from cnncalc.pytorch.incontext import SUITE, collect, plan
    seed = [n for n in SUITE if n.name == "seed_example"]
    out = tmp_path / "bf16.csv"
    assert collect(out, plan(seed)[:1], dtype="bfloat16", progress=False, target_s=0.01) == 1
    conv = load_context_csv(out).rows[0]
    assert conv["dtype_bytes"] == 2.0
    assert conv["log_in_bytes"] == pytest.approx(math.log1p(2 * 3 * 32 * 32))


def test_in_context_timing_on_cuda_without_cuda_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    from cnncalc.pytorch.incontext import SUITE, collect, plan
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(cnncalc.CnnCalcError, match="CUDA is not available"):
        collect(tmp_path / "c.csv", plan(SUITE[:1]), device="cuda", progress=False)


# The small networks of the calibration suite, at their first size, with the parameters their
# sources print or the arithmetic gives (weights + biases per layer).
SMALL_NETS = {
    # pytorch/examples mnist/main.py: 9216 = 64*12*12 features
    "mnist_cnn": (28, 28, (3*3*1*32 + 32) + (3*3*32*64 + 64) + (9216*128 + 128)
                  + (128*10 + 10)),
    # the CIFAR-10 tutorial's Net, 62,006 parameters: 400 = 16*5*5 features
    "cifar_tutorial": (32, 32, (5*5*3*6 + 6) + (5*5*6*16 + 16) + (400*120 + 120)
                       + (120*84 + 84) + (84*10 + 10)),
    # Dive into Deep Learning's LeNet (padded first convolution)
    "d2l_lenet": (28, 28, (5*5*1*6 + 6) + (5*5*6*16 + 16) + (400*120 + 120) + (120*84 + 84)
                  + (84*10 + 10)),
    "lenet1": (28, 28, (5*5*1*4 + 4) + (5*5*4*12 + 12) + (12*4*4*10 + 10)),
    "tiny_vgg": (32, 32, (3*3*3*10 + 10) + 3 * (3*3*10*10 + 10) + (10*5*5*10 + 10)),
}


@pytest.mark.parametrize("name", sorted(SMALL_NETS))
def test_small_suite_networks_count_as_torch_does(name: str) -> None:
    from cnncalc.pytorch.incontext import SUITE, architecture
    (net,) = [n for n in SUITE if n.name == name]
    h, w, params = SMALL_NETS[name]
    assert (net.source, net.sizes[0]) == ("suite", (h, w))
    an = cnncalc.analyze(architecture(net), {"N": 1, "H": h, "W": w})
    assert an.totals.params == params
    report = cnncalc.validate(architecture(net), {"N": 1, "H": h, "W": w}, device="cpu",
                              repeats=0)
    assert report.ok, report.summary()


def test_small_suite_networks_published_counts() -> None:
    """The totals those examples print (torchinfo / the tutorials' own summaries)."""
    assert SMALL_NETS["mnist_cnn"][2] == 1_199_882
    assert SMALL_NETS["cifar_tutorial"][2] == 62_006
