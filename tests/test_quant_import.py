"""QDQ import: both styles lower to integer ops; what cannot be mapped is an error naming the node,
or stays float with a note when float fallback is allowed; bad quantization parameters are rejected."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model
from aot.errors import AotError
from aot.flows.quant_check import check_quantized

from conftest import make_model

RNG = np.random.default_rng(3)


def qdq_conv_model(*, act_dtype=TensorProto.INT8, scale_as_input: bool = False, weight_scale_len: int = 4,
                   middle_op: str = "Relu") -> onnx.ModelProto:
    """x(int8) -> DQ -> Conv(DQ(w), DQ(b)) -> middle_op -> Q -> y(int8), tf2onnx style."""
    np_act = np.int8 if act_dtype == TensorProto.INT8 else np.uint8
    offset = 0 if np_act is np.int8 else 128
    inits = {
        "x_zp": np.array(3 + offset, np_act), "y_s": np.array(0.05, np.float32),
        "y_zp": np.array(-5 + offset, np_act),
        "w": RNG.integers(-127, 128, (4, 2, 3, 3)).astype(np.int8),
        "w_s": RNG.uniform(0.002, 0.02, weight_scale_len).astype(np.float32), "w_zp": np.zeros(weight_scale_len, np.int8),
        "b": RNG.integers(-500, 500, 4).astype(np.int32),
    }
    inputs = [helper.make_tensor_value_info("x", act_dtype, [1, 2, 6, 6])]
    if scale_as_input:
        inputs.append(helper.make_tensor_value_info("x_s", TensorProto.FLOAT, []))
    else:
        inits["x_s"] = np.array(0.03, np.float32)
    inits["b_s"] = (0.03 * inits["w_s"]).astype(np.float32) if weight_scale_len == 4 else np.full(4, 0.0003, np.float32)
    inits["b_zp"] = np.zeros(4, np.int32)
    nodes = [
        helper.make_node("DequantizeLinear", ["x", "x_s", "x_zp"], ["xf"]),
        helper.make_node("DequantizeLinear", ["w", "w_s", "w_zp"], ["wf"], axis=0),
        helper.make_node("DequantizeLinear", ["b", "b_s", "b_zp"], ["bf"], axis=0),
        helper.make_node("Conv", ["xf", "wf", "bf"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node(middle_op, ["c"], ["r"], name="middle"),
        helper.make_node("QuantizeLinear", ["r", "y_s", "y_zp"], ["y"]),
    ]
    return make_model(nodes, inputs, [helper.make_tensor_value_info("y", act_dtype, [1, 4, 6, 6])], inits, name="qdq")


def test_tf2onnx_style_lowers_to_integer_conv(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(qdq_conv_model(), path)
    graph = compile_model(path).graph
    assert [n.op_type for n in graph.nodes] == ["Conv"]
    conv = graph.nodes[0]
    assert graph.tensors[conv.inputs[0]].dtype == "int8" and graph.tensors[conv.outputs[0]].dtype == "int8"
    assert graph.tensors[conv.inputs[1]].quant.axis == 0  # per output channel, from the OIHW layout
    assert graph.tensors[conv.inputs[2]].dtype == "int32"
    assert conv.attrs["activation"]["op_type"] == "Relu"
    check = check_quantized(path, samples=10, progress=False)
    assert check.bit_exact and check.lsb_within_1 >= 0.99


def test_non_constant_scale_runs_the_layer_in_float(tmp_path):
    """A scale computed at run time cannot be folded into an integer kernel: the DequantizeLinear runs as a
    plain kernel reading it, the Conv stays float, its QuantizeLinear is the int8 edge (aot/quant/plain_qdq.py)."""
    from aot.compiler import write_library
    from aot.reference import run_reference
    from aot.targets.host import load
    model = qdq_conv_model(scale_as_input=True)
    compiled = compile_model(model)
    conv = next(n for n in compiled.graph.nodes if n.op_type == "Conv")
    assert compiled.graph.tensors[conv.inputs[0]].dtype == "float32"
    host = load(write_library(compiled, tmp_path / "lib"))
    rng = np.random.default_rng(4)
    for scale in (0.03, 0.011):
        feeds = {"x": rng.integers(-128, 128, (1, 2, 6, 6)).astype(np.int8), "x_s": np.array(scale, np.float32)}
        got, want = host.run(feeds)[0].astype(int), run_reference(model, feeds)[0].astype(int)
        assert np.abs(got - want).max() <= 1  # float sums in another order may round a tie the other way


def test_uint8_graph_input_and_output_keep_their_type_around_int8_kernels(tmp_path):
    """Inside the model uint8 codes become int8 ones; the caller keeps passing and getting uint8: plain
    kernels convert the codes at the edges (aot/quant/uint8_qdq.py), the Conv runs int8, bit exact."""
    path = tmp_path / "m.onnx"
    onnx.save(qdq_conv_model(act_dtype=TensorProto.UINT8), path)
    graph = compile_model(path).graph
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert graph.tensors[conv.inputs[0]].dtype == "int8" and graph.tensors[conv.outputs[0]].dtype == "int8"
    assert graph.tensors[graph.inputs[0]].dtype == "uint8" and graph.tensors[graph.outputs[0]].dtype == "uint8"
    check = check_quantized(path, samples=10, progress=False)
    assert check.bit_exact and check.lsb_within_1 >= 0.99


@pytest.mark.parametrize("per_channel", [False, True])
def test_onnxruntime_uint8_activations_run_as_int8_bit_exact(per_channel, tmp_path):
    """ONNX Runtime's quantizer with QUInt8 activations (its long-time default): each uint8 code and
    zero point shifted by 128 is the same value, so the int8 kernels run it; verify's int8 check
    (C == golden bit for bit, ONNX Runtime within its criteria) passes."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from conftest import tiny_cnn_model

    class Samples(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.feeds = iter([{"input": rng.standard_normal((1, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.feeds, None)

    float_path, q_path = tmp_path / "f.onnx", tmp_path / "q.onnx"
    onnx.save(tiny_cnn_model(), float_path)
    quantize_static(str(float_path), str(q_path), Samples(), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    assert any(t.data_type == TensorProto.UINT8 for t in onnx.load(q_path).graph.initializer)
    compiled = compile_model(q_path)
    assert {"Conv", "Gemm"} <= {n.op_type for n in compiled.graph.nodes
                                if compiled.graph.tensors[n.outputs[0]].dtype == "int8"}
    check = check_quantized(q_path, samples=10, progress=False)
    assert check.bit_exact and check.ok(), check.table()


def test_mismatched_scale_shape_is_rejected(tmp_path):
    path = tmp_path / "m.onnx"
    model = qdq_conv_model(weight_scale_len=3)
    path.write_bytes(model.SerializeToString())
    with pytest.raises(AotError, match=r"scale of shape \[3\].*4 channels"):
        compile_model(path)


def test_unmappable_pattern_errors_without_fallback_and_names_the_node(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(qdq_conv_model(middle_op="Sigmoid"), path)
    with pytest.raises(AotError, match="conv.*Conv.*--allow-float-fallback") as info:
        compile_model(path)
    assert "no integer kernel" in str(info.value)


def test_unmappable_pattern_runs_in_float_with_fallback(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(qdq_conv_model(middle_op="Sigmoid"), path)
    options = CompileOptions(allow_float_fallback=True)
    compiled = compile_model(path, options)
    assert any("kept in float" in n and "conv" in n for n in compiled.graph.notes)
    ops = [n.op_type for n in compiled.graph.nodes]
    assert "DequantizeLinear" in ops and "QuantizeLinear" in ops
    check = check_quantized(path, options=options, samples=10, progress=False)
    assert check.bit_exact
    assert check.lsb_within_1 >= 0.99


def qlinear_model() -> onnx.ModelProto:
    inits = {
        "w": RNG.integers(-127, 128, (6, 3, 3, 3)).astype(np.int8), "xs": np.array(0.02, np.float32),
        "xzp": np.array(-3, np.int8), "ws": RNG.uniform(0.001, 0.01, 6).astype(np.float32),
        "wzp": np.zeros(6, np.int8), "ys": np.array(0.08, np.float32), "yzp": np.array(5, np.int8),
        "b": RNG.integers(-1000, 1000, 6).astype(np.int32),
        "w2": RNG.integers(-127, 128, (6 * 4 * 4, 5)).astype(np.int8), "w2s": np.array(0.004, np.float32),
        "w2zp": np.array(0, np.int8), "shape": np.array([1, -1], np.int64), "zs": np.array(0.3, np.float32),
        "zzp": np.array(-1, np.int8),
    }
    nodes = [
        helper.make_node("QLinearConv", ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "b"], ["y"],
                         name="qconv", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Reshape", ["y", "shape"], ["yf"]),
        helper.make_node("QLinearMatMul", ["yf", "ys", "yzp", "w2", "w2s", "w2zp", "zs", "zzp"], ["z"], name="qmm"),
    ]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 3, 8, 8])],
                      [helper.make_tensor_value_info("z", TensorProto.INT8, [1, 5])], inits, name="qlinear")


def test_qlinear_ops_compile_to_the_same_integer_kernels(tmp_path):
    path = tmp_path / "q.onnx"
    onnx.save(qlinear_model(), path)
    graph = compile_model(path).graph
    assert [n.op_type for n in graph.nodes] == ["Conv", "Reshape", "Gemm"]
    assert all(graph.tensors[n.outputs[0]].dtype == "int8" for n in graph.nodes)
    check = check_quantized(path, samples=20, progress=False)
    assert check.bit_exact and check.lsb_within_1 >= 0.99 and check.argmax_agreement >= 0.98


def test_ort_style_float_edges_keep_quantize_and_dequantize_kernels(tmp_path):
    """Float input -> Q -> DQ -> Gemm (weights -128 allowed) -> Q -> DQ -> float output."""
    w = RNG.integers(-128, 128, (12, 7)).astype(np.int8)
    w[0, 0] = -128
    inits = {"s": np.array(0.05, np.float32), "zp": np.array(-10, np.int8), "w": w,
             "ws": RNG.uniform(0.005, 0.02, 7).astype(np.float32), "wzp": np.zeros(7, np.int8),
             "b": RNG.integers(-300, 300, 7).astype(np.int32), "bs": np.array([0.0005], np.float32),
             "bzp": np.array([0], np.int32), "ys": np.array(0.1, np.float32), "yzp": np.array(2, np.int8)}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xf"]),
        helper.make_node("DequantizeLinear", ["w", "ws", "wzp"], ["wf"], axis=1),
        helper.make_node("DequantizeLinear", ["b", "bs", "bzp"], ["bf"]),
        helper.make_node("Gemm", ["xf", "wf", "bf"], ["g"], name="fc"),
        helper.make_node("QuantizeLinear", ["g", "ys", "yzp"], ["gq"]),
        helper.make_node("DequantizeLinear", ["gq", "ys", "yzp"], ["y"]),
    ]
    path = tmp_path / "ort.onnx"
    onnx.save(make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 12])],
                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 7])], inits), path)
    graph = compile_model(path).graph
    assert [n.op_type for n in graph.nodes] == ["QuantizeLinear", "Gemm", "DequantizeLinear"]
    check = check_quantized(path, samples=20, progress=False)
    assert check.bit_exact and check.lsb_within_1 >= 0.99


def test_conv_integer_and_matmul_integer_match_onnxruntime_exactly(tmp_path):
    """Zero points become an input offset / centred weights; padding taps contribute nothing, as in ORT."""
    from aot.compiler import write_library
    from aot.reference import run_reference
    from aot.targets.host import load
    rng = np.random.default_rng(5)
    inits = {"w": rng.integers(0, 256, (4, 2, 3, 3)).astype(np.uint8), "xzp": np.array(131, np.uint8),
             "wzp": np.array(120, np.uint8), "w2": rng.integers(-128, 128, (16, 5)).astype(np.int8),
             "azp": np.array(-7, np.int8)}
    nodes = [helper.make_node("ConvInteger", ["x", "w", "xzp", "wzp"], ["c"], name="ci", pads=[1, 1, 1, 1],
                              strides=[2, 2]),
             helper.make_node("MatMulInteger", ["a", "w2", "azp"], ["m"], name="mi")]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 2, 5, 5]),
                               helper.make_tensor_value_info("a", TensorProto.INT8, [3, 16])],
                       [helper.make_tensor_value_info("c", TensorProto.INT32, [1, 4, 3, 3]),
                        helper.make_tensor_value_info("m", TensorProto.INT32, [3, 5])], inits)
    compiled = compile_model(model)
    assert [(n.op_type, compiled.graph.tensors[n.outputs[0]].dtype) for n in compiled.graph.nodes] == \
        [("Conv", "int32"), ("MatMul", "int32")]
    host = load(write_library(compiled, tmp_path / "lib"))
    for _ in range(3):
        feeds = {"x": rng.integers(0, 256, (1, 2, 5, 5)).astype(np.uint8),
                 "a": rng.integers(-128, 128, (3, 16)).astype(np.int8)}
        for got, ref in zip(host.run(feeds), run_reference(model, feeds)):
            assert np.array_equal(got, ref)
