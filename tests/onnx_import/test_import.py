"""from_onnx on small hand-built graphs: each op's mapping, size computations, every error.

Expected counts are written as arithmetic; every graph is also run in onnxruntime
(``validate``), so each mapped shape is checked against a real run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

import cnncalc  # noqa: E402
from cnncalc.errors import CnnCalcError  # noqa: E402
from cnncalc.onnx import from_onnx, validate  # noqa: E402


def init(name: str, *shape: int, value: Any = None, dtype: Any = np.float32) -> Any:
    arr = np.asarray(value, dtype=dtype) if value is not None else \
        np.random.default_rng(0).standard_normal(shape).astype(dtype)
    return numpy_helper.from_array(arr, name)


def model(nodes: list[Any], inits: list[Any], shape: list[Any], rank: int = 4,
          opset: int = 17, inputs: list[Any] | None = None) -> Any:
    """A model of ``nodes`` from input ``x`` to output ``y`` (of ``rank`` axes)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [f"y{i}" for i in range(rank)])
    g = helper.make_graph(nodes, "g", inputs or [x], [y], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def check(m: Any, bindings: dict[str, int], **kw: Any) -> cnncalc.Analysis:
    """The architecture of ``m`` analysed at ``bindings``; its shapes checked in
    onnxruntime."""
    arch = from_onnx(m, **kw)
    report = validate(arch, m, bindings, **kw)
    assert report.ok, report.to_table()
    return cnncalc.analyze(arch, bindings)


def test_conv_bn_relu6_pool_gemm() -> None:
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="/stem/conv/Conv",
                         kernel_shape=[3, 3], pads=[1, 0, 2, 1], strides=[2, 2]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
        helper.make_node("Clip", ["n", "lo", "hi"], ["r"], name="act"),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], ceil_mode=1),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1, name="fc"),
    ]
    inits = [init("w", 8, 3, 3, 3), init("b", 8), init("s", 8), init("bb", 8), init("m", 8),
             init("v", 8, value=np.ones(8)), init("lo", value=0.0), init("hi", value=6.0),
             init("fw", 10, 8), init("fb", 10)]
    m = model(nodes, inits, ["batch", 3, "h", "w"], rank=2)
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == [
        "conv", "batch_norm", "relu6", "max_pool", "global_avg_pool", "flatten", "linear"]
    assert arch.layers[0].name == "stem.conv"
    assert arch.layers[0].padding == [[1, 2], [0, 1]]
    an = check(m, {"batch": 2, "h": 33, "w": 20})
    ho, wo = (33 + 1 + 2 - 3) // 2 + 1, (20 + 0 + 1 - 3) // 2 + 1
    assert an.layers[0].output_shape == (2, 8, ho, wo)
    assert an.totals.params == 8 * 3 * 9 + 8 + 2 * 8 + 8 * 10 + 10
    assert an.totals.macs == 2 * ho * wo * 8 * 3 * 9 + 2 * 8 * 10


def test_dim_params_become_symbols_and_rename() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    m = model(nodes, [], ["batch-size", 3, "height", 5])
    assert from_onnx(m).input.shape == ["batch_size", 3, "height", 5]
    arch = from_onnx(m, symbols={"batch-size": "N", "height": "H"}, name="tiny")
    assert arch.input.shape == ["N", 3, "H", 5] and arch.name == "tiny"
    unnamed = model(nodes, [], [None, 3, 8, 8])
    with pytest.raises(CnnCalcError, match="axis 0 has neither a size nor a name"):
        from_onnx(unnamed)
    assert from_onnx(unnamed, symbols={0: "N"}).input.shape == ["N", 3, 8, 8]


def test_shape_subgraph_reshape_is_a_flatten() -> None:
    """Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as torch.onnx emits x.view(N, -1):
    evaluated here, one flatten layer, no layer for the size computation."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    inits = [init("zero", value=0, dtype=np.int64), init("ax0", value=[0], dtype=np.int64),
             init("minus1", value=[-1], dtype=np.int64)]
    m = model(nodes, inits, ["N", 4, "H", "W"], rank=2)
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == ["flatten"]
    an = check(m, {"N": 2, "H": 3, "W": 5})
    assert an.layers[0].output_shape == (2, 4 * 3 * 5)


def test_matmul_add_is_one_linear_and_x_sigmoid_x_is_silu() -> None:
    nodes = [
        helper.make_node("GlobalAveragePool", ["x"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["mm"], name="head"),
        helper.make_node("Add", ["mm", "b"], ["lin"]),
        helper.make_node("Sigmoid", ["lin"], ["sg"]),
        helper.make_node("Mul", ["lin", "sg"], ["y"]),
    ]
    m = model(nodes, [init("w", 6, 4), init("b", 4)], ["N", 6, 7, 7], rank=2)
    arch = from_onnx(m)
    assert [(layer.type, getattr(layer, "bias", None)) for layer in arch.layers] == [
        ("global_avg_pool", None), ("flatten", None), ("linear", True), ("silu", None)]
    an = check(m, {"N": 3})
    assert an.totals.params == 6 * 4 + 4
    assert an.totals.macs == 3 * 6 * 4


def test_scalar_constant_add_resize_pad_concat() -> None:
    nodes = [
        helper.make_node("Add", ["x", "one"], ["a"]),
        helper.make_node("Resize", ["a", "", "scales"], ["u"], mode="nearest"),
        helper.make_node("Pad", ["u", "pads"], ["p"], mode="reflect"),
        helper.make_node("Concat", ["p", "p"], ["y"], axis=1),
    ]
    inits = [init("one", value=1.0), init("scales", value=[1, 1, 2, 2]),
             init("pads", value=[0, 0, 1, 2, 0, 0, 3, 4], dtype=np.int64)]
    m = model(nodes, inits, ["N", 2, "H", "W"])
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == ["add", "upsample", "pad", "concat"]
    assert arch.layers[0].scalar == 1.0
    an = check(m, {"N": 1, "H": 5, "W": 6})
    assert an.layers[-1].output_shape == (1, 4, 2 * 5 + 1 + 3, 2 * 6 + 2 + 4)


def test_reduce_mean_over_space_is_a_global_pool() -> None:
    nodes = [helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)]
    m = model(nodes, [init("axes", value=[2, 3], dtype=np.int64)], ["N", 5, "H", "W"],
              rank=2, opset=18)
    arch = from_onnx(m)
    assert arch.layers[0].type == "global_avg_pool"
    assert check(m, {"N": 2, "H": 3, "W": 4}).layers[0].output_shape == (2, 5)


# --- errors ----------------------------------------------------------------------------------

def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(CnnCalcError, match="no such file") as e:
        from_onnx(tmp_path / "missing.onnx")
    assert e.value.kind == "input"
    with pytest.raises(CnnCalcError, match="no such file"):
        from_onnx(tmp_path)


@pytest.mark.parametrize("data", [b"", b"hello, this is text\n", b'{"layers": []}',
                                  bytes(range(256))])
def test_not_onnx(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "bad.onnx"
    p.write_bytes(data)
    with pytest.raises(CnnCalcError, match="not an ONNX model|not a valid ONNX model") as e:
        from_onnx(p)
    assert e.value.kind == "input" and "\n" not in str(e.value)


def test_truncated(tmp_path: Path) -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])]
    full = model(nodes, [init("w", 16, 3, 3, 3)], [1, 3, 8, 8]).SerializeToString()
    p = tmp_path / "cut.onnx"
    for cut in (len(full) // 2, len(full) - 3, 40):
        p.write_bytes(full[:cut])
        with pytest.raises(CnnCalcError) as e:
            from_onnx(p)
        assert e.value.kind == "input" and "\n" not in str(e.value), cut


def test_unsupported_op_names_node_op_and_supported() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Erf", ["r"], ["y"], name="/blocks.0/act/Erf")]
    with pytest.raises(CnnCalcError) as e:
        from_onnx(model(nodes, [], [1, 3, 4, 4]))
    msg = str(e.value)
    assert "'/blocks.0/act/Erf'" in msg and "op Erf is not supported" in msg
    assert "Conv" in msg and "Relu" in msg and e.value.kind == "input"


def test_custom_domain_op_is_unsupported() -> None:
    node = helper.make_node("FusedThing", ["x"], ["y"], domain="com.example", name="f")
    m = model([node], [], [1, 3, 4, 4])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(CnnCalcError, match="op com.example.FusedThing is not supported"):
        from_onnx(m)


def test_several_inputs_and_bad_rank() -> None:
    a = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])
    b = helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 3, 4, 4])
    m = model([helper.make_node("Add", ["x", "z"], ["y"])], [], [], inputs=[a, b])
    with pytest.raises(CnnCalcError, match="has 2 inputs"):
        from_onnx(m)
    with pytest.raises(CnnCalcError, match=r"\[batch, channels, 0 to 3 spatial axes\]"):
        from_onnx(model([helper.make_node("Relu", ["x"], ["y"])], [], [3], rank=1))


def test_mlp_on_n_features() -> None:
    """``[N, features]``: Gemm, Relu, Gemm (an MLP head), checked in onnxruntime."""
    nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["r"]),
             helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1)]
    inits = [init("w1", 128, 784), init("b1", 128), init("w2", 10, 128), init("b2", 10)]
    an = check(model(nodes, inits, ["N", 784], rank=2), {"N": 2})
    assert an.layers[-1].output_shape == (2, 10)
    assert an.totals.params == 784*128 + 128 + 128*10 + 10
    assert an.totals.macs == 2 * (784*128 + 128*10)


def test_old_opset_and_not_a_model_object() -> None:
    with pytest.raises(CnnCalcError, match="opset 6 is older"):
        from_onnx(model([helper.make_node("Relu", ["x"], ["y"])], [], [1, 3, 4, 4], opset=6))
    with pytest.raises(CnnCalcError, match="takes a file path or an onnx.ModelProto"):
        from_onnx(42)


def test_unsupported_clip_bounds() -> None:
    nodes = [helper.make_node("Clip", ["x", "lo", "hi"], ["y"], name="c")]
    m = model(nodes, [init("lo", value=-1.0), init("hi", value=1.0)], [1, 3, 4, 4])
    with pytest.raises(CnnCalcError, match=r"ONNX node 'c' \(Clip\): Clip\(-1.0, 1.0\)"):
        from_onnx(m)


def test_allow_opaque_records_the_op() -> None:
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Erf", ["c"], ["e"], name="odd"),
             helper.make_node("Relu", ["e"], ["y"])]
    m = model(nodes, [init("w", 4, 3, 1, 1)], ["N", 3, "H", "W"])
    with pytest.raises(CnnCalcError, match="op Erf is not supported"):
        from_onnx(m)
    arch = from_onnx(m, allow_opaque=True)
    assert [layer.type for layer in arch.layers] == ["conv", "opaque", "relu"]
    assert arch.layers[1].op == "onnx.Erf" and arch.layers[1].shape == ["N", 4, "H", "W"]
    an = check(m, {"N": 1, "H": 5, "W": 5}, allow_opaque=True)
    assert an.layers[-1].output_shape == (1, 4, 5, 5)
    assert an.totals.incomplete == ("odd",)


def test_split_transpose_reshape_as_shufflenet() -> None:
    """Split into two halves, concat, channel shuffle written as reshape/transpose/reshape."""
    nodes = [
        helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1, name="split"),
        helper.make_node("Relu", ["b"], ["rb"]),
        helper.make_node("Concat", ["a", "rb"], ["c"], axis=1),
        helper.make_node("Reshape", ["c", "s5"], ["r5"]),
        helper.make_node("Transpose", ["r5"], ["t"], perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["t", "s4"], ["y"]),
    ]
    inits = [init("sizes", value=[4, 4], dtype=np.int64),
             init("s5", value=[0, 2, 4, 3, 3], dtype=np.int64),
             init("s4", value=[0, -1, 3, 3], dtype=np.int64)]
    m = model(nodes, inits, ["N", 8, 3, 3])
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == [
        "split", "relu", "concat", "reshape", "permute", "flatten"]
    assert arch.layers[1].inputs == ["split.1"]
    an = check(m, {"N": 2})
    assert an.layers[-1].output_shape == (2, 8, 3, 3)


def test_gelu_written_with_erf_is_one_layer() -> None:
    nodes = [
        helper.make_node("Div", ["x", "sqrt2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"], name="/mlp/act/Erf"),
        helper.make_node("Add", ["e", "one"], ["a"]),
        helper.make_node("Mul", ["x", "a"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["y"]),
    ]
    inits = [init("sqrt2", value=2 ** 0.5), init("one", value=1.0), init("half", value=0.5)]
    m = model(nodes, inits, ["N", 3, "H", "W"])
    arch = from_onnx(m)
    assert [(layer.type, layer.name) for layer in arch.layers] == [("gelu", "mlp.act")]
    check(m, {"N": 1, "H": 2, "W": 2})


def test_constant_tensor_operand_is_a_parameter() -> None:
    nodes = [helper.make_node("Mul", ["x", "gamma"], ["y"])]
    m = model(nodes, [init("gamma", 6, 1, 1)], ["N", 6, "H", "W"])
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == ["parameter", "mul"]
    an = check(m, {"N": 1, "H": 4, "W": 4})
    assert an.totals.params == 6


def test_external_data_is_never_read(tmp_path: Path) -> None:
    """Weights saved beside the model count by their shapes alone: the import works with the
    data file gone; a value that is needed (a Reshape target) names what is missing."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3]),
             helper.make_node("Reshape", ["c", "shape"], ["y"])]
    inits = [init("w", 32, 3, 3, 3), init("b", 32),
             init("shape", value=[0, -1], dtype=np.int64)]
    path = tmp_path / "ext.onnx"
    m = model(nodes, inits, ["N", 3, 9, 9], rank=2)
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.data",
                    size_threshold=256)
    assert validate(None, path, {"N": 2}).ok
    (tmp_path / "ext.data").unlink()
    arch = from_onnx(path)
    assert cnncalc.analyze(arch, {"N": 1}).totals.params == 32 * 3 * 9 + 32
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.data",
                    size_threshold=0)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(CnnCalcError, match="initializer 'shape' are not in the file"):
        from_onnx(path)


def test_resize_to_a_computed_size_and_conv_transpose() -> None:
    """An FPN-style Resize to the size of another tensor (sizes from Shape, symbolic)."""
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["d"], kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("ConvTranspose", ["d", "wt"], ["u"], kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Resize", ["d", "", "", "s"], ["r"], mode="linear"),
        helper.make_node("Add", ["r", "x"], ["y"]),
    ]
    m = model(nodes, [init("w", 4, 4, 3, 3), init("wt", 4, 4, 2, 2)], ["N", 4, "H", "W"])
    arch = from_onnx(m)
    assert [layer.type for layer in arch.layers] == [
        "conv", "conv_transpose", "upsample", "add"]
    assert arch.layers[2].size == ["H", "W"] and arch.layers[2].mode == "bilinear"
    an = check(m, {"N": 1, "H": 9, "W": 6})
    assert an.layers[1].output_shape == (1, 4, 2 * ((9 + 1) // 2), 2 * ((6 + 1) // 2))
    assert an.layers[-1].output_shape == (1, 4, 9, 6)


def test_names_and_the_facade() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/blk/act 1/Relu"),
             helper.make_node("Relu", ["a"], ["b"], name="/blk/act 1/Relu"),
             helper.make_node("Relu", ["b"], ["y"], name="")]
    arch = from_onnx(model(nodes, [], [1, 3, 4, 4]))
    assert [layer.name for layer in arch.layers] == ["blk.act_1", "blk.act_1_1", "relu"]
    assert cnncalc.from_onnx is from_onnx
    with pytest.raises(CnnCalcError, match="not a valid size name"):
        from_onnx(model(nodes, [], ["b", 3, 4, 4]), symbols={"b": "2x"})
