"""The op table (aot/ops) and the pattern/pass plug-in machinery built on it.

Every elementwise map's C form and numpy form agree with each other and with ONNX Runtime, on
ordinary and on special values (NaN, infinities, signed zero, huge and tiny magnitudes); every op a
backend runs has an op-table entry; kernel variants need explicit priorities; a user's fusion
pattern and a user's pass run inside ``aot compile`` at the place they were registered.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

from aot.backends import REGISTRY, Kernel, TemplateBackend, register_backend
from aot.backends.patterns import Pattern, op
from aot.compiler import CompileOptions, compile_model, compile_pipeline, write_library
from aot.errors import AotError
from aot.ops import OPS, apply_activation_numpy, layer_macs, op_spec, op_types
from aot.passes import register_pass, unregister_pass
from aot.reference import run_reference
from aot.targets.host import load

from conftest import float_input, make_model, tiny_cnn_model

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30, 88.0, -88.0, 0.5, -0.5,
                    3.0, -3.0, 6.0, -6.0, 100.0], np.float32)
# The float maps (float32 in and out); the predicates (IsNaN: bool out) and logic are in test_ops_elementwise.py.
UNARY_OPS = [o for o in op_types(lambda s: s.unary is not None and "float32" in s.unary.dtypes and s.unary.output is None)
             if o not in ("Dropout", "Identity")]


def unary_model(op_type: str, values: np.ndarray) -> onnx.ModelProto:
    extra = {}
    if op_type == "Clip":
        extra = {"min": np.array(-1.5, np.float32), "max": np.array(2.5, np.float32)}
    node = helper.make_node(op_type, ["x"] + list(extra), ["y"], name="op")
    opset = max(14, op_spec(op_type).min_opset or 0)  # Mish is opset 18, Gelu 20
    return make_model([node], [float_input("x", [values.size])], [float_input("y", [values.size])], extra, opset=opset)


@pytest.mark.parametrize("op_type", UNARY_OPS)
def test_unary_forms_agree_with_onnxruntime_on_special_values(op_type, tmp_path):
    rng = np.random.default_rng(0)
    values = np.concatenate([SPECIAL, rng.uniform(-8, 8, 46).astype(np.float32)])
    model = unary_model(op_type, values)
    compiled = compile_model(model)
    got = load(write_library(compiled, tmp_path / "lib")).run([values])[0]
    ref = run_reference(model, {"x": values})[0]
    node = compiled.graph.nodes[0]
    form = op_spec(op_type).unary
    with np.errstate(all="ignore"):  # overflow to inf and NaN are the point here
        numpy_form = form.numpy(values, form.attrs(compiled.graph, node))
    for name, other in (("ONNX Runtime", ref), ("the numpy form", numpy_form)):
        assert np.array_equal(np.isnan(got), np.isnan(other)), f"{op_type}: NaN differs from {name}: {got} {other}"
        finite = ~np.isnan(got)
        np.testing.assert_allclose(got[finite], other[finite], rtol=1e-5, atol=1e-6, err_msg=f"{op_type} vs {name}")


def test_fused_activation_numpy_form_is_the_op_table_one():
    y = np.array([-2.0, 0.5, 7.0], np.float32)
    assert np.array_equal(apply_activation_numpy({"op_type": "Clip", "attrs": {"min": 0.0, "max": 6.0}}, y),
                          np.array([0.0, 0.5, 6.0], np.float32))
    assert apply_activation_numpy(None, y) is y


def test_every_op_a_backend_runs_is_in_the_op_table():
    ref_ops = set(REGISTRY.get("ref").supported_ops())
    assert ref_ops - set(OPS) == set()


def test_layer_macs():
    compiled = compile_model(tiny_cnn_model())
    macs = {layer["op_type"]: layer["macs"] for layer in compiled.metadata["layers"]}
    conv = compiled.graph.nodes[0]
    assert macs["Conv"] == 4 * 8 * 8 * 3 * 3 * 3 == layer_macs(compiled.graph, conv)
    assert macs["Gemm"] == 64 * 10


def test_equal_priorities_are_refused_not_resolved_by_registration_order(tmp_path):
    backend = TemplateBackend("twins")
    for _ in range(2):
        backend.add_kernel(Kernel(("Relu",), "ref/unary.c.j2", params=lambda n, g: {"expr": "x"},
                                  input_names=("X",), output_names=("Y",)))
    register_backend(backend)
    try:
        model = make_model([helper.make_node("Relu", ["x"], ["y"])], [float_input("x", [4])], [float_input("y", [4])])
        with pytest.raises(ValueError, match="distinct priorities"):
            compile_model(model, CompileOptions(backends=["twins"]))
        backend.kernels[1].priority = 1
        compiled = compile_model(model, CompileOptions(backends=["twins"]))
        assert compiled.calls[0].kernel is backend.kernels[1]
    finally:
        REGISTRY.unregister("twins")


def two_exps() -> onnx.ModelProto:
    nodes = [helper.make_node("Exp", ["x"], ["e"], name="first"), helper.make_node("Exp", ["e"], ["y"], name="second")]
    return make_model(nodes, [float_input("x", [2, 3])], [float_input("y", [2, 3])])


def test_user_fusion_pattern_with_rewrite(tmp_path):
    """A backend's pattern that rewrites in place (exp(exp(x)) as one node) runs in aot compile."""
    backend = TemplateBackend("expexp")

    def fuse(m, graph):
        inner, outer = m.nodes
        outer.inputs = list(inner.inputs)
        outer.attrs["_twice"] = True
        graph.nodes.remove(inner)
        graph.remove_tensor(inner.outputs[0])

    backend.add_pattern(Pattern("exp_exp", op("Exp", op("Exp")), rewrite=fuse))
    backend.add_kernel(Kernel(("Exp",), "ref/unary.c.j2", check=lambda n, g: None if n.attrs.get("_twice") else "once",
                              params=lambda n, g: {"expr": "expf(expf(x))"}, input_names=("X",), output_names=("Y",)))
    register_backend(backend)
    try:
        compiled = compile_model(two_exps(), CompileOptions(backends=["expexp", "ref"]))
        assert [(c.node.name, c.backend) for c in compiled.calls] == [("second", "expexp")]
        x = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
        got = load(write_library(compiled, tmp_path / "lib")).run([x])[0]
        np.testing.assert_allclose(got, np.exp(np.exp(x)), rtol=1e-5)
        kept = compile_model(two_exps(), CompileOptions(backends=["expexp", "ref"], skip_layers=["first"]))
        assert [c.backend for c in kept.calls] == ["ref", "ref"]  # the user kept a layer out of the pattern
    finally:
        REGISTRY.unregister("expexp")


def test_user_pass_runs_at_its_place():
    seen = []

    def count_exps(graph, ctx):
        seen.append(sum(n.op_type == "Exp" for n in graph.nodes))
        return graph

    register_pass(count_exps, after="fuse_activation", name="count_exps")
    try:
        names = compile_pipeline().names
        assert names[names.index("fuse_activation") + 1] == "count_exps"
        compile_model(two_exps(), CompileOptions(dump_ir_after={"count_exps"}))
        assert seen == [2]
    finally:
        unregister_pass("count_exps")
    assert "count_exps" not in compile_pipeline().names
    register_pass(count_exps, before="no_such_pass", name="count_exps")
    try:
        with pytest.raises(AotError, match="no_such_pass"):
            compile_model(two_exps())
    finally:
        unregister_pass("count_exps")
