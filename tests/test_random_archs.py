"""Random valid architectures (hypothesis) checked layer by layer against PyTorch."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from strategies import architectures
from torch_oracle import mismatches

import cnncalc

EXAMPLES = int(os.environ.get("CNNCALC_HYPOTHESIS_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(architectures())
def test_random_architecture_matches_torch(case: tuple[dict[str, Any], dict[str, int]]) -> None:
    arch, bindings = case
    # the generator tracks shapes itself, so cnncalc must accept every architecture it draws
    assert mismatches(arch, bindings or None) == []


@settings(max_examples=max(EXAMPLES // 3, 5), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(architectures(max_steps=4))
def test_random_architecture_symbolic_evaluate(case: tuple[dict[str, Any], dict[str, int]]
                                               ) -> None:
    """The symbolic analysis, bound afterwards, equals the analysis under the bindings."""
    arch, bindings = case
    bound = cnncalc.analyze(arch, bindings or None)
    ev = cnncalc.analyze(arch).evaluate(**bindings) if bindings else cnncalc.analyze(arch)
    for e, r in zip(ev.layers, bound.layers, strict=True):
        assert (e.name, tuple(e.output_shape), e.params, e.buffers, e.macs) == \
            (r.name, tuple(r.output_shape), r.params, r.buffers, r.macs)
    assert ev.totals.macs == bound.totals.macs
