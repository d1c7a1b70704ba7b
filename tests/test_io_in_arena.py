"""Inputs and outputs in the arena (CompileOptions.io_buffers / --io-buffers), and the RAM a user pays
(arena + input/output buffers outside it) reported alike in metadata.json, model.h and ``aot inspect``.

In the arena an input lives from the start to its last reader and an output from its producer to the
end; their bytes are reused like any other buffer's, and model.h says where they are
(``model_input_<i>(arena)``, ``model_output_<i>(arena)``) so a firmware writes and reads them in place.
"""
from __future__ import annotations

import ctypes
import re
import subprocess

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.flows.board_run import host_baseline, run_on_board
from aot.flows.inspect import fit_table, format_report
from aot.targets.board import resolve_board
from aot.targets.host import load

from conftest import float_input, make_model, require_tool, tiny_cnn_model

MODES = ("arena", "separate")


def conv_chain_model(channels: int = 4, size: int = 16, depth: int = 3):
    """Conv -> Relu three times, then a global average pool: the input is dead after the first layer,
    so in the arena its bytes can hold the second layer's output."""
    rng = np.random.default_rng(3)
    nodes, inits, x = [], {}, "x"
    for i in range(depth):
        inits[f"w{i}"] = rng.standard_normal((channels, channels, 3, 3)).astype(np.float32) * 0.2
        nodes += [helper.make_node("Conv", [x, f"w{i}"], [f"c{i}"], name=f"conv{i}", pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"], name=f"relu{i}")]
        x = f"r{i}"
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["y"], name="pool"))
    return make_model(nodes, [float_input("x", [1, channels, size, size])], [float_input("y", [1, channels, 1, 1])],
                      inits, name="conv_chain")


def io_bytes(compiled) -> tuple[int, int]:
    graph = compiled.graph
    return (sum(graph.tensors[n].nbytes for n in graph.inputs), sum(graph.tensors[n].nbytes for n in graph.outputs))


# -- the planner ------------------------------------------------------------------------------------
def lifetimes(compiled) -> dict[str, tuple[int, int, int, int]]:
    """Every arena buffer as (offset, size, first step, last step), recomputed from the calls and the
    rule for inputs/outputs (an input from step 0, an output to the last step), not from the planner."""
    plan, graph, calls = compiled.plan, compiled.graph, compiled.calls
    end = len(calls) - 1
    spans: dict[str, list[int]] = {}
    for idx, call in enumerate(calls):
        for name in [*call.step.reads, *call.step.writes]:
            st_ = plan.storage[name]
            if st_.kind == "arena" or st_.in_arena:
                span = spans.setdefault(st_.root, [idx, idx])
                span[1] = max(span[1], idx)
    for name in graph.inputs:
        spans.setdefault(name, [0, 0])[0] = 0
    for name in graph.outputs:
        spans[name][1] = end
    out = {r: (plan.storage[r].offset, max(graph.tensors[r].nbytes, 1), f, last) for r, (f, last) in spans.items()}
    for idx, offset in plan.scratch_offsets.items():
        out[f"scratch{idx}"] = (offset, calls[idx].step.scratch_bytes, idx, idx)
    return out


def assert_no_live_overlap(compiled) -> None:
    """Buffers alive at one step never share bytes, except an in-place layer's output and the input
    it writes over (the plan's in_place), and those only at that layer's step."""
    buffers = lifetimes(compiled)
    arena = compiled.plan.arena_bytes
    plan = compiled.plan
    in_place = {frozenset((plan.storage[src].root, compiled.calls[idx].step.writes[0])): idx
                for idx, src in plan.in_place.items()}
    names = sorted(buffers)
    for i, a in enumerate(names):
        oa, sa, fa, la = buffers[a]
        assert oa >= 0 and oa + sa <= arena, (a, buffers[a], arena)
        for b in names[i + 1:]:
            ob, sb, fb, lb = buffers[b]
            step = in_place.get(frozenset((a, b)))
            if step is not None and max(fa, fb) == min(la, lb) == step:
                continue
            if fa <= lb and fb <= la:
                assert oa + sa <= ob or ob + sb <= oa, f"{a} {buffers[a]} overlaps {b} {buffers[b]}"


@st.composite
def random_graphs(draw):
    """A random DAG of Relu/Sigmoid (unary), Add (same shape) and Concat (any two) over 1-3 inputs of
    different widths; 1-3 outputs drawn from anything computed, an input among them at times."""
    n_inputs = draw(st.integers(1, 3))
    shapes = {f"in{i}": [1, draw(st.integers(1, 40))] for i in range(n_inputs)}
    nodes = []
    for k in range(draw(st.integers(1, 8))):
        names = sorted(shapes)
        op = draw(st.sampled_from(["Relu", "Sigmoid", "Add", "Concat"]))
        a = draw(st.sampled_from(names))
        out = f"t{k}"
        if op in ("Relu", "Sigmoid"):
            nodes.append(helper.make_node(op, [a], [out], name=f"n{k}"))
            shapes[out] = shapes[a]
        else:
            b = draw(st.sampled_from(names))
            if op == "Add" and shapes[a] == shapes[b]:
                nodes.append(helper.make_node("Add", [a, b], [out], name=f"n{k}"))
                shapes[out] = shapes[a]
            else:
                nodes.append(helper.make_node("Concat", [a, b], [out], name=f"n{k}", axis=1))
                shapes[out] = [1, shapes[a][1] + shapes[b][1]]
    computed = [n.output[0] for n in nodes]
    outputs = draw(st.lists(st.sampled_from(computed + ["in0"]), min_size=1, max_size=3, unique=True))
    if not set(outputs) & set(computed):
        outputs.append(computed[-1])
    return make_model(nodes, [float_input(n, shapes[n]) for n in sorted(shapes) if n.startswith("in")],
                      [float_input(n, shapes[n]) for n in outputs])


@settings(max_examples=40, deadline=None)
@given(model=random_graphs(), alignment=st.sampled_from([1, 4, 16]))
def test_planner_never_overlaps_live_inputs_and_outputs(model, alignment):
    compiled = compile_model(model, CompileOptions(io_buffers="arena", alignment=alignment))
    plan = compiled.plan
    assert all(plan.storage[n].in_arena for n in [*compiled.graph.inputs, *compiled.graph.outputs])
    assert_no_live_overlap(compiled)
    assert plan.lower_bound <= plan.arena_bytes <= plan.no_reuse_bytes
    separate = compile_model(model, CompileOptions(io_buffers="separate", alignment=alignment)).plan
    # Placing the I/O in the arena never costs more than holding it beside the arena (up to alignment).
    slack = alignment * (len(compiled.graph.inputs) + len(compiled.graph.outputs))
    assert plan.total_lower_bound <= separate.total_lower_bound + slack
    assert plan.arena_bytes <= separate.arena_bytes + separate.input_bytes + separate.output_bytes + slack


def test_the_input_dies_early_and_its_bytes_are_reused():
    model = conv_chain_model()
    arena = compile_model(model, CompileOptions(io_buffers="arena"))
    separate = compile_model(model, CompileOptions(io_buffers="separate"))
    ins, outs = io_bytes(arena)
    assert arena.plan.arena_bytes <= separate.plan.arena_bytes + ins + outs
    assert arena.plan.total_bytes < separate.plan.total_bytes  # strictly: the input's bytes are reused
    plan = arena.plan
    x, first_out = plan.storage["x"], plan.storage[arena.calls[0].step.writes[0]]
    second_out = plan.storage[arena.calls[1].step.writes[0]]
    assert x.in_arena and x.offset != first_out.offset  # read and written by the same layer
    assert second_out.offset == x.offset  # the second layer writes where the dead input was
    assert_no_live_overlap(arena)


# -- the figures users pay -------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_totals_are_arena_plus_io_outside_it(mode):
    compiled = compile_model(tiny_cnn_model(), CompileOptions(io_buffers=mode))
    mem = compiled.metadata["memory"]
    ins, outs = io_bytes(compiled)
    assert (mem["input_bytes"], mem["output_bytes"]) == (ins, outs) == (3 * 8 * 8 * 4, 10 * 4)
    assert mem["io_buffers"] == mode
    outside = ins + outs if mode == "separate" else 0
    assert mem["caller_io_bytes"] == outside
    assert mem["total_bytes"] == mem["arena_bytes"] + outside
    assert mem["total_lower_bound_bytes"] == mem["lower_bound_bytes"] + outside
    assert mem["stack_bytes"] is None and "unknown" in mem["stack_source"]  # the host: not known
    if mode == "arena":  # the lower bound counts the I/O: at step 0 the input and the conv's output live
        conv_out = compiled.graph.tensors[compiled.calls[0].step.writes[0]].nbytes
        assert mem["lower_bound_bytes"] >= ins + conv_out


def test_board_compile_gives_its_stack_reserve():
    mem = compile_model(tiny_cnn_model(), CompileOptions(board="cortex-m4")).metadata["memory"]
    assert mem["stack_bytes"] == 16384 and "reserve" in mem["stack_source"]


@pytest.mark.parametrize("mode", MODES)
def test_model_h_and_inspect_give_the_same_figures(mode, tmp_path):
    cc = require_tool("gcc")
    compiled = compile_model(tiny_cnn_model(), CompileOptions(io_buffers=mode))
    mem = compiled.metadata["memory"]
    header = compiled.files["model.h"]
    assert f"#define MODEL_IO_BYTES {mem['caller_io_bytes']}\n" in header
    assert f"#define MODEL_RAM_BYTES {mem['total_bytes']}\n" in header
    assert f"#define MODEL_IO_IN_ARENA {int(mode == 'arena')}\n" in header
    report = format_report(compiled)
    for label, key in (("arena", "arena_bytes"), ("total RAM", "total_bytes"), ("inputs", "input_bytes"),
                       ("outputs", "output_bytes"), ("  with I/O", "total_lower_bound_bytes")):
        assert re.search(rf"^{label}\s*{mem[key]} B", report, flags=re.M), (label, report)
    out = write_library(compiled, tmp_path / "lib")
    (tmp_path / "main.c").write_text('#include <stdio.h>\n#include "model.h"\n'
                                     'int main(void) { printf("%d %d\\n", MODEL_IO_BYTES, MODEL_RAM_BYTES); '
                                     'return 0; }\n')
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(out),
                    str(tmp_path / "main.c"), "-o", str(tmp_path / "a.out")], check=True)
    got = subprocess.run([str(tmp_path / "a.out")], capture_output=True, text=True, check=True).stdout.split()
    assert got == [str(mem["caller_io_bytes"]), str(mem["total_bytes"])]


def test_cli_option_chooses_the_mode(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(conv_chain_model(), str(path))
    for mode in MODES:
        assert main(["compile", str(path), "-o", str(tmp_path / mode), "--io-buffers", mode]) == 0
        assert f"MODEL_IO_IN_ARENA {int(mode == 'arena')}" in (tmp_path / mode / "model.h").read_text()
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(path), "-o", str(tmp_path / "bad"), "--io-buffers", "heap"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'heap'" in err and "Traceback" not in err


def test_unknown_mode_is_a_clear_error():
    with pytest.raises(AotError, match="io_buffers"):
        compile_model(tiny_cnn_model(), CompileOptions(io_buffers="heap"))


# -- running the generated code ----------------------------------------------------------------------
def run_in_place(lib_dir, meta: dict, feeds: list[np.ndarray], arena: np.ndarray | None = None) -> list[np.ndarray]:
    """Write the inputs at their arena offsets, call model_run_in_arena, read the outputs in place: on the
    library's own model_arena, or on ``arena`` (the caller's)."""
    so = lib_dir / "libmodel.so"
    lib = ctypes.CDLL(str(so))
    if arena is None:
        base = ctypes.addressof(ctypes.c_uint8.in_dll(lib, "model_arena"))
    else:
        base = arena.ctypes.data
    for spec, value in zip(meta["inputs"], feeds):
        data = np.ascontiguousarray(value.astype(spec["dtype"]))
        ctypes.memmove(base + spec["offset"], data.ctypes.data, data.nbytes)
    fn = lib.model_run_in_arena
    fn.argtypes, fn.restype = [ctypes.c_void_p], ctypes.c_int
    assert fn(ctypes.c_void_p(base)) == 0
    outs = []
    for spec in meta["outputs"]:
        got = np.empty(spec["shape"], spec["dtype"])
        ctypes.memmove(got.ctypes.data, base + spec["offset"], got.nbytes)
        outs.append(got)
    return outs


@pytest.mark.parametrize("make", [conv_chain_model, tiny_cnn_model])
def test_both_modes_give_identical_outputs_on_the_host(make, tmp_path):
    model = make()
    results = {}
    for mode in MODES:
        compiled = compile_model(model, CompileOptions(io_buffers=mode))
        host = load(write_library(compiled, tmp_path / mode))
        rng = np.random.default_rng(5)
        feeds = [rng.standard_normal(s["shape"]).astype(np.float32) for s in host.inputs]
        results[mode] = host.run(feeds)  # model_run: separate buffers (copied in and out in arena mode)
        if mode == "arena":
            meta = compiled.metadata
            for got, want in zip(run_in_place(tmp_path / mode, meta, feeds), results[mode]):
                np.testing.assert_array_equal(got, want)
            arena = np.zeros(meta["memory"]["arena_bytes"] + 64, np.uint8)
            shift = (-arena.ctypes.data) % meta["memory"]["alignment"]
            for got, want in zip(run_in_place(tmp_path / mode, meta, feeds, arena[shift:]), results[mode]):
                np.testing.assert_array_equal(got, want)
    for a, b in zip(results["arena"], results["separate"]):
        np.testing.assert_array_equal(a, b)


def test_accessors_point_into_the_arena(tmp_path):
    """model_input_<i>/model_output_<i> and their by-name twins give the documented offsets, and an
    in-place run through them equals model_run's."""
    cc = require_tool("gcc")
    compiled = compile_model(conv_chain_model(), CompileOptions(io_buffers="arena"))
    out = write_library(compiled, tmp_path / "lib")
    subprocess.run(["make", "-s", "-C", str(out), f"CC={cc}"], check=True)
    meta = compiled.metadata
    (tmp_path / "main.c").write_text("""#include <stdio.h>
#include "model.h"
static float in[MODEL_INPUT_0_SIZE], in_place[MODEL_OUTPUT_0_SIZE], out[MODEL_OUTPUT_0_SIZE];
int main(void)
{
    int i, same = 1;
    float* x = model_input_0(model_arena);
    const float* y = model_output_0(model_arena);
    if ((unsigned char*)x != model_arena + MODEL_INPUT_0_OFFSET || x != model_input_x(model_arena)) return 2;
    if ((const unsigned char*)y != model_arena + MODEL_OUTPUT_0_OFFSET || y != model_output_y(model_arena)) return 3;
    for (i = 0; i < MODEL_INPUT_0_SIZE; ++i) in[i] = x[i] = (float)(i % 7) - 3.0f;
    if (model_run_in_arena(model_arena) != 0) return 4;
    for (i = 0; i < MODEL_OUTPUT_0_SIZE; ++i) in_place[i] = y[i];
    if (model_run(in, out) != 0) return 5;  /* separate buffers, copied through the same arena */
    for (i = 0; i < MODEL_OUTPUT_0_SIZE; ++i) same &= out[i] == in_place[i] && out[i] != 0.0f;
    printf("%d %d %d\\n", MODEL_INPUT_0_OFFSET, MODEL_OUTPUT_0_OFFSET, same);
    return same ? 0 : 1;
}
""")
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(out), str(tmp_path / "main.c"),
                    str(out / "libmodel.a"), "-lm", "-o", str(tmp_path / "a.out")], check=True)
    proc = subprocess.run([str(tmp_path / "a.out")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == [str(meta["inputs"][0]["offset"]), str(meta["outputs"][0]["offset"]), "1"]


def test_both_modes_on_cortex_m4():
    board = resolve_board("cortex-m4")
    missing = board.missing_tools("gcc")
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    model = conv_chain_model(size=8)
    reports = {}
    for mode in MODES:
        options = CompileOptions(io_buffers=mode)
        baseline = host_baseline(model, options=options, seed=2)
        reports[mode] = run_on_board(model, board, options=options, baseline=baseline)
        assert reports[mode].ok, reports[mode].table()
    arena, separate = reports["arena"], reports["separate"]
    for a, b in zip(arena.outputs, separate.outputs):
        np.testing.assert_array_equal(a, b)
    assert arena.io_bytes == 0 and separate.io_bytes > 0
    assert arena.arena_bytes + arena.io_bytes < separate.arena_bytes + separate.io_bytes
    # The timed call is the inference alone in both: in place, the firmware writes the input before it.
    assert abs(arena.instructions - separate.instructions) <= 0.01 * separate.instructions


def test_fit_counts_io_in_the_arena_once():
    """With I/O in the arena the board fit lists no caller's buffers: the arena holds them."""
    for mode in MODES:
        compiled = compile_model(tiny_cnn_model(), CompileOptions(board="cortex-m4", io_buffers=mode))
        table = fit_table(compiled)
        ram = next(int(line.split()[1].replace(",", "")) for line in table.splitlines()
                   if line.strip().startswith("RAM "))
        mem = compiled.metadata["memory"]
        assert ram == mem["total_bytes"] + mem["stack_bytes"], table
        assert ("caller's buffer" in table) == (mode == "separate"), table
