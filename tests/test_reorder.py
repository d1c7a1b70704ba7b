"""Execution order for the least peak memory (aot/passes/reorder.py): on a graph with two branches
written breadth-first the pass runs each branch to its small result before starting the other, the
arena shrinks and the outputs still match ONNX Runtime; on a chain and on an order that is already
the best it keeps the file order; the exact search equals brute force over every order on random
graphs; metadata.json records the decision."""
from __future__ import annotations

import itertools

import onnx
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model
from aot.flows.verify import verify_model
from aot.passes.reorder import _Model, least_peak_order

from conftest import float_input, make_model


def branches_model() -> onnx.ModelProto:
    """x (16 KB) -> Relu -> GlobalAveragePool and x -> Sigmoid -> GlobalAveragePool, concatenated;
    the file runs both big activations before either pool."""
    nodes = [helper.make_node("Relu", ["x"], ["a1"], name="relu"), helper.make_node("Sigmoid", ["x"], ["b1"], name="sig"),
             helper.make_node("GlobalAveragePool", ["a1"], ["a2"], name="pool_a"),
             helper.make_node("GlobalAveragePool", ["b1"], ["b2"], name="pool_b"),
             helper.make_node("Concat", ["a2", "b2"], ["y"], name="cat", axis=1)]
    return make_model(nodes, [float_input("x", [1, 4, 32, 32])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 1, 1])], name="branches")


def test_branches_run_one_after_the_other(tmp_path):
    path = tmp_path / "branches.onnx"
    onnx.save(branches_model(), str(path))
    compiled = compile_model(path, CompileOptions())
    schedule = compiled.metadata["memory"]["schedule"]
    assert schedule["order"] == "reordered" and schedule["peak_bytes"] < schedule["file_order_peak_bytes"]
    names = [layer["name"] for layer in compiled.metadata["layers"]]
    assert names.index("pool_a") < names.index("sig") or names.index("pool_b") < names.index("relu")
    assert compiled.metadata["memory"]["arena_bytes"] <= schedule["peak_bytes"] + 16 * len(names)
    assert compiled.metadata["memory"]["arena_bytes"] < schedule["file_order_peak_bytes"]
    report = verify_model(path, keep_dir=tmp_path / "v")
    assert report.ok, report.table()


def test_a_chain_keeps_the_file_order(tiny_cnn_path):
    compiled = compile_model(tiny_cnn_path, CompileOptions())
    assert compiled.metadata["memory"]["schedule"]["order"] == "file"


@st.composite
def dags(draw):
    """Layers reading one or two earlier tensors (Relu or Add): branches, joins and several outputs."""
    n = draw(st.integers(2, 6))
    nodes = []
    for i in range(n):
        earlier = ["x"] + [f"t{j}" for j in range(i)]
        nodes.append(sorted(set(draw(st.lists(st.sampled_from(earlier), min_size=1, max_size=2)))))
    return nodes


def _graph(nodes):
    onnx_nodes = [helper.make_node("Add" if len(ins) == 2 else "Relu", ins, [f"t{i}"], name=f"n{i}")
                  for i, ins in enumerate(nodes)]
    consumed = {t for ins in nodes for t in ins}
    outs = [f"t{i}" for i in range(len(nodes)) if f"t{i}" not in consumed]
    return make_model(onnx_nodes, [float_input("x", [1, 64])],
                      [helper.make_tensor_value_info(o, TensorProto.FLOAT, [1, 64]) for o in outs], name="dag")


@settings(max_examples=40, deadline=None)
@given(dags())
def test_search_equals_brute_force(nodes):
    from aot.compiler import optimize
    graph = optimize(_graph(nodes), CompileOptions())
    model = _Model(graph, list(graph.nodes))
    n = len(graph.nodes)
    valid = [list(order) for order in itertools.permutations(range(n))
             if all(not (model.needs[i] >> j & 1) or order.index(j) < order.index(i)
                    for i in range(n) for j in range(n))]
    best = least_peak_order(model)
    assert best in valid
    assert model.peak(best) == min(model.peak(order) for order in valid)
