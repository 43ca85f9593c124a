"""Receptive fields of channel ranges: a concat along the channels remembers the field of each
input's channels, so that a split (chunk, slice, index) of the channels gets the field of the
channels it keeps, not the union of all. Expected fields are written out (a conv of kernel 3,
padding 1 on the input: size ``1 + (3 - 1) = 3``, start ``0 - 1 = -1``) and checked against the
autograd probe of ``cnncalc.validate`` where torch is installed."""

from __future__ import annotations

from typing import Any

import pytest

import cnncalc

CONV3 = {"type": "conv", "out_channels": 1, "kernel_size": 3, "padding": 1}
CONV1 = {"type": "conv", "out_channels": 1, "kernel_size": 1}


def _fields(arch: dict[str, Any], bindings: dict[str, int] | None = None
            ) -> dict[str, tuple[int, int, int]]:
    """Per layer name, (size, stride, start) along the one spatial axis."""
    an = cnncalc.analyze(arch, bindings)
    return {r.name: (r.receptive_field.size[0], r.receptive_field.stride[0],
                     r.receptive_field.start[0]) for r in an.layers}


def _probe_ok(arch: dict[str, Any]) -> None:
    pytest.importorskip("torch")
    report = cnncalc.validate(arch, None, "cpu", repeats=1, warmup=0, threads=1, rf=True)
    assert report.ok, report.to_table()
    assert any(c.rf is not None and c.rf.status == "match" for c in report.layers)


def _arch(middle: list[dict[str, Any]], sizes: list[int], length: int = 9,
          channels: int = 2) -> dict[str, Any]:
    """input [1, channels, length]; ``cat`` = concat(conv3 of 1 channel, the input); the
    ``middle`` layers; ``parts`` = split of the channels into ``sizes``; a 1x1 conv per part
    (``p0``, ``p1``...)."""
    layers: list[dict[str, Any]] = [
        {**CONV3, "name": "c3"},
        {"type": "concat", "name": "cat", "inputs": ["c3", "input"]},
        *middle,
        {"type": "split", "name": "parts", "sizes": sizes, "dim": 1},
        *({**CONV1, "name": f"p{j}", "inputs": [f"parts.{j}"]} for j in range(len(sizes))),
    ]
    return {"name": "segments", "input": {"shape": [1, channels, length]}, "layers": layers}


def test_split_of_a_concat_keeps_the_untouched_channels_field() -> None:
    """The case the differential test found: a split, one part convolved, concatenated back,
    split again; the never-convolved channel sees its own pixel only."""
    arch = {"name": "found", "input": {"shape": [1, 2, 4]}, "layers": [
        {"type": "split", "sizes": [1, 1], "dim": 1},
        {**CONV3, "name": "n1", "inputs": ["split0.0"]},
        {"type": "concat", "inputs": ["n1", "split0.1"]},
        {"type": "split", "name": "n3", "sizes": [1, 1], "dim": 1},
        {**CONV1, "name": "conv4", "inputs": ["n3.1"]},
        {**CONV1, "name": "conv5", "inputs": ["n3.0"]},
    ]}
    f = _fields(arch)
    assert f["conv4"] == (1, 1, 0)
    assert f["conv5"] == (3, 1, -1)
    assert f["concat2"] == (3, 1, -1)  # the tensor as a whole: the union
    _probe_ok(arch)


@pytest.mark.parametrize("middle", [[{"type": "relu", "name": "m"}],
                                    [{"type": "identity", "name": "m"}],
                                    [{"type": "batch_norm", "name": "m"},
                                     {"type": "dropout", "name": "m2"}]])
def test_pointwise_layers_keep_the_ranges(middle: list[dict[str, Any]]) -> None:
    arch = _arch(middle, [1, 2])
    f = _fields(arch)
    assert f["p0"] == (3, 1, -1)
    assert f["p1"] == (1, 1, 0)
    _probe_ok(arch)


def test_a_part_across_a_boundary_is_the_union() -> None:
    """Channels [conv, conv, x, x] split [1, 2, 1]: the middle part holds one of each."""
    arch = _arch([], [1, 2, 1], channels=2)
    arch["layers"][0] = {**CONV3, "name": "c3", "out_channels": 2}
    f = _fields(arch)
    assert f["p0"] == (3, 1, -1)
    assert f["p1"] == (3, 1, -1)  # union of size 3 start -1 and size 1 start 0
    assert f["p2"] == (1, 1, 0)
    _probe_ok(arch)


def test_pooling_applies_to_each_range() -> None:
    """max_pool k3 s1 p1 after the concat: conv channel 3 + 2 = 5 from -1 - 1 = -2; input
    channels 1 + 2 = 3 from -1."""
    arch = _arch([{"type": "max_pool", "name": "m", "kernel_size": 3, "stride": 1,
                   "padding": 1}], [1, 2], length=12)
    f = _fields(arch)
    assert f["p0"] == (5, 1, -2)
    assert f["p1"] == (3, 1, -1)
    _probe_ok(arch)


def test_avg_pool_with_stride_applies_to_each_range() -> None:
    """avg_pool k2 s2: conv channel 3 + 1 = 4 stride 2 from -1; input 1 + 1 = 2 stride 2
    from 0."""
    arch = _arch([{"type": "avg_pool", "name": "m", "kernel_size": 2}], [1, 2], length=16)
    f = _fields(arch)
    assert f["p0"] == (4, 2, -1)
    assert f["p1"] == (2, 2, 0)
    _probe_ok(arch)


def test_elementwise_merge_unions_per_channel() -> None:
    """cat + relu(cat): each channel range merged with itself keeps its field; cat + a conv
    of it (which sees every channel) is that conv's field everywhere."""
    arch = _arch([{"type": "relu", "name": "r"},
                  {"type": "add", "name": "m", "inputs": ["r", "cat"]}], [1, 2])
    f = _fields(arch)
    assert (f["p0"], f["p1"]) == ((3, 1, -1), (1, 1, 0))
    _probe_ok(arch)
    arch = _arch([{**CONV1, "name": "q", "out_channels": 3},
                  {"type": "add", "name": "m", "inputs": ["q", "cat"]}], [1, 2])
    f = _fields(arch)
    assert (f["p0"], f["p1"]) == ((3, 1, -1), (3, 1, -1))
    _probe_ok(arch)


def test_concat_of_a_concat_flattens_and_chunk_cuts() -> None:
    """concat(cat, input): ranges [conv 1, x 2, x 2] -> [conv 1, x 4]; chunk 5 channels in
    2 parts of 3 and 2."""
    arch = {"name": "nested", "input": {"shape": [1, 2, 9]}, "layers": [
        {**CONV3, "name": "c3"},
        {"type": "concat", "name": "cat", "inputs": ["c3", "input"]},
        {"type": "concat", "name": "cat2", "inputs": ["cat", "input"]},
        {"type": "chunk", "name": "parts", "chunks": 2, "dim": 1},
        {**CONV1, "name": "p0", "inputs": ["parts.0"]},
        {**CONV1, "name": "p1", "inputs": ["parts.1"]},
    ]}
    f = _fields(arch)
    assert (f["p0"], f["p1"]) == ((3, 1, -1), (1, 1, 0))
    _probe_ok(arch)


def test_slice_and_index_of_the_channels() -> None:
    """Channels [conv, x, x]: ``[:, 1:]`` and ``[:, ::2]`` (conv and x: the union),
    ``select(1, 2)``; a conv of one channel (k3 p1) widens each by 2."""
    def arch(layer: dict[str, Any]) -> dict[str, Any]:
        return {"name": "sl", "input": {"shape": [1, 2, 9]}, "layers": [
            {**CONV3, "name": "c3"},
            {"type": "concat", "name": "cat", "inputs": ["c3", "input"]},
            {**layer, "name": "s"},
        ]}
    assert _fields(arch({"type": "slice", "dim": 1, "start": 1}))["s"] == (1, 1, 0)
    assert _fields(arch({"type": "slice", "dim": 1, "start": 1, "step": 2}))["s"] == (1, 1, 0)
    assert _fields(arch({"type": "slice", "dim": 1, "step": 2}))["s"] == (3, 1, -1)
    assert _fields(arch({"type": "index", "dim": 1, "index": 2}))["s"] == (1, 1, 0)
    assert _fields(arch({"type": "index", "dim": 1, "index": -3}))["s"] == (3, 1, -1)


def test_a_conv_ends_the_ranges() -> None:
    """A conv over every channel sees the union: its output has one field."""
    arch = _arch([{**CONV1, "name": "q", "out_channels": 3}], [1, 2])
    f = _fields(arch)
    assert (f["p0"], f["p1"]) == ((3, 1, -1), (3, 1, -1))
    _probe_ok(arch)


def test_symbolic_channels_agree_with_the_bound_analysis() -> None:
    """Input channels ``C``: the ranges [1, C] are cut by the sizes [1, C] exactly; sizes
    [2, C - 1] depend on C, so evaluate() analyses again and agrees with the bound run."""
    def arch(sizes: list[Any]) -> dict[str, Any]:
        a = _arch([], sizes)
        a["input"]["shape"] = [1, "C", 9]
        return a
    sym = cnncalc.analyze(arch([1, "C"]))
    f = {r.name: (r.receptive_field.size[0], r.receptive_field.start[0]) for r in sym.layers}
    assert (f["p0"], f["p1"]) == ((3, -1), (1, 0))
    for c in (2, 3):
        bound = _fields(arch([2, "C - 1"]), {"C": c})
        assert (bound["p0"], bound["p1"]) == ((3, 1, -1), (1, 1, 0))
        ev = cnncalc.analyze(arch([2, "C - 1"])).evaluate(C=c)
        got = {r.name: (r.receptive_field.size[0], r.receptive_field.stride[0],
                        r.receptive_field.start[0]) for r in ev.layers}
        assert got == bound


def _ctx() -> Any:
    from cnncalc.layers.base import Ctx
    return Ctx({}, "t", 0, (9,), [])


def test_helpers_for_shuffles_and_grouped_windows() -> None:
    """``shuffled_segments``: channels [a, a, b, b] in 2 groups become [a, b, a, b];
    ``window_segments`` with 2 groups: each group's 3 outputs see its window (k3 p1: size
    + 2, start - 1)."""
    from cnncalc.layers.base import RFAxis, Tensor
    from cnncalc.layers.merge import shuffled_segments, window_segments
    a, b = (RFAxis(3, 1, -1),), (RFAxis(1, 1, 0),)
    t = Tensor((1, 4, 9), a, ((), (), (0,)), ((2, a), (2, b)))
    assert shuffled_segments(t, 2, _ctx()) == ((1, a), (1, b), (1, a), (1, b))
    assert shuffled_segments(t, 1, _ctx()) == t.segments
    got = window_segments(t, _ctx(), (3,), 1, 1, ((1, 1),), groups=2, out_channels=6)
    assert got == ((3, (RFAxis(5, 1, -2),)), (3, (RFAxis(3, 1, -1),)))
    assert window_segments(t, _ctx(), (3,), 1, 1, ((1, 1),), groups=1, out_channels=6) is None
    assert window_segments(t, _ctx(), (2,), 2, 1, ((0, 0),)) == (
        (2, (RFAxis(4, 2, -1),)), (2, (RFAxis(2, 2, 0),)))


def test_pad_shifts_each_range() -> None:
    """pad 2 before, 1 after: each range starts 2 earlier (conv: -1 - 2 = -3; input: 0 - 2)."""
    arch = _arch([{"type": "pad", "name": "m", "padding": [[2, 1]]}], [1, 2])
    f = _fields(arch)
    assert f["p0"] == (3, 1, -3)
    assert f["p1"] == (1, 1, -2)
    _probe_ok(arch)


def test_channel_shuffle_moves_the_ranges() -> None:
    """Channels [conv, conv, x, x] shuffled in 2 groups of 2 become [conv, x, conv, x]
    (output j is input (j mod 2)*2 + j // 2); split [1, 1, 2]: conv, x, then both."""
    arch = _arch([{"type": "channel_shuffle", "name": "m", "groups": 2}], [1, 1, 2])
    arch["layers"][0] = {**CONV3, "name": "c3", "out_channels": 2}
    f = _fields(arch)
    assert f["p0"] == (3, 1, -1)
    assert f["p1"] == (1, 1, 0)
    assert f["p2"] == (3, 1, -1)
    _probe_ok(arch)


def test_a_grouped_conv_sees_its_groups_channels() -> None:
    """Channels [conv, x] through a 1x1 conv of 2 groups (2 outputs): output 0 sees the conv
    channel (3 from -1), output 1 the input channel (1 from 0)."""
    arch = _arch([{"type": "conv", "name": "m", "out_channels": 2, "kernel_size": 1,
                   "groups": 2}], [1, 1], channels=1)
    f = _fields(arch)
    assert f["p0"] == (3, 1, -1)
    assert f["p1"] == (1, 1, 0)
    _probe_ok(arch)
