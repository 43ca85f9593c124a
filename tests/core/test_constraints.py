"""``Analysis.constraints`` and ``Analysis.exact_sizes``: checked by hand and by brute force.

The wording is asserted through small parsers (``H >= 6``, ``H mod 16 == 0``) so that the
meaning is checked rather than incidental spacing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

import cnncalc
from cnncalc import CnnCalcError

GE = re.compile(r"^(\w+) >= (\d+)$")
MOD = re.compile(r"^(\w+) mod (\d+) == (\d+)\b")


def minimums(constraints: list[str]) -> dict[str, int]:
    return {m[1]: int(m[2]) for c in constraints if (m := GE.match(c))}


def residues(constraints: list[str]) -> dict[str, tuple[int, int]]:
    return {m[1]: (int(m[2]), int(m[3])) for c in constraints if (m := MOD.match(c))}


def works(arch: dict[str, Any], bindings: dict[str, int]) -> bool:
    try:
        cnncalc.analyze(arch, bindings)
    except CnnCalcError:
        return False
    return True


def conv(name: str, c: int, k: int, s: int = 1, p: int = 0, **kw: Any) -> dict[str, Any]:
    return {"type": "conv", "name": name, "out_channels": c, "kernel_size": k, "stride": s,
            "padding": p, **kw}


def pool(name: str, k: int, s: int, **kw: Any) -> dict[str, Any]:
    return {"type": "max_pool", "name": name, "kernel_size": k, "stride": s, **kw}


# --- the seed example ----------------------------------------------------------------------------

SEED = {"input": {"shape": [1, 3, "H", "W"]},
        "layers": [conv("conv1", 12, 6, 2), {"type": "relu"}]}


def test_seed_constraints() -> None:
    an = cnncalc.analyze(SEED)
    assert an.constraints == ["H >= 6", "W >= 6"]
    # a bound analysis lists only conditions on its free symbols: none left
    assert cnncalc.analyze(SEED, {"H": 32, "W": 32}).constraints == []
    assert cnncalc.analyze(SEED).to_dict()["constraints"] == ["H >= 6", "W >= 6"]


def test_seed_brute_force() -> None:
    assert [h for h in range(1, 12) if works(SEED, {"H": h, "W": 32})] == list(range(6, 12))


def test_seed_exact_sizes() -> None:
    # (H - 6) mod 2 == 0: a 6-wide window at stride 2 reads every row exactly when H is even
    exact = cnncalc.analyze(SEED).exact_sizes
    assert residues(exact) == {"H": (2, 0), "W": (2, 0)}
    for h in range(6, 40):
        an = cnncalc.analyze(SEED, {"H": h, "W": 32})
        oh = an.layers[0].output_shape[2]
        assert ((oh - 1) * 2 + 6 == h) == (h % 2 == 0)


# --- an AlexNet-like stack without padding in front ----------------------------------------------

ALEX = {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
    conv("c1", 64, 11, 4), {"type": "relu"}, pool("p1", 3, 2),
    conv("c2", 192, 5, p=2), {"type": "relu"}, pool("p2", 3, 2),
    conv("c3", 384, 3, p=1), conv("c4", 256, 3, p=1), conv("c5", 256, 3, p=1),
    pool("p3", 3, 2),
]}


def test_alexnet_like_minimum() -> None:
    # Work backwards from one output of p3, using out = floor((in - k)/s) + 1 >= 1 <=> in >= k.
    need = 3                      # p3 (k3 s2) needs 3 rows in
    need = need                   # c3..c5 (k3 p1) and c2 (k5 p2) keep the length
    need = (need - 1) * 2 + 3     # p2: 3 outputs need 7 inputs
    need = (need - 1) * 2 + 3     # p1: 7 outputs need 15 inputs
    need = (need - 1) * 4 + 11    # c1: 15 outputs need 67 inputs
    assert need == 67
    an = cnncalc.analyze(ALEX)
    assert minimums(an.constraints) == {"H": need, "W": need}
    smallest = next(h for h in range(1, 200) if works(ALEX, {"H": h, "W": h}))
    assert smallest == need
    assert not works(ALEX, {"H": need - 1, "W": need})
    assert cnncalc.analyze(ALEX, {"H": need, "W": need}).layers[-1].output_shape == (1, 256, 1, 1)


def test_alexnet_like_exact_sizes_brute_force() -> None:
    """exact_sizes: H at which no strided layer leaves input rows unread."""
    an = cnncalc.analyze(ALEX)
    mod, res = residues(an.exact_sizes)["H"]
    assert (mod, res) == (32, 3)

    def no_rows_dropped(h: int) -> bool:
        n = h
        for k, s, p in ((11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1),
                        (3, 1, 1), (3, 2, 0)):
            if (n + 2 * p - k) % s:
                return False
            n = (n + 2 * p - k) // s + 1
        return True

    assert [h for h in range(67, 300) if no_rows_dropped(h)] == \
        [h for h in range(67, 300) if h % mod == res]


# --- a small U-Net: padded convs, 4 max-pools, transposed convs and skip concats ------------------

def unet() -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for lvl in (1, 2, 3, 4):
        layers += [conv(f"e{lvl}", 4 * lvl, 3, p=1), {"type": "relu", "name": f"r{lvl}"},
                   pool(f"p{lvl}", 2, 2)]
    layers.append(conv("mid", 16, 3, p=1))
    prev = "mid"
    for lvl in (4, 3, 2, 1):
        layers += [{"type": "conv_transpose", "name": f"up{lvl}", "out_channels": 4,
                    "kernel_size": 2, "stride": 2, "inputs": [prev]},
                   {"type": "concat", "name": f"cat{lvl}", "inputs": [f"up{lvl}", f"r{lvl}"]},
                   conv(f"d{lvl}", 4, 3, p=1)]
        prev = f"d{lvl}"
    layers.append(conv("head", 2, 1))
    return {"input": {"shape": [1, 1, "H", "W"]}, "layers": layers}


def test_unet_needs_multiples_of_16() -> None:
    an = cnncalc.analyze(unet())
    assert residues(an.constraints) == {"H": (16, 0), "W": (16, 0)}
    assert any(re.match(r"H mod 16 == 0", c) for c in an.constraints)
    assert minimums(an.constraints).get("H", 1) <= 16


def test_unet_brute_force() -> None:
    arch = unet()
    ok = [h for h in range(16, 81) if works(arch, {"H": h, "W": 32})]
    assert ok == [h for h in range(16, 81) if h % 16 == 0] == [16, 32, 48, 64, 80]


def test_unet_mismatch_names_the_concat() -> None:
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(unet(), {"H": 24, "W": 32})
    assert str(ei.value).startswith("layer 'cat")


# --- merges that can never match ------------------------------------------------------------------

NEVER = {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
    pool("p", 2, 2),
    {"type": "upsample", "name": "up", "scale_factor": 2},            # 2*floor(H/2)
    {"type": "pad", "name": "pd", "padding": [[0, 1], [0, 0]]},       # 2*floor(H/2) + 1
    {"type": "pad", "name": "pd2", "padding": [[1, 1], [0, 0]], "inputs": ["input"]},  # H + 2
    {"type": "add", "name": "s", "inputs": ["pd", "pd2"]},
]}


def test_merge_that_never_matches_is_an_error() -> None:
    """2*floor(H/2) + 1 == H + 2 has no solution: an error naming the merge."""
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(NEVER).constraints  # noqa: B018
    assert ei.value.layer == "s"
    assert "no value of H" in str(ei.value)
    for h in range(1, 40):
        assert not works(NEVER, {"H": h, "W": 8})


def test_merge_that_differs_by_a_constant_is_an_error() -> None:
    arch = {"input": {"shape": [1, 3, "H", "W"]},
            "layers": [conv("a", 3, 3), {"type": "concat", "name": "cat",
                                         "inputs": ["a", "input"]}]}
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch).constraints  # noqa: B018
    assert "cat" in str(ei.value)


def test_merge_with_some_solutions() -> None:
    """2*floor(H/2) == H holds for even H only (a max-pool/upsample round trip)."""
    arch = {"input": {"shape": [1, 3, "H", "W"]}, "layers": [
        pool("p", 2, 2), {"type": "upsample", "name": "up", "scale_factor": 2},
        {"type": "add", "name": "s", "inputs": ["up", "input"]}]}
    an = cnncalc.analyze(arch)
    assert residues(an.constraints) == {"H": (2, 0), "W": (2, 0)}
    assert [h for h in range(2, 20) if works(arch, {"H": h, "W": 4})] == list(range(2, 20, 2))


# --- groups over symbolic channels ----------------------------------------------------------------

def test_groups_divide_symbolic_channels() -> None:
    arch = {"input": {"shape": ["N", "C", "H", "W"]},
            "layers": [conv("g", 8, 3, p=1, groups=2)]}
    an = cnncalc.analyze(arch)
    assert residues(an.constraints) == {"C": (2, 0)}
    assert any("C" in c and "mod 2" in c for c in an.constraints)
    # params = 3*3*(C/2)*8 + 8
    assert an.evaluate(C=6).layers[0].params == 3 * 3 * 3 * 8 + 8
    bound = {"N": 1, "H": 8, "W": 8}
    assert [c for c in range(1, 12) if works(arch, {"C": c, **bound})] == [2, 4, 6, 8, 10]
    with pytest.raises(CnnCalcError) as ei:
        cnncalc.analyze(arch, {"C": 3, **bound})
    assert "layer 'g' (#0)" in str(ei.value) and "divisible" in str(ei.value)


def test_groups_divide_symbolic_out_channels() -> None:
    arch = {"input": {"shape": [1, "2*C", 8, 8]},
            "layers": [{"type": "conv", "name": "g", "out_channels": "C", "kernel_size": 1,
                        "groups": 3}]}
    an = cnncalc.analyze(arch)
    assert residues(an.constraints) == {"C": (3, 0)}
    assert [c for c in range(1, 13) if works(arch, {"C": c})] == [3, 6, 9, 12]


def test_no_symbols_no_constraints() -> None:
    arch = {"input": {"shape": [1, 3, 32, 32]}, "layers": [conv("c", 4, 3)]}
    an = cnncalc.analyze(arch)
    assert an.constraints == []
