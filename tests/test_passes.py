"""Each graph pass on small onnx.helper graphs: the structural rewrite it promises, and that the
rewritten graph (exported back to ONNX) computes what the original model computes in ONNX Runtime."""
from __future__ import annotations

import io

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import aot.passes.context as pass_context
from aot.frontend import import_onnx
from aot.ir import Graph, Tensor, VerificationError
from aot.ir.export import to_onnx
from aot.passes import (PASSES, PassContext, Sequential, default_pipeline, eliminate_dead_code,
                        fold_batchnorm, fold_constants, fuse_activation, fuse_bias_add, fuse_pad,
                        infer_layouts, remove_identity)
from aot.reference import run_reference

TOL = 1e-5


# -- helpers --------------------------------------------------------------------------------------
def vi(name: str, shape: list[int] | None, elem: int = TensorProto.FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def make_model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
               inits: dict[str, np.ndarray] | None = None, opset: int = 13) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()]
    graph = helper.make_graph(nodes, "t", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    # Outputs declared without a shape (``vi(name, None)``) get the one ONNX infers.
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    return model


def weights(*shape: int, seed: int = 1, scale: float = 0.5) -> np.ndarray:
    return (np.random.default_rng(seed + sum(shape)).standard_normal(shape) * scale).astype(np.float32)


def run_passes(model: onnx.ModelProto, *passes, ctx: PassContext | None = None) -> Graph:
    return Sequential(list(passes))(import_onnx(model), ctx or PassContext(debug=True))


def ops(graph: Graph) -> list[str]:
    return [n.op_type for n in graph.nodes]


def feeds_for(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in model.graph.input:
        shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        feeds[inp.name] = (rng.standard_normal(shape) * 2).astype(np.float32)
    return feeds


def assert_same_outputs(model: onnx.ModelProto, graph: Graph, feeds: dict[str, np.ndarray] | None = None) -> None:
    """ONNX Runtime gives the same outputs for the original model and the rewritten IR."""
    feeds = feeds if feeds is not None else feeds_for(model)
    exported = to_onnx(graph)
    assert [o.name for o in exported.graph.output] == [o.name for o in model.graph.output]
    want = run_reference(model, feeds)
    got = run_reference(exported, feeds)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=TOL, atol=TOL)


def conv_node(x: str, w: str, y: str, b: str | None = None, name: str = "conv0", **attrs) -> onnx.NodeProto:
    return helper.make_node("Conv", [x, w] + ([b] if b else []), [y], name=name, **attrs)


# -- fold_constants -------------------------------------------------------------------------------
def _make_input_constant(graph: Graph, name: str, value: np.ndarray) -> None:
    """What an earlier rewrite does when it proves an input constant: the importer folds constant
    subgraphs itself, so fold_constants only ever sees constants that appear after import."""
    graph.inputs.remove(name)
    graph.tensors[name].data = value


def test_fold_constants_evaluates_nodes_whose_inputs_became_constant():
    k = weights(2, 3)
    model = make_model([helper.make_node("Mul", ["c", "k"], ["m"], name="mul"),
                        helper.make_node("Sqrt", ["m"], ["s"], name="sqrt"),
                        helper.make_node("Add", ["x", "s"], ["y"], name="add")],
                       [vi("x", [2, 3]), vi("c", [2, 3])], [vi("y", [2, 3])], {"k": np.abs(k)})
    graph = import_onnx(model)
    assert ops(graph) == ["Mul", "Sqrt", "Add"]
    c = np.abs(weights(2, 3, seed=7))
    _make_input_constant(graph, "c", c)
    graph = Sequential([fold_constants])(graph, PassContext(debug=True))
    assert ops(graph) == ["Add"]
    np.testing.assert_allclose(graph.const("s"), np.sqrt(c * np.abs(k)), rtol=1e-6)
    feeds = feeds_for(model)
    feeds["c"] = c
    assert_same_outputs(model, graph, feeds)


def test_fold_constants_fills_every_output_of_a_multi_output_node():
    model = make_model([helper.make_node("Split", ["c", "split"], ["a", "b"], name="split", axis=1),
                        helper.make_node("Mul", ["x", "a"], ["p"], name="mul"),
                        helper.make_node("Sub", ["p", "b"], ["y"], name="sub")],
                       [vi("x", [2, 2]), vi("c", [2, 4])], [vi("y", [2, 2])], {"split": np.array([2, 2], np.int64)})
    graph = import_onnx(model)
    c = weights(2, 4, seed=3)
    _make_input_constant(graph, "c", c)
    graph = Sequential([fold_constants])(graph, PassContext(debug=True))
    assert ops(graph) == ["Mul", "Sub"]
    np.testing.assert_array_equal(graph.const("a"), c[:, :2])
    np.testing.assert_array_equal(graph.const("b"), c[:, 2:])
    feeds = feeds_for(model)
    feeds["c"] = c
    assert_same_outputs(model, graph, feeds)


def test_fold_constants_leaves_nodes_with_a_runtime_input():
    model = make_model([helper.make_node("Add", ["x", "k"], ["y"], name="add")], [vi("x", [3])], [vi("y", [3])],
                       {"k": weights(3)})
    graph = run_passes(model, fold_constants)
    assert ops(graph) == ["Add"]
    assert graph.tensors["y"].data is None


# -- eliminate_dead_code --------------------------------------------------------------------------
def test_dead_code_removes_unread_branches_and_their_tensors():
    model = make_model([helper.make_node("Relu", ["x"], ["y"], name="relu"),
                        helper.make_node("Mul", ["x", "k_dead"], ["d1"], name="dead_mul"),
                        helper.make_node("Tanh", ["d1"], ["d2"], name="dead_tanh")],
                       [vi("x", [4])], [vi("y", [4])], {"k_dead": weights(4), "unused": weights(5)})
    graph = import_onnx(model)
    assert {"d1", "d2", "k_dead", "unused"} <= set(graph.tensors)
    graph = Sequential([eliminate_dead_code])(graph, PassContext(debug=True))
    assert ops(graph) == ["Relu"]
    assert set(graph.tensors) == {"x", "y"}
    assert_same_outputs(model, graph)


def test_dead_code_keeps_a_node_when_one_of_its_outputs_is_read():
    model = make_model([helper.make_node("Split", ["x", "split"], ["a", "b"], name="split", axis=0),
                        helper.make_node("Relu", ["a"], ["y"], name="relu")],
                       [vi("x", [4])], [vi("y", [2])], {"split": np.array([2, 2], np.int64)})
    graph = run_passes(model, eliminate_dead_code)
    assert ops(graph) == ["Split", "Relu"]
    assert_same_outputs(model, graph)


# -- remove_identity ------------------------------------------------------------------------------
def test_identity_and_dropout_between_nodes_are_removed():
    model = make_model([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                        helper.make_node("Identity", ["a"], ["b"], name="id"),
                        helper.make_node("Dropout", ["b"], ["c"], name="drop"),
                        helper.make_node("Sigmoid", ["c"], ["y"], name="sig")],
                       [vi("x", [2, 3])], [vi("y", [2, 3])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert ops(graph) == ["Relu", "Sigmoid"]
    assert graph.node("sig").inputs == ["a"]
    assert_same_outputs(model, graph)


def test_identity_feeding_a_graph_output_makes_the_producer_write_the_output():
    # 'a' is also read by Tanh: that reader must now read the graph output the producer writes.
    model = make_model([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                        helper.make_node("Identity", ["a"], ["y"], name="id"),
                        helper.make_node("Tanh", ["a"], ["z"], name="tanh")],
                       [vi("x", [5])], [vi("y", [5]), vi("z", [5])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert ops(graph) == ["Relu", "Tanh"]
    assert graph.node("relu").outputs == ["y"]
    assert graph.node("tanh").inputs == ["y"]
    assert graph.outputs == ["y", "z"]
    assert_same_outputs(model, graph)


def test_chained_identities_to_a_graph_output_all_go():
    model = make_model([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                        helper.make_node("Identity", ["a"], ["b"], name="id1"),
                        helper.make_node("Identity", ["b"], ["y"], name="id2")],
                       [vi("x", [5])], [vi("y", [5])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert ops(graph) == ["Relu"]
    assert graph.node("relu").outputs == ["y"]
    assert_same_outputs(model, graph)


def test_identity_of_a_graph_input_to_a_graph_output_stays_as_a_copy():
    model = make_model([helper.make_node("Identity", ["x"], ["y"], name="id"),
                        helper.make_node("Relu", ["x"], ["z"], name="relu")],
                       [vi("x", [3])], [vi("y", [3]), vi("z", [3])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert ops(graph) == ["Identity", "Relu"]
    assert graph.outputs == ["y", "z"]
    assert_same_outputs(model, graph)


def test_identity_between_two_graph_outputs_stays():
    model = make_model([helper.make_node("Relu", ["x"], ["a"], name="relu"),
                        helper.make_node("Identity", ["a"], ["y"], name="id")],
                       [vi("x", [3])], [vi("a", [3]), vi("y", [3])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert ops(graph) == ["Relu", "Identity"]
    assert_same_outputs(model, graph)


def test_dropout_whose_mask_is_read_is_kept():
    model = make_model([helper.make_node("Dropout", ["x"], ["a", "mask"], name="drop"),
                        helper.make_node("Cast", ["mask"], ["m"], name="cast", to=TensorProto.FLOAT),
                        helper.make_node("Add", ["a", "m"], ["y"], name="add")],
                       [vi("x", [4])], [vi("y", [4])])
    graph = run_passes(model, remove_identity, eliminate_dead_code)
    assert "Dropout" in ops(graph)
    assert_same_outputs(model, graph)


# -- fold_batchnorm -------------------------------------------------------------------------------
def bn_params(c: int, seed: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"gamma": rng.uniform(0.5, 1.5, c).astype(np.float32), "beta": rng.standard_normal(c).astype(np.float32),
            "mean": rng.standard_normal(c).astype(np.float32), "var": rng.uniform(0.5, 2.0, c).astype(np.float32)}


BN_INPUTS = ["gamma", "beta", "mean", "var"]


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("group", [1, 4])
def test_batchnorm_folds_into_conv(with_bias, group):
    inits = {"w": weights(4, 4 // group, 3, 3), **bn_params(4)}
    if with_bias:
        inits["b"] = weights(4, seed=9)
    model = make_model([conv_node("x", "w", "c", "b" if with_bias else None, pads=[1, 1, 1, 1], group=group),
                        helper.make_node("BatchNormalization", ["c"] + BN_INPUTS, ["y"], name="bn", epsilon=1e-3)],
                       [vi("x", [1, 4, 6, 6])], [vi("y", [1, 4, 6, 6])], inits)
    graph = run_passes(model, fold_batchnorm, eliminate_dead_code)
    assert ops(graph) == ["Conv"]
    conv = graph.node("conv0")
    assert len(conv.present_inputs) == 3 and conv.outputs == ["y"]
    assert {"gamma", "beta", "mean", "var"}.isdisjoint(graph.tensors)
    assert_same_outputs(model, graph)


@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("trans_b", [0, 1])
def test_batchnorm_folds_into_gemm(with_bias, trans_b):
    inits = {"w": weights(*((3, 5) if trans_b else (5, 3))), **bn_params(3)}
    if with_bias:
        inits["b"] = weights(3, seed=4)
    gemm = helper.make_node("Gemm", ["x", "w"] + (["b"] if with_bias else []), ["g"], name="gemm",
                            transB=trans_b, alpha=0.7, beta=1.3)
    model = make_model([gemm, helper.make_node("BatchNormalization", ["g"] + BN_INPUTS, ["y"], name="bn")],
                       [vi("x", [2, 5])], [vi("y", [2, 3])], inits)
    graph = run_passes(model, fold_batchnorm, eliminate_dead_code)
    assert ops(graph) == ["Gemm"]
    assert graph.node("gemm").outputs == ["y"]
    assert_same_outputs(model, graph)


def test_batchnorm_is_not_folded_when_the_conv_output_is_read_twice():
    model = make_model([conv_node("x", "w", "c"),
                        helper.make_node("BatchNormalization", ["c"] + BN_INPUTS, ["y"], name="bn"),
                        helper.make_node("Relu", ["c"], ["z"], name="relu")],
                       [vi("x", [1, 2, 4, 4])], [vi("y", [1, 3, 2, 2]), vi("z", [1, 3, 2, 2])],
                       {"w": weights(3, 2, 3, 3), **bn_params(3)})
    graph = run_passes(model, fold_batchnorm)
    assert ops(graph) == ["Conv", "BatchNormalization", "Relu"]
    assert_same_outputs(model, graph)


def test_batchnorm_is_not_folded_over_a_runtime_bias():
    model = make_model([conv_node("x", "w", "c", "b"),
                        helper.make_node("BatchNormalization", ["c"] + BN_INPUTS, ["y"], name="bn")],
                       [vi("x", [1, 2, 4, 4]), vi("b", [3])], [vi("y", [1, 3, 2, 2])],
                       {"w": weights(3, 2, 3, 3), **bn_params(3)})
    graph = run_passes(model, fold_batchnorm)
    assert ops(graph) == ["Conv", "BatchNormalization"]
    assert_same_outputs(model, graph)


# -- fuse_bias_add --------------------------------------------------------------------------------
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("const_shape", [(1, 3, 1, 1), (3, 1, 1)])
def test_per_channel_add_becomes_the_conv_bias(with_bias, const_shape):
    inits = {"w": weights(3, 2, 3, 3), "k": weights(*const_shape, seed=8)}
    if with_bias:
        inits["b"] = weights(3, seed=2)
    model = make_model([conv_node("x", "w", "c", "b" if with_bias else None),
                        helper.make_node("Add", ["k", "c"], ["y"], name="add")],  # constant on the left
                       [vi("x", [1, 2, 5, 5])], [vi("y", [1, 3, 3, 3])], inits)
    graph = run_passes(model, fuse_bias_add, eliminate_dead_code)
    assert ops(graph) == ["Conv"]
    assert len(graph.node("conv0").present_inputs) == 3
    assert_same_outputs(model, graph)


def test_add_varying_over_space_is_not_a_conv_bias():
    model = make_model([conv_node("x", "w", "c"), helper.make_node("Add", ["c", "k"], ["y"], name="add")],
                       [vi("x", [1, 2, 5, 5])], [vi("y", [1, 3, 3, 3])],
                       {"w": weights(3, 2, 3, 3), "k": weights(1, 3, 3, 3)})
    graph = run_passes(model, fuse_bias_add)
    assert ops(graph) == ["Conv", "Add"]
    assert_same_outputs(model, graph)


def test_matmul_plus_constant_becomes_gemm():
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                        helper.make_node("Add", ["m", "b"], ["y"], name="add")],
                       [vi("x", [2, 4])], [vi("y", [2, 3])], {"w": weights(4, 3), "b": weights(3, seed=6)})
    graph = run_passes(model, fuse_bias_add, eliminate_dead_code)
    assert ops(graph) == ["Gemm"]
    assert len(graph.node("mm").present_inputs) == 3
    assert_same_outputs(model, graph)


def test_batched_matmul_plus_constant_stays():
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["m"], name="mm"),
                        helper.make_node("Add", ["m", "b"], ["y"], name="add")],
                       [vi("x", [2, 2, 4])], [vi("y", [2, 2, 3])], {"w": weights(4, 3), "b": weights(3, seed=6)})
    graph = run_passes(model, fuse_bias_add)
    assert ops(graph) == ["MatMul", "Add"]
    assert_same_outputs(model, graph)


# -- fuse_activation ------------------------------------------------------------------------------
ACTIVATIONS = {
    "Relu": lambda i, o: (helper.make_node("Relu", [i], [o], name="act"), {}),
    "Clip": lambda i, o: (helper.make_node("Clip", [i, "lo", "hi"], [o], name="act"),
                          {"lo": np.array(0, np.float32), "hi": np.array(6, np.float32)}),
    "LeakyRelu": lambda i, o: (helper.make_node("LeakyRelu", [i], [o], name="act", alpha=0.1), {}),
    "Sigmoid": lambda i, o: (helper.make_node("Sigmoid", [i], [o], name="act"), {}),
    "HardSwish": lambda i, o: (helper.make_node("HardSwish", [i], [o], name="act"), {}),
}


def producer(kind: str, out: str) -> tuple[list[onnx.NodeProto], list[onnx.ValueInfoProto], dict, list[int]]:
    """(nodes, graph inputs, initializers, output shape) of a graph whose last node ``kind`` writes ``out``."""
    if kind == "Conv":
        return ([conv_node("x", "w", out, "b", name="prod", pads=[1, 1, 1, 1])], [vi("x", [1, 2, 4, 4])],
                {"w": weights(3, 2, 3, 3), "b": weights(3, seed=3)}, [1, 3, 4, 4])
    if kind == "Gemm":
        return ([helper.make_node("Gemm", ["x", "w", "b"], [out], name="prod", transB=1)], [vi("x", [2, 4])],
                {"w": weights(3, 4), "b": weights(3, seed=3)}, [2, 3])
    if kind == "MatMul":
        return ([helper.make_node("MatMul", ["x", "w"], [out], name="prod")], [vi("x", [2, 2, 4])],
                {"w": weights(4, 3)}, [2, 2, 3])
    return ([helper.make_node("Add", ["x", "x2"], [out], name="prod")], [vi("x", [2, 3]), vi("x2", [1, 3])], {},
            [2, 3])


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("kind", ["Conv", "Gemm", "MatMul", "Add"])
def test_activation_fuses_into_its_producer(kind, act):
    nodes, inputs, inits, shape = producer(kind, "p")
    act_node, act_inits = ACTIVATIONS[act]("p", "y")
    model = make_model(nodes + [act_node], inputs, [vi("y", shape)], {**inits, **act_inits}, opset=14)
    graph = run_passes(model, fuse_activation, eliminate_dead_code)
    assert ops(graph) == [kind]
    node = graph.node("prod")
    assert node.outputs == ["y"] and node.attrs["activation"]["op_type"] == act
    if act == "Clip":
        assert node.attrs["activation"]["attrs"] == {"min": 0.0, "max": 6.0}
    if act == "LeakyRelu":
        assert node.attrs["activation"]["attrs"]["alpha"] == pytest.approx(0.1)
    assert_same_outputs(model, graph)


def test_activation_is_not_fused_when_the_intermediate_has_two_readers():
    model = make_model([conv_node("x", "w", "c", pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"], name="relu"),
                        helper.make_node("Sigmoid", ["c"], ["z"], name="sig")],
                       [vi("x", [1, 2, 4, 4])], [vi("y", [1, 3, 4, 4]), vi("z", [1, 3, 4, 4])],
                       {"w": weights(3, 2, 3, 3)})
    graph = run_passes(model, fuse_activation)
    assert ops(graph) == ["Conv", "Relu", "Sigmoid"]
    assert "activation" not in graph.node("conv0").attrs
    assert_same_outputs(model, graph)


def test_activation_is_not_fused_when_the_intermediate_is_a_graph_output():
    model = make_model([conv_node("x", "w", "c", pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["y"], name="relu")],
                       [vi("x", [1, 2, 4, 4])], [vi("c", [1, 3, 4, 4]), vi("y", [1, 3, 4, 4])],
                       {"w": weights(3, 2, 3, 3)})
    graph = run_passes(model, fuse_activation)
    assert ops(graph) == ["Conv", "Relu"]
    assert_same_outputs(model, graph)


def test_clip_with_runtime_bounds_is_not_fused():
    model = make_model([helper.make_node("Gemm", ["x", "w"], ["g"], name="gemm"),
                        helper.make_node("Clip", ["g", "lo"], ["y"], name="clip")],
                       [vi("x", [2, 4]), vi("lo", [])], [vi("y", [2, 3])], {"w": weights(4, 3)})
    graph = run_passes(model, fuse_activation)
    assert ops(graph) == ["Gemm", "Clip"]
    assert_same_outputs(model, graph, {**feeds_for(model), "lo": np.array(0.2, np.float32)})


def test_only_one_activation_is_fused_per_producer():
    model = make_model([helper.make_node("Gemm", ["x", "w"], ["g"], name="gemm"),
                        helper.make_node("Relu", ["g"], ["r"], name="relu"),
                        helper.make_node("Sigmoid", ["r"], ["y"], name="sig")],
                       [vi("x", [2, 4])], [vi("y", [2, 3])], {"w": weights(4, 3)})
    graph = run_passes(model, fuse_activation, eliminate_dead_code)
    assert ops(graph) == ["Gemm", "Sigmoid"]
    assert graph.node("gemm").attrs["activation"]["op_type"] == "Relu"
    assert_same_outputs(model, graph)


@pytest.mark.parametrize("skipped", ["conv0", "bn", "relu"])
def test_skip_layers_keeps_a_named_layer_unfused(skipped):
    model = make_model([conv_node("x", "w", "c", pads=[1, 1, 1, 1]),
                        helper.make_node("BatchNormalization", ["c"] + BN_INPUTS, ["n"], name="bn"),
                        helper.make_node("Relu", ["n"], ["y"], name="relu")],
                       [vi("x", [1, 2, 4, 4])], [vi("y", [1, 3, 4, 4])], {"w": weights(3, 2, 3, 3), **bn_params(3)})
    fused = default_pipeline()(import_onnx(model), PassContext(debug=True))
    assert ops(fused) == ["Conv"]
    graph = default_pipeline()(import_onnx(model), PassContext(debug=True, skip_layers={skipped}))
    assert "Relu" in ops(graph)
    assert "activation" not in graph.node("conv0").attrs
    if skipped in ("conv0", "bn"):
        assert ops(graph) == ["Conv", "BatchNormalization", "Relu"]
    else:
        assert ops(graph) == ["Conv", "Relu"]
    assert_same_outputs(model, graph)


# -- fuse_pad -------------------------------------------------------------------------------------
def pad_model(pads: list[int], conv_attrs: dict, x_shape=(1, 2, 6, 6), value: float | None = None,
              mode: str = "constant", axes: list[int] | None = None, extra_reader: bool = False) -> onnx.ModelProto:
    rank = len(x_shape)
    inits = {"pads": np.array(pads, np.int64), "w": weights(3, 2, *([3] * (rank - 2)))}
    pad_inputs = ["x", "pads"]
    if value is not None or axes is not None:
        pad_inputs.append("cval" if value is not None else "")
        if value is not None:
            inits["cval"] = np.array(value, np.float32)
    if axes is not None:
        pad_inputs.append("axes")
        inits["axes"] = np.array(axes, np.int64)
    nodes = [helper.make_node("Pad", pad_inputs, ["p"], name="pad", mode=mode), conv_node("p", "w", "y", **conv_attrs)]
    outputs = [vi("y", None)]
    if extra_reader:
        nodes.append(helper.make_node("Relu", ["p"], ["r"], name="relu"))
        outputs.append(vi("r", None))
    return make_model(nodes, [vi("x", list(x_shape))], outputs, inits, opset=18 if axes is not None else 13)


@pytest.mark.parametrize("pads,conv_attrs,want", [
    ([0, 0, 1, 0, 0, 0, 2, 1], {}, [1, 0, 2, 1]),
    ([0, 0, 0, 0, 0, 0, 1, 1], {"strides": [2, 2]}, [0, 0, 1, 1]),  # MobileNetV2's TF "valid" stride 2
    ([0, 0, 1, 1, 0, 0, 1, 1], {"pads": [1, 0, 0, 2]}, [2, 1, 1, 3]),
    ([0, 0, 1, 1, 0, 0, 1, 1], {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, [1, 1, 2, 2]),
    ([0, 0, 1, 1, 0, 0, 1, 1], {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, [2, 2, 1, 1]),
    ([0, 0, 2, 0, 0, 0, 0, 2], {"auto_pad": "VALID", "dilations": [2, 2]}, [2, 0, 0, 2]),
])
def test_zero_spatial_pad_folds_into_the_conv(pads, conv_attrs, want):
    model = pad_model(pads, conv_attrs)
    graph = run_passes(model, fuse_pad, eliminate_dead_code)
    assert ops(graph) == ["Conv"]
    conv = graph.node("conv0")
    assert conv.inputs[0] == "x"
    assert conv.attrs["pads"] == want
    assert conv.attrs.get("auto_pad", "NOTSET") == "NOTSET"
    assert "pads" not in graph.tensors and "p" not in graph.tensors
    assert_same_outputs(model, graph)


@pytest.mark.parametrize("pads,conv_attrs", [
    ([0, 0, 0, 0, 0, 0, 1, 1], {"strides": [2, 2]}),
    ([0, 0, 1, 2, 0, 0, 2, 0], {"auto_pad": "SAME_LOWER", "strides": [2, 1]}),
])
def test_conv_with_folded_pads_runs_in_c(tmp_path, pads, conv_attrs):
    from aot.flows.verify import verify_model
    path = tmp_path / "pad_conv.onnx"
    onnx.save(pad_model(pads, conv_attrs, x_shape=(1, 2, 7, 6)), str(path))
    report = verify_model(path)
    assert report.ok, report.table()


def test_pad_with_explicit_zero_value_and_axes_folds():
    model = pad_model([1, 2, 0, 1], {}, value=0.0, axes=[-2, 3])
    graph = run_passes(model, fuse_pad, eliminate_dead_code)
    assert ops(graph) == ["Conv"]
    assert graph.node("conv0").attrs["pads"] == [1, 2, 0, 1]
    assert_same_outputs(model, graph)


def test_pad_folds_into_a_1d_conv():
    model = pad_model([0, 0, 2, 0, 0, 1], {}, x_shape=(1, 2, 7))
    graph = run_passes(model, fuse_pad, eliminate_dead_code)
    assert ops(graph) == ["Conv"]
    assert graph.node("conv0").attrs["pads"] == [2, 1]
    assert_same_outputs(model, graph)


@pytest.mark.parametrize("case", ["nonzero_value", "channel_pad", "reflect", "negative", "two_readers"])
def test_pad_that_conv_pads_cannot_express_stays(case):
    model = {
        "nonzero_value": lambda: pad_model([0, 0, 1, 1, 0, 0, 1, 1], {}, value=0.5),
        "channel_pad": lambda: pad_model([0, 1, 1, 1, 0, 0, 1, 1], {}),
        "reflect": lambda: pad_model([0, 0, 1, 1, 0, 0, 1, 1], {}, mode="reflect"),
        "negative": lambda: pad_model([0, 0, -1, 1, 0, 0, 1, 1], {}),
        "two_readers": lambda: pad_model([0, 0, 1, 1, 0, 0, 1, 1], {}, extra_reader=True),
    }[case]()
    if case == "channel_pad":  # the Conv must take the padded channel count
        w = next(i for i in model.graph.initializer if i.name == "w")
        w.CopyFrom(numpy_helper.from_array(weights(3, 3, 3, 3), "w"))
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    graph = run_passes(model, fuse_pad)
    assert "Pad" in ops(graph)
    assert graph.node("conv0").inputs[0] == "p"
    assert_same_outputs(model, graph)


def test_default_pipeline_fuses_pad_before_activation():
    assert default_pipeline().names.index("fuse_pad") < default_pipeline().names.index("fuse_activation")
    assert PASSES["fuse_pad"] is fuse_pad


def test_mobilenet_pads_fold_into_its_convs_and_it_still_verifies(shared_model):
    from aot.flows.verify import verify_model
    mobilenet = shared_model("mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx")
    graph = import_onnx(mobilenet)
    assert graph.count_ops("Pad") == 4
    optimized = default_pipeline()(graph, PassContext(debug=True))
    assert optimized.count_ops("Pad") == 0
    report = verify_model(mobilenet)
    assert report.ok, report.table()


# -- infer_layouts --------------------------------------------------------------------------------
def test_layouts_follow_conv_and_elementwise_ops():
    model = make_model([conv_node("x", "w", "c", "b", pads=[1, 1, 1, 1]),
                        helper.make_node("Relu", ["c"], ["r"], name="relu"),
                        helper.make_node("Conv", ["t", "w1"], ["c1"], name="conv1d"),
                        helper.make_node("Flatten", ["r"], ["f"], name="flat"),
                        helper.make_node("Gemm", ["f", "g"], ["y"], name="gemm")],
                       [vi("x", [1, 2, 4, 4]), vi("t", [1, 2, 5])], [vi("y", [1, 2]), vi("c1", [1, 3, 3])],
                       {"w": weights(3, 2, 3, 3), "b": weights(3), "w1": weights(3, 2, 3), "g": weights(48, 2)})
    graph = run_passes(model, infer_layouts)
    layouts = {name: t.layout for name, t in graph.tensors.items()}
    assert layouts["x"] == layouts["c"] == layouts["r"] == "NCHW"
    assert layouts["w"] == "OIHW"
    assert layouts["t"] == layouts["c1"] == "NCW" and layouts["w1"] == "OIW"
    assert layouts["f"] is None and layouts["y"] is None and layouts["g"] is None and layouts["b"] is None
    assert_same_outputs(model, graph)


# -- Sequential and PassContext -------------------------------------------------------------------
def _relu_gemm_model() -> onnx.ModelProto:
    return make_model([helper.make_node("Gemm", ["x", "w", "b"], ["g"], name="gemm"),
                       helper.make_node("Relu", ["g"], ["y"], name="relu")],
                      [vi("x", [2, 4])], [vi("y", [2, 3])], {"w": weights(4, 3), "b": weights(3)})


def _break_graph(graph: Graph, ctx: PassContext) -> Graph:
    graph.nodes[0].inputs[0] = "nowhere"  # a read of a tensor nobody produces
    graph.tensors["nowhere"] = Tensor("nowhere", (2, 4), "float32")
    return graph


_break_graph.pass_name = "break_graph"  # type: ignore[attr-defined]


def test_debug_mode_verifies_after_every_pass(monkeypatch):
    seen = []
    real_verify = pass_context.verify

    def spy(graph: Graph, after: str | None = None) -> None:
        seen.append(after)
        real_verify(graph, after=after)

    monkeypatch.setattr(pass_context, "verify", spy)
    pipeline = default_pipeline()
    pipeline(import_onnx(_relu_gemm_model()), PassContext(debug=True))
    assert seen == pipeline.names
    seen.clear()
    pipeline(import_onnx(_relu_gemm_model()), PassContext(debug=False))
    assert seen == []


def test_debug_mode_names_the_pass_that_broke_the_graph():
    with pytest.raises(VerificationError, match="after pass 'break_graph'"):
        Sequential([fuse_activation, _break_graph])(import_onnx(_relu_gemm_model()), PassContext(debug=True))
    # Without debug the broken graph goes through unchecked.
    Sequential([_break_graph])(import_onnx(_relu_gemm_model()), PassContext(debug=False))


def test_dump_ir_after_prints_the_ir_after_the_named_pass(capsys):
    graph = default_pipeline()(import_onnx(_relu_gemm_model()), PassContext(dump_ir_after={"fuse_activation"}))
    out = capsys.readouterr().out
    assert out.count("; IR after ") == 1 and "; IR after fuse_activation" in out
    assert "Gemm(%x, %w, %b)" in out and "activation=" in out and "Relu" in out
    assert "= Relu(" not in out  # printed after the fusion, not before
    assert ops(graph) == ["Gemm"]

    stream = io.StringIO()
    default_pipeline()(import_onnx(_relu_gemm_model()), PassContext(dump_ir_after={"all"}, dump_stream=stream))
    assert [line for line in stream.getvalue().splitlines() if line.startswith("; IR after ")] == \
        [f"; IR after {name}" for name in default_pipeline().names]
    assert capsys.readouterr().out == ""


def test_cli_compile_dump_ir_after_pass(tmp_path, capsys):
    from aot.cli import main
    path = tmp_path / "m.onnx"
    onnx.save(pad_model([0, 0, 1, 1, 0, 0, 1, 1], {}), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "lib"), "--dump-ir-after", "fuse_pad"]) == 0
    out = capsys.readouterr().out
    assert "; IR after fuse_pad" in out and "pads=[1, 1, 1, 1]" in out
    assert "Pad(" not in out.split("; IR after fuse_pad")[1].split("wrote")[0]
