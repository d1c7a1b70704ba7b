"""convert_layout: chosen layers move to channels-last with their weights, transposes cancel down to
the graph edges, every tensor keeps a layout, and outputs are unchanged (float) or bit-exact (int8)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model, optimize, write_library
from aot.frontend import import_onnx
from aot.ir import verify
from aot.ir.export import to_onnx
from aot.passes import PassContext, default_pipeline
from aot.passes.layout_convert import convert_layout, permutation
from aot.quant.golden_runner import run_golden
from aot.reference import run_reference
from aot.targets.host import load

from conftest import make_model, tiny_cnn_model

NHWC = {"Conv": ["NHWC", "OHWI"], "MaxPool": ["NHWC"], "AveragePool": ["NHWC"], "GlobalAveragePool": ["NHWC"]}


def _edge_transposes(graph):
    """(transposes reading a graph input, transposes elsewhere)."""
    t = [n for n in graph.nodes if n.op_type == "Transpose"]
    at_input = [n for n in t if n.inputs[0] in graph.inputs]
    return len(at_input), len(t) - len(at_input)


def test_permutation_semantics():
    assert permutation("NCHW", "NHWC") == [0, 2, 3, 1]
    assert permutation("OIHW", "OHWI") == [0, 2, 3, 1]


def test_tiny_cnn_converts_with_weights_and_layouts_recorded(tmp_path):
    model = tiny_cnn_model()
    graph = convert_layout(default_pipeline()(import_onnx(model), PassContext()), NHWC)
    verify(graph)
    conv = graph.node("conv")
    assert graph.tensors[conv.inputs[0]].layout == "NHWC" and graph.tensors[conv.inputs[1]].layout == "OHWI"
    assert graph.tensors[conv.inputs[1]].shape == (4, 3, 3, 3)  # O, H, W, I
    assert all(t.layout is None or len(t.layout) == len(t.shape) for t in graph.tensors.values())
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    host = load(write_library(compile_model(graph), tmp_path / "lib"))
    assert np.allclose(host.run([x])[0], run_reference(model, {"input": x})[0], atol=1e-6)
    # the exported ONNX (channels-last layers wrapped back into ONNX's layout) agrees too
    assert np.allclose(run_reference(to_onnx(graph), {"input": x})[0], run_reference(model, {"input": x})[0], atol=1e-6)


def test_skip_layers_keeps_that_layer_channels_first():
    rng = np.random.default_rng(1)
    inits = {"w1": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
             "w2": rng.standard_normal((4, 4, 1, 1)).astype(np.float32)}
    model = make_model([helper.make_node("Conv", ["x", "w1"], ["a"], name="c0", pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["a"], ["r"], name="relu"),
                        helper.make_node("Conv", ["r", "w2"], ["y"], name="c1")],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits)
    graph = convert_layout(default_pipeline()(import_onnx(model), PassContext()), {"Conv": ["NHWC", "OHWI"]},
                           skip_layers=[1])
    assert graph.tensors[graph.node("c0").inputs[0]].layout == "NHWC"
    assert graph.tensors[graph.node("c1").inputs[0]].layout == "NCHW"


def test_mobilenet_v2_to_nhwc_keeps_one_transpose_per_edge(shared_model, tmp_path):
    path = shared_model("mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx")
    options = CompileOptions(desired_layouts=NHWC)
    compiled = compile_model(path, options)
    graph = compiled.graph
    assert sum(n.op_type == "Conv" for n in graph.nodes) == 52
    assert all(graph.tensors[n.inputs[0]].layout == "NHWC" for n in graph.nodes if n.op_type == "Conv")
    at_input, elsewhere = _edge_transposes(graph)
    assert at_input == 1 and elsewhere == 1  # one in, one back before the classifier head
    host = load(write_library(compiled, tmp_path / "lib"))
    x = np.random.default_rng(2).standard_normal((1, 3, 128, 128)).astype(np.float32)
    assert np.allclose(host.run([x])[0], run_reference(path, {"input_1": x})[0], atol=1e-5)


@pytest.mark.parametrize("rounding", ["single", "tflite"])
@pytest.mark.parametrize("relative", ["mlperf_tiny/kws_ref_model_int8.onnx", "mnist/mnist-8_qdq_int8.onnx"])
def test_int8_channels_last_is_bit_exact_with_golden_and_channels_first(shared_model, tmp_path, relative, rounding):
    path = shared_model(relative)
    nhwc = compile_model(optimize(path), CompileOptions(desired_layouts=NHWC, rounding=rounding))
    assert any(n.op_type == "Conv" and nhwc.graph.tensors[n.inputs[0]].layout == "NHWC" and
               nhwc.graph.tensors[n.outputs[0]].dtype == "int8" for n in nhwc.graph.nodes)
    nchw = compile_model(path, CompileOptions(rounding=rounding))
    h_last = load(write_library(nhwc, tmp_path / "last"))
    h_first = load(write_library(nchw, tmp_path / "first"))
    rng = np.random.default_rng(3)
    spec = h_last.inputs[0]
    for _ in range(3):
        x = (rng.integers(-128, 128, spec["shape"]).astype(np.int8) if spec["dtype"] == "int8"
             else rng.uniform(0, 255, spec["shape"]).astype(np.float32))
        got = h_last.run([x])[0]
        assert np.array_equal(got, run_golden(nhwc.graph, [x])[0])
        assert np.array_equal(got, h_first.run([x])[0])
