"""A third-party backend registered from test code, through the same public API the reference
backend uses: its own templates render its nodes, the rest falls back to ``ref``, and the library
still computes what ONNX Runtime computes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from aot.backends import REGISTRY, TemplateBackend, regions, register_backend
from aot.codegen.csyntax import check_sources
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError, UnsupportedOpError
from aot.ir import Graph, Node
from aot.reference import run_reference
from aot.targets.host import load

from conftest import float_input, make_model

RELU_TEMPLATE = """{% extends "common/kernel.c.j2" %}
{% block body %}
    /* mytest plug-in: relu */
    for (int i = 0; i < {{ Y.size }}; ++i) {
        Y[i] = X[i] > 0.0f ? X[i] : 0.0f;
    }
{% endblock %}
"""

ADD_TEMPLATE = """{% extends "common/kernel.c.j2" %}
{% block body %}
    /* mytest plug-in: add */
    for (int i = 0; i < {{ Y.size }}; ++i) {
        Y[i] = {{ act("A[i] + B[i]") }};
    }
{% endblock %}
"""


def same_shapes_only(node: Node, graph: Graph) -> str | None:
    shapes = {graph.tensors[name].shape for name in node.inputs + node.outputs}
    return None if len(shapes) == 1 else "mytest does not broadcast"


@pytest.fixture
def mytest(tmp_path: Path):
    templates = tmp_path / "templates"
    (templates / "mytest").mkdir(parents=True)
    (templates / "mytest" / "relu.c.j2").write_text(RELU_TEMPLATE)
    (templates / "mytest" / "add.c.j2").write_text(ADD_TEMPLATE)
    backend = TemplateBackend("mytest", template_dirs=[templates])
    backend.kernel("Relu", template="mytest/relu.c.j2", input_names=("X",), output_names=("Y",))(lambda n, g: {})
    backend.kernel("Add", template="mytest/add.c.j2", check=same_shapes_only, input_names=("A", "B"),
                   output_names=("Y",))(lambda n, g: {})
    register_backend(backend)
    yield backend
    REGISTRY.unregister("mytest")
    assert "mytest" not in REGISTRY.names()


def mixed_model() -> onnx.ModelProto:
    """relu1 and relu2 are Relu; add_same adds equal shapes (and gets Tanh fused); add_bias broadcasts."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r1"], name="relu1"),
        helper.make_node("Add", ["r1", "x"], ["s"], name="add_same"),
        helper.make_node("Tanh", ["s"], ["t"], name="tanh"),
        helper.make_node("Add", ["t", "bias"], ["u"], name="add_bias"),
        helper.make_node("Exp", ["u"], ["v"], name="exp"),
        helper.make_node("Relu", ["v"], ["y"], name="relu2"),
    ]
    bias = np.linspace(-1.0, 1.0, 4, dtype=np.float32).reshape(1, 4, 1, 1)
    return make_model(nodes, [float_input("x", [1, 4, 3, 3])], [float_input("y", [1, 4, 3, 3])], {"bias": bias})


def test_plugin_backend_runs_its_nodes_and_ref_the_rest(mytest, tmp_path):
    model = mixed_model()
    compiled = compile_model(model, CompileOptions(backends=["mytest", "ref"]))
    placed = {c.node.name: c.backend for c in compiled.calls}
    assert placed == {"relu1": "mytest", "add_same": "mytest", "add_bias": "ref", "exp": "ref", "relu2": "mytest"}
    accepted = {n.name: n.meta["backends"] for n in compiled.graph.nodes}
    assert accepted["relu1"] == ["mytest", "ref"] and accepted["add_same"] == ["mytest", "ref"]
    assert accepted["add_bias"] == ["ref"]  # rejected by mytest's check
    assert accepted["exp"] == ["ref"]  # mytest has no kernel for it
    assert [(r.backend, [n.name for n in r.nodes]) for r in regions(compiled.graph)] == [
        ("mytest", ["relu1", "add_same"]), ("ref", ["add_bias", "exp"]), ("mytest", ["relu2"])]

    out = write_library(compiled, tmp_path / "lib")
    mine = (out / "kernels_mytest.c").read_text()
    ref = (out / "kernels_ref.c").read_text()
    assert mine.count("/* mytest plug-in: relu */") == 2 and mine.count("/* mytest plug-in: add */") == 1
    assert "tanhf(A[i] + B[i])" in mine  # the fused activation reached the plug-in's template
    for fn in ("model_relu1", "model_add_same", "model_relu2"):
        assert f"void {fn}(" in mine and f"void {fn}(" not in ref
    for fn in ("model_add_bias", "model_exp"):
        assert f"void {fn}(" in ref and f"void {fn}(" not in mine
    assert "mytest" not in ref
    for build_file in ("Makefile", "CMakeLists.txt"):
        assert "kernels_mytest.c" in (out / build_file).read_text()
    assert check_sources(out) == []

    host = load(out, cc="gcc")
    x = np.random.default_rng(3).standard_normal((1, 4, 3, 3)).astype(np.float32)
    (got,) = host.run({"x": x})
    (want,) = run_reference(model, {"x": x})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_backend_order_is_a_preference(mytest):
    compiled = compile_model(mixed_model(), CompileOptions(backends=["ref", "mytest"]))
    assert {c.backend for c in compiled.calls} == {"ref"}
    assert "kernels_mytest.c" not in compiled.files


def test_layer_backend_overrides_the_preference(mytest):
    options = CompileOptions(backends=["mytest", "ref"], layer_backend={"relu1": "ref"})
    placed = {c.node.name: c.backend for c in compile_model(mixed_model(), options).calls}
    assert placed["relu1"] == "ref" and placed["relu2"] == "mytest"


def test_layer_backend_refuses_a_backend_that_rejects_the_layer(mytest):
    options = CompileOptions(backends=["mytest", "ref"], layer_backend={"add_bias": "mytest"})
    with pytest.raises(AotError, match=r"node 'add_bias': layer cannot run on backend 'mytest' "
                                       r"\(mytest does not broadcast\); backends that accept it: ref"):
        compile_model(mixed_model(), options)


def test_layer_backend_refuses_unknown_layers(mytest):
    options = CompileOptions(backends=["mytest", "ref"], layer_backend={"tanh": "ref"})  # fused into add_same
    with pytest.raises(AotError, match=r"unknown layer\(s\) \['tanh'\]"):
        compile_model(mixed_model(), options)


def test_plugin_alone_reports_what_it_rejects(mytest):
    with pytest.raises(UnsupportedOpError) as info:
        compile_model(mixed_model(), CompileOptions(backends=["mytest"]))
    message = str(info.value)
    assert "node 'add_bias'" in message and "mytest: mytest does not broadcast" in message


def test_duplicate_backend_name_is_refused(mytest):
    with pytest.raises(ValueError, match="already registered"):
        register_backend(TemplateBackend("mytest"))
    assert REGISTRY.get("mytest") is mytest
