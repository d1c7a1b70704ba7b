"""The IR: the verifier catches each broken invariant, the printer shows what matters, and tensor
names stay unique, C-safe and stable from import through the default pass pipeline."""
from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import helper

from aot.frontend import import_onnx
from aot.ir import Graph, VerificationError, c_identifier, format_graph, verify
from aot.passes import PassContext, Sequential, default_pipeline, graph_pass

from conftest import float_input, make_model, tiny_cnn_model

C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def valid_graph() -> Graph:
    """x -> MatMul(w) -> h -> Relu -> y."""
    g = Graph("g")
    g.inputs.append(g.add_tensor("x", (1, 4), "float32").name)
    w = g.add_constant("w", np.ones((4, 4), np.float32))
    g.add_tensor("h", (1, 4), "float32")
    g.add_tensor("y", (1, 4), "float32")
    g.nodes.append(g.make_node("MatMul", ["x", w.name], ["h"], name="mm"))
    g.nodes.append(g.make_node("Relu", ["h"], ["y"], name="act"))
    g.outputs.append("y")
    return g


def rename_tensor(g: Graph, old: str, new: str) -> None:
    """Rename behind the NameTable's back, the way a buggy pass could."""
    t = g.tensors.pop(old)
    t.name = new
    g.tensors[new] = t
    for n in g.nodes:
        n.inputs = [new if i == old else i for i in n.inputs]
        n.outputs = [new if o == old else o for o in n.outputs]
    g.outputs = [new if o == old else o for o in g.outputs]


def test_valid_graph_passes():
    verify(valid_graph())


def break_use_before_def(g: Graph) -> None:
    g.nodes.reverse()


def break_double_producer(g: Graph) -> None:
    g.nodes.append(g.make_node("Relu", ["x"], ["h"], name="second"))


def break_non_c_name(g: Graph) -> None:
    rename_tensor(g, "h", "h-1")


def break_keyword_name(g: Graph) -> None:
    rename_tensor(g, "h", "int")


def break_digit_name(g: Graph) -> None:
    rename_tensor(g, "h", "1h")


def break_layout_rank(g: Graph) -> None:
    g.tensors["x"].layout = "NCHW"  # x is rank 2


def break_dangling_output(g: Graph) -> None:
    g.add_tensor("orphan", (1, 4), "float32")
    g.outputs.append("orphan")


def break_unknown_output(g: Graph) -> None:
    g.outputs.append("ghost")


def break_constant_shape(g: Graph) -> None:
    g.tensors["w"].shape = (4, 5)


def break_unknown_write(g: Graph) -> None:
    g.nodes[1].outputs = ["nowhere"]


@pytest.mark.parametrize("breaker, message", [
    (break_use_before_def, r"reads 'h' before it is produced"),
    (break_double_producer, r"'h' is produced twice \(second time by 'second'\)"),
    (break_non_c_name, r"'h-1' is not a C identifier"),
    (break_keyword_name, r"'int' is not a C identifier"),
    (break_digit_name, r"'1h' is not a C identifier"),
    (break_layout_rank, r"layout NCHW does not match rank 2"),
    (break_dangling_output, r"graph output 'orphan' is never produced"),
    (break_unknown_output, r"graph output 'ghost' is never produced"),
    (break_constant_shape, r"constant 'w' data shape"),
    (break_unknown_write, r"writes unknown tensor 'nowhere'"),
])
def test_verifier_catches_broken_invariant(breaker, message):
    g = valid_graph()
    breaker(g)
    with pytest.raises(VerificationError, match=message):
        verify(g)


def test_pipeline_verifies_after_each_pass_in_debug_mode():
    @graph_pass("test_ir_breaks_order")
    def breaks_order(graph: Graph, ctx: PassContext) -> Graph:
        graph.nodes.reverse()
        return graph

    with pytest.raises(VerificationError, match="after pass 'test_ir_breaks_order'"):
        Sequential([breaks_order])(valid_graph(), PassContext(debug=True))
    # Without debug the broken graph goes through unchecked: the check above is the verifier's doing.
    out = Sequential([breaks_order])(valid_graph(), PassContext(debug=False))
    assert [n.name for n in out.nodes] == ["act", "mm"]


def test_printer_shows_names_shapes_layouts_and_ops():
    graph = default_pipeline()(import_onnx(tiny_cnn_model()), PassContext())
    text = format_graph(graph)
    assert text.startswith("graph tiny_cnn (opset 13)")
    assert "input  %input: float32[1x3x8x8] NCHW" in text
    assert re.search(r"const  %conv_w: float32\[4x3x3x3\] OIHW const", text)
    for node in graph.nodes:
        assert f"# {node.name}" in text
        assert f"{node.op_type}(" in text
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert conv.attrs["activation"]["op_type"] == "Relu"  # Relu fused by the pipeline
    assert "activation={op_type='Relu'" in text
    out_name = graph.nodes[0].outputs[0]
    assert f"%{out_name}: float32[1x4x8x8] NCHW = Conv(%input, %conv_w, %conv_b)" in text
    assert text.rstrip().endswith("return %probs")


def awkward_names_model():
    """ONNX names that collide once made C-safe, a C keyword, a leading digit, a TF-style input."""
    nodes = [
        helper.make_node("Relu", ["serving_default_input:0"], ["a.b"], name="layer/1"),
        helper.make_node("Relu", ["a.b"], ["a-b"], name="layer-1"),
        helper.make_node("Add", ["a.b", "a-b"], ["a_b"], name="layer_1"),
        helper.make_node("Sigmoid", ["a_b"], ["int"], name="for"),
        helper.make_node("Relu", ["int"], ["1st out"], name="1st"),
    ]
    return make_model(nodes, [float_input("serving_default_input:0", [1, 6])], [float_input("1st out", [1, 6])])


def names_by_onnx(graph: Graph) -> dict[str, str]:
    return {t.onnx_name: name for name, t in graph.tensors.items()}


def test_names_unique_c_safe_and_deterministic():
    g1, g2 = import_onnx(awkward_names_model()), import_onnx(awkward_names_model())
    names = names_by_onnx(g1)
    assert names == names_by_onnx(g2)
    assert [n.name for n in g1.nodes] == [n.name for n in g2.nodes]
    assert len(set(names.values())) == len(names) == 6
    for onnx_name, name in names.items():
        assert C_IDENT.fullmatch(name), name
        base = c_identifier(onnx_name)
        assert name == base or re.fullmatch(re.escape(base) + r"_\d+", name), (onnx_name, name)
    assert names["serving_default_input:0"] == "serving_default_input_0"
    assert names["int"] != "int"
    assert names["1st out"][0].isalpha()
    assert len({n.name for n in g1.nodes}) == len(g1.nodes)
    assert all(C_IDENT.fullmatch(n.name) for n in g1.nodes)


def test_names_stable_through_default_pipeline():
    graph = import_onnx(awkward_names_model())
    before = names_by_onnx(graph)
    node_names_before = {n.name for n in graph.nodes}
    graph = default_pipeline()(graph, PassContext(debug=True))
    after = names_by_onnx(graph)
    # The pipeline fused Sigmoid into Add, so one tensor is gone; every survivor keeps its name.
    assert len(after) < len(before)
    assert all(before[k] == v for k, v in after.items() if k in before)
    assert {n.name for n in graph.nodes} <= node_names_before
    assert graph.outputs == [before["1st out"]] and graph.inputs == [before["serving_default_input:0"]]
    verify(graph)
