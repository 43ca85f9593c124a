"""matmul, attention, multihead_attention, parameter, opaque and layer_norm over ``dims``,
checked against PyTorch: output shapes, params (numel of the built modules), MACs
(FlopCounterMode / 2), the errors, and the receptive field after attention over tokens.

On CPU, FlopCounterMode counts PyTorch's fused attention kernels as 0 FLOPs; the MAC checks run
under :func:`cnncalc.pytorch.builders_attention.counted_attention` (math kernels, plain matrix
products), and ``test_fused_kernels_are_not_counted`` shows what it counts without.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_arithmetic import L, net

import cnncalc
from cnncalc.errors import CnnCalcError
from cnncalc.layers import Attention, Ctx, MultiheadAttention, Tensor
from cnncalc.layers.tensor import UNDEFINED, RFAxis
from cnncalc.report.tables import plain, render

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnncalc.pytorch.build import build  # noqa: E402
from cnncalc.pytorch.builders_attention import counted_attention  # noqa: E402


def _inputs(*shapes: list[Any]) -> list[dict[str, Any]]:
    """Layers that make tensors of ``shapes`` from a network input of [1, 1, 1]: parameters."""
    return [L("parameter", name=f"x{i}", shape=s) for i, s in enumerate(shapes)]


def _torch_counts(arch: dict[str, Any], bindings: dict[str, int] | None = None,
                  counted: bool = True) -> tuple[Any, Any, dict[str, tuple[int, ...]], int]:
    """cnncalc's analysis, the built module, the real output shape per layer and the real
    MACs (FlopCounterMode / 2) of the whole network."""
    an = cnncalc.analyze(arch, bindings)
    m = build(an)
    shapes: dict[str, tuple[int, ...]] = {}
    for r in an.layers:
        m.layer(r.name).register_forward_hook(
            lambda mod, i, o, name=r.name: shapes.__setitem__(name, tuple(o.shape)))
    x = torch.randn(*[int(v) for v in an.input_shape])
    with torch.inference_mode():
        if counted:
            with counted_attention(), FlopCounterMode(display=False) as fc:
                m(x)
        else:
            with FlopCounterMode(display=False) as fc:
                m(x)
    return an, m, shapes, fc.get_total_flops() // 2


def _check(arch: dict[str, Any], bindings: dict[str, int] | None = None) -> Any:
    an, m, shapes, macs = _torch_counts(arch, bindings)
    for r in an.layers:
        assert tuple(r.output_shape) == shapes[r.name], r.name
        assert r.params == sum(p.numel() for p in m.layer_parameters(r.name)), r.name
        if r.work:  # the GEMMs the cost models see add up to the MACs
            assert sum(w.macs() for w in r.work) == r.macs, r.name
    assert an.totals.params == sum(p.numel() for p in m.parameters())
    assert an.totals.macs == macs
    return an


# --- matmul ------------------------------------------------------------------------------------

MATMUL = [  # (id, a, b, output shape, MACs)
    ("2d", [5, 3], [3, 7], (5, 7), 5 * 3 * 7),
    ("batched", [2, 5, 3], [2, 3, 4], (2, 5, 4), 2 * 5 * 3 * 4),
    ("broadcast-rank", [2, 4, 5, 3], [4, 3, 7], (2, 4, 5, 7), 2 * 4 * 5 * 3 * 7),
    ("broadcast-one", [2, 1, 5, 3], [1, 4, 3, 7], (2, 4, 5, 7), 2 * 4 * 5 * 3 * 7),
    ("matrix-times-batch", [6, 3], [2, 3, 2], (2, 6, 2), 2 * 6 * 3 * 2),
]


@pytest.mark.parametrize(("a", "b", "shape", "macs"),
                         [pytest.param(*c[1:], id=c[0]) for c in MATMUL])
def test_matmul_matches_torch(a: list[int], b: list[int], shape: tuple[int, ...],
                              macs: int) -> None:
    arch = net([1, 1, 1], *_inputs(a, b), L("matmul", name="mm", inputs=["x0", "x1"]))
    an = _check(arch)
    r = an.layers[-1]
    assert tuple(r.output_shape) == shape
    assert r.macs == macs
    assert r.params == 0


def test_matmul_symbolic_batch_is_a_constraint() -> None:
    arch = net([1, 1, 1], *_inputs(["B", 5, 3], ["C", 3, 2]),
               L("matmul", name="mm", inputs=["x0", "x1"]), symbols={"B": {}, "C": {}})
    an = cnncalc.analyze(arch)
    assert [c.split(" (")[0] for c in an.constraints] == ["B == C"]
    assert cnncalc.analyze(arch, {"B": 4, "C": 4}).layers[-1].macs == 4 * 5 * 3 * 2
    with pytest.raises(CnnCalcError, match="broadcast"):
        cnncalc.analyze(arch, {"B": 4, "C": 3})


# --- attention ----------------------------------------------------------------------------------

ATTENTION = [  # (id, q, k, v, fields, output shape, MACs)
    ("heads", [2, 4, 5, 8], [2, 4, 6, 8], [2, 4, 6, 8], {}, (2, 4, 5, 8),
     2 * 4 * 5 * 6 * (8 + 8)),
    ("value-width", [2, 4, 5, 8], [2, 4, 6, 8], [2, 4, 6, 3], {"scale": 0.5}, (2, 4, 5, 3),
     2 * 4 * 5 * 6 * (8 + 3)),
    ("causal", [1, 2, 5, 4], [1, 2, 5, 4], [1, 2, 5, 4], {"is_causal": True}, (1, 2, 5, 4),
     1 * 2 * 5 * 5 * (4 + 4)),
    ("2d", [5, 8], [6, 8], [6, 3], {}, (5, 3), 5 * 6 * (8 + 3)),
    ("broadcast", [3, 2, 5, 8], [1, 2, 6, 8], [1, 2, 6, 3], {}, (3, 2, 5, 3),
     3 * 2 * 5 * 6 * (8 + 3)),
]


@pytest.mark.parametrize(("q", "k", "v", "fields", "shape", "macs"),
                         [pytest.param(*c[1:], id=c[0]) for c in ATTENTION])
def test_attention_matches_torch(q: list[int], k: list[int], v: list[int],
                                 fields: dict[str, Any], shape: tuple[int, ...],
                                 macs: int) -> None:
    arch = net([1, 1, 1], *_inputs(q, k, v),
               L("attention", name="att", inputs=["x0", "x1", "x2"], **fields))
    an = _check(arch)
    r = an.layers[-1]
    assert tuple(r.output_shape) == shape
    assert r.macs == macs
    scores = macs // (q[-1] + v[-1])
    assert r.other_ops == 4 * scores  # scale 1 and softmax 3 per score


def test_attention_output_equals_torch() -> None:
    arch = net([1, 1, 1], *_inputs([2, 3, 5, 4], [2, 3, 6, 4], [2, 3, 6, 2]),
               L("attention", name="att", inputs=["x0", "x1", "x2"], scale=0.3, is_causal=True))
    m = cnncalc.to_torch(arch)
    q, k, v = (m.layer(f"x{i}").weight for i in range(3))
    with torch.no_grad():
        want = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=0.3,
                                                                is_causal=True)
        assert torch.allclose(m(torch.zeros(1, 1, 1)), want)


# --- multihead_attention -----------------------------------------------------------------------

E, HEADS, SEQ, BATCH = 16, 4, 5, 2


def _mha_macs(n: int, seq: int, e: int) -> int:
    """In-projection, scores, weighted sum, out-projection."""
    return n * (seq * e * 3 * e + seq * seq * e + seq * seq * e + seq * e * e)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_multihead_attention_matches_torch(batch_first: bool, bias: bool) -> None:
    shape = [BATCH, SEQ, E] if batch_first else [SEQ, BATCH, E]
    arch = net(shape, L("multihead_attention", name="mha", num_heads=HEADS, bias=bias,
                        batch_first=batch_first))
    an = _check(arch)
    r = an.layers[0]
    assert tuple(r.output_shape) == tuple(shape)
    assert r.params == 4 * E * E + (4 * E if bias else 0)
    assert r.macs == _mha_macs(BATCH, SEQ, E)
    assert r.other_ops == 4 * BATCH * HEADS * SEQ * SEQ + (4 * BATCH * SEQ * E if bias else 0)


def test_multihead_attention_output_equals_torch_self_attention() -> None:
    arch = net([BATCH, SEQ, E], L("multihead_attention", name="mha", num_heads=HEADS,
                                  batch_first=True))
    m = cnncalc.to_torch(arch)
    ref = torch.nn.MultiheadAttention(E, HEADS, batch_first=True).eval()
    ref.load_state_dict(m.layer("mha").state_dict())
    x = torch.randn(BATCH, SEQ, E)
    with torch.no_grad():
        assert torch.allclose(m(x), ref(x, x, x, need_weights=False)[0], atol=1e-6)


def test_multihead_attention_as_torchvision_vit() -> None:
    """torchvision's ViT encoder block calls ``self_attention(x, x, x, need_weights=False)``:
    the built layer takes its weights and gives its output."""
    from cnncalc.pytorch.tvshim import declare_torchvision_ops

    declare_torchvision_ops()  # torchvision's compiled ops may not match this torch build
    vt = pytest.importorskip("torchvision.models.vision_transformer")
    block = vt.EncoderBlock(HEADS, E, 32, 0.0, 0.0).eval()
    arch = net([BATCH, SEQ, E], L("multihead_attention", name="self_attention",
                                  num_heads=HEADS, batch_first=True))
    m = cnncalc.to_torch(arch)
    m.layer("self_attention").load_state_dict(block.self_attention.state_dict())
    x = torch.randn(BATCH, SEQ, E)
    with torch.no_grad():
        want, _ = block.self_attention(x, x, x, need_weights=False)
        assert torch.allclose(m(x), want, atol=1e-6)


def test_fused_kernels_are_not_counted() -> None:
    """What FlopCounterMode counts on CPU without counted_attention: nothing for the fused
    attention kernels, so cnncalc's MACs (the real work) are more than it prints."""
    arch = net([BATCH, SEQ, E], L("multihead_attention", name="mha", num_heads=HEADS,
                                  batch_first=True))
    an, _, _, macs = _torch_counts(arch, counted=False)
    assert macs == 0  # the fast path _native_multi_head_attention has no FLOP formula
    assert an.totals.macs == _mha_macs(BATCH, SEQ, E)
    arch = net([SEQ, BATCH, E], L("multihead_attention", name="mha", num_heads=HEADS))
    an, _, _, macs = _torch_counts(arch, counted=False)
    # batch second: no fast path; the projections are counted, the attention (the flash
    # kernel _scaled_dot_product_flash_attention_for_cpu) is not
    assert macs == BATCH * (SEQ * E * 3 * E + SEQ * E * E)
    assert an.totals.macs == macs + BATCH * 2 * SEQ * SEQ * E
    arch = net([1, 1, 1], *_inputs([2, 4, 5, 8], [2, 4, 6, 8], [2, 4, 6, 8]),
               L("attention", name="att", inputs=["x0", "x1", "x2"]))
    assert _torch_counts(arch, counted=False)[3] == 0  # flash kernel: E == Ev


# --- parameter ----------------------------------------------------------------------------------

def test_class_token_and_position_embedding_as_vit() -> None:
    """A class token concatenated before the tokens, a position embedding added (ViT)."""
    arch = net([1, SEQ, E],
               L("parameter", name="cls", shape=[1, 1, E], inputs=[]),
               L("concat", name="cat", dim=1, inputs=["cls", "input"]),
               L("parameter", name="pos", shape=[1, SEQ + 1, E]),
               L("add", name="embed", inputs=["cat", "pos"]),
               L("multihead_attention", name="mha", num_heads=HEADS, batch_first=True))
    an = _check(arch)
    by = {r.name: r for r in an.layers}
    assert by["cls"].params == E and by["cls"].inputs == []
    assert by["pos"].params == (SEQ + 1) * E
    assert tuple(by["embed"].output_shape) == (1, SEQ + 1, E)
    assert an.totals.params == E + (SEQ + 1) * E + 4 * E * E + 4 * E


@pytest.mark.parametrize("shape", [["C", 1, 1], [1, "C", 1, 1]])
def test_parameter_symbolic_shape_and_layer_scale(shape: list[Any]) -> None:
    arch = net(["N", "C", "H", "W"], L("parameter", name="gamma", shape=shape),
               L("mul", name="scaled", inputs=["input", "gamma"]))
    an = cnncalc.analyze(arch)
    assert str(an.layers[0].params) == "C"
    assert an.layers[1].receptive_field.size == (1, 1)  # the parameter's empty field is ignored
    _check(arch, {"N": 2, "C": 3, "H": 4, "W": 5})


def test_parameter_first_keeps_a_length_1_axis_field() -> None:
    """Found by the random search: ``p + x`` along an axis of length 1 lost the axis (the field
    then stopped growing) where ``x + p`` kept it; a conv of kernel 3, padding 1 after either
    sees 3 positions from -1, as without the parameter."""
    for ins in (["input", "p"], ["p", "input"]):
        arch = net([1, 2, 1], L("parameter", name="p", shape=[1, 2, 1], inputs=[]),
                   L("add", inputs=ins), L("conv", out_channels=2, kernel_size=3, padding=1))
        rf = cnncalc.analyze(arch).layers[-1].receptive_field
        assert (rf.size, rf.start) == ((3,), (-1,)), ins


# --- opaque -------------------------------------------------------------------------------------

def test_opaque_marks_totals_incomplete_and_cannot_be_built() -> None:
    arch = net([1, 3, 8, 8], L("conv", name="c", out_channels=4, kernel_size=3, padding=1),
               L("opaque", name="roll", op="torch.roll", shape=[1, 4, 8, 8]),
               L("conv", name="d", out_channels=2, kernel_size=1))
    an = cnncalc.analyze(arch)
    roll = an.layers[1]
    assert roll.opaque and roll.params == roll.macs == roll.other_ops == 0
    assert roll.receptive_field.size == (None, None)
    assert an.totals.incomplete == ("roll",)
    assert an.totals.macs == 8 * 8 * 4 * 9 * 3 + 8 * 8 * 2 * 4
    assert "incomplete: counts of opaque layers roll are unknown" in plain(an)
    assert "- *incomplete: counts of opaque layers roll are unknown*" in render(an, "markdown")
    with pytest.raises(CnnCalcError, match=r"opaque layer \(torch.roll\) cannot be built"):
        cnncalc.to_torch(arch)


# --- layer_norm over dims -----------------------------------------------------------------------

class LayerNorm2d(torch.nn.LayerNorm):
    """timm's LayerNorm2d: permute to NHWC, layer-norm the channels, permute back."""

    def forward(self, x: Any) -> Any:
        x = x.permute(0, 2, 3, 1)
        x = torch.nn.functional.layer_norm(x, self.normalized_shape, self.weight, self.bias,
                                           self.eps)
        return x.permute(0, 3, 1, 2)


def test_layer_norm_dims_channels_equals_timm_layer_norm_2d() -> None:
    arch = net([2, 6, 4, 5], L("layer_norm", name="ln", dims=[1], eps=1e-6))
    an = _check(arch)
    assert an.layers[0].params == 2 * 6
    m = cnncalc.to_torch(arch)
    ref = LayerNorm2d(6, eps=1e-6)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    m.layer("ln").load_state_dict(ref.state_dict())
    x = torch.randn(2, 6, 4, 5)
    with torch.no_grad():
        assert torch.allclose(m(x), ref(x), atol=1e-6)


@pytest.mark.parametrize(("dims", "params"), [([-2, -1], 2 * 4 * 5), ([1, 3], 2 * 6 * 5),
                                              ([3, 1], 2 * 5 * 6)])
def test_layer_norm_dims_params(dims: list[int], params: int) -> None:
    arch = net([2, 6, 4, 5], L("layer_norm", name="ln", dims=dims))
    an = _check(arch)
    assert an.layers[0].params == params
    m = cnncalc.to_torch(arch)
    if dims == [-2, -1]:
        assert type(m.layer("ln")) is torch.nn.LayerNorm  # trailing axes: plain nn.LayerNorm
    x = torch.randn(2, 6, 4, 5)
    axes = [d % 4 for d in dims]
    mean = x.mean(dim=axes, keepdim=True)
    var = x.var(dim=axes, unbiased=False, keepdim=True)
    with torch.no_grad():
        assert torch.allclose(m(x), (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5)


# --- errors -------------------------------------------------------------------------------------

ERRORS = [  # (id, arch, message)
    ("matmul-inner", net([1, 1, 1], *_inputs([5, 3], [4, 7]),
                         L("matmul", inputs=["x0", "x1"])), r"inner sizes .* 3 != 4"),
    ("matmul-vector", net([1, 1, 1], *_inputs([5, 3], [3]), L("matmul", inputs=["x0", "x1"])),
     "rank 2 or more"),
    ("matmul-batch", net([1, 1, 1], *_inputs([2, 5, 3], [3, 3, 4]),
                         L("matmul", inputs=["x0", "x1"])), "does not broadcast"),
    ("matmul-one-input", net([1, 3, 4], L("matmul")), "takes 2 input"),
    ("attention-embed", net([1, 1, 1], *_inputs([5, 8], [6, 4], [6, 4]),
                            L("attention", inputs=["x0", "x1", "x2"])), "embedding"),
    ("attention-tokens", net([1, 1, 1], *_inputs([5, 8], [6, 8], [7, 4]),
                             L("attention", inputs=["x0", "x1", "x2"])), "numbers of tokens"),
    ("mha-heads", net([2, 5, 16], L("multihead_attention", num_heads=3)),
     "num_heads must divide the embedding size"),
    ("mha-rank", net([2, 5, 4, 16], L("multihead_attention", num_heads=4)), "got rank 4"),
    ("parameter-inputs", net([1, 3, 4], L("parameter", shape=[1], inputs=["input"])),
     "at most 0 items"),
    ("ln-both", net([1, 3, 4], L("layer_norm", dims=[1], normalized_dims=1)),
     "at most one of normalized_dims and dims"),
    ("ln-dims-batch", net([1, 3, 4], L("layer_norm", dims=[0])), "batch axis"),
    ("ln-dims-range", net([1, 3, 4], L("layer_norm", dims=[3])), "out of range"),
    ("ln-dims-twice", net([1, 3, 4], L("layer_norm", dims=[1, -2])), "twice"),
]


@pytest.mark.parametrize(("arch", "message"), [pytest.param(a, m, id=i) for i, a, m in ERRORS])
def test_errors(arch: dict[str, Any], message: str) -> None:
    with pytest.raises(CnnCalcError, match=message):
        cnncalc.analyze(arch)


def test_mha_symbolic_heads_is_a_constraint() -> None:
    arch = net([1, "L", "E"], L("multihead_attention", num_heads=4, batch_first=True))
    an = cnncalc.analyze(arch)
    assert an.constraints == ["E mod 4 == 0"]
    bound = cnncalc.analyze(arch, {"L": 3, "E": 8}).layers[0]
    assert bound.params == 4 * 8 * 8 + 4 * 8
    assert bound.macs == _mha_macs(1, 3, 8)
    with pytest.raises(CnnCalcError, match="num_heads must divide"):
        cnncalc.analyze(arch, {"L": 3, "E": 6})


# --- receptive field ----------------------------------------------------------------------------

def _ctx(extent: tuple[int, ...]) -> Ctx:
    return Ctx({}, "att", 0, extent, [])


def test_attention_over_tokens_of_h_and_w_sees_the_whole_input() -> None:
    """Tokens made of input axes H and W (a reshape merged them: fields undefined); every
    output of attention reads all tokens, so both fields become the whole input."""
    h, w = 6, 8
    tokens = Tensor(shape=(2, 4, h * w, 16), rf=(UNDEFINED, UNDEFINED),
                    axes=((), (), (0, 1), ()))
    out = Attention(type="attention").apply([tokens] * 3, _ctx((h, w)))
    assert out.rf == (RFAxis(h, h, 0, whole=True), RFAxis(w, w, 0, whole=True))
    assert out.axes == ((), (), (0, 1), ())
    x = Tensor(shape=(2, h * w, 16), rf=(UNDEFINED, UNDEFINED), axes=((), (0, 1), ()))
    mha = MultiheadAttention(type="multihead_attention", num_heads=4, batch_first=True)
    out = mha.apply([x], _ctx((h, w)))
    assert out.rf == (RFAxis(h, h, 0, whole=True), RFAxis(w, w, 0, whole=True))


def test_matmul_field_is_the_union_of_rows_and_columns() -> None:
    """Two tensors made from one (rows of ``a`` are input axis 0, columns of ``b`` input
    axis 1): the output keeps both as its axes and their fields; a contraction axis made of an
    input axis makes it whole."""
    from cnncalc.layers import Matmul

    rf = (RFAxis(3, 1, -1), RFAxis(5, 2, 0))
    a = Tensor(shape=(1, 6, 4), rf=rf, axes=((), (0,), ()))
    b = Tensor(shape=(1, 4, 8), rf=rf, axes=((), (), (1,)))
    out = Matmul(type="matmul").apply([a, b], _ctx((6, 8)))
    assert out.shape == (1, 6, 8)
    assert out.axes == ((), (0,), (1,))
    assert out.rf == rf
    b2 = Tensor(shape=(1, 8, 4), rf=rf, axes=((), (1,), ()))
    a2 = Tensor(shape=(1, 6, 8), rf=rf, axes=((), (0,), ()))
    out = Matmul(type="matmul").apply([a2, b2], _ctx((6, 8)))
    assert out.rf == (RFAxis(3, 1, -1), RFAxis(8, 8, 0, whole=True))
    assert out.axes == ((), (0,), ())


def test_vit_tokens_from_a_patch_conv_see_the_whole_input() -> None:
    """Patches -> tokens (a reshape merges H and W: fields undefined) -> attention: whole."""
    arch = net([2, 3, "H", "W"], L("conv", name="patch", out_channels=E, kernel_size=4, stride=4),
               L("reshape", name="tok", shape=[2, E, -1]),
               L("transpose", name="tt", dim0=1, dim1=2),
               L("multihead_attention", name="mha", num_heads=HEADS, batch_first=True),
               L("linear", name="q", out_features=8, inputs=["tt"]),
               L("attention", name="att", inputs=["q", "q", "q"]))
    an = cnncalc.analyze(arch)
    by = {r.name: r.receptive_field for r in an.layers}
    assert by["tt"].size == (None, None)
    assert [str(v) for v in by["mha"].size] == ["H", "W"]
    assert [str(v) for v in by["att"].size] == ["H", "W"]
    an = _check(arch, {"H": 16, "W": 24})
    tokens = (16 // 4) * (24 // 4)
    assert an.layers[3].macs == _mha_macs(2, tokens, E)
