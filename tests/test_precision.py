"""count_layers and recast: integer accumulation kernels and casts give exact results on integer data."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from aot.cli import main
from aot.compiler import compile_model, write_library
from aot.errors import AotError
from aot.frontend import import_onnx
from aot.passes.precision import count_layers, layers_of, recast
from aot.reference import run_reference
from aot.targets.host import load

from conftest import make_model

RNG = np.random.default_rng(0)


def integer_valued_model():
    """Conv -> Relu -> Conv -> Reshape -> MatMul with small integer weights: with inputs in [-1, 1] every
    intermediate stays inside int8 (|conv0| <= 20, |conv1| <= 80), so hard casts lose nothing."""
    inits = {"w": RNG.integers(-1, 2, (4, 2, 3, 3)).astype(np.float32), "b": RNG.integers(-2, 3, 4).astype(np.float32),
             "w1": RNG.integers(-1, 2, (4, 4, 1, 1)).astype(np.float32),
             "w2": RNG.integers(-3, 4, (64, 3)).astype(np.float32), "s": np.array([1, -1], np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv0", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Conv", ["r", "w1"], ["c1"], name="conv1"),
             helper.make_node("Reshape", ["c1", "s"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "w2"], ["y"], name="fc")]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], inits, name="ints")


def test_count_layers_and_layer_indices():
    graph = import_onnx(integer_valued_model())
    assert count_layers(graph, "Conv") == 2 and count_layers(graph, "MatMul") == 1
    assert [n.name for n in layers_of(graph, ["Conv"], skip_layers=[0])] == ["conv1"]


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_recast_runs_integer_kernels_exactly(tmp_path, dtype):
    model = integer_valued_model()
    graph = recast(import_onnx(model), dtype, "int32", ops=["Conv", "MatMul"])
    kinds = {n.name: graph.tensors[n.outputs[0]].dtype for n in graph.nodes}
    assert kinds["conv0"] == kinds["conv1"] == kinds["fc"] == "int32"
    assert sum(n.op_type == "Cast" for n in graph.nodes) == 6  # one cast in, one back out, per layer
    host = load(write_library(compile_model(graph), tmp_path / "lib"))
    for seed in range(3):
        x = np.random.default_rng(seed).integers(-1, 2, (1, 2, 4, 4)).astype(np.float32)
        assert np.array_equal(host.run([x])[0], run_reference(model, {"x": x})[0])


def test_recast_skip_layers_keeps_that_layer_float():
    graph = recast(import_onnx(integer_valued_model()), "int8", "int32", ops=["Conv"], skip_layers=[1])
    kinds = {n.name: graph.tensors[n.outputs[0]].dtype for n in graph.nodes}
    assert kinds["conv0"] == "int32" and kinds["conv1"] == "float32"


def test_recast_rejects_unknown_dtype():
    with pytest.raises(AotError, match="float64"):
        recast(import_onnx(integer_valued_model()), "float64", "int32", ops=["Conv"])


def test_cli_recast_and_count(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(integer_valued_model().SerializeToString())
    assert main(["inspect", str(path), "--count", "Conv"]) == 0
    assert "Conv: 2 layers" in capsys.readouterr().out
    out = tmp_path / "lib"
    assert main(["compile", str(path), "-o", str(out), "--recast", "int8:int32:Conv:0"]) == 0
    assert "int32_t" in (out / "kernels_ref.c").read_text()
