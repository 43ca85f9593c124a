"""Predicted time from a device profile: ``cnncalc analyze --profile`` and
``cnncalc validate --profile``, with a hand-made profile whose predictions are arithmetic.

The profile: conv-like work costs ``1e-9 s`` per MAC (``theta`` puts exponent 1 on log positions,
log kernel area, log channels in and out, so ``exp(theta . phi) = 1e-9 * MACs``), no floor;
other layers cost ``1e-5 s + bytes / 1e9``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.cost import BytesTimeModel, ConvTimeModel, DeviceProfile, predicted_ms
from cnncalc.report.tables import table as design_table

SEED = {"H": 32, "W": 32}
CONV_MS = 1e3 * 1e-9 * (14 * 14) * (6 * 6) * 3 * 12        # positions * K * C_in * C_out
RELU_MS = 1e3 * (1e-5 + 4 * (12 * 14 * 14 + 12 * 14 * 14) / 1e9)  # read + write, float32


def _profile() -> DeviceProfile:
    theta = [0.0] * 17
    theta[0] = math.log(1e-9)
    theta[1] = theta[2] = theta[3] = theta[4] = 1.0
    return DeviceProfile("cpu", "float32", peak_flops=1e9, bandwidth=1e9, overhead_s=1e-6,
                         conv=ConvTimeModel(theta, 0.0), other=BytesTimeModel(1e-5, 1e9),
                         meta={"device_name": "hand-made", "threads": 1})


@pytest.fixture()
def profile_path(tmp_path: Path) -> Path:
    p = tmp_path / "hand.json"
    _profile().save(p)
    return p


def test_predicted_ms_is_the_hand_arithmetic(profile_path: Path) -> None:
    times = predicted_ms(cnncalc.analyze("seed_example", SEED), profile_path)
    assert times == pytest.approx({"conv1": CONV_MS, "relu1": RELU_MS}, rel=1e-9)
    assert CONV_MS == pytest.approx(0.254016)


def test_analyze_json_with_profile(profile_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(profile_path), "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [x["predicted_time_ms"] for x in d["layers"]] == pytest.approx([CONV_MS, RELU_MS])
    assert d["totals"]["predicted_time_ms"] == pytest.approx(CONV_MS + RELU_MS)
    assert d["profile"] == {"device": "hand-made", "notes": []}
    assert d["totals"]["macs"] == 14 * 14 * 6 * 6 * 3 * 12  # the rest of the output unchanged


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "latex", "html"])
def test_analyze_table_with_profile(fmt: str, profile_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(profile_path), "--format", fmt]) == 0
    out = capsys.readouterr().out
    assert "predicted ms" in out
    assert f"{CONV_MS:.3f}" in out and f"{CONV_MS + RELU_MS:.3f}" in out


def test_time_column_grouped_by_depth(profile_path: Path) -> None:
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 64, "W": 64})
    times = predicted_ms(an, profile_path)
    table = design_table(an, ["name", "time"], depth=1, times=times)
    by_name = {row[0]: row[1] for row in table.body}
    layer1 = sum(t for n, t in times.items() if n.startswith("layer1."))
    assert by_name["layer1"] == pytest.approx(layer1)
    assert table.foot[0][1] == pytest.approx(sum(times.values()))


def test_time_column_without_profile_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "seed_example", "-c", "name,time"]) == 2
    assert "--profile" in capsys.readouterr().err


def test_profile_needs_every_size_bound(profile_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "seed_example", "--profile", str(profile_path)]) == 2
    err = capsys.readouterr().err
    assert "bind every size" in err and "H" in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, "{}", "not json"])
def test_bad_profile_file(content: str | None, tmp_path: Path,
                          capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "p.json"
    if content is not None:
        p.write_text(content)
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "Traceback" not in err


def test_validate_with_profile(profile_path: Path) -> None:
    pytest.importorskip("torch")
    r = cnncalc.validate("seed_example", SEED, "cpu", repeats=3, warmup=1, threads=1,
                         profile=profile_path)
    assert r.ok
    assert [c.predicted_ms for c in r.layers] == pytest.approx([CONV_MS, RELU_MS])
    assert r.predicted_time_ms == pytest.approx(CONV_MS + RELU_MS)
    assert r.network_time is not None and r.time_error is not None
    assert r.time_error == pytest.approx(r.predicted_time_ms / r.network_time.median_ms - 1)
    table = r.to_table()
    assert "pred ms" in table and "predicted time" in table and "hand-made" in table
    d = r.to_dict()
    assert d["time"]["predicted_ms"] == pytest.approx(CONV_MS + RELU_MS)
    assert d["layers"][0]["predicted_time_ms"] == pytest.approx(CONV_MS)


def test_validate_cli_with_profile(profile_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("torch")
    assert main(["validate", "seed_example", "--bind", "H=32", "--bind", "W=32", "--device",
                 "cpu", "--repeats", "2", "--threads", "2", "--profile", str(profile_path),
                 "--format", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["time"]["profile"] == "hand-made"
    assert any("calibrated with 1 CPU threads" in n for n in d["notes"])


def test_bytes_model_recovers_its_constants() -> None:
    """Rows made by t = 2e-6 + bytes / 1e9 + ops * 3e-10 give those constants back."""
    import numpy as np

    from cnncalc.cost import BytesTimeModel
    rng = np.random.default_rng(0)
    nbytes = rng.integers(10**3, 10**7, 50).astype(float)
    ops = rng.integers(10**3, 10**7, 50).astype(float)
    m = BytesTimeModel.fit(nbytes, ops, 2e-6 + nbytes / 1e9 + ops * 3e-10)
    assert (m.t0, m.bandwidth, m.seconds_per_op) == pytest.approx((2e-6, 1e9, 3e-10), rel=1e-6)
    # A negative coefficient is dropped, never fitted: time falling with bytes means no byte term.
    m = BytesTimeModel.fit(nbytes, ops, 1e-3 - nbytes * 1e-11 + ops * 1e-9)
    assert m.bandwidth == 1e30 and m.t0 >= 0 and m.seconds_per_op >= 0


def test_other_layers_pay_for_their_windows() -> None:
    """A max-pool's predicted time counts its window work: k*k per output element."""
    an = cnncalc.analyze({"input": {"shape": [1, 8, 16, 16]},
                          "layers": [{"type": "max_pool", "kernel_size": 3, "stride": 2}]})
    p = _profile()
    p.other = BytesTimeModel(1e-5, 1e9, 1e-9)
    ops = 8 * 7 * 7 * 3 * 3                       # (16-3)//2+1 = 7
    nbytes = 4 * (8 * 16 * 16 + 8 * 7 * 7)
    assert predicted_ms(an, p)["max_pool0"] == pytest.approx(1e3 * (1e-5 + nbytes / 1e9
                                                                   + ops * 1e-9))
