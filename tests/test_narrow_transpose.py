"""A quantized model with a float NHWC input quantizes before it transposes, and one with a float
NHWC output transposes before it dequantizes (aot/passes/narrow_transpose.py): the Transpose copies
int8, not float, and the outputs do not change."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model, optimize, write_library
from aot.targets.host import load

from conftest import make_model

SIZE, CHANNELS = 12, 3


def nhwc_qdq_model(per_axis_input: bool = False):
    """float NHWC input -> Transpose -> Q/DQ -> Conv(QDQ) -> Relu -> Q/DQ -> Transpose -> float NHWC
    output: what tf2onnx writes for a quantized channels-last Keras model run channels-first."""
    rng = np.random.default_rng(5)
    inits = {"sx": np.array(0.03, np.float32), "zx": np.array(-7, np.int8),
             "w": rng.integers(-90, 90, (4, CHANNELS, 3, 3)).astype(np.int8),
             "sw": np.full(4, 0.01, np.float32), "zw": np.zeros(4, np.int8),
             "sy": np.array(0.04, np.float32), "zy": np.array(-128, np.int8)}
    if per_axis_input:
        inits["sx"] = np.array([0.03, 0.02, 0.05], np.float32)
        inits["zx"] = np.zeros(3, np.int8)
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             helper.make_node("QuantizeLinear", ["xt", "sx", "zx"], ["xq"], axis=1),
             helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], axis=1),
             helper.make_node("DequantizeLinear", ["w", "sw", "zw"], ["wd"], axis=0),
             helper.make_node("Conv", ["xd", "wd"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "sy", "zy"], ["rq"]),
             helper.make_node("DequantizeLinear", ["rq", "sy", "zy"], ["rd"]),
             helper.make_node("Transpose", ["rd"], ["y"], perm=[0, 2, 3, 1])]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, SIZE, SIZE, CHANNELS])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, SIZE, SIZE, 4])], inits,
                      name="nhwc_qdq")


def transposed_dtypes(graph) -> list[str]:
    return [graph.tensors[n.inputs[0]].dtype for n in graph.nodes if n.op_type == "Transpose"]


def test_transposes_copy_int8_and_the_arena_shrinks():
    options = CompileOptions(board="host", backends=["ref"])
    assert transposed_dtypes(optimize(nhwc_qdq_model(), options)) == ["int8", "int8"]
    compiled = compile_model(nhwc_qdq_model(), options)
    float_in = SIZE * SIZE * CHANNELS * 4
    # Before: the float input and its float transposed copy were live together (2 x float_in).
    assert compiled.plan.arena_bytes < 2 * float_in
    assert compiled.plan.arena_bytes <= float_in + SIZE * SIZE * CHANNELS + SIZE * SIZE * 4 * 4 + 64


def test_outputs_unchanged(tmp_path):
    model = nhwc_qdq_model()
    x = np.random.default_rng(0).uniform(-1, 1, (1, SIZE, SIZE, CHANNELS)).astype(np.float32)
    x[0, 0, 0, 0] = 0.03 * 2.5  # a tie: rounds half to even before and after the swap alike
    host = load(write_library(compile_model(model, CompileOptions(board="host")), tmp_path / "lib"))
    (got,) = host.run([x])
    (want,) = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    # Same quantized integers, so at most one output step apart (the int8 Conv rounds once).
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 0.04 + 1e-6


def test_per_axis_quantization_keeps_its_order():
    """A per-channel QuantizeLinear does not commute with a Transpose without permuting its axis: left alone."""
    graph = optimize(nhwc_qdq_model(per_axis_input=True), CompileOptions(board="host", backends=["ref"]))
    assert transposed_dtypes(graph)[0] == "float32"


def test_channels_last_layers_keep_no_channels_first_copy_of_an_nhwc_input():
    """With the int8 layers channels-last, the input's Transpose and the one converting it back cancel:
    no layer copies the NHWC input (for the float input: only its quantization reads it)."""
    options = CompileOptions(board="host", backends=["ref"], desired_layouts={"Conv": ["NHWC", "OHWI"]})
    compiled = compile_model(nhwc_qdq_model(), options)
    (x,) = compiled.graph.inputs
    readers = [c.node for c in compiled.calls if x in c.node.inputs]
    assert [n.op_type for n in readers] == ["QuantizeLinear"]
    # The output is NHWC too: no map is transposed anywhere.
    assert [c.node.name for c in compiled.calls if c.node.op_type == "Transpose"] == []
