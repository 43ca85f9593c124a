"""Tensor shape operations (permute, transpose, reshape, expand, split, chunk, slice, index):
shapes against torch, symbolic sizes, every refusal, receptive fields, validation in torch."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from test_arithmetic import L, net

import cnncalc
from cnncalc.errors import CnnCalcError
from cnncalc.report.tables import render

torch = pytest.importorskip("torch")


def _shapes(an: cnncalc.Analysis) -> Any:
    """The last layer's output shape, or its parts' shapes when it has several."""
    r = an.layers[-1]
    if r.output_shapes:
        return [tuple(s) for s in r.output_shapes]
    return tuple(r.output_shape)


def _torch_shapes(out: Any) -> Any:
    if isinstance(out, tuple):
        return [tuple(o.shape) for o in out]
    return tuple(out.shape)


# (id, input shape, layer, the same operation in torch)
TABLE: list[tuple[str, list[int], dict[str, Any], Callable[[Any], Any]]] = [
    ("permute-nhwc", [2, 3, 5, 7], L("permute", dims=[0, 2, 3, 1]),
     lambda x: x.permute(0, 2, 3, 1)),
    ("permute-neg", [2, 3, 5, 7, 4], L("permute", dims=[-1, 0, 2, 1, 3]),
     lambda x: x.permute(-1, 0, 2, 1, 3)),
    ("transpose", [2, 3, 5, 7], L("transpose", dim0=1, dim1=-1), lambda x: x.transpose(1, -1)),
    ("transpose-same", [2, 3, 5], L("transpose", dim0=2, dim1=-1),
     lambda x: x.transpose(2, -1)),
    ("reshape-tokens", [2, 6, 4, 5], L("reshape", shape=[2, 6, -1]),
     lambda x: x.reshape(2, 6, -1)),
    ("reshape-heads", [2, 10, 12], L("reshape", shape=[2, 10, 3, 4]),
     lambda x: x.reshape(2, 10, 3, 4)),
    ("reshape-lead-hole", [3, 4, 5], L("reshape", shape=[-1, 2, 5]),
     lambda x: x.reshape(-1, 2, 5)),
    ("reshape-ones", [2, 1, 6, 1], L("reshape", shape=[1, 2, 6]), lambda x: x.reshape(1, 2, 6)),
    ("expand-ones", [2, 1, 5, 1], L("expand", shape=[2, 4, -1, 3]),
     lambda x: x.expand(2, 4, -1, 3)),
    ("expand-lead", [1, 3, 1], L("expand", shape=[4, 2, -1, 3, 5]),
     lambda x: x.expand(4, 2, -1, 3, 5)),
    ("split-list", [2, 9, 4], L("split", dim=1, sizes=[2, 3, 4]),
     lambda x: x.split([2, 3, 4], 1)),
    ("split-size", [2, 9, 4], L("split", dim=-2, sizes=4), lambda x: x.split(4, -2)),
    ("split-size-even", [2, 8, 4], L("split", dim=1, sizes=4), lambda x: x.split(4, 1)),
    ("split-size-larger", [2, 3, 4], L("split", dim=1, sizes=7), lambda x: x.split(7, 1)),
    ("chunk", [2, 3, 10], L("chunk", chunks=3, dim=-1), lambda x: x.chunk(3, -1)),
    ("chunk-batch", [6, 3, 2], L("chunk", chunks=4), lambda x: x.chunk(4, 0)),
    ("slice-default", [2, 5, 7], L("slice", dim=1), lambda x: x[:, :]),
    ("slice-step", [2, 5, 7], L("slice", dim=2, start=1, end=6, step=2),
     lambda x: x[:, :, 1:6:2]),
    ("slice-neg", [2, 5, 7], L("slice", dim=-1, start=-4, end=-1), lambda x: x[..., -4:-1]),
    ("slice-clamped", [2, 5, 7], L("slice", dim=1, start=-50, end=50, step=3),
     lambda x: x[:, -50:50:3]),
    ("index", [2, 5, 7], L("index", dim=1, index=0), lambda x: x[:, 0]),
    ("index-neg", [2, 5, 7], L("index", dim=-1, index=-1), lambda x: x[..., -1]),
    ("index-batch", [3, 5, 7], L("index", dim=0, index=2), lambda x: x[2]),
]


@pytest.mark.parametrize(("shape", "layer", "fn"),
                         [pytest.param(s, lay, f, id=i) for i, s, lay, f in TABLE])
def test_shape_matches_torch(shape: list[int], layer: dict[str, Any],
                             fn: Callable[[Any], Any]) -> None:
    an = cnncalc.analyze(net(shape, layer))
    assert _shapes(an) == _torch_shapes(fn(torch.zeros(shape)))
    r = an.layers[-1]
    assert (r.params, r.macs, r.other_ops, r.aliases_input) == (0, 0, 0, True)


def _random_case(seed: int) -> tuple[list[int], dict[str, Any], Callable[[Any], Any]]:
    """A random shape of rank 3 to 5 and a random op on it, with the same op in torch."""
    rng = random.Random(seed)
    shape = [rng.randint(1, 6) for _ in range(rng.randint(3, 5))]
    r = len(shape)
    d = rng.randrange(-r, r)
    kind = seed % 7
    if kind == 0:
        dims = rng.sample(range(r), r)
        return shape, L("permute", dims=dims), lambda x: x.permute(dims)
    if kind == 1:
        a, b = rng.randrange(-r, r), rng.randrange(-r, r)
        return shape, L("transpose", dim0=a, dim1=b), lambda x: x.transpose(a, b)
    if kind == 2:
        flat = [n for n in shape]
        rng.shuffle(flat)
        hole = rng.randrange(r)
        new: list[int] = [-1 if i == hole else n for i, n in enumerate(flat)]
        return shape, L("reshape", shape=new), lambda x: x.reshape(new)
    if kind == 3:
        size = rng.randint(1, 7)
        return shape, L("split", dim=d, sizes=size), lambda x: x.split(size, d)
    if kind == 4:
        c = rng.randint(1, 7)
        return shape, L("chunk", dim=d, chunks=c), lambda x: x.chunk(c, d)
    if kind == 5:
        n = shape[d]
        a, b, st = rng.randrange(-n, n), rng.choice([None, *range(-n, n + 2)]), rng.randint(1, 3)
        if not range(*slice(a, b, st).indices(n)):
            a, b = 0, None
        return shape, L("slice", dim=d, start=a, end=b, step=st), \
            lambda x: x[(slice(None),) * (d % r) + (slice(a, b, st),)]
    i = rng.randrange(-shape[d], shape[d])
    return shape, L("index", dim=d, index=i), lambda x: x.select(d, i)


@pytest.mark.parametrize("seed", range(70))
def test_random_shapes_match_torch(seed: int) -> None:
    shape, layer, fn = _random_case(seed)
    an = cnncalc.analyze(net(shape, layer))
    assert _shapes(an) == _torch_shapes(fn(torch.zeros(shape))), (shape, layer)


@pytest.mark.parametrize("length", range(1, 13))
def test_chunk_part_count_is_torchs(length: int) -> None:
    """torch.chunk gives parts of ceil(L / chunks), so sometimes fewer than asked (5 in 4: 2, 2,
    1)."""
    for chunks in range(1, 6):
        an = cnncalc.analyze(net([1, length, 2], L("chunk", chunks=chunks, dim=1)))
        assert _shapes(an) == _torch_shapes(torch.zeros(1, length, 2).chunk(chunks, 1))


@pytest.mark.parametrize("length", range(1, 13))
def test_split_by_size_is_torchs(length: int) -> None:
    for size in range(1, 6):
        an = cnncalc.analyze(net([1, length, 2], L("split", sizes=size, dim=1)))
        assert _shapes(an) == _torch_shapes(torch.zeros(1, length, 2).split(size, 1))


@pytest.mark.parametrize("step", [1, 2, 3])
def test_slice_lengths_are_pythons(step: int) -> None:
    """Every start/end in -9..9 (and none) on an axis of 7: torch's length, or an error when
    torch's would be empty."""
    for start in range(-9, 10):
        for end in [None, *range(-9, 10)]:
            arch = net([1, 7, 2], L("slice", dim=1, start=start, end=end, step=step))
            n = torch.zeros(1, 7, 2)[:, start:end:step].shape[1]
            if n == 0:
                with pytest.raises(CnnCalcError, match="is empty; cnncalc sizes are >= 1"):
                    cnncalc.analyze(arch)
            else:
                assert cnncalc.analyze(arch).layers[-1].output_shape == (1, n, 2)


# --- symbolic sizes ------------------------------------------------------------------------------

def test_symbolic_reshape_hole_evaluates() -> None:
    arch = net(["N", 768, "H/16", "W/16"], L("reshape", shape=["N", 768, -1]),
               L("transpose", dim0=1, dim1=2))
    an = cnncalc.analyze(arch)
    assert [str(v) for v in an.layers[0].output_shape] == ["N", "768", "H*W/256"]
    bound = an.evaluate(N=2, H=224, W=160)
    assert bound.layers[-1].output_shape == (2, (224 // 16) * (160 // 16), 768)
    x = torch.zeros(2, 768, 224 // 16, 160 // 16)
    assert bound.layers[-1].output_shape == tuple(x.reshape(2, 768, -1).transpose(1, 2).shape)


def test_symbolic_hole_that_may_not_divide_is_a_constraint() -> None:
    """The batch cancels: what must divide is 4*C by 3."""
    an = cnncalc.analyze(net(["N", "C", 4], L("reshape", shape=["N", 3, -1])))
    assert str(an.layers[0].output_shape[2]) == "4*C/3"
    assert an.constraints == ["C mod 3 == 0"]
    assert an.evaluate(N=2, C=6).layers[0].output_shape == (2, 3, 6 * 4 // 3)


def test_symbolic_divisor_of_a_hole_is_not_held_to_1() -> None:
    """Found by the random search: the -1 axis ``12*H/S`` was taken as a product of sizes, each
    >= 1, so ``1/S >= 1`` gave the wrong constraint ``S in {1}`` (and refused networks where a
    divisor ``K + 1`` could not be 1)."""
    an = cnncalc.analyze(net([1, 12, "H"], L("reshape", shape=[-1, "S"]), symbols={"S": {}}))
    assert an.constraints[0] == "12*H/S >= 1"
    assert an.evaluate(H=2, S=6).layers[0].output_shape == (12 * 2 // 6, 6)
    an = cnncalc.analyze(net([1, "C", 6], L("reshape", shape=[1, -1, 1, "K + 1"]),
                             symbols={"K": {}}))
    assert an.evaluate(C=1, K=2).layers[0].output_shape == (1, 6 * 1 // (2 + 1), 1, 2 + 1)
    assert cnncalc.analyze(net([1, 1, 6], L("reshape", shape=[1, -1, 1, 3]))).layers[0] \
        .output_shape == (1, 6 // 3, 1, 3)


def test_symbolic_slice_numbers_clamp_as_pythons() -> None:
    """Found by the random search: ``x[:, :16]`` of a symbolic length C required C >= 16,
    though Python (torch, the bound analysis) keeps min(16, C); and an expression end past the
    axis was clamped when bound but refused symbolically (now refused in both)."""
    an = cnncalc.analyze(net([1, "C", 3], L("slice", dim=1, end=16)))
    assert an.constraints == []
    for c in (3, 20):
        want = tuple(torch.zeros(1, c, 3)[:, :16].shape)
        assert an.evaluate(C=c).layers[0].output_shape == (1, min(16, c), 3) == want
    an = cnncalc.analyze(net([1, "C", 3], L("slice", dim=1, start=-4)))
    assert an.evaluate(C=2).layers[0].output_shape == tuple(torch.zeros(1, 2, 3)[:, -4:].shape)
    assert an.evaluate(C=9).layers[0].output_shape == (1, 4, 3)
    with pytest.raises(CnnCalcError, match=r"end 4 is past the end of axis 1 \(length 3\)"):
        cnncalc.analyze(net([1, "C", 3], L("slice", dim=1, start=1, end="C+1")), {"C": 3})


def test_symbolic_reshape_regroups_when_bound() -> None:
    """Found by the random search: [1, C, H] to [1, S, -1] merges C and H unless S == C, which
    the free sizes leave open; evaluate kept the merged fields (the conv, reading every
    channel, then saw the whole input) where the bound analysis, S == C == 2, sees H apart."""
    arch = net([1, "C", "H"], L("reshape", shape=[1, "S", -1]),
               L("conv", out_channels=2, kernel_size=3, padding=1), symbols={"S": {}})
    an = cnncalc.analyze(arch)
    for b in ({"C": 2, "S": 2, "H": 5}, {"C": 2, "S": 1, "H": 5}, {"C": 4, "S": 2, "H": 5}):
        assert an.evaluate(**b).layers[-1].receptive_field == \
            cnncalc.analyze(arch, b).layers[-1].receptive_field, b
    rf = an.evaluate(C=2, S=2, H=5).layers[-1].receptive_field
    assert (rf.size, rf.stride, rf.start) == ((1 + (3 - 1),), (1,), (-1,))


def test_symbolic_negative_index_needs_the_length() -> None:
    """Found by the random search: x[-2] of a symbolic batch N had no constraint, so evaluate
    gave numbers at N = 1, where the bound analysis (and torch) refuse."""
    an = cnncalc.analyze(net(["N", "C", "L"], L("index", dim=0, index=-2)))
    assert an.constraints == ["N >= 2"]
    with pytest.raises(CnnCalcError, match="index -2 is out of range for axis 0 of length 1"):
        an.evaluate(N=1, C=1, L=3)
    assert an.evaluate(N=3, C=2, L=5).layers[0].output_shape == \
        tuple(torch.zeros(3, 2, 5)[-2].shape)


def test_symbolic_expand_of_an_axis_that_must_be_1() -> None:
    """Found by the random search: expanding an axis of size C to C + 1 was refused, though it
    is valid where C == 1 (the axis grows)."""
    arch = net([2, "C", "L"], L("expand", shape=[2, "C + 1", -1]))
    an = cnncalc.analyze(arch)
    assert an.constraints == ["C in {1}"]
    assert an.evaluate(C=1, L=3).layers[0].output_shape == \
        tuple(torch.zeros(2, 1, 3).expand(2, 1 + 1, -1).shape)
    with pytest.raises(CnnCalcError, match="only a size-1 axis can grow"):
        an.evaluate(C=2, L=3)
    # C to 2*C was refused ("2*C == C holds for no value of C"); C == 1 grows
    an = cnncalc.analyze(net([1, "C", 19], L("expand", shape=[3, "2*C", 19])))
    assert an.constraints == ["C in {1}"]
    assert an.evaluate(C=1).layers[0].output_shape == (3, 2 * 1, 19)
    an = cnncalc.analyze(net([1, "C", 19], L("expand", shape=[3, 4, 19])))
    assert an.constraints == ["C in {1, 4}"]


def test_symbolic_counts_that_may_differ_are_constraints() -> None:
    an = cnncalc.analyze(net([1, "C", "H"], L("reshape", shape=[1, "D", "H"]),
                             L("expand", shape=[1, "E", -1]),
                             L("split", name="s", dim=1, sizes=["A", "B"]),
                             L("relu", inputs=["s.1"]),
                             symbols={"A": {}, "B": {}, "D": {}, "E": {}}))
    text = " ; ".join(an.constraints)
    assert "reshape to [1, D, H]: D*H elements == the input's C*H" in text
    assert "expand: input axis 1 size D == E" in text
    assert "split sizes sum A + B == axis 1 length D" in text


def test_symbolic_chunks_that_divide_are_decided() -> None:
    an = cnncalc.analyze(net([1, "3*C", 4], L("chunk", chunks=3, dim=1)))
    assert [[str(v) for v in s] for s in an.layers[0].output_shapes] == [["1", "C", "4"]] * 3
    an = cnncalc.analyze(net([1, "2*C", 4], L("split", sizes="C", dim=1)))
    assert len(an.layers[0].output_shapes) == 2


# --- refusals --------------------------------------------------------------------------------

REFUSALS: list[tuple[str, list[Any], list[dict[str, Any]], str]] = [
    ("bad-permutation", [1, 2, 3, 4], [L("permute", dims=[0, 1, 1, 2])],
     r"dims \[0, 1, 1, 2\] is not a permutation of the axes 0..3 of an input of rank 4"),
    ("short-permutation", [1, 2, 3, 4], [L("permute", dims=[0, 2, 1])],
     "is not a permutation of the axes 0..3"),
    ("permute-out-of-range", [1, 2, 3], [L("permute", dims=[0, 3, 1])],
     r"dims entry 3 is out of range for an input of rank 3 \(give -3 to 2\)"),
    ("transpose-out-of-range", [1, 2, 3], [L("transpose", dim0=1, dim1=-4)],
     "dim1 -4 is out of range for an input of rank 3"),
    ("two-holes", [1, 2, 3], [L("reshape", shape=[-1, -1])],
     r"shape \[-1, -1\] has more than one -1; give at most one"),
    ("reshape-zero", [1, 2, 3], [L("reshape", shape=[0, 6])], "shape must be >= 1, got 0"),
    ("element-mismatch", [1, 2, 3], [L("reshape", shape=[1, 7])],
     rf"reshape to \[1, 7\] needs {1 * 7} elements, the input has {1 * 2 * 3}"),
    ("hole-not-dividing", [1, 2, 3], [L("reshape", shape=[1, 4, -1])],
     rf"reshape to \[1, 4, -1\] needs a multiple of {1 * 4} elements, the input has {2 * 3}"),
    ("expand-non-1", [1, 2, 3], [L("expand", shape=[1, 4, 3])],
     r"axis 1 of the input has size 2; only a size-1 axis can grow"),
    ("expand-fewer-axes", [1, 2, 3], [L("expand", shape=[2, 3])],
     "gives 2 axes, the input has rank 3; give at least 3"),
    ("expand-lead-keep", [1, 2, 3], [L("expand", shape=[-1, 1, 2, 3])],
     "-1 \\(keep\\) cannot be used for the new leading axis 0"),
    ("split-sum", [1, 5, 3], [L("split", dim=1, sizes=[2, 2])],
     rf"split sizes \[2, 2\] sum to {2 + 2}, but axis 1 has length 5"),
    ("split-symbolic-size", [1, "C", 3], [L("split", dim=1, sizes=2)],
     "the number of parts depends on the free sizes; give sizes as a list"),
    ("chunk-symbolic", [1, "C", 3], [L("chunk", dim=1, chunks=2)],
     "the number and sizes of the chunks depend on the free sizes"),
    ("split-too-many", [1, 10**6, 1], [L("split", dim=1, sizes=1)],
     f"{10**6} parts: at most 4096 are supported"),
    ("split-empty-list", [1, 5, 3], [L("split", dim=1, sizes=[])],
     "sizes: List should have at least 1 item"),
    ("split-dim", [1, 5, 3], [L("split", dim=3, sizes=[5])],
     "dim 3 is out of range for an input of rank 3"),
    ("slice-empty", [1, 5, 3], [L("slice", dim=1, start=4, end=2)],
     r"slice 4:2:1 of axis 1 \(length 5\) is empty"),
    ("slice-past-end", [1, "C", 3], [L("slice", dim=1, start=1, end="C+1")],
     r"slice 1:C\+1:1: end C \+ 1 is past the end of axis 1 \(length C\)"),
    ("slice-step-0", [1, 5, 3], [L("slice", dim=1, step=0)], "step must be >= 1, got 0"),
    ("slice-neg-expr", [1, "C", 3], [L("slice", dim=1, start="C-C-1")],
     "start must be >= 0, got -1"),
    ("slice-neg-expr-symbolic", [1, "C", 3], [L("slice", dim=1, start="1-C-C")],
     r"start >= 0: 1 - 2\*C >= 0 holds for no value of C"),
    ("index-range", [1, 5, 3], [L("index", dim=1, index=5)],
     "index 5 is out of range for axis 1 of length 5"),
    ("index-neg-range", [1, 5, 3], [L("index", dim=1, index=-6)],
     "index -6 is out of range for axis 1 of length 5"),
    ("index-expr-range", [1, "C", 3], [L("index", dim=1, index="C")],
     "index C is out of range for axis 1 of length C"),
    ("read-split-whole", [1, 4, 3], [L("split", name="s", dim=1, sizes=[1, 3]),
                                     L("relu", inputs=["s"])],
     "'s' has 2 outputs: read one of s.0, s.1"),
    ("read-split-part-missing", [1, 4, 3], [L("split", name="s", dim=1, sizes=[1, 3]),
                                            L("relu", inputs=["s.2"])],
     r"'s' has 2 outputs \(s.0, s.1\); there is no output 2"),
]


@pytest.mark.parametrize(("shape", "layers", "msg"),
                         [pytest.param(s, lay, m, id=i) for i, s, lay, m in REFUSALS])
def test_refusals(shape: list[Any], layers: list[dict[str, Any]], msg: str) -> None:
    with pytest.raises(CnnCalcError, match=msg):
        cnncalc.analyze(net(shape, *layers))


# --- receptive field -----------------------------------------------------------------------

def _rf(an: cnncalc.Analysis, i: int) -> dict[str, list[Any]]:
    return json.loads(json.dumps(an.to_dict()["layers"][i]["receptive_field"]))


CONV = L("conv", out_channels=4, kernel_size=3, padding=1)


def test_field_follows_permute_and_back() -> None:
    an = cnncalc.analyze(net([1, 3, 9, 8], CONV, L("permute", dims=[0, 3, 2, 1]),
                             L("permute", dims=[0, 3, 2, 1]),
                             L("conv", out_channels=2, kernel_size=3, stride=2)))
    k3 = {"size": [3, 3], "stride": [1, 1], "start": [-1, -1]}
    assert _rf(an, 1) == _rf(an, 2) == k3
    assert _rf(an, 3) == {"size": [3 + 2, 3 + 2], "stride": [2, 2], "start": [-1, -1]}


def test_transpose_moves_the_field_with_its_axis() -> None:
    """After swapping H and W a conv strided along the tensor's last axis strides input H."""
    an = cnncalc.analyze(net([1, 3, 9, 8], L("transpose", dim0=2, dim1=3),
                             L("conv", out_channels=2, kernel_size=[1, 3], stride=[1, 2])))
    assert _rf(an, 1) == {"size": [3, 1], "stride": [2, 1], "start": [0, 0]}


def test_merging_h_and_w_makes_the_field_undefined_then_whole() -> None:
    an = cnncalc.analyze(net([1, 3, "H", "W"], CONV, L("reshape", shape=[1, 4, -1]),
                             L("transpose", dim0=1, dim1=2), L("linear", out_features=5),
                             L("mean", dim=1)))
    undefined = {"size": [None, None], "stride": [None, None], "start": [None, None]}
    assert _rf(an, 1) == _rf(an, 2) == _rf(an, 3) == undefined
    assert _rf(an, 4) == {"size": ["H", "W"], "stride": ["H", "W"], "start": [0, 0]}
    rows = {ln.split()[0]: ln for ln in render(an).splitlines() if ln.strip()}
    assert "not defined" in rows["reshape1"]
    assert "not defined" not in rows["mean4"]


def test_linear_over_merged_tokens_is_whole() -> None:
    an = cnncalc.analyze(net([1, 3, 4, 6], CONV, L("reshape", shape=[1, -1]),
                             L("linear", out_features=2)))
    assert _rf(an, 2) == {"size": [4, 6], "stride": [4, 6], "start": [0, 0]}


def test_reshape_that_keeps_spatial_axes_keeps_fields() -> None:
    """Splitting the channels into groups and merging them back keeps H and W whole."""
    an = cnncalc.analyze(net([1, 6, 5, 7], CONV | {"out_channels": 6},
                             L("reshape", shape=[1, 2, 3, 5, 7]), L("reshape", shape=[1, 6, 5, 7]),
                             L("conv", out_channels=2, kernel_size=3)))
    assert _rf(an, 3) == {"size": [5, 5], "stride": [1, 1], "start": [-1, -1]}


def test_splitting_a_spatial_axis_makes_it_undefined() -> None:
    an = cnncalc.analyze(net([1, 3, 8, 6], L("reshape", shape=[1, 3, 2, 4, 6])))
    assert _rf(an, 0) == {"size": [None, 1], "stride": [None, 1], "start": [None, 0]}


def test_slice_and_split_shift_and_stride_the_field() -> None:
    an = cnncalc.analyze(net([1, 3, 12, 12], CONV, L("slice", dim=2, start=2, step=3),
                             L("split", name="s", dim=3, sizes=[5, 7]),
                             L("relu", inputs=["s.1"]), L("index", dim=2, index=1)))
    assert _rf(an, 1) == {"size": [3, 3], "stride": [1 * 3, 1], "start": [-1 + 2 * 1, -1]}
    assert _rf(an, 3) == {"size": [3, 3], "stride": [3, 1], "start": [1, -1 + 5 * 1]}
    assert _rf(an, 4) == {"size": [3, 3], "stride": [3, 1], "start": [1 + 1 * 3, 4]}


# --- in torch --------------------------------------------------------------------------------

EVERY_OP = net(
    [2, 3, "H", "W"],
    L("conv", name="stem", out_channels=8, kernel_size=3, padding=1),
    L("split", name="sp", dim=1, sizes=[4, 4]),
    L("add", name="sum", inputs=["sp.0", "sp.1"]),
    L("slice", name="crop", dim=3, start=1, step=2),
    L("conv", name="c2", out_channels=6, kernel_size=3),
    L("chunk", name="ch", chunks=2, dim=1),
    L("concat", name="cat", inputs=["ch.1", "ch.0"]),
    L("permute", name="nhwc", dims=[0, 2, 3, 1]),
    L("linear", name="fc", out_features=6),
    L("transpose", name="back", dim0=1, dim1=3),
    L("reshape", name="tokens", shape=["N", 6, -1]),
    L("index", name="first", dim=2, index=0),
    L("reshape", name="col", shape=["N", 6, 1]),
    L("expand", name="wide", shape=["N", -1, 4]),
    symbols={"N": {"description": "the batch, 2 in the input shape"}},
)


def test_every_op_validates_in_torch() -> None:
    r = cnncalc.validate(EVERY_OP, {"N": 2, "H": 9, "W": 12}, "cpu", repeats=0, threads=1,
                         rf=True)
    assert r.ok, r.mismatches
    measured = {c.name: c.rf.status for c in r.layers if c.rf is not None}
    assert measured["crop"] == measured["c2"] == measured["sum"] == "match"


def test_probe_measures_a_part_of_a_spatial_split_and_skips_after_moved_axes() -> None:
    arch = net([1, 3, "H", "W"], CONV, L("split", name="s", dim=3, sizes=[4, 8]),
               L("conv", name="right", out_channels=2, kernel_size=3, inputs=["s.1"]),
               L("transpose", name="t", dim0=2, dim1=3, inputs=["s.0"]),
               L("chunk", name="c", chunks=2, dim=1),
               L("conv", name="after", out_channels=2, kernel_size=3, inputs=["c.1"]))
    r = cnncalc.validate(arch, {"H": 10, "W": 12}, "cpu", repeats=0, threads=1, rf=True)
    assert r.ok, r.mismatches
    checks = {c.name: c.rf for c in r.layers if c.rf is not None}
    assert checks["right"].status == "match"
    assert checks["right"].measured == {"size": [3 + 2, 3 + 2], "stride": [1, 1],
                                        "start": [-1, -1 + 4 * 1]}
    assert checks["after"].status == "skipped"


def test_probe_skips_a_field_cut_by_a_parts_own_border() -> None:
    # Input length 5 split [3, 2]: a 3-wide padded conv on part 0 at the probe's position 2
    # (its field 1..3 fits the input) reads part 0's padding at 3: torch sees 2 pixels, the
    # field (ignoring borders, docs/conventions.md) is 3. Not a mismatch: a border clip.
    arch = net([1, 1, 5], L("split", name="s", dim=2, sizes=[3, 2]),
               L("conv", name="c", out_channels=1, kernel_size=3, padding=1, inputs=["s.0"]))
    r = cnncalc.validate(arch, {}, "cpu", repeats=0, threads=1, rf=True)
    assert r.ok, r.mismatches
    check = {c.name: c.rf for c in r.layers if c.rf is not None}["c"]
    assert check.status == "skipped"
    assert check.predicted["size"] == [3] and check.measured["size"] == [2]
    assert check.reason == "the field is clipped by the border of a split part at these sizes"


def test_torch_module_returns_the_parts() -> None:
    m = cnncalc.to_torch(net([1, 5, 3], L("chunk", name="c", chunks=4, dim=1)), {})
    assert [tuple(p.shape) for p in m(torch.zeros(1, 5, 3))] == [(1, 2, 3), (1, 2, 3), (1, 1, 3)]
