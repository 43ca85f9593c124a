"""Every zoo model equals a PyTorch build of itself at several sizes, square and not."""

from __future__ import annotations

import pytest

import cnncalc

# Small sizes keep the CPU runs quick; inception_v3 needs >= 75, unet multiples of 16,
# lenet5 >= 16 (see each model's constraints).
SIZES = {
    "alexnet": [(63, 63), (96, 80)],
    "vgg16": [(32, 32), (64, 48)],
    "resnet18": [(32, 32), (57, 40)],
    "resnet50": [(32, 32), (45, 64)],
    "mobilenet_v2": [(32, 32), (33, 50)],
    "squeezenet1_0": [(64, 64), (71, 90)],
    "densenet121": [(32, 32), (40, 57)],
    "googlenet": [(32, 32), (49, 64)],
    "inception_v3": [(75, 75), (99, 80)],
    "lenet5": [(32, 32), (28, 40)],
    "unet": [(32, 32), (48, 64)],
    "seed_example": [(32, 32), (17, 40)],
}


def test_every_zoo_model_has_sizes() -> None:
    assert sorted(SIZES) == sorted(cnncalc.zoo_names())


@pytest.mark.parametrize(("name", "h", "w"),
                         [(n, h, w) for n, sizes in SIZES.items() for h, w in sizes])
def test_zoo_matches_torch(name: str, h: int, w: int) -> None:
    pytest.importorskip("torch")
    from torch_oracle import mismatches

    an = cnncalc.analyze(name)
    bindings = {k: v for k, v in {"N": 2, "H": h, "W": w}.items() if k in an.symbols}
    assert mismatches(name, bindings) == []


@pytest.mark.parametrize("name", sorted(SIZES))
def test_zoo_constraints_hold_at_test_sizes(name: str) -> None:
    """The sizes above satisfy the model's own constraints, and the smallest allowed size
    analyses while one below it is refused."""
    an = cnncalc.analyze(name)
    for c in an.constraints:
        if " >= " in c:
            sym, _, low = c.partition(" >= ")
            low_i = int(low)
            ok = {s: low_i if s == sym else 256 for s in an.symbols}
            cnncalc.analyze(name, ok)
            with pytest.raises(cnncalc.CnnCalcError):
                cnncalc.analyze(name, {**ok, sym: low_i - 1})
