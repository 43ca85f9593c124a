"""The integer paths of the rules agree with the general ones.

A bound analysis takes shortcuts where every value is a number: a sliding window with one
kernel, stride, padding and dilation for all axes (:func:`cnncalc.layers.base.sliding_window`),
the union of merged receptive fields (:func:`cnncalc.layers.merge.union_fields`), equal
shapes in an element-wise merge. Each is checked here against the general path (per-axis
lists take it) or against the arithmetic written out.
"""

from __future__ import annotations

import itertools

import pytest

import cnncalc
from cnncalc.errors import CnnCalcError
from cnncalc.layers.base import Ctx, Note, RFAxis, Tensor, sliding_window
from cnncalc.layers.merge import union_fields


def _window(t: Tensor, k: object, s: object, p: object, d: object) -> tuple[object, list[Note]]:
    notes: list[Note] = []
    ctx = Ctx({}, "w", 3, t.shape[2:], notes)
    try:
        return sliding_window(t, ctx, k, s, p, d), notes  # type: ignore[arg-type]
    except CnnCalcError as e:
        return ("error", e.message), notes


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_window_on_ints_matches_per_axis_lists(nd: int) -> None:
    sizes = {1: [1, 2, 5, 8], 2: [1, 3, 6], 3: [2, 4]}[nd]
    for n, k, s, p, d in itertools.product(sizes, [1, 2, 3], [1, 2, 3], [0, 1, 2], [1, 2]):
        spatial = tuple(n + i for i in range(nd))  # axes of different lengths
        t = Tensor.network_input((1, 3, *spatial))
        fast = _window(t, k, s, p, d)
        general = _window(t, [k] * nd, [s] * nd, [p] * nd, [d] * nd)  # lists: no shortcut
        assert fast == general, (n, k, s, p, d)


def test_window_on_ints_written_out() -> None:
    """resnet's stem, a 7x7 stride-2 conv with padding 3 on 224x224: out = (224 + 6 - 7)//2
    + 1 = 112; field 1 + 6*1 = 7 pixels, stride 2, first pixel -3; the tile notes carry the
    span 224 + 6 - 7 = 223 and the stride."""
    t = Tensor.network_input((1, 3, 224, 224))
    (out, rf, k, pads), notes = _window(t, 7, 2, 3, 1)
    assert out == (112, 112)
    assert rf == (RFAxis(7, 2, -3),) * 2
    assert k == (7, 7) and pads == ((3, 3), (3, 3))
    assert [(n.kind, n.text, n.lhs, n.rhs) for n in notes] == [
        ("tile", "axis 0", 223, 2), ("tile", "axis 1", 223, 2)]


def test_window_refusals_are_the_general_ones() -> None:
    t = Tensor.network_input((1, 3, 4, 4))
    assert _window(t, 7, 1, 1, 1)[0] == ("error", "kernel (effective size 7) is larger than "
                                         "the padded input (6) along spatial axis 0")
    assert _window(t, 0, 1, 0, 1)[0] == ("error", "kernel_size must be >= 1, got 0")
    assert _window(t, 3, 1, -1, 1)[0] == ("error", "padding must be >= 0, got -1")


def test_union_of_number_fields() -> None:
    """A residual add in resnet: the main branch sees 19 pixels from -9, the shortcut 11 from
    -5, both stride 4 and centred on pixel 0: the union is 19 pixels from -9, no warning."""
    notes: list[Note] = []
    ctx = Ctx({}, "add", 0, (56, 56), notes)
    a, b = RFAxis(19, 4, -9), RFAxis(11, 4, -5)
    assert union_fields([(a, a), (b, b)], ctx) == (RFAxis(19, 4, -9),) * 2
    assert notes == []
    # centres 2*(-9) + 19 - 1 = 0 and 2*(-4) + 11 - 1 = 2 (pixel 1): warned; the union spans
    # -9 to max(-9 + 19, -4 + 11) = 10
    assert union_fields([(a,), (RFAxis(11, 4, -4),)], ctx) == (RFAxis(19, 4, -9),)
    assert [n.text for n in notes] == [
        "inputs' receptive fields have the same stride but are centred on input pixels "
        "['0', '1'] along input axis 0: merged positions do not look at the same pixels"]
    # strides 4 and 2: warned, the smallest kept
    notes.clear()
    assert union_fields([(a,), (RFAxis(3, 2, -1),)], ctx) == (RFAxis(19, 2, -9),)
    assert [n.text for n in notes] == [
        "inputs have receptive-field strides ['4', '2'] along input axis 0; the union uses "
        "the smallest"]


def test_bound_resnet50_matches_its_symbolic_analysis() -> None:
    """The bound analysis (integer paths) and the symbolic one evaluated at the same sizes
    (formulas) give the same per-layer results."""
    arch = cnncalc.load("resnet50")
    bound = cnncalc.analyze(arch, {"N": 2, "H": 200, "W": 232}).to_dict()
    evaluated = cnncalc.analyze(arch).evaluate(N=2, H=200, W=232).to_dict()
    assert bound["layers"] == evaluated["layers"]
    assert bound["totals"] == evaluated["totals"]
