"""``aot compile --emit-onnx``: the optimized IR exported to ONNX gives the source model's outputs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import main
from aot.compiler import optimize
from aot.reference import run_reference
from aot.resources import examples_dir

ATOL = 1e-5


def f32(array) -> np.ndarray:
    return np.asarray(array, np.float32)


class Builder:
    """A tiny model builder with seeded weights."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, name: str, shape, scale: float = 0.3) -> str:
        return self.const(name, f32(self.rng.standard_normal(shape) * scale))

    def bn(self, prefix: str, channels: int) -> list[str]:
        return [self.const(f"{prefix}_g", f32(self.rng.uniform(0.5, 1.5, channels))),
                self.const(f"{prefix}_b", f32(self.rng.uniform(-0.3, 0.3, channels))),
                self.const(f"{prefix}_m", f32(self.rng.uniform(-0.3, 0.3, channels))),
                self.const(f"{prefix}_v", f32(self.rng.uniform(0.5, 1.5, channels)))]

    def model(self, nodes, inputs, outputs, opset: int = 13) -> onnx.ModelProto:
        graph = helper.make_graph(nodes, "export_case", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        return model


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def conv_bn_relu() -> onnx.ModelProto:
    b = Builder(1)
    nodes = [helper.make_node("Conv", ["x", b.weight("w", (6, 3, 3, 3))], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", *b.bn("bn", 6)], ["n"], epsilon=1e-3),
             helper.make_node("Relu", ["n"], ["y"])]
    return b.model(nodes, [vi("x", [1, 3, 8, 8])], [vi("y", [1, 6, 8, 8])])


def depthwise_relu6() -> onnx.ModelProto:
    b = Builder(2)
    nodes = [helper.make_node("Conv", ["x", b.weight("w", (4, 1, 3, 3)), b.weight("bias", (4,))], ["c"],
                              group=4, pads=[1, 1, 1, 1], strides=[2, 2]),
             helper.make_node("Clip", ["c", b.const("lo", f32(0.0)), b.const("hi", f32(6.0))], ["y"])]
    return b.model(nodes, [vi("x", [1, 4, 9, 9])], [vi("y", [1, 4, 5, 5])])


def clip_min_only() -> onnx.ModelProto:
    b = Builder(3)
    nodes = [helper.make_node("Conv", ["x", b.weight("w", (2, 2, 1, 1))], ["c"]),
             helper.make_node("Clip", ["c", b.const("lo", f32(-0.25))], ["y"])]
    return b.model(nodes, [vi("x", [1, 2, 4, 4])], [vi("y", [1, 2, 4, 4])])


def gemm_bn_leaky_relu() -> onnx.ModelProto:
    b = Builder(4)
    nodes = [helper.make_node("Gemm", ["x", b.weight("w", (5, 8)), b.weight("bias", (5,))], ["g"],
                              transB=1, alpha=0.5, beta=2.0),
             helper.make_node("BatchNormalization", ["g", *b.bn("bn", 5)], ["n"]),
             helper.make_node("LeakyRelu", ["n"], ["y"], alpha=0.2)]
    return b.model(nodes, [vi("x", [3, 8])], [vi("y", [3, 5])])


def matmul_add_relu() -> onnx.ModelProto:
    b = Builder(5)
    nodes = [helper.make_node("MatMul", ["x", b.weight("w", (8, 4))], ["m"]),
             helper.make_node("Add", ["m", b.weight("bias", (4,))], ["a"]),
             helper.make_node("Relu", ["a"], ["y"])]
    return b.model(nodes, [vi("x", [2, 8])], [vi("y", [2, 4])])


def conv_bias_add_sigmoid_hardswish() -> onnx.ModelProto:
    b = Builder(6)
    nodes = [helper.make_node("Conv", ["x", b.weight("w", (3, 3, 3, 3))], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", b.weight("bias", (1, 3, 1, 1))], ["a"]),
             helper.make_node("Sigmoid", ["a"], ["s"]),
             helper.make_node("Conv", ["s", b.weight("w2", (3, 3, 1, 1))], ["c2"]),
             helper.make_node("HardSwish", ["c2"], ["y"])]
    return b.model(nodes, [vi("x", [1, 3, 6, 6])], [vi("y", [1, 3, 6, 6])], opset=14)


def awkward_names() -> onnx.ModelProto:
    b = Builder(7)
    nodes = [helper.make_node("Add", ["in:0", "in/0"], ["sum:0"]),
             helper.make_node("MatMul", ["sum:0", b.weight("dense/kernel:0", (4, 3))], ["mm"]),
             helper.make_node("Relu", ["mm"], ["Identity:0"])]
    return b.model(nodes, [vi("in:0", [1, 4]), vi("in/0", [1, 4])], [vi("Identity:0", [1, 3])])


CASES = {
    "conv_bn_relu": (conv_bn_relu, {"fused": {"Relu"}, "gone": {"BatchNormalization"}}),
    "depthwise_relu6": (depthwise_relu6, {"fused": {"Clip"}, "gone": set()}),
    "clip_min_only": (clip_min_only, {"fused": {"Clip"}, "gone": set()}),
    "gemm_bn_leaky_relu": (gemm_bn_leaky_relu, {"fused": {"LeakyRelu"}, "gone": {"BatchNormalization"}}),
    "matmul_add_relu": (matmul_add_relu, {"fused": {"Relu"}, "gone": {"MatMul", "Add"}}),
    "conv_bias_add_sigmoid_hardswish": (conv_bias_add_sigmoid_hardswish,
                                        {"fused": {"Sigmoid", "HardSwish"}, "gone": {"Add"}}),
    "awkward_names": (awkward_names, {"fused": {"Relu"}, "gone": set()}),
}


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inits = {i.name for i in model.graph.initializer}
    return {i.name: rng.standard_normal([d.dim_value or 1 for d in i.type.tensor_type.shape.dim]).astype(np.float32)
            for i in model.graph.input if i.name not in inits}


def emit(source: Path, tmp_path: Path, capsys) -> onnx.ModelProto:
    exported = tmp_path / "exported.onnx"
    code = main(["compile", str(source), "-o", str(tmp_path / "lib"), "--emit-onnx", str(exported)])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "lib" / "model.c").is_file()
    model = onnx.load(str(exported))
    onnx.checker.check_model(model, full_check=True)
    return model


def assert_same_outputs(source: onnx.ModelProto | Path, exported: onnx.ModelProto, feeds) -> None:
    expected = run_reference(source, feeds)
    got = run_reference(exported, feeds)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=0, atol=ATOL)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exported_model_matches_source_in_onnxruntime(tmp_path, capsys, case):
    build, expect = CASES[case]
    source = build()
    onnx.save(source, str(tmp_path / f"{case}.onnx"))

    # The export is only a real check if the IR actually differs from the source: fused and folded.
    graph = optimize(source)
    fused = {n.attrs["activation"]["op_type"] for n in graph.nodes if n.attrs.get("activation")}
    assert expect["fused"] <= fused, fused
    assert not expect["gone"] & {n.op_type for n in graph.nodes}

    exported = emit(tmp_path / f"{case}.onnx", tmp_path, capsys)
    ops = [n.op_type for n in exported.graph.node]
    assert not expect["gone"] & set(ops), ops
    for act in expect["fused"]:
        assert act in ops  # the fused activation is expanded back into its own node
    # Graph inputs and outputs keep their ONNX names: the export is a drop-in replacement.
    assert [i.name for i in exported.graph.input] == [i.name for i in source.graph.input]
    assert [o.name for o in exported.graph.output] == [o.name for o in source.graph.output]
    for seed in range(3):
        assert_same_outputs(source, exported, random_feeds(source, seed))


def test_exported_demo_model_matches(tmp_path, capsys):
    source = examples_dir() / "demo_cnn.onnx"
    exported = emit(source, tmp_path, capsys)
    ops = [n.op_type for n in exported.graph.node]
    assert "BatchNormalization" not in ops and ops.count("Conv") == 4
    assert_same_outputs(source, exported, random_feeds(onnx.load(str(source))))


def test_export_is_deterministic(tmp_path, capsys):
    onnx.save(conv_bn_relu(), str(tmp_path / "m.onnx"))
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = emit(tmp_path / "m.onnx", tmp_path / "a", capsys).SerializeToString()
    second = emit(tmp_path / "m.onnx", tmp_path / "b", capsys).SerializeToString()
    assert first == second


SHARED_MODELS = Path(__file__).resolve().parents[1].parent / "shared" / "models"


@pytest.mark.parametrize("relative", ["mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx",
                                      "mlperf_tiny/kws_ref_model_float32.onnx", "mnist/model.onnx"])
def test_exported_real_model_matches(tmp_path, capsys, relative):
    source = SHARED_MODELS / relative
    if not source.is_file():
        pytest.skip(f"shared model folder {SHARED_MODELS} (file {relative}) is missing")
    exported = emit(source, tmp_path, capsys)
    assert_same_outputs(source, exported, random_feeds(onnx.load(str(source))))
