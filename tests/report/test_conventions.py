"""Other tools' conventions (cnncalc.report.conventions), as arithmetic on small networks.

Each figure is written out the way the tool counts it (docs/conventions.md); the same rules are
checked against the installed tools themselves in tests/pytorch/test_peers.py.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sympy

import cnncalc
from cnncalc.algebra.arith import sym
from cnncalc.algebra.compile import compile_int
from cnncalc.cli import main
from cnncalc.report import conventions
from cnncalc.report.conventions import CONVENTIONS, count, rule

TOOLS = ("torchinfo", "fvcore", "ptflops", "thop")


def net(*layers: dict[str, Any], shape: list[Any]) -> dict[str, Any]:
    return {"name": "t", "input": {"shape": shape}, "layers": list(layers)}


# The lecture's layer: twelve 6x6 filters at stride 2 on a 32x32x3 image, with bias: 14x14 out.
LECTURE = net({"type": "conv", "out_channels": 12, "kernel_size": 6, "stride": 2},
              shape=[1, 3, 32, 32])


def macs(arch: Any, bindings: dict[str, int] | None, tool: str) -> Any:
    return count(cnncalc.analyze(arch, bindings), tool).macs


def test_the_lecture_layer_under_every_convention() -> None:
    weights = 6 * 6 * 3 * 12
    positions = 14 * 14
    assert macs(LECTURE, None, "cnncalc") == weights * positions
    assert macs(LECTURE, None, "lecture") == weights * positions
    assert macs(LECTURE, None, "torchinfo") == (weights + 12) * positions  # params x positions
    assert macs(LECTURE, None, "fvcore") == weights * positions           # no bias
    assert macs(LECTURE, None, "ptflops") == weights * positions + 12 * positions  # + bias
    assert macs(LECTURE, None, "thop") == weights * positions             # no bias
    for tool in CONVENTIONS:
        assert count(cnncalc.analyze(LECTURE), tool).params == weights + 12


# N=2, 3x8x8: conv (no bias) 8x8x8, batch norm, ReLU, 2x2 max pool (8x4x4), global adaptive
# average pool, flatten, linear 8 -> 10.
SMALL = net({"type": "conv", "out_channels": 8, "kernel_size": 3, "padding": 1, "bias": False},
            {"type": "batch_norm"}, {"type": "relu"}, {"type": "max_pool", "kernel_size": 2},
            {"type": "adaptive_avg_pool", "output_size": 1}, {"type": "flatten"},
            {"type": "linear", "out_features": 10}, shape=[2, 3, 8, 8])
CONV = 2 * 8 * 8 * 8 * 3 * 3 * 3  # N * H * W * C_out * K * K * C_in
ELEMS = 2 * 8 * 8 * 8             # conv, batch norm and ReLU outputs
POOLED = 2 * 8 * 4 * 4
GAP = 2 * 8
LIN = 2 * 8 * 10


def test_small_network_ours() -> None:
    an = cnncalc.analyze(SMALL)
    assert an.totals.macs == CONV + LIN
    assert an.totals.params == 3 * 3 * 3 * 8 + 2 * 8 + 8 * 10 + 10


def test_small_network_torchinfo() -> None:
    # conv: weights x batch x positions (no bias here); BN and Linear: params x batch
    assert macs(SMALL, None, "torchinfo") == CONV + 2 * (2 * 8) + 2 * (8 * 10 + 10)


def test_small_network_fvcore() -> None:
    # BN 2 per element, adaptive average pooling 1 per input element, no bias, no ReLU/max pool
    assert macs(SMALL, None, "fvcore") == CONV + 2 * ELEMS + POOLED + LIN


def test_small_network_ptflops() -> None:
    # bias, BN 2/element (affine), ReLU and both pools twice (module hook + functional), per
    # sample: ptflops runs a batch of one
    whole = CONV + 2 * ELEMS + 2 * ELEMS + 2 * ELEMS + 2 * POOLED + LIN + 2 * 10
    assert macs(SMALL, None, "ptflops") == whole // 2


def test_small_network_thop() -> None:
    # BN 4 per element (affine), adaptive average pooling (kernel + 1) per output element:
    # (16 + 1) * GAP = POOLED + GAP
    assert macs(SMALL, None, "thop") == CONV + 4 * ELEMS + (4 * 4 + 1) * GAP + LIN


def test_norms_without_affine() -> None:
    arch = net({"type": "batch_norm", "affine": False}, shape=[1, 4, 5, 5])
    n = 4 * 5 * 5
    assert macs(arch, None, "fvcore") == n
    assert macs(arch, None, "ptflops") == n
    assert macs(arch, None, "thop") == 2 * n
    assert macs(arch, None, "torchinfo") == 0  # no parameters


def test_group_norm_is_unknown_to_thop() -> None:
    arch = net({"type": "group_norm", "num_groups": 2}, shape=[1, 4, 6, 6])
    n = 4 * 6 * 6
    an = cnncalc.analyze(arch)
    assert an.totals.params == 8
    assert count(an, "thop").macs == 0 and count(an, "thop").params == 0
    assert count(an, "fvcore").macs == 5 * n
    assert count(an, "ptflops").macs == 2 * n
    assert count(an, "torchinfo").macs == 8


def test_conv_transpose() -> None:
    # 4x5x5 -> 6x11x11 (kernel 3, stride 2), with bias
    arch = net({"type": "conv_transpose", "out_channels": 6, "kernel_size": 3, "stride": 2},
               shape=[1, 4, 5, 5])
    ours = 4 * 25 * 6 * 9  # every input element times every weight of its group
    assert macs(arch, None, "cnncalc") == ours
    assert macs(arch, None, "torchinfo") == (4 * 6 * 9 + 6) * 11 * 11  # by output positions
    assert macs(arch, None, "fvcore") == ours
    assert macs(arch, None, "ptflops") == ours + 6 * 11 * 11
    assert macs(arch, None, "thop") == 6 * 11 * 11 * 4 * 9  # output elements x C_in x K x K


@pytest.mark.parametrize(("mode", "fvcore", "thop"), [("nearest", 1, 1), ("bilinear", 4, 11)])
def test_upsample(mode: str, fvcore: int, thop: int) -> None:
    arch = net({"type": "upsample", "scale_factor": 2, "mode": mode}, shape=[1, 2, 4, 4])
    out = 2 * 8 * 8
    assert macs(arch, None, "fvcore") == fvcore * out
    assert macs(arch, None, "thop") == thop * out
    assert macs(arch, None, "ptflops") == 2 * out
    assert macs(arch, None, "torchinfo") == 0


def test_activations_ptflops() -> None:
    # ReLU and GELU twice (hook + F.relu/F.gelu), ReLU6 once (it calls F.hardtanh), SiLU once
    # (F.silu, no hook), sigmoid not at all
    n = 3 * 4 * 4
    for act, times in (("relu", 2), ("gelu", 2), ("relu6", 1), ("silu", 1), ("sigmoid", 0)):
        arch = net({"type": act}, shape=[1, 3, 4, 4])
        assert macs(arch, None, "ptflops") == times * n, act
        for tool in ("torchinfo", "fvcore", "thop"):
            assert macs(arch, None, tool) == 0, (act, tool)


def test_thop_adaptive_pool_in_floating_point() -> None:
    # 8x4 -> 8x3 along one axis: (4/3 + 1) * 24 is 56 exactly, thop's float sum is 55.999...
    arch = net({"type": "adaptive_avg_pool", "output_size": 3}, shape=[1, 8, 4])
    assert macs(arch, None, "thop") == int((4 / 3 + 1) * 24) == 55
    # symbolic: exactly one per input element plus one per output element
    sym_ct = count(cnncalc.analyze(net({"type": "adaptive_avg_pool", "output_size": 3},
                                       shape=[1, 8, "W"])), "thop")
    assert sympy.expand(sym_ct.macs - (8 * sym("W") + 24)) == 0


def test_symbolic_rules_are_formulas() -> None:
    arch = net({"type": "conv", "out_channels": 12, "kernel_size": 3, "padding": 1},
               {"type": "batch_norm"}, shape=["N", 3, "H", "W"])
    an = cnncalc.analyze(arch)
    n, h, w = sym("N"), sym("H"), sym("W")
    want = {"cnncalc": 324 * n * h * w,
            "torchinfo": (324 + 12) * n * h * w + 24 * n,
            "fvcore": 324 * n * h * w + 2 * 12 * n * h * w,
            "ptflops": (324 + 12 + 2 * 12) * h * w,  # per sample
            "thop": 324 * n * h * w + 4 * 12 * n * h * w}
    for tool, expr in want.items():
        assert sympy.expand(count(an, tool).macs - expr) == 0, tool


@pytest.mark.parametrize("tool", TOOLS)
def test_symbolic_then_bound_equals_bound(tool: str) -> None:
    sym = cnncalc.analyze("resnet18")
    sym_ct = count(sym, tool)
    for size in ({"N": 1, "H": 224, "W": 224}, {"N": 3, "H": 97, "W": 130}):
        bound = count(cnncalc.analyze("resnet18", size), tool)
        assert compile_int(sym_ct.macs)(size) == bound.macs
        # an evaluated analysis keeps its architecture: its layers' facts are found again
        assert count(sym.evaluate(**size), tool).macs == bound.macs


def test_evaluate_counts_the_convention_again() -> None:
    # SMALL with N, H, W free: the tool's totals of the evaluated analysis are those of the
    # bound one, written out (fvcore: conv without bias + batch norm 2 per element + GAP 1 per
    # input element + linear); an analysis without a convention evaluates to one without.
    free = {**SMALL, "input": {"shape": ["N", 3, "H", "W"]}}
    an = cnncalc.analyze(free, convention="fvcore")
    ev = an.evaluate(N=2, H=8, W=8)
    assert ev.convention is not None and ev.convention.name == "fvcore"
    assert ev.convention.macs == CONV + 2 * ELEMS + POOLED + LIN
    assert cnncalc.analyze(free).evaluate(N=2, H=8, W=8).convention is None
    # a binding that is answered by a fresh bound analysis (H bound to 1 breaks the pool)
    with pytest.raises(cnncalc.CnnCalcError):
        an.evaluate(N=2, H=1, W=8)


def test_unreproduced_layers_are_named() -> None:
    # ptflops prepends its batch of one: a sequence-first attention layer is not reproduced
    # (cnncalc's MACs stand in, divided as ptflops divides by the input's first axis)
    arch = net({"type": "multihead_attention", "num_heads": 2}, shape=[6, 1, 8])
    an = cnncalc.analyze(arch)
    ct = count(an, "ptflops")
    assert ct.unchecked == ("multihead_attention",)
    assert ct.macs * 6 == an.totals.macs
    assert ct.to_dict()["unchecked"] == ["multihead_attention"]
    assert "not reproduced for multihead_attention" in conventions.apply(an, "ptflops").to_table()
    assert count(an, "fvcore").unchecked == ()
    # an opaque layer's counts are unknown to every convention
    op = net({"type": "relu"}, {"type": "opaque", "op": "aten::foo", "shape": [1, 3, 4, 4]},
             shape=[1, 3, 4, 4])
    for tool in TOOLS:
        assert count(cnncalc.analyze(op), tool).unchecked == ("opaque",), tool


def test_registry_refuses_duplicates() -> None:
    before = dict(CONVENTIONS["fvcore"].rules)
    with pytest.raises(RuntimeError, match="duplicate rule for 'batch_norm'"):
        rule("fvcore", "batch_norm")(lambda f: 0)
    with pytest.raises(RuntimeError, match="duplicate rule for 'relu'"):
        rule("fvcore", "relu")(lambda f: 0)  # counted as cnncalc counts it
    assert CONVENTIONS["fvcore"].rules == before
    assert tuple(CONVENTIONS) == ("cnncalc", "torchinfo", "fvcore", "ptflops", "thop",
                                  "lecture")


def test_every_layer_type_is_covered() -> None:
    # every type has a rule or is counted as cnncalc counts it; an opaque layer's counts are
    # unknown to every tool
    for tool in TOOLS:
        assert set(conventions.types_covered(tool)) == set(cnncalc.LAYER_TYPES) - {"opaque"}


def test_analyze_keeps_our_totals_and_adds_the_block() -> None:
    plain = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224})
    an = cnncalc.analyze("resnet18", {"N": 1, "H": 224, "W": 224}, convention="fvcore")
    d = an.to_dict()
    block = d.pop("convention")
    assert d == plain.to_dict()
    assert "convention" not in cnncalc.analyze(LECTURE, convention="cnncalc").to_dict()
    assert set(block) == {"name", "macs", "flops", "params", "reports", "counts"}
    assert block["name"] == "fvcore" and block["flops"] == 2 * block["macs"]
    assert block["macs"] == count(plain, "fvcore").macs > plain.totals.macs


def test_lecture_block() -> None:
    d = cnncalc.analyze(LECTURE, convention="lecture").to_dict()["convention"]
    assert d["macs"] == 6 * 6 * 3 * 12 * 14 * 14 and d["params"] == 6 * 6 * 3 * 12 + 12
    assert "flops" in d["reports"]


def test_unknown_convention() -> None:
    with pytest.raises(cnncalc.CnnCalcError) as e:
        cnncalc.analyze(LECTURE, convention="flopth")
    assert e.value.kind == "input"
    assert "cnncalc, torchinfo, fvcore, ptflops, thop, lecture" in e.value.message


def test_table_line_under_the_totals() -> None:
    an = cnncalc.analyze(SMALL, convention="fvcore")
    text = an.to_table()
    line = f"fvcore counts {CONV + 2 * ELEMS + POOLED + LIN} MACs"
    assert line in text
    notes = text.split("\n\n", 1)[1]
    assert notes.splitlines()[1].startswith(line)  # right after the FLOPs line
    assert "counts" not in cnncalc.analyze(SMALL).to_table()
    # the tool's params only where they differ from ours: thop drops a group norm's
    gn = net({"type": "group_norm", "num_groups": 2}, shape=[1, 4, 6, 6])
    assert "thop counts 0 MACs, 0 params (" in cnncalc.analyze(gn, convention="thop").to_table()
    assert "fvcore counts 720 MACs (" in cnncalc.analyze(gn, convention="fvcore").to_table()


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "seed_example", "-b", "H=32", "-b", "W=32", "--convention",
                 "torchinfo", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["convention"]["macs"] == (6 * 6 * 3 * 12 + 12) * 14 * 14
    assert d["totals"]["macs"] == 6 * 6 * 3 * 12 * 14 * 14
    assert main(["analyze", "seed_example", "--convention", "thop"]) == 0
    assert "thop counts " in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["analyze", "seed_example", "--convention", "nope"])
    assert e.value.code == 2
    assert "choose from 'cnncalc', 'torchinfo'" in capsys.readouterr().err


def test_http() -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.settings import Settings

    body = {"architecture": cnncalc.zoo_json("seed_example"), "bindings": {"H": 32, "W": 32}}
    with TestClient(create_app(Settings(workers=1)), raise_server_exceptions=False) as c:
        r = c.post("/analyze?convention=ptflops", json=body)
        assert r.status_code == 200, r.text
        # conv with its bias, then ReLU counted twice (module hook and F.relu)
        want = 6 * 6 * 3 * 12 * 14 * 14 + 12 * 14 * 14 + 2 * 12 * 14 * 14
        assert r.json()["convention"]["macs"] == want
        assert "convention" not in c.post("/analyze", json=body).json()
        r = c.post("/analyze?convention=fvcore&format=table", json=body)
        assert r.status_code == 200 and "fvcore counts 254016 MACs" in r.text
        r = c.post("/analyze?convention=thop", json=body)  # not fvcore's, from the cache
        assert r.json()["convention"]["name"] == "thop"
        assert r.json()["convention"]["macs"] == 6 * 6 * 3 * 12 * 14 * 14
        r = c.post("/analyze?convention=nope", json=body)
        assert r.status_code == 422
        assert r.json()["path"] == ["query", "convention"]
        assert "'torchinfo', 'fvcore', 'ptflops', 'thop' or 'lecture'" in r.json()["message"]
