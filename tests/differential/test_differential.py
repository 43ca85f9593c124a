"""Differential testing of the user feature: ``cnncalc.validate`` on random valid architectures
(every layer type, 1 to 3 spatial axes, graphs, blocks) finds zero mismatches, receptive fields
by autograd included wherever the field is measurable (see test_random_archs.py for the oracle
run at scale).

Examples: ``CNNCALC_HYPOTHESIS_EXAMPLES`` (default 60) / 3, at least 10.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import architectures

import cnncalc

pytest.importorskip("torch")

EXAMPLES = max(int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60")) // 3, 10)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_validate_finds_no_mismatch(case: tuple[dict[str, Any], dict[str, int]]) -> None:
    arch, bindings = case
    report = cnncalc.validate(arch, bindings or None, "cpu", repeats=1, warmup=0, threads=1,
                              rf=True)
    assert report.ok, report.to_table()
    assert all(c.rf is not None for c in report.layers)
    assert report.network_time is not None and report.layer_time_ratio is not None
