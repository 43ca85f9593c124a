"""Every zoo model equals a PyTorch build of itself at several sizes, square and not."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import cnncalc
import cnncalc.zoo
from cnncalc.core.schema import Architecture

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


def _same(a: object, b: object, path: str = "$") -> None:
    """``a`` and ``b`` are equal value for value and type for type (``1`` is not ``1.0``, a
    list is not a tuple), models field by field with the same fields set."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, BaseModel):
        assert isinstance(b, BaseModel)
        assert a.model_fields_set == b.model_fields_set, path
        assert a.__pydantic_extra__ == b.__pydantic_extra__, path
        for k in type(a).model_fields:
            _same(getattr(a, k), getattr(b, k), f"{path}.{k}")
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", sorted(SIZES))
def test_zoo_models_built_without_validation_equal_validated_ones(name: str) -> None:
    """cnncalc.zoo.load builds its models with model_construct (the zoo is shipped, the
    validators of the layer union cost more than a bound analysis): what it builds must be
    what validation builds from the same JSON."""
    trusted = cnncalc.zoo.load(name)
    validated = Architecture.from_dict(cnncalc.zoo_json(name))
    _same(trusted, validated)
    assert trusted == validated
    assert trusted.canonical_json() == validated.canonical_json()


def test_the_comparison_sees_a_difference() -> None:
    data = cnncalc.zoo_json("lenet5")
    data["layers"][0]["kernel_size"] = 5.0  # what validation would refuse or convert
    with pytest.raises(AssertionError):
        _same(Architecture.from_trusted(data), cnncalc.zoo.load("lenet5"))


def test_zoo_descriptions_are_those_of_the_models() -> None:
    """`cnncalc zoo` reads descriptions from the JSON without validating it."""
    for name in cnncalc.zoo_names():
        assert cnncalc.zoo.description(name) == (cnncalc.zoo.load(name).description or "")
    assert cnncalc.zoo.description("resnet50").startswith("torchvision.models.resnet50")
