"""The in-context time model: its features (written out as arithmetic), predictions from a
hand-made model (constant trees, so every number is arithmetic), the fallback beyond the
calibrated range, bands, threads, the profile's JSON and what a damaged profile says.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import cnncalc
from cnncalc.cli import main
from cnncalc.cost import (
    Band,
    BytesTimeModel,
    ContextModel,
    ConvTimeModel,
    DeviceProfile,
    predict_time,
)
from cnncalc.cost.features import (
    DERIVED,
    GROUPS,
    NUMERIC,
    Caches,
    group_of,
    layer_features,
    type_columns,
)
from cnncalc.cost.machine import differences
from cnncalc.cost.trees import TreeEnsemble
from cnncalc.errors import CnnCalcError

SEED = {"H": 32, "W": 32}
L = math.log1p


def test_features_of_the_seed_example_written_out() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    conv, relu = layer_features(an, 1, Caches(l2=32 * 1024, l3=0))
    # conv1: 3 -> 12 channels, 6x6 kernel, 32x32 -> 14x14, float32
    assert conv["type"] == "conv" and conv["group"] == "conv" and conv["prev"] == "none"
    assert conv["log_macs"] == pytest.approx(L(14 * 14 * 6 * 6 * 3 * 12))
    assert conv["log_positions"] == pytest.approx(L(14 * 14))
    assert conv["log_kernel"] == pytest.approx(L(6 * 6))
    assert (conv["log_cin"], conv["log_cout"]) == pytest.approx((L(3), L(12)))
    assert conv["log_groups"] == pytest.approx(L(1)) and conv["depthwise"] == 0.0
    assert conv["log_in_bytes"] == pytest.approx(L(4 * 3 * 32 * 32))
    assert conv["log_out_bytes"] == pytest.approx(L(4 * 12 * 14 * 14))
    assert conv["log_weight_bytes"] == pytest.approx(L(4 * (6 * 6 * 3 * 12 + 12)))
    assert conv["log_bytes"] == pytest.approx(
        L(4 * (3 * 32 * 32 + 6 * 6 * 3 * 12 + 12 + 12 * 14 * 14)))
    assert conv["log_im2col_bytes"] == pytest.approx(L(4 * 14 * 14 * 6 * 6 * 3))
    assert conv["log_stride"] == pytest.approx(L(math.sqrt(32 * 32 / (14 * 14))))
    assert conv["intensity"] == pytest.approx(
        2 * 14 * 14 * 6 * 6 * 3 * 12 / (4 * (3 * 32 * 32 + 6 * 6 * 3 * 12 + 12 + 12 * 14 * 14)))
    assert conv["from_prev"] == 0.0
    assert conv["fits_l2"] == 1.0  # 12,288 input + 5,232 weight bytes <= 32 KiB
    assert conv["fits_l3"] == 0.0  # unknown last-level cache: never "fits"
    # relu1 reads what conv1 just wrote
    assert relu["prev"] == "conv" and relu["group"] == "act" and relu["from_prev"] == 1.0
    assert relu["log_macs"] == 0.0 and relu["log_in_bytes"] == pytest.approx(L(4 * 12 * 14 * 14))
    assert relu["threads"] == 1.0 and relu["log_batch"] == pytest.approx(L(1))


def test_features_need_every_size_bound() -> None:
    with pytest.raises(CnnCalcError) as e:
        layer_features(cnncalc.analyze("seed_example"), 1, Caches())
    assert e.value.kind == "binding"


@pytest.mark.parametrize(("layer_type", "group"), [
    ("conv", "conv"), ("separable_conv", "conv"), ("linear", "dense"), ("batch_norm", "norm"),
    ("relu", "act"), ("hardswish", "act"), ("max_pool", "pool"), ("add", "merge"),
    ("concat", "merge"), ("flatten", "shape"), ("opaque", "other"), ("no_such_layer", "other")])
def test_groups(layer_type: str, group: str) -> None:
    assert group_of(layer_type) == group and group in GROUPS


def _constant_model(seconds: float, glue: float, hi_macs: float = 1e12,
                    band: Band | None = None, threads: tuple[int, ...] = (1, 2)
                    ) -> ContextModel:
    """Trees that predict ``seconds`` for every layer; trained range up to ``hi_macs``."""
    cols = type_columns(["conv", "relu"])
    trees = TreeEnsemble.from_json({"format": "cnncalc-trees/1", "features": list(cols),
                                    "trees": [{"feature": [-1], "threshold": [0.0],
                                               "left": [-1], "right": [-1],
                                               "value": [math.log(seconds)]}]})
    lo = [0.0] * len(cols)
    hi = [50.0] * len(cols)
    hi[cols.index("log_macs")] = L(hi_macs)
    return ContextModel(cols, trees, tuple(lo), tuple(hi), glue, threads, (1, 64),
                        Caches(1 << 20, 32 << 20), band or Band(), band or Band())


def _profile(ctx: ContextModel | None) -> DeviceProfile:
    return DeviceProfile("cpu", "float32", peak_flops=1e9, bandwidth=1e9, overhead_s=1e-6,
                         conv=ConvTimeModel([0.0] * 17, 0.0), other=BytesTimeModel(1e-5, 1e9),
                         meta={"device_name": "hand-made", "threads": 1}, context=ctx)


def test_prediction_is_layers_plus_glue() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    p = predict_time(an, _profile(_constant_model(1e-5, 2e-6)))
    assert p.layers == pytest.approx((1e-5 + 2e-6, 1e-5 + 2e-6))
    assert p.total == pytest.approx(2 * 1e-5 + 2 * 2e-6) == pytest.approx(sum(p.layers))
    assert p.low == p.high == pytest.approx(p.total)  # no band: no evaluation recorded
    assert p.notes == ()


def test_beyond_the_calibrated_range_time_grows_with_the_work() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    macs = 14 * 14 * 6 * 6 * 3 * 12
    p = predict_time(an, _profile(_constant_model(1e-5, 0.0, hi_macs=100_000)))
    assert p.layers[0] == pytest.approx(1e-5 * macs / 100_000, rel=1e-6)  # scaled up
    assert p.layers[1] == pytest.approx(1e-5)  # relu1 has no MACs: inside the range
    assert any("beyond the sizes" in n for n in p.notes)
    # monotone: a larger input, more MACs, more time
    big = predict_time(cnncalc.analyze("seed_example", {"H": 64, "W": 64}),
                       _profile(_constant_model(1e-5, 0.0, hi_macs=100_000)))
    assert big.layers[0] > p.layers[0]


def test_band_comes_from_the_residual_quantiles() -> None:
    band = Band(q05=math.log(0.8), q50=0.0, q95=math.log(1.25), n=99)
    an = cnncalc.analyze("seed_example", SEED)
    p = predict_time(an, _profile(_constant_model(1e-5, 0.0, band=band)))
    assert (p.low, p.high) == pytest.approx((0.8 * 2e-5, 1.25 * 2e-5))
    assert Band.of([math.log(2.0)] * 10).around(1.0) == pytest.approx((2.0, 2.0))


def test_a_thread_count_the_profile_never_saw_is_refused() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    prof = _profile(_constant_model(1e-5, 0.0, threads=(1, 2)))
    assert predict_time(an, prof, 2).total > 0
    with pytest.raises(CnnCalcError, match="calibrated with 1, 2 thread") as e:
        predict_time(an, prof, 4)
    assert e.value.kind == "input" and "--threads 4" in str(e.value)


def test_batch_outside_the_calibrated_batches_is_noted() -> None:
    an = cnncalc.analyze("resnet18", {"N": 128, "H": 32, "W": 32})
    p = predict_time(an, _profile(_constant_model(1e-5, 0.0)))
    assert any("batch 128 is outside" in n for n in p.notes)


def test_profile_round_trips_through_json(tmp_path: Path) -> None:
    band = Band(-0.1, 0.0, 0.2, 30)
    prof = _profile(_constant_model(3e-5, 1e-6, hi_macs=100_000, band=band))
    path = tmp_path / "p.json"
    prof.save(path)
    back = DeviceProfile.load(path)
    assert back.context is not None and back.context.network_band == band
    an = cnncalc.analyze("seed_example", SEED)
    assert predict_time(an, back) == predict_time(an, prof)
    json.loads(path.read_text())  # plain JSON


def _damaged(tmp_path: Path, change: Any) -> Path:
    d = _profile(_constant_model(1e-5, 0.0)).to_json()
    change(d)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["context"].update(format="other/9"), "cnncalc-context/1"),
    (lambda d: d["context"].pop("glue_s"), "damaged"),
    (lambda d: d["context"].update(threads=[0]), "not a positive integer"),
    (lambda d: d["context"].update(lo=[1.0]), "do not agree"),
    (lambda d: d["context"]["network_band"].update(q05="x"), "not a finite number"),
    (lambda d: d["context"]["trees"].update(format="nope"), "trees"),
    (lambda d: d["context"]["trees"]["trees"][0].update(left=[5]), "trees"),
    (lambda d: d["context"]["trees"].update(features=["a"]), "trees"),
    (lambda d: d.pop("conv"), "not a cnncalc device profile"),
    (lambda d: d.update(bandwidth=-1), "positive"),
])
def test_a_damaged_profile_is_one_clear_error(tmp_path: Path, change: Any,
                                              message: str) -> None:
    with pytest.raises(CnnCalcError, match=message) as e:
        DeviceProfile.load(_damaged(tmp_path, change))
    assert e.value.kind == "input"


def test_a_truncated_profile_is_one_clear_error(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "cut.json"
    p.write_text(json.dumps(_profile(_constant_model(1e-5, 0.0)).to_json())[:300])
    with pytest.raises(CnnCalcError, match="not a cnncalc device profile"):
        DeviceProfile.load(p)
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(p)]) == 2
    err = capsys.readouterr().err
    assert "not a cnncalc device profile" in err and "Traceback" not in err


def test_another_machine_or_torch_version_warns(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from cnncalc.cost.machine import describe
    here = describe()
    assert differences(here) == []  # the same machine: nothing to say
    other = dict(here, cpu="Some Other CPU 9000", torch="0.1.0")
    ws = differences(other)
    assert any("Some Other CPU 9000" in w for w in ws)
    assert any("torch 0.1.0" in w for w in ws) == (here["torch"] is not None)
    prof = _profile(_constant_model(1e-5, 0.0))
    prof.meta["machine"] = other
    path = tmp_path / "p.json"
    prof.save(path)
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "warning: the profile was calibrated on another machine" in err
    assert "predicted time: 0.02 ms" in out  # 2 layers x 1e-5 s, written after the warning


def test_analyze_profile_json_has_times_and_bands(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    band = Band(math.log(0.5), 0.0, math.log(2.0), 40)
    path = tmp_path / "p.json"
    _profile(_constant_model(1e-5, 0.0, band=band)).save(path)
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(path), "--format", "json", "--threads", "2"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["predicted_time_ms"] == pytest.approx(2 * 1e-2)
    assert d["totals"]["predicted_time_band_ms"] == pytest.approx([0.5 * 2e-2, 2.0 * 2e-2])
    assert d["layers"][0]["predicted_time_band_ms"] == pytest.approx([0.5e-2, 2e-2])
    assert main(["analyze", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--profile", str(path), "--threads", "3"]) == 2
    assert "calibrated with 1, 2 thread" in capsys.readouterr().err


def test_compare_ranks_by_predicted_time(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # time grows with MACs beyond 1,000 MACs a layer: the larger network is slower
    path = tmp_path / "p.json"
    _profile(_constant_model(1e-5, 0.0, hi_macs=1_000)).save(path)
    assert main(["compare", "resnet18", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--bind", "N=1", "--profile", str(path), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {r["name"]: r for r in rows}
    assert by["seed-example"]["time_rank"] == 1 and by["resnet18"]["time_rank"] == 2
    assert by["resnet18"]["predicted_time_ms"] > by["seed-example"]["predicted_time_ms"]
    assert main(["compare", "resnet18", "seed_example", "--bind", "H=32", "--bind", "W=32",
                 "--bind", "N=1", "--profile", str(path)]) == 0
    table = capsys.readouterr().out
    assert "ranked by predicted time" in table
    assert table.index("seed-example") < table.index("resnet18")  # fastest first
    with pytest.raises(SystemExit) as e:
        main(["compare", "seed_example", "--threads", "2"])
    assert e.value.code == 2 and "--threads needs --profile" in capsys.readouterr().err


def test_feature_columns_are_numeric_then_indicators() -> None:
    cols = type_columns(["relu", "conv", "relu"])
    assert cols[:len(NUMERIC) + len(DERIVED)] == (*NUMERIC, *DERIVED)
    assert cols[-2:] == ("t_conv", "t_relu")
    assert len(cols) == len(NUMERIC) + len(DERIVED) + 2 * len(GROUPS) + 2


def test_fitted_model_learns_and_round_trips() -> None:
    pytest.importorskip("lightgbm")
    rows, secs = [], []
    for h in range(16, 160, 2):
        an = cnncalc.analyze("seed_example", {"H": h, "W": h})
        for r in layer_features(an, 1, Caches()):
            rows.append(r)
            # a made-up law: 1 us plus 1 ns per MAC plus 0.1 ns per byte
            secs.append(1e-6 + 1e-9 * math.expm1(float(r["log_macs"]))
                        + 1e-10 * math.expm1(float(r["log_bytes"])))
    m = ContextModel.fit(rows, secs, 0.0, (1, 1), Caches())
    pred = m.predict_rows(rows)
    assert np.median(np.abs(pred / np.array(secs) - 1)) < 0.10
    back = ContextModel.from_json(json.loads(json.dumps(m.to_json())))
    assert np.array_equal(back.predict_rows(rows), pred)
    assert m.threads == (1,)


def test_derived_features_written_out() -> None:
    an = cnncalc.analyze("lenet5", {"N": 1, "H": 32, "W": 32})
    rows = layer_features(an, 1, Caches())
    moved = sum(math.expm1(float(r["log_bytes"])) for r in rows)
    assert [r["transcendental"] for r in rows] == [
        1.0 if r["type"] == "tanh" else 0.0 for r in rows]
    assert sum(r["transcendental"] for r in rows) == 4  # lenet5's four tanh layers
    assert all(r["log_net_bytes"] == pytest.approx(L(moved)) for r in rows)
    assert all(r["log_net_layers"] == pytest.approx(L(12)) for r in rows)


def _ranged_model(floor_s: float) -> ContextModel:
    """The constant model with a range for convolutions only: at least 4x seed_example's conv1
    MACs and 2x its bytes."""
    m = _constant_model(1e-5, 0.0)
    cols = m.columns
    lo = [0.0] * len(cols)
    lo[cols.index("log_macs")] = L(4 * 14 * 14 * 6 * 6 * 3 * 12)
    lo[cols.index("log_bytes")] = L(2 * 4 * (3 * 32 * 32 + 6 * 6 * 3 * 12 + 12 + 12 * 14 * 14))
    m.ranges = {"conv": (tuple(lo), m.hi)}
    m.below, m.floor_s = 1.0, floor_s
    return m


def test_below_a_groups_range_time_shrinks_with_the_work() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    p = predict_time(an, _profile(_ranged_model(0.0)))
    # conv1 has 1/4 the MACs and 1/2 the bytes of the least conv trained on: the work that
    # shrank least speaks, 1/2; relu1's group has no range of its own (the global one)
    assert p.layers == pytest.approx((0.5 * 1e-5, 1e-5), rel=1e-6)
    # never below the fastest layer trained on
    floored = predict_time(an, _profile(_ranged_model(7e-6)))
    assert floored.layers == pytest.approx((7e-6, 1e-5), rel=1e-6)


def test_glue_grows_with_the_layer_and_the_threads() -> None:
    an = cnncalc.analyze("seed_example", SEED)
    m = _constant_model(1e-5, 2e-6)
    m.glue_rel = 0.1
    m.glue_threads = {2: (1e-6, 0.0)}
    one = predict_time(an, _profile(m), 1)
    assert one.layers == pytest.approx((1e-5 + 2e-6 + 1e-6,) * 2)
    assert one.glue == pytest.approx((3e-6, 3e-6))
    assert one.total == pytest.approx(sum(one.layers))
    two = predict_time(an, _profile(m), 2)
    assert two.layers == pytest.approx((1e-5 + 1e-6,) * 2)


def test_new_fields_round_trip_and_older_profiles_still_load(tmp_path: Path) -> None:
    m = _ranged_model(7e-6)
    m.glue_rel, m.glue_threads, m.group_hi = 0.05, {1: (1e-6, 0.02)}, True
    prof = _profile(m)
    path = tmp_path / "p.json"
    prof.save(path)
    back = DeviceProfile.load(path)
    assert back.context is not None
    assert (back.context.ranges, back.context.below, back.context.floor_s) == (
        m.ranges, 1.0, 7e-6)
    assert (back.context.glue_rel, back.context.glue_threads, back.context.group_hi) == (
        0.05, {1: (1e-6, 0.02)}, True)
    an = cnncalc.analyze("seed_example", SEED)
    assert predict_time(an, back) == predict_time(an, prof)
    # a profile written before ranges per group and relative glue: the global range, a
    # constant glue per layer
    d = _profile(_constant_model(1e-5, 2e-6)).to_json()
    for k in ("ranges", "below", "floor_s", "group_hi", "glue_rel", "glue_threads"):
        d["context"].pop(k)
    path.write_text(json.dumps(d))
    old = predict_time(an, DeviceProfile.load(path))
    assert old.layers == pytest.approx((1e-5 + 2e-6, 1e-5 + 2e-6))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["context"].update(ranges={"conv": {"lo": [0.0], "hi": [1.0]}}),
     "do not agree"),
    (lambda d: d["context"].update(ranges={"conv": {"lo": [0.0]}}), "damaged"),
    (lambda d: d["context"].update(group_hi="yes"), "not true or false"),
    (lambda d: d["context"].update(glue_threads={"x": [0.0, 0.0]}), "damaged"),
    (lambda d: d["context"].update(glue_rel=float("nan")), "damaged"),
])
def test_damaged_new_fields_are_one_clear_error(tmp_path: Path, change: Any,
                                                message: str) -> None:
    with pytest.raises(CnnCalcError, match=message) as e:
        DeviceProfile.load(_damaged(tmp_path, change))
    assert e.value.kind == "input"
