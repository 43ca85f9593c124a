"""The page's formula evaluator (api/static/evaluate.js) against cnncalc itself.

The page evaluates the service's symbolic formulas at the sizes a person picks; these tests
run evaluate.js under Node.js (skipped without ``node``; tests/browser/test_page.py runs it in
Chromium too) on every formula of zoo networks and compare each value with
``cnncalc.analyze(arch, bindings)``, the analysis bound at those sizes.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

import cnncalc

EVALUATE = Path(__file__).resolve().parents[2] / "api" / "static" / "evaluate.js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed (apt-get "
                                "install nodejs); the Chromium tests still cover evaluate.js")

QUANTITIES = ("params", "buffers", "macs", "flops", "other_ops", "activations",
              "activation_bytes")
TOTALS = (*QUANTITIES, "param_bytes", "peak_activation_bytes", "training_activation_bytes")

SCRIPT = """
const m = await import(process.argv[1]);
const {analysis, sizes} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const q = (v) => m.plain(m.evaluate(v, env));
let env;
const out = sizes.map((s) => {
  env = m.environment(s);
  const rf = (r) => [r.size.map(q), r.stride.map(q), r.start.map(q)];
  return {
    layers: analysis.layers.map((l) => [l.output_shape.map(q), QS.map((k) => q(l[k])),
                                       rf(l.receptive_field)]),
    totals: [TS.map((k) => q(analysis.totals[k])), rf(analysis.totals.receptive_field)],
    constraints: analysis.constraints.map((c) => m.check(c, env)),
  };
});
console.log(JSON.stringify(out));
"""


def node(source: str, stdin: str) -> Any:
    """Run an ES module under Node.js; its printed JSON."""
    wrapper = ('import { createRequire } from "module"; '
               f'const require = createRequire("{EVALUATE}");\n')
    done = subprocess.run([NODE or "node", "--input-type=module", "-e", wrapper + source,
                           EVALUATE.as_uri()], input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _s(v: Any) -> str | None:
    return None if v is None else str(v)


def expected(d: dict[str, Any]) -> dict[str, Any]:
    """The bound analysis in the evaluator's answer layout (values as Python prints them)."""
    def rf(r: dict[str, Any]) -> list[list[str | None]]:
        return [[_s(v) for v in r[k]] for k in ("size", "stride", "start")]
    return {
        "layers": [[[_s(x) for x in lr["output_shape"]], [_s(lr[k]) for k in QUANTITIES],
                    rf(lr["receptive_field"])] for lr in d["layers"]],
        "totals": [[_s(d["totals"][k]) for k in TOTALS], rf(d["totals"]["receptive_field"])],
    }


def compare(arch: Any, sizes: list[dict[str, int]]) -> list[Any]:
    analysis = cnncalc.analyze(arch).to_dict()
    script = SCRIPT.replace("QS", json.dumps(QUANTITIES)).replace("TS", json.dumps(TOTALS))
    got = node(script, json.dumps({"analysis": analysis, "sizes": sizes}))
    for s, g in zip(sizes, got, strict=True):
        want = expected(cnncalc.analyze(arch, s).to_dict())
        assert g["layers"] == want["layers"], s
        assert g["totals"] == want["totals"], s
    return [g["constraints"] for g in got]


@pytest.mark.parametrize("name", ["resnet50", "inception_v3", "unet", "densenet121", "lenet5"])
def test_every_formula_of_a_zoo_network(name: str) -> None:
    sizes = [{"N": 1, "H": 224, "W": 224}, {"N": 3, "H": 97, "W": 130},
             {"N": 2, "H": 513, "W": 300}]
    if name == "lenet5":
        sizes = [{"N": 1, "H": 32, "W": 32}, {"N": 4, "H": 29, "W": 61}]
    if name == "unet":  # its skips concatenate: H and W multiples of 16
        sizes = [{"N": 1, "H": 256, "W": 256}, {"N": 2, "H": 96, "W": 160}]
    if name == "inception_v3":
        sizes = [{"N": 1, "H": 299, "W": 299}, {"N": 2, "H": 301, "W": 411}]
    for checks in compare(name, sizes):
        assert all(c is True for c in checks), checks


def checks(arch: Any, sizes: dict[str, int]) -> list[tuple[str, bool | None]]:
    """Each constraint line of the symbolic analysis and what evaluate.js's check() says."""
    analysis = cnncalc.analyze(arch).to_dict()
    got = node("""
const m = await import(process.argv[1]);
const {an, sizes} = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(an.constraints.map((c) => [c, m.check(c, m.environment(sizes))])));
""", json.dumps({"an": analysis, "sizes": sizes}))
    return [(c, ok) for c, ok in got]


def test_constraints_fail_where_cnncalc_refuses() -> None:
    """U-Net at W = 130: cnncalc refuses the sizes, and the page's check of its constraints
    says so before asking the service."""
    sizes = {"N": 1, "H": 256, "W": 130}
    with pytest.raises(cnncalc.CnnCalcError):
        cnncalc.analyze("unet", sizes)
    got = checks("unet", sizes)
    assert [c for c, ok in got if ok is False] == ["W mod 16 == 0"], got
    assert all(ok is True for c, ok in got if not c.startswith("W")), got


def test_fractions_floors_and_constraints() -> None:
    """A strided conv, a ceil-mode pool, an adaptive pool: a fractional stride at H = 75."""
    arch = {"input": {"shape": ["N", 3, "H", "W"]}, "layers": [
        {"type": "conv", "out_channels": 12, "kernel_size": 6, "stride": 2},
        {"type": "max_pool", "kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"type": "adaptive_avg_pool", "output_size": 3}]}
    stride = cnncalc.analyze(arch, {"N": 1, "H": 75, "W": 40}).to_dict()["totals"]
    # rows: floor((75 - 6)/2) + 1 = 35, ceil((35 - 3)/2) + 1 = 17, then 17 onto 3 windows:
    # the mean step 17/3 times the strides so far, 2*2
    assert stride["receptive_field"]["stride"][0] == f"{2 * 2 * 17}/3"
    for ok in compare(arch, [{"N": 1, "H": 75, "W": 40}, {"N": 2, "H": 13, "W": 31}]):
        assert ok == [True] * len(ok)
    # H = 6: one row out of the conv, which a 3-wide pool cannot read
    with pytest.raises(cnncalc.CnnCalcError, match="max_pool1"):
        cnncalc.analyze(arch, {"N": 1, "H": 6, "W": 40})
    assert [c for c, ok in checks(arch, {"N": 1, "H": 6, "W": 40}) if ok is False] != []


def test_grammar_corner_cases() -> None:
    """Python's own answers for the operators, by precedence and sign."""
    cases = ["-2**2", "2**-1", "(-7)//2", "7 % -3", "-7 % 3", "2**3**2", "ceil(-7/2)",
             "floor(-7/2)", "max(3, H, 2*H - 5)", "min(H, 4)//3", "(H + 1)/2", "H*W//7 % 5",
             "H/2", "(H*W + 1)/4"]
    env = {"H": 9, "W": 13}
    got = node("""
const m = await import(process.argv[1]);
const {cases, env} = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => m.plain(m.evaluate(c, m.environment(env))))));
""", json.dumps({"cases": cases, "env": env}))
    H, W = env["H"], env["W"]
    want = [-2**2, Fraction(2)**-1, (-7)//2, 7 % -3, -7 % 3, 2**3**2, math.ceil(Fraction(-7, 2)),
            math.floor(Fraction(-7, 2)), max(3, H, 2*H - 5), min(H, 4)//3, Fraction(H + 1, 2),
            H*W//7 % 5, Fraction(H, 2), Fraction(H*W + 1, 4)]
    assert got == [str(v) for v in want]
