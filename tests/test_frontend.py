"""ONNX import: C-safe names, IR-3 initializers, constant folding, dynamic shapes, opsets 7..21."""
from __future__ import annotations

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import main
from aot.compiler import CompileOptions, optimize
from aot.frontend import import_onnx
from aot.flows.verify import verify_model

C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def make_model(nodes, inputs, outputs, initializers=(), opset=13, ir_version=8) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def save(model: onnx.ModelProto, path) -> str:
    onnx.save(model, str(path))
    return str(path)


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def assert_verifies(path, **kwargs) -> None:
    report = verify_model(path, **kwargs)
    assert report.ok, report.table()


# -- names ----------------------------------------------------------------------------------------
def colliding_names_model() -> onnx.ModelProto:
    names = ["a:0", "a/0", "a.0"]
    nodes = [helper.make_node("Add", ["a:0", "a/0"], ["sum"], name="add"),
             helper.make_node("Mul", ["sum", "a.0"], ["out:0"], name="mul/1")]
    return make_model(nodes, [vi(n, [1, 4]) for n in names], [vi("out:0", [1, 4])])


def test_colliding_input_names_get_unique_c_names_deterministically():
    graph = import_onnx(colliding_names_model())
    assert graph.inputs == ["a_0", "a_0_1", "a_0_2"]  # collision suffixes follow declaration order
    assert [graph.tensors[n].onnx_name for n in graph.inputs] == ["a:0", "a/0", "a.0"]
    assert all(C_IDENTIFIER.match(name) for name in graph.tensors)
    assert len(set(graph.tensors)) == len(graph.tensors)
    again = import_onnx(colliding_names_model())
    assert list(again.tensors) == list(graph.tensors)
    assert [n.name for n in again.nodes] == [n.name for n in graph.nodes]


def test_awkward_names_become_valid_c_identifiers():
    raw = ["int", "0start", "serving_default_input_1:0", "x" * 200, "-", "a b/c"]
    nodes = [helper.make_node("Relu", [n], [f"{n}_out"], name=n) for n in raw]
    model = make_model(nodes, [vi(n, [2]) for n in raw], [vi(f"{n}_out", [2]) for n in raw])
    graph = import_onnx(model)
    for name in graph.tensors:
        assert C_IDENTIFIER.match(name), name
        assert name not in {"int", "main"} and len(name) <= 48
    assert "serving_default_input_1_0" in graph.inputs


def test_colliding_names_compile_and_match_onnxruntime(tmp_path):
    assert_verifies(save(colliding_names_model(), tmp_path / "names.onnx"))


# -- initializers -------------------------------------------------------------------------------
def ir3_model() -> onnx.ModelProto:
    rng = np.random.default_rng(1)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.standard_normal((3,)).astype(np.float32), "B")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "B"], ["y"])]
    # IR version 3 lists every initializer as a graph input as well.
    return make_model(nodes, [vi("x", [2, 4]), vi("W", [4, 3]), vi("B", [3])], [vi("y", [2, 3])],
                      [w, b], opset=8, ir_version=3)


def test_ir3_initializers_listed_as_inputs_are_constants(tmp_path):
    graph = import_onnx(ir3_model())
    assert graph.inputs == ["x"]
    assert graph.tensors["W"].is_constant and graph.tensors["B"].is_constant
    np.testing.assert_array_equal(graph.tensors["W"].data, numpy_helper.to_array(ir3_model().graph.initializer[0]))
    assert_verifies(save(ir3_model(), tmp_path / "ir3.onnx"))


# -- constant folding ---------------------------------------------------------------------------
def test_dequantize_of_constant_int8_weights_folds_to_float(tmp_path):
    rng = np.random.default_rng(2)
    q = rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8)
    scale = np.array([0.02, 0.01, 0.05, 0.03], np.float32)
    zero = np.zeros(4, np.int8)
    inits = [numpy_helper.from_array(q, "wq"), numpy_helper.from_array(scale, "ws"),
             numpy_helper.from_array(zero, "wz")]
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"], axis=0),
             helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])]
    model = make_model(nodes, [vi("x", [1, 3, 6, 6])], [vi("y", [1, 4, 6, 6])], inits)
    graph = optimize(model)  # import keeps the DequantizeLinear for QDQ lowering; folding finishes it
    assert [n.op_type for n in graph.nodes] == ["Conv"]
    weight = graph.tensors[graph.nodes[0].inputs[1]]
    assert weight.is_constant and weight.dtype == "float32"
    np.testing.assert_allclose(weight.data, q.astype(np.float32) * scale[:, None, None, None], rtol=0, atol=0)
    assert_verifies(save(model, tmp_path / "dq.onnx"))


def shape_chain_model() -> onnx.ModelProto:
    # The exporter idiom for flatten: Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])).
    inits = [numpy_helper.from_array(np.array(0, np.int64), "zero"),
             numpy_helper.from_array(np.array([0], np.int64), "axes0"),
             numpy_helper.from_array(np.array([-1], np.int64), "minus_one")]
    nodes = [helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
             helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
             helper.make_node("Concat", ["batch1", "minus_one"], ["new_shape"], axis=0),
             helper.make_node("Reshape", ["x", "new_shape"], ["flat"]),
             helper.make_node("Relu", ["flat"], ["y"])]
    return make_model(nodes, [vi("x", ["N", 2, 3, 4])], [vi("y", ["N", 24])], inits)


def test_shape_gather_concat_reshape_chain_folds(tmp_path):
    graph = optimize(shape_chain_model())
    ops = [n.op_type for n in graph.nodes]
    assert not {"Shape", "Gather", "Unsqueeze", "Concat"} & set(ops), ops
    assert ops.count("Reshape") == 1
    reshape = next(n for n in graph.nodes if n.op_type == "Reshape")
    np.testing.assert_array_equal(graph.tensors[reshape.inputs[1]].data, [1, -1])  # batch 1 read from Shape
    assert graph.tensors[graph.outputs[0]].shape == (1, 24)
    assert_verifies(save(shape_chain_model(), tmp_path / "chain.onnx"))


# -- dynamic dimensions -----------------------------------------------------------------------------
def dynamic_model() -> onnx.ModelProto:
    return make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", ["N", "T", 4])], [vi("y", ["N", "T", 4])])


def test_symbolic_batch_dimension_defaults_to_one_with_a_note(tmp_path, capsys):
    model = make_model([helper.make_node("Sigmoid", ["x"], ["y"])], [vi("x", ["unk__608", 5])],
                       [vi("y", ["unk__608", 5])])
    graph = import_onnx(model)
    assert graph.tensors[graph.inputs[0]].shape == (1, 5)
    assert graph.tensors[graph.outputs[0]].shape == (1, 5)
    assert any("unk__608" in note and "set to 1" in note for note in graph.notes), graph.notes
    path = save(model, tmp_path / "batch.onnx")
    assert main(["compile", path, "-o", str(tmp_path / "lib")]) == 0
    assert "note: input 'x': dynamic batch dimension 'unk__608' set to 1" in capsys.readouterr().out


def test_input_shape_overrides_dynamic_dimensions(tmp_path):
    graph = import_onnx(dynamic_model(), input_shapes={"x": (2, 7, 4)})
    assert graph.tensors[graph.inputs[0]].shape == (2, 7, 4)
    assert graph.tensors[graph.outputs[0]].shape == (2, 7, 4)
    assert not graph.notes  # nothing was defaulted
    path = save(dynamic_model(), tmp_path / "dyn.onnx")
    assert_verifies(path, options=CompileOptions(input_shapes={"x": (3, 5, 4)}))


def test_input_shape_also_overrides_a_symbolic_batch(tmp_path):
    graph = import_onnx(shape_chain_model(), input_shapes={"x": (3, 2, 3, 4)})
    assert graph.tensors[graph.inputs[0]].shape == (3, 2, 3, 4)
    assert graph.tensors[graph.outputs[0]].shape == (3, 24)  # the Shape chain saw the overridden batch
    assert_verifies(save(shape_chain_model(), tmp_path / "chain.onnx"),
                    options=CompileOptions(input_shapes={"x": (3, 2, 3, 4)}))


# -- opsets 7..21 -----------------------------------------------------------------------------------
def conv_net_at_opset(opset: int) -> onnx.ModelProto:
    """The same small net written in each opset's own forms (Clip, Pad, Squeeze and Unsqueeze
    moved attributes to inputs at opsets 11 and 13)."""
    rng = np.random.default_rng(opset)
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    inits = [numpy_helper.from_array(f32(rng.standard_normal((4, 3, 3, 3)) * 0.3), "w"),
             numpy_helper.from_array(f32(rng.standard_normal(4) * 0.1), "b"),
             numpy_helper.from_array(f32(rng.uniform(0.5, 1.5, 4)), "gamma"),
             numpy_helper.from_array(f32(rng.uniform(-0.2, 0.2, 4)), "beta"),
             numpy_helper.from_array(f32(rng.uniform(-0.2, 0.2, 4)), "mean"),
             numpy_helper.from_array(f32(rng.uniform(0.5, 1.5, 4)), "var"),
             numpy_helper.from_array(f32(rng.standard_normal((5, 4)) * 0.5), "fc_w"),
             numpy_helper.from_array(f32(rng.standard_normal(5) * 0.1), "fc_b")]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-5)]
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["bn"], ["clip"], min=0.0, max=6.0))
        nodes.append(helper.make_node("Pad", ["clip"], ["pad"], pads=[0, 0, 1, 1, 0, 0, 1, 1], value=0.0))
    else:
        inits += [numpy_helper.from_array(f32(0.0), "lo"), numpy_helper.from_array(f32(6.0), "hi"),
                  numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), "pads")]
        nodes.append(helper.make_node("Clip", ["bn", "lo", "hi"], ["clip"]))
        nodes.append(helper.make_node("Pad", ["clip", "pads"], ["pad"]))
    nodes += [helper.make_node("MaxPool", ["pad"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("GlobalAveragePool", ["pool"], ["gap"]),
              helper.make_node("Flatten", ["gap"], ["flat"], axis=1),
              helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1)]
    if opset < 13:
        nodes += [helper.make_node("Unsqueeze", ["logits"], ["u"], axes=[2]),
                  helper.make_node("Squeeze", ["u"], ["s"], axes=[2])]
    else:
        inits.append(numpy_helper.from_array(np.array([2], np.int64), "axis2"))
        nodes += [helper.make_node("Unsqueeze", ["logits", "axis2"], ["u"]),
                  helper.make_node("Squeeze", ["u", "axis2"], ["s"])]
    nodes.append(helper.make_node("Softmax", ["s"], ["y"], axis=1))
    inputs = [vi("x", [1, 3, 8, 8])]
    if opset < 8:  # an authentic opset-7 file: IR version 3, initializers also listed as inputs
        inputs += [vi(t.name, list(t.dims), t.data_type) for t in inits]
    model = make_model(nodes, inputs, [vi("y", [1, 5])], inits, opset=opset, ir_version=3 if opset < 8 else 7)
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.mark.parametrize("opset", range(7, 22))
def test_models_of_every_supported_opset_import_and_match(tmp_path, opset):
    model = conv_net_at_opset(opset)
    graph = import_onnx(model)
    assert graph.opset >= 13  # old models are canonicalised to opset 13 forms
    assert graph.tensors[graph.outputs[0]].shape == (1, 5)
    assert_verifies(save(model, tmp_path / f"net{opset}.onnx"))


@pytest.mark.parametrize("opset", [22, 25, onnx.defs.onnx_opset_version()])
def test_newest_opsets_import_natively(tmp_path, opset, capsys):
    """Opsets past 21 (onnx 1.22 regenerated most node tests there) compile without down-conversion."""
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])], opset=opset)
    path = save(model, tmp_path / "new.onnx")
    assert main(["compile", path, "-o", str(tmp_path / "lib")]) == 0, capsys.readouterr().err


@pytest.mark.parametrize("opset", [6, onnx.defs.onnx_opset_version() + 1])
def test_opsets_outside_the_supported_range_are_refused(tmp_path, opset, capsys):
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [vi("y", [2])], opset=opset)
    path = save(model, tmp_path / "old.onnx")
    assert main(["compile", path, "-o", str(tmp_path / "lib")]) != 0
    err = capsys.readouterr().err
    assert f"opset {opset}" in err and f"7 to {onnx.defs.onnx_opset_version()}" in err
    assert not (tmp_path / "lib").exists()


def test_model_local_functions_are_inlined(tmp_path, capsys):
    """torch.onnx's dynamo exporter wraps modules in model-local functions; their bodies compile."""
    body = [helper.make_node("Relu", ["a"], ["t"]), helper.make_node("Neg", ["t"], ["b"])]
    function = helper.make_function("pkg.local", "ReluNeg", ["a"], ["b"], body, [helper.make_opsetid("", 18)])
    graph = helper.make_graph([helper.make_node("ReluNeg", ["x"], ["y"], domain="pkg.local", name="block")], "g",
                              [vi("x", [1, 4])], [vi("y", [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("pkg.local", 1)],
                              functions=[function])
    path = save(model, tmp_path / "functions.onnx")
    assert main(["verify", path]) == 0, capsys.readouterr().err


def test_classic_ml_domain_is_refused_cleanly(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Normalizer", ["x"], ["y"], domain="ai.onnx.ml", norm="L2",
                                                name="norm")], "g", [vi("x", [1, 4])], [vi("y", [1, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)])
    path = save(model, tmp_path / "ml.onnx")
    assert main(["compile", path, "-o", str(tmp_path / "lib")]) == 2
    err = capsys.readouterr().err
    assert "cannot compile ai.onnx.ml.Normalizer (opset 3, float32): node 'norm': " in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_op_of_another_domain_with_a_function_body_is_expanded(tmp_path):
    """ai.onnx.preview's FlexAttention (with a score_mod subgraph) compiles through its schema's body and
    matches the ONNX reference evaluator (ONNX Runtime has no kernel for the preview domain)."""
    from onnx.reference import ReferenceEvaluator

    from aot.compiler import compile_model, write_library
    from aot.targets.host import load
    scores = helper.make_tensor_value_info("s", TensorProto.FLOAT, None)
    halved = helper.make_tensor_value_info("t", TensorProto.FLOAT, None)
    score_mod = helper.make_graph([helper.make_node("Mul", ["s", "half"], ["t"])], "score_mod", [scores], [halved],
                                  [numpy_helper.from_array(np.array(0.5, np.float32), "half")])
    node = helper.make_node("FlexAttention", ["q", "k", "v"], ["y"], domain="ai.onnx.preview", score_mod=score_mod)
    dims = {"q": [1, 2, 3, 4], "k": [1, 2, 5, 4], "v": [1, 2, 5, 6]}
    graph = helper.make_graph([node], "flex", [helper.make_tensor_value_info(n, TensorProto.FLOAT, d)
                                               for n, d in dims.items()],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26),
                                                    helper.make_opsetid("ai.onnx.preview", 1)])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(d).astype(np.float32) for n, d in dims.items()}
    got = load(write_library(compile_model(model), tmp_path / "lib")).run(feeds)[0]
    want = ReferenceEvaluator(model).run(None, feeds)[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
