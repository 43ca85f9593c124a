"""The shipped CPU profile: it loads, predicts with the glue it records, and the
leave-one-network-out figures docs/cost-model.md quotes are the ones the profile records."""

from __future__ import annotations

from pathlib import Path

import pytest

import cnncalc
from cnncalc.cost import load_profile, predict_time
from cnncalc.cost.features import DERIVED, layer_features

ROOT = Path(__file__).resolve().parents[2]
PROFILE = ROOT / "docs" / "data" / "cpu_profile.json"
DOC = ROOT / "docs" / "cost-model.md"


def test_the_docs_quote_the_profiles_own_scores() -> None:
    prof = load_profile(PROFILE)
    lono = prof.scores["context"]["leave_one_network_out"]
    a, lay = lono["all"], lono["layers"]
    row = (f"| {a['runs']} | {a['networks']} | all | all | {a['median_error']:.1%} | "
           f"{a['worst_error']:.1%} | {a['within_10']:.0%} | {a['spearman']:.3f} | "
           f"{a['kendall']:.3f} |")
    text = DOC.read_text(encoding="utf-8")
    assert row in text
    assert f"median error {lay['median_error']:.1%}".replace("%", " %") in text
    assert f"median layer error is {lay['time_weighted_median_error']:.1%}".replace(
        "%", " %") in text


def test_the_profile_predicts_layers_plus_their_glue() -> None:
    prof = load_profile(PROFILE)
    ctx = prof.context
    assert ctx is not None and set(DERIVED) <= set(ctx.columns)
    assert ctx.ranges and ctx.below == 1.0 and set(ctx.glue_threads) == {1, 2}
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    p = predict_time(an, prof, 1)
    own = ctx.predict_rows(layer_features(an, 1, ctx.caches))
    a, b = ctx.glue_threads[1]
    assert p.layers == pytest.approx(tuple(t + a + b * t for t in own))
    assert p.total == pytest.approx(sum(p.layers))
    assert p.low < p.total < p.high
