"""Control flow compiled by expansion at import (aot/frontend/control_flow.py), against ONNX Runtime.

Each model is built with onnx.helper, compiled, built with gcc, run, and compared with ONNX Runtime:
an If on a shape condition (both branches), nested Ifs reading tensors of every enclosing scope, a
Scan with two states, a reversed scan input, a second scan axis and a reversed scan output, Scan-8
over its batch axis, Loops with a constant trip count or a condition that folds, a Loop nested in a
Scan, Optional ops on tensors, sequences of static length. Conditions that depend on input values are
refused with the reason, through the API and the CLI (exit 2), and so are malformed nodes.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError, UnsupportedOpError
from aot.frontend.control_flow import MAX_CONCAT_INPUTS, MAX_ITERATIONS
from aot.reference import run_reference
from aot.targets.host import load

REPO = Path(__file__).resolve().parents[1]
ATOL, RTOL = 1e-5, 1e-5
FLOAT = TensorProto.FLOAT


def vi(name: str, shape, elem=FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def const(name: str, value, dtype=np.float32) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype=dtype), name))


def make_model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "control_flow", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def compile_run_compare(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path: Path,
                        cc: str = "gcc") -> list[np.ndarray]:
    compiled = compile_model(model, CompileOptions())
    assert not any(n.op_type in ("If", "Loop", "Scan") for n in compiled.graph.nodes)
    got = load(write_library(compiled, tmp_path / "lib"), cc=cc).run(feeds)
    want = run_reference(model, feeds)
    assert len(got) == len(want)
    for g, w, out in zip(got, want, model.graph.output):
        assert g.shape == w.shape, f"{out.name}: shape {g.shape}, ONNX Runtime {w.shape}"
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=out.name)
    return got


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


# -- If -----------------------------------------------------------------------------------------------
def shape_test(x: str, axis: int, size: int, out: str) -> list[onnx.NodeProto]:
    """Nodes computing ``x.shape[axis] == size`` (a bool scalar) the way exporters do."""
    return [helper.make_node("Shape", [x], [f"{out}_shape"]),
            const(f"{out}_axis", axis, np.int64),
            helper.make_node("Gather", [f"{out}_shape", f"{out}_axis"], [f"{out}_dim"], axis=0),
            const(f"{out}_size", size, np.int64),
            helper.make_node("Equal", [f"{out}_dim", f"{out}_size"], [out])]


@pytest.mark.parametrize("width", [3, 4])
def test_if_on_a_shape_condition_takes_the_branch_it_selects(width, tmp_path):
    """then: Relu(x) * w (w from the enclosing graph); else: Neg(x) + 1 and a constant second output."""
    then_branch = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Mul", ["r", "w"], ["then_y"]),
         const("then_k", [1.0, 2.0])],
        "then", [], [vi("then_y", None), vi("then_k", [2])])
    else_branch = helper.make_graph(
        [helper.make_node("Neg", ["x"], ["n"]), const("one", 1.0), helper.make_node("Add", ["n", "one"], ["else_y"]),
         const("else_k", [3.0, 4.0])],
        "else", [], [vi("else_y", None), vi("else_k", [2])])
    nodes = shape_test("x", 1, 3, "cond") + [
        helper.make_node("Sigmoid", ["x"], ["w"]),
        helper.make_node("If", ["cond"], ["y", "k"], then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Add", ["y", "x"], ["z"])]
    model = make_model(nodes, [vi("x", [2, width])], [vi("z", [2, width]), vi("k", [2])])
    _, k = compile_run_compare(model, {"x": rand(2, width)}, tmp_path)
    assert list(k) == ([1.0, 2.0] if width == 3 else [3.0, 4.0])


def test_nested_if_reads_tensors_of_every_enclosing_scope(tmp_path):
    """The inner If's condition is computed in the outer branch; its branches read the outer branch's
    tensor ``t`` and the graph's ``x``; names repeat in both inner branches."""
    inner_then = helper.make_graph([helper.make_node("Mul", ["t", "x"], ["inner_then_out"])],
                                   "inner_then", [], [vi("inner_then_out", None)])
    inner_else = helper.make_graph([helper.make_node("Sub", ["t", "x"], ["inner_else_out"])],
                                   "inner_else", [], [vi("inner_else_out", None)])
    outer_then = helper.make_graph(
        [helper.make_node("Tanh", ["x"], ["t"])] + shape_test("x", 0, 5, "inner_cond") +
        [helper.make_node("If", ["inner_cond"], ["outer_then_out"], then_branch=inner_then, else_branch=inner_else)],
        "outer_then", [], [vi("outer_then_out", None)])
    outer_else = helper.make_graph([helper.make_node("Identity", ["x"], ["outer_else_out"])],
                                   "outer_else", [], [vi("outer_else_out", None)])
    nodes = shape_test("x", 1, 3, "cond") + [
        helper.make_node("If", ["cond"], ["y"], then_branch=outer_then, else_branch=outer_else)]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("y", [2, 3])])
    compile_run_compare(model, {"x": rand(2, 3, seed=1)}, tmp_path)


# -- Scan -----------------------------------------------------------------------------------------------
def _scan_model_parts():
    """States: a running sum and a running product-ish mix; scan inputs: ``a`` [4,3] read backwards
    along axis 0, ``b`` [3,4] along axis 1; scan outputs: one stacked on axis 1 in reverse order, one on
    axis 0 in order; the body reads ``scale`` from the enclosing graph."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s1_in", "a_t"], ["s1_out"]),
         helper.make_node("Mul", ["s2_in", "b_t"], ["m"]),
         helper.make_node("Add", ["m", "s1_out"], ["s2_pre"]),
         helper.make_node("Mul", ["s2_pre", "scale"], ["s2_out"]),
         helper.make_node("Sub", ["s1_out", "s2_out"], ["y_t"]),
         helper.make_node("Identity", ["s2_out"], ["z_t"])],
        "body", [vi("s1_in", [3]), vi("s2_in", [3]), vi("a_t", [3]), vi("b_t", [3])],
        [vi("s1_out", [3]), vi("s2_out", [3]), vi("y_t", [3]), vi("z_t", [3])])
    scan = helper.make_node("Scan", ["s1", "s2", "a", "b"], ["s1_final", "s2_final", "ys", "zs"], body=body,
                            num_scan_inputs=2, scan_input_axes=[0, 1], scan_input_directions=[1, 0],
                            scan_output_axes=[1, 0], scan_output_directions=[1, 0])
    return ([const("scale", [0.5, -0.25, 0.75]), scan],
            [vi("s1", [3]), vi("s2", [3]), vi("a", [4, 3]), vi("b", [3, 4])],
            [vi("s1_final", [3]), vi("s2_final", [3]), vi("ys", [3, 4]), vi("zs", [4, 3])])


def test_scan_with_two_states_reverse_directions_and_axes(cc, tmp_path):
    """Built with each C compiler (the ``cc`` fixture)."""
    model = make_model(*_scan_model_parts())
    feeds = {"s1": rand(3, seed=2), "s2": rand(3, seed=3), "a": rand(4, 3, seed=4), "b": rand(3, 4, seed=5)}
    compile_run_compare(model, feeds, tmp_path, cc=cc)


SCAN_VARIANTS = [  # (scan input shape, input axis, input direction, output axis, output direction)
    ((5, 2, 3), 0, 0, 0, 0), ((2, 5, 3), 1, 1, 0, 0), ((2, 3, 5), -1, 0, -1, 1), ((2, 3, 5), 2, 1, 1, 1),
    ((5, 2, 3), 0, 1, 2, 0), ((2, 5, 3), -2, 0, -3, 1), ((5, 6), 0, 0, 1, 0), ((6, 5), 1, 1, 0, 1)]


def test_scan_axes_and_directions(tmp_path):
    """Every combination kind of scan_input_axes/directions and scan_output_axes/directions (negative
    axes included), one Scan each in one model: state = state * 0.9 + element; output = tanh(state)."""
    nodes, inputs, outputs, feeds = [], [], [], {}
    for k, (shape, in_axis, in_dir, out_axis, out_dir) in enumerate(SCAN_VARIANTS):
        elem_shape = [d for a, d in enumerate(shape) if a != in_axis % len(shape)]
        body = helper.make_graph(
            [const(f"decay{k}", 0.9), helper.make_node("Mul", [f"s{k}_in", f"decay{k}"], [f"m{k}"]),
             helper.make_node("Add", [f"m{k}", f"e{k}"], [f"s{k}_out"]),
             helper.make_node("Tanh", [f"s{k}_out"], [f"o{k}"])],
            f"body{k}", [vi(f"s{k}_in", elem_shape), vi(f"e{k}", elem_shape)],
            [vi(f"s{k}_out", elem_shape), vi(f"o{k}", elem_shape)])
        nodes.append(helper.make_node("Scan", [f"init{k}", f"xs{k}"], [f"final{k}", f"ys{k}"], body=body,
                                      num_scan_inputs=1, scan_input_axes=[in_axis], scan_input_directions=[in_dir],
                                      scan_output_axes=[out_axis], scan_output_directions=[out_dir]))
        inputs += [vi(f"init{k}", elem_shape), vi(f"xs{k}", list(shape))]
        outputs += [vi(f"final{k}", elem_shape), vi(f"ys{k}", None)]
        feeds[f"init{k}"] = rand(*elem_shape, seed=100 + k)
        feeds[f"xs{k}"] = rand(*shape, seed=200 + k)
    graph = helper.make_graph(nodes, "scans", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    compile_run_compare(model, feeds, tmp_path)


def test_opset8_scan_runs_over_its_batch_axis(tmp_path):
    """Scan-8: batch axis 0 (here 2), sequence axis 1, the second scan input read backwards."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "a_t"], ["s_mid"]), helper.make_node("Mul", ["s_mid", "b_t"], ["s_out"]),
         helper.make_node("Identity", ["s_mid"], ["y_t"])],
        "body", [vi("s_in", [3]), vi("a_t", [3]), vi("b_t", [3])], [vi("s_out", [3]), vi("y_t", [3])])
    scan = helper.make_node("Scan", ["", "s0", "a", "b"], ["s_final", "ys"], body=body, num_scan_inputs=2,
                            directions=[0, 1])
    model = make_model([scan], [vi("s0", [2, 3]), vi("a", [2, 4, 3]), vi("b", [2, 4, 3])],
                       [vi("s_final", [2, 3]), vi("ys", [2, 4, 3])], opset=8)
    feeds = {"s0": rand(2, 3, seed=11), "a": rand(2, 4, 3, seed=12), "b": rand(2, 4, 3, seed=13)}
    compile_run_compare(model, feeds, tmp_path)


# -- Loop -----------------------------------------------------------------------------------------------
def loop_body(cond_out: list[onnx.NodeProto]) -> onnx.GraphProto:
    """v <- v * 0.5 + x[i] + i (x from the enclosing graph, i the iteration number); scan output v."""
    return helper.make_graph(
        [const("half", 0.5), helper.make_node("Mul", ["v_in", "half"], ["h"]),
         helper.make_node("Gather", ["x", "i"], ["x_i"], axis=0),
         helper.make_node("Cast", ["i"], ["i_f"], to=FLOAT),
         helper.make_node("Add", ["h", "x_i"], ["hx"]),
         helper.make_node("Add", ["hx", "i_f"], ["v_out"]),
         helper.make_node("Identity", ["v_out"], ["scan_v"])] + cond_out,
        "loop_body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", [3])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [3]), vi("scan_v", [3])])


def test_loop_with_a_constant_trip_count_and_scan_outputs(tmp_path):
    body = loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"])])
    nodes = [const("trip", 4, np.int64), const("go", True, np.bool_),
             helper.make_node("Loop", ["trip", "go", "v0"], ["v_final", "vs"], body=body)]
    model = make_model(nodes, [vi("v0", [3]), vi("x", [6, 3])], [vi("v_final", [3]), vi("vs", [4, 3])])
    _, vs = compile_run_compare(model, {"v0": rand(3, seed=6), "x": rand(6, 3, seed=7)}, tmp_path)
    assert vs.shape == (4, 3)


def test_loop_ends_when_its_folded_condition_turns_false(tmp_path):
    """Trip count 10, but the body's condition ``i < 2`` stops it after three iterations."""
    body = loop_body([const("two", 2, np.int64), helper.make_node("Less", ["i", "two"], ["cond_out"])])
    nodes = [const("trip", 10, np.int64), const("go", True, np.bool_),
             helper.make_node("Loop", ["trip", "go", "v0"], ["v_final", "vs"], body=body)]
    model = make_model(nodes, [vi("v0", [3]), vi("x", [6, 3])], [vi("v_final", [3]), vi("vs", [3, 3])])
    _, vs = compile_run_compare(model, {"v0": rand(3, seed=8), "x": rand(6, 3, seed=9)}, tmp_path)
    assert vs.shape == (3, 3)


def test_a_while_loop_without_trip_count_runs_until_its_condition_folds_false(tmp_path):
    """No trip count: the loop runs while ``i < 4`` (computed by the body), five iterations in all."""
    body = loop_body([const("four", 4, np.int64), helper.make_node("Less", ["i", "four"], ["cond_out"])])
    nodes = [const("go", True, np.bool_), helper.make_node("Loop", ["", "go", "v0"], ["v_final", "vs"], body=body)]
    model = make_model(nodes, [vi("v0", [3]), vi("x", [6, 3])], [vi("v_final", [3]), vi("vs", [5, 3])])
    _, vs = compile_run_compare(model, {"v0": rand(3, seed=17), "x": rand(6, 3, seed=18)}, tmp_path)
    assert vs.shape == (5, 3)


def test_a_loop_whose_condition_depends_on_input_values_is_refused():
    body = loop_body([const("zero", 0.0), helper.make_node("ReduceSum", ["v_out"], ["total"], keepdims=0),
                      helper.make_node("Less", ["total", "zero"], ["cond_out"])])
    nodes = [const("trip", 5, np.int64), const("go", True, np.bool_),
             helper.make_node("Loop", ["trip", "go", "v0"], ["v_final", "vs"], body=body)]
    model = make_model(nodes, [vi("v0", [3]), vi("x", [6, 3])], [vi("v_final", [3]), vi("vs", [5, 3])])
    with pytest.raises(UnsupportedOpError, match="the condition computed by iteration 0 depends on input values "
                                                 "\\(from graph inputs 'v0', 'x'\\)"):
        compile_model(model, CompileOptions())


def test_a_loop_longer_than_the_limit_is_refused_with_its_figures():
    body = loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"])])
    nodes = [const("trip", MAX_ITERATIONS + 1, np.int64),
             helper.make_node("Loop", ["trip", "", "v0"], ["v_final", "vs"], body=body)]
    model = make_model(nodes, [vi("v0", [3]), vi("x", [6, 3])], [vi("v_final", [3]), vi("vs", [MAX_ITERATIONS + 1, 3])])
    with pytest.raises(UnsupportedOpError, match=f"{MAX_ITERATIONS + 1} iterations to unroll, more than the limit"):
        compile_model(model, CompileOptions())


# -- Optional -------------------------------------------------------------------------------------------
def test_optional_ops_on_tensors(tmp_path):
    """Optional(x) holds x; OptionalHasElement is true for it, false for an empty Optional(); GetElement is x."""
    nodes = [helper.make_node("Optional", ["x"], ["opt"]),
             helper.make_node("OptionalHasElement", ["opt"], ["has"]),
             helper.make_node("Optional", [], ["empty"], type=helper.make_tensor_type_proto(FLOAT, [2, 3])),
             helper.make_node("OptionalHasElement", ["empty"], ["has_none"]),
             helper.make_node("OptionalGetElement", ["opt"], ["elem"]),
             helper.make_node("Cast", ["has"], ["has_f"], to=FLOAT),
             helper.make_node("Cast", ["has_none"], ["none_f"], to=FLOAT),
             helper.make_node("Add", ["elem", "has_f"], ["y"]),
             helper.make_node("Add", ["y", "none_f"], ["z"])]
    model = make_model(nodes, [vi("x", [2, 3])], [vi("z", [2, 3])], opset=18)
    compile_run_compare(model, {"x": rand(2, 3, seed=10)}, tmp_path)


# -- refusals -------------------------------------------------------------------------------------------
def runtime_if_model() -> onnx.ModelProto:
    then_branch = helper.make_graph([helper.make_node("Relu", ["x"], ["a"])], "then", [], [vi("a", None)])
    else_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["b"])], "else", [], [vi("b", None)])
    nodes = [helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch, name="branch")]
    return make_model(nodes, [vi("x", [2, 3]), vi("cond", [], TensorProto.BOOL)], [vi("y", [2, 3])])


def test_an_if_on_a_runtime_condition_is_refused():
    message = "If: the condition depends on input values \\(from graph input 'cond'\\)"
    with pytest.raises(UnsupportedOpError, match=message) as exc:
        compile_model(runtime_if_model(), CompileOptions())
    assert "node 'branch'" in str(exc.value)


def test_a_runtime_condition_exits_2_through_the_cli(tmp_path):
    path = tmp_path / "runtime_if.onnx"
    onnx.save(runtime_if_model(), str(path))
    proc = subprocess.run([sys.executable, "-m", "aot", "compile", str(path), "-o", str(tmp_path / "lib")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("aot: error: ") and "If: the condition depends on input values" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_branch_reading_a_tensor_computed_later_in_the_file_is_scheduled_after_it(tmp_path):
    """The file lists the If before the Sigmoid its branch reads; import orders by implicit inputs too."""
    then_branch = helper.make_graph([helper.make_node("Mul", ["x", "late"], ["a"])], "then", [], [vi("a", None)])
    else_branch = helper.make_graph([helper.make_node("Neg", ["x"], ["b"])], "else", [], [vi("b", None)])
    nodes = shape_test("x", 0, 2, "cond") + [
        helper.make_node("If", ["cond"], ["y"], then_branch=then_branch, else_branch=else_branch),
        helper.make_node("Sigmoid", ["x"], ["late"])]
    graph = helper.make_graph(nodes, "unordered", [vi("x", [2, 3])], [vi("y", [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    compiled = compile_model(model, CompileOptions())
    got = load(write_library(compiled, tmp_path / "lib"), cc="gcc").run({"x": rand(2, 3, seed=14)})[0]
    x = rand(2, 3, seed=14)
    np.testing.assert_allclose(got, x / (1 + np.exp(-x)), atol=ATOL, rtol=RTOL)


def test_compiling_twice_writes_the_same_c(tmp_path):
    model = make_model(*_scan_model_parts())
    sources = []
    for k in range(2):
        lib = write_library(compile_model(model, CompileOptions()), tmp_path / f"lib{k}")
        sources.append({p.relative_to(lib).as_posix(): p.read_bytes() for p in sorted(lib.rglob("*")) if p.is_file()})
    assert sources[0] == sources[1]


# -- sequences of static length -------------------------------------------------------------------------
def test_sequences_inside_a_model_resolve_to_their_tensors(tmp_path):
    """SplitToSequence -> SequenceMap (body reads an enclosing tensor) -> SequenceInsert/Erase ->
    SequenceAt, ConcatFromSequence (new axis and existing axis), SequenceLength; tensors in and out."""
    body = helper.make_graph([helper.make_node("Relu", ["e"], ["r"]), helper.make_node("Mul", ["r", "w"], ["m"])],
                             "map_body", [vi("e", [4])], [vi("m", [4])])
    nodes = [helper.make_node("SplitToSequence", ["x"], ["pieces"], axis=0, keepdims=0),
             helper.make_node("Sigmoid", ["y"], ["w"]),
             helper.make_node("SequenceMap", ["pieces"], ["mapped"], body=body),
             const("front", 0, np.int64), const("last", -1, np.int64), const("second", 1, np.int64),
             helper.make_node("SequenceInsert", ["mapped", "y", "front"], ["inserted"]),
             helper.make_node("SequenceErase", ["inserted", "last"], ["erased"]),
             helper.make_node("SequenceAt", ["erased", "second"], ["at"]),
             helper.make_node("ConcatFromSequence", ["erased"], ["stacked"], axis=1, new_axis=1),
             helper.make_node("SplitToSequence", ["x", "second"], ["rows"], axis=1),
             helper.make_node("ConcatFromSequence", ["rows"], ["joined"], axis=1),
             helper.make_node("SequenceLength", ["erased"], ["count"])]
    model = make_model(nodes, [vi("x", [3, 4]), vi("y", [4])],
                       [vi("at", [4]), vi("stacked", [4, 3]), vi("joined", [3, 4]),
                        vi("count", [], TensorProto.INT64)], opset=17)
    compile_run_compare(model, {"x": rand(3, 4, seed=15), "y": rand(4, seed=16)}, tmp_path)


def test_a_sequence_position_computed_at_run_time_is_refused():
    nodes = [helper.make_node("SplitToSequence", ["x"], ["pieces"], axis=0, keepdims=0),
             helper.make_node("SequenceAt", ["pieces", "where"], ["at"], name="pick")]
    model = make_model(nodes, [vi("x", [3, 4]), vi("where", [], TensorProto.INT64)], [vi("at", [4])])
    with pytest.raises(UnsupportedOpError, match="SequenceAt: the position depends on input values"):
        compile_model(model, CompileOptions())


@pytest.mark.parametrize("case", ["if_without_else", "loop_without_body", "scan_without_body", "empty_trip_count"])
def test_malformed_control_flow_is_a_clean_error(case):
    branch = helper.make_graph([helper.make_node("Relu", ["x"], ["a"])], "then", [], [vi("a", None)])
    nodes = shape_test("x", 0, 2, "cond")
    if case == "if_without_else":
        # the condition holds, and the then_branch it selects is missing
        nodes.append(helper.make_node("If", ["cond"], ["y"], else_branch=branch))
    elif case == "loop_without_body":
        nodes += [const("trip", 2, np.int64), helper.make_node("Loop", ["trip", "", "x"], ["y"])]
    elif case == "scan_without_body":
        nodes.append(helper.make_node("Scan", ["x"], ["y"], num_scan_inputs=1))
    else:
        body = loop_body([helper.make_node("Identity", ["cond_in"], ["cond_out"])])
        nodes += [const("trip", np.zeros(0), np.int64),
                  helper.make_node("Loop", ["trip", "", "x"], ["y", "ys"], body=body)]
    graph = helper.make_graph(nodes, "bad", [vi("x", [2, 3])], [vi("y", [2, 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(UnsupportedOpError) as exc:
        compile_model(model, CompileOptions())
    expected = {"if_without_else": "If: it has no then_branch", "loop_without_body": "Loop: it has no body graph",
                "scan_without_body": "Scan: it has no body graph",
                "empty_trip_count": "Loop: the trip count and the condition must hold one value each"}[case]
    assert expected in str(exc.value)


def test_a_sequence_as_graph_output_is_refused_as_such():
    nodes = [helper.make_node("SplitToSequence", ["x"], ["pieces"], axis=0)]
    graph = helper.make_graph(nodes, "seq_out", [vi("x", [3, 4])],
                              [helper.make_tensor_sequence_value_info("pieces", FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(AotError, match="graph output 'pieces' is a sequence \\(of 3 tensors\\)"):
        compile_model(model, CompileOptions())


def test_a_long_scan_joins_its_outputs_in_concats_c99_can_call(tmp_path):
    """150 iterations: the scan output is joined by Concats of at most MAX_CONCAT_INPUTS inputs each."""
    body = helper.make_graph([helper.make_node("Add", ["s", "x_t"], ["a"]), helper.make_node("Tanh", ["a"], ["s_out"]),
                              helper.make_node("Identity", ["s_out"], ["y_t"])],
                             "body", [vi("s", [4]), vi("x_t", [4])], [vi("s_out", [4]), vi("y_t", [4])])
    model = make_model([helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=body, num_scan_inputs=1)],
                       [vi("s0", [4]), vi("x", [150, 4])], [vi("s_final", [4]), vi("ys", [150, 4])])
    compile_run_compare(model, {"s0": rand(4, seed=19), "x": rand(150, 4, seed=20)}, tmp_path)
    graph = compile_model(model, CompileOptions()).graph
    concats = [n for n in graph.nodes if n.op_type == "Concat"]
    assert len(concats) == 4 and max(len(n.inputs) for n in concats) <= MAX_CONCAT_INPUTS


def test_a_loop_nested_in_a_scan_body_reads_the_scan_iteration_tensors(tmp_path):
    """The Loop's body reads ``x_t`` and ``scaled`` of the enclosing Scan body (renamed per Scan
    iteration) and ``w`` of the graph; an If in the Loop body picks by the Loop's iteration number."""
    inner_then = helper.make_graph([helper.make_node("Add", ["v_in", "x_t"], ["t_out"])], "t", [], [vi("t_out", None)])
    inner_else = helper.make_graph([helper.make_node("Mul", ["v_in", "scaled"], ["e_out"])], "e", [],
                                   [vi("e_out", None)])
    loop_body_graph = helper.make_graph(
        [const("zero", 0, np.int64), helper.make_node("Equal", ["i", "zero"], ["first"]),
         helper.make_node("If", ["first"], ["picked"], then_branch=inner_then, else_branch=inner_else),
         helper.make_node("Add", ["picked", "w"], ["v_out"]), helper.make_node("Identity", ["c_in"], ["c_out"])],
        "loop_body", [vi("i", [], TensorProto.INT64), vi("c_in", [], TensorProto.BOOL), vi("v_in", [3])],
        [vi("c_out", [], TensorProto.BOOL), vi("v_out", [3])])
    scan_body = helper.make_graph(
        [const("half", 0.5), helper.make_node("Mul", ["x_t", "half"], ["scaled"]),
         const("trip", 3, np.int64), helper.make_node("Loop", ["trip", "", "s_in"], ["s_out"], body=loop_body_graph),
         helper.make_node("Identity", ["s_out"], ["y_t"])],
        "scan_body", [vi("s_in", [3]), vi("x_t", [3])], [vi("s_out", [3]), vi("y_t", [3])])
    nodes = [helper.make_node("Tanh", ["x0"], ["w"]),
             helper.make_node("Scan", ["s0", "x"], ["s_final", "ys"], body=scan_body, num_scan_inputs=1)]
    model = make_model(nodes, [vi("s0", [3]), vi("x", [4, 3]), vi("x0", [3])], [vi("s_final", [3]), vi("ys", [4, 3])])
    compile_run_compare(model, {"s0": rand(3, seed=21), "x": rand(4, 3, seed=22), "x0": rand(3, seed=23)}, tmp_path)


def test_a_loop_appending_to_a_sequence_then_concatenated(tmp_path):
    """The exporters' list-append pattern: a Loop carries a sequence, each iteration inserts a row
    computed from the iteration number, and ConcatFromSequence joins them after the loop."""
    seq_type = helper.make_tensor_sequence_value_info
    body = helper.make_graph(
        [helper.make_node("Gather", ["x", "i"], ["row"], axis=0), helper.make_node("Relu", ["row"], ["r"]),
         helper.make_node("SequenceInsert", ["seq_in", "r"], ["seq_out"]),
         helper.make_node("Identity", ["c_in"], ["c_out"])],
        "append", [vi("i", [], TensorProto.INT64), vi("c_in", [], TensorProto.BOOL), seq_type("seq_in", FLOAT, None)],
        [vi("c_out", [], TensorProto.BOOL), seq_type("seq_out", FLOAT, None)])
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"], dtype=FLOAT), const("trip", 3, np.int64),
             helper.make_node("Loop", ["trip", "", "empty"], ["rows"], body=body),
             helper.make_node("ConcatFromSequence", ["rows"], ["y"], axis=0, new_axis=1)]
    model = make_model(nodes, [vi("x", [5, 4])], [vi("y", [3, 4])])
    compile_run_compare(model, {"x": rand(5, 4, seed=24)}, tmp_path)


def test_split_to_sequence_forms(tmp_path):
    """A chunk size that leaves a shorter last piece, explicit sizes, and keepdims=0 along axis 1."""
    nodes = [const("three", 3, np.int64), const("sizes", [2, 5], np.int64),
             const("first", 0, np.int64), const("last", -1, np.int64), const("one", 1, np.int64),
             helper.make_node("SplitToSequence", ["x", "three"], ["chunks"], axis=0),
             helper.make_node("SequenceAt", ["chunks", "first"], ["chunk_first"]),
             helper.make_node("SequenceAt", ["chunks", "last"], ["chunk_last"]),
             helper.make_node("SplitToSequence", ["x", "sizes"], ["parts"], axis=0),
             helper.make_node("SequenceAt", ["parts", "one"], ["part_second"]),
             helper.make_node("SplitToSequence", ["x"], ["columns"], axis=1, keepdims=0),
             helper.make_node("SequenceAt", ["columns", "last"], ["column_last"]),
             helper.make_node("SequenceLength", ["chunks"], ["chunk_count"])]
    model = make_model(nodes, [vi("x", [7, 4])],
                       [vi("chunk_first", [3, 4]), vi("chunk_last", [1, 4]), vi("part_second", [5, 4]),
                        vi("column_last", [7]), vi("chunk_count", [], TensorProto.INT64)])
    got = compile_run_compare(model, {"x": rand(7, 4, seed=25)}, tmp_path)
    assert int(got[-1]) == 3
