"""The static memory planner: offsets never overlap while buffers are live, alias ops cost no copy,
and the memory figures reported in metadata.json agree with the plan and with each other."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.flows.inspect import format_report
from aot.planner import BufferRequest, arena_size, assign_offsets, lower_bound
from aot.reference import run_reference
from aot.targets.host import load

from conftest import float_input, make_model, tiny_cnn_model

ALIGNMENTS = (1, 4, 8, 16, 64)


def align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


@st.composite
def lifetimes(draw) -> list[BufferRequest]:
    steps = draw(st.integers(1, 30))
    count = draw(st.integers(0, 40))
    out = []
    for _ in range(count):
        first = draw(st.integers(0, steps - 1))
        last = draw(st.integers(first, steps - 1))
        size = draw(st.one_of(st.integers(0, 64), st.integers(1, 5000)))
        out.append(BufferRequest(size, first, last))
    return out


def brute_force_lower_bound(requests: list[BufferRequest], alignment: int) -> int:
    last_step = max((r.last for r in requests), default=-1)
    return max((sum(align(r.size, alignment) for r in requests if r.first <= s <= r.last)
                for s in range(last_step + 1)), default=0)


@settings(max_examples=400, deadline=None)
@given(requests=lifetimes(), alignment=st.sampled_from(ALIGNMENTS))
def test_assign_offsets_properties(requests, alignment):
    offsets = assign_offsets(requests, alignment)
    assert len(offsets) == len(requests)
    assert all(o >= 0 and o % alignment == 0 for o in offsets)
    for i, (a, oa) in enumerate(zip(requests, offsets)):
        for b, ob in zip(requests[i + 1:], offsets[i + 1:]):
            if a.size and b.size and a.overlaps_in_time(b):
                assert oa + a.size <= ob or ob + b.size <= oa, (a, oa, b, ob)
    arena = arena_size(requests, offsets, alignment)
    bound = lower_bound(requests, alignment)
    assert bound == brute_force_lower_bound(requests, alignment)
    assert arena % alignment == 0
    assert arena >= max((o + r.size for o, r in zip(offsets, requests)), default=0)
    assert bound <= arena <= sum(align(r.size, alignment) for r in requests)
    assert assign_offsets(list(requests), alignment) == offsets  # deterministic


def test_assign_offsets_reuses_memory_of_dead_buffers():
    # a chain: each buffer dies when the next is written, so two slots suffice
    chain = [BufferRequest(100, i, i + 1) for i in range(6)]
    offsets = assign_offsets(chain, 16)
    assert arena_size(chain, offsets, 16) == lower_bound(chain, 16) == 224
    assert len(set(offsets)) == 2


# -- plan_memory on small graphs ---------------------------------------------------------------

def alias_chain_model():
    """Relu -> Reshape -> Unsqueeze -> Squeeze -> Flatten -> Sigmoid: four alias ops in a row."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shape"], ["r2"], name="reshape"),
        helper.make_node("Unsqueeze", ["r2", "axes"], ["r3"], name="unsqueeze"),
        helper.make_node("Squeeze", ["r3", "axes"], ["r4"], name="squeeze"),
        helper.make_node("Flatten", ["r4"], ["r5"], name="flatten", axis=1),
        helper.make_node("Sigmoid", ["r5"], ["y"], name="sigmoid"),
    ]
    inits = {"shape": np.array([1, 32], np.int64), "axes": np.array([2], np.int64)}
    return make_model(nodes, [float_input("x", [1, 2, 4, 4])], [float_input("y", [1, 32])], inits)


def reshape_output_model():
    """The graph output is produced by a Reshape: it must be written into the caller's buffer."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"], name="relu"),
        helper.make_node("Reshape", ["r", "shape"], ["y"], name="reshape"),
    ]
    return make_model(nodes, [float_input("x", [1, 2, 3, 4])], [float_input("y", [1, 24])],
                      {"shape": np.array([1, 24], np.int64)})


def three_live_model():
    """Odd-sized (60-byte) tensors, four of them (a, b, c, d) live at the Mul, so alignment changes the arena."""
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu"),
        helper.make_node("Exp", ["x"], ["b"], name="exp"),
        helper.make_node("Sub", ["a", "b"], ["c"], name="sub"),
        helper.make_node("Mul", ["c", "a"], ["d"], name="mul"),
        helper.make_node("Div", ["d", "b"], ["y"], name="div"),
    ]
    return make_model(nodes, [float_input("x", [1, 3, 5])], [float_input("y", [1, 3, 5])])


def run_and_compare(compiled, model, tmp_path, name: str) -> None:
    lib = load(write_library(compiled, tmp_path / name))
    rng = np.random.default_rng(0)
    feeds = {s["onnx_name"]: rng.standard_normal(s["shape"]).astype(np.float32) for s in lib.inputs}
    for got, ref in zip(lib.run(feeds), run_reference(model, feeds)):
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_alias_ops_share_their_input_storage_without_copies(tmp_path):
    model = alias_chain_model()
    compiled = compile_model(model, CompileOptions(io_buffers="separate"))
    plan = compiled.plan
    assert [c.node.op_type for c in compiled.calls] == ["Relu", "Sigmoid"]
    root = plan.storage["r"]
    assert root.kind == "arena"
    for alias in ("r2", "r3", "r4", "r5"):
        st = plan.storage[alias]
        assert (st.kind, st.root, st.offset) == ("arena", "r", root.offset)
    model_c = compiled.files["model.c"]
    kernels = compiled.files["kernels_ref.c"]
    for op in ("reshape", "unsqueeze", "squeeze", "flatten"):
        assert f"model_{op}" not in model_c and f"model_{op}" not in kernels
    assert "memcpy" not in model_c
    assert plan.arena_bytes == 128  # only r (32 floats) lives in the arena
    meta = {t["name"]: t for t in compiled.metadata["tensors"]}
    assert meta["r5"]["alias_of"] == "r" and meta["r5"]["offset"] == root.offset
    run_and_compare(compiled, model, tmp_path, "alias")


def test_reshape_producing_a_graph_output_gets_a_copy(tmp_path):
    model = reshape_output_model()
    compiled = compile_model(model, CompileOptions(io_buffers="separate"))
    assert [c.node.op_type for c in compiled.calls] == ["Relu", "Reshape"]
    copy_call = compiled.calls[1]
    assert copy_call.template == copy_call.kernel.alias_template
    assert compiled.plan.storage["y"].kind == "output" and compiled.plan.storage["y"].root == "y"
    assert compiled.plan.storage["r"].kind == "arena"
    assert re.search(r"model_reshape\(\(const float\*\)\(const void\*\)\(arena \+ \d+\), y\);", compiled.files["model.c"])
    run_and_compare(compiled, model, tmp_path, "copy")


def liveness_from_metadata(meta: dict) -> tuple[dict[str, list[int]], list[int]]:
    """[first, last] step of every arena buffer (inputs and outputs too when they are in the arena:
    an input from the start, an output to the end), recomputed from the layer list alone."""
    tensors = {t["name"]: t for t in meta["tensors"]}
    in_arena = meta["memory"]["io_buffers"] == "arena"

    def root(name: str) -> str:
        return tensors[name].get("alias_of", name)

    spans: dict[str, list[int]] = {}
    for step, layer in enumerate(meta["layers"]):
        for name in layer["outputs"] + layer["inputs"]:
            if tensors[name]["storage"] != "arena" and not (in_arena and "offset" in tensors[name]):
                continue
            r = root(name)
            span = spans.setdefault(r, [step, step])
            span[1] = max(span[1], step)
    if in_arena:
        for spec in meta["inputs"]:
            spans.setdefault(spec["name"], [0, 0])[0] = 0
        for spec in meta["outputs"]:
            spans[spec["name"]][1] = len(meta["layers"]) - 1
    scratch = [layer["scratch_bytes"] for layer in meta["layers"]]
    return spans, scratch


@pytest.mark.parametrize("io_buffers", ["arena", "separate"])
@pytest.mark.parametrize("make", [tiny_cnn_model, three_live_model, alias_chain_model])
def test_metadata_memory_figures_are_consistent(make, io_buffers, tmp_path):
    compiled = compile_model(make(), CompileOptions(io_buffers=io_buffers))
    out = write_library(compiled, tmp_path / "lib")
    meta = json.loads((out / "metadata.json").read_text())
    mem = meta["memory"]
    tensors = {t["name"]: t for t in meta["tensors"]}
    a = mem["alignment"]

    spans, scratch = liveness_from_metadata(meta)
    buffers = [(tensors[r]["bytes"], first, last) for r, (first, last) in spans.items()]
    buffers += [(size, step, step) for step, size in enumerate(scratch) if size]
    live = [sum(align(size, a) for size, f, l in buffers if f <= s <= l) for s in range(len(meta["layers"]))]
    # An in-place pair (the layer's output over the input it names, which dies there) counts at its
    # step as the larger of the two (every shift a kernel offers keeps one inside the other).
    for step, call in enumerate(compiled.calls):
        pair = call.step.in_place
        src = pair and tensors[pair.input].get("alias_of", pair.input)
        if pair and src in spans and spans[src][1] == step and spans.get(call.node.outputs[0], [None])[0] == step:
            x, y = tensors[src]["bytes"], tensors[call.node.outputs[0]]["bytes"]
            live[step] -= align(x, a) + align(y, a) - align(max(x, y), a)
    assert mem["lower_bound_bytes"] == max(live, default=0)
    assert mem["no_reuse_bytes"] == sum(align(size, a) for size, _, _ in buffers)
    assert mem["lower_bound_bytes"] <= mem["arena_bytes"] <= mem["no_reuse_bytes"]
    assert mem["arena_bytes"] == compiled.plan.arena_bytes

    # Arena tensors live at the same time never share bytes, except a layer's output over the input
    # it names as in place, and all fit in the arena.
    shared = {frozenset((layer["in_place"], layer["outputs"][0])) for layer in meta["layers"] if "in_place" in layer}
    roots = [r for r in spans]
    for i, r1 in enumerate(roots):
        t1 = tensors[r1]
        assert t1["offset"] % a == 0 and t1["offset"] + t1["bytes"] <= mem["arena_bytes"]
        for r2 in roots[i + 1:]:
            t2 = tensors[r2]
            (f1, l1), (f2, l2) = spans[r1], spans[r2]
            if f1 <= l2 and f2 <= l1 and frozenset((r1, r2)) not in shared:
                assert t1["offset"] + t1["bytes"] <= t2["offset"] or t2["offset"] + t2["bytes"] <= t1["offset"]

    # weights_bytes counts exactly the arrays written to weights.h.
    sizes = {"float": 4, "int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "int64_t": 8}
    arrays = re.findall(r"static const (\w+) \w+\[(\d+)\]", (out / "weights.h").read_text())
    assert mem["weights_bytes"] == sum(sizes[t] * int(n) for t, n in arrays)

    report = format_report(compiled)  # what `aot inspect` prints
    for label, key in (("arena", "arena_bytes"), ("lower bound", "lower_bound_bytes"),
                       ("no reuse", "no_reuse_bytes"), ("weights", "weights_bytes")):
        assert re.search(rf"^{label}\s*{mem[key]} B", report, flags=re.M), (label, report)

    header = (out / "model.h").read_text()
    assert f"#define MODEL_ARENA_SIZE {mem['arena_bytes']}\n" in header
    assert f"uint8_t model_arena[{max(mem['arena_bytes'], 1)}]" in (out / "model_arena.c").read_text()  # the static arena has its own file


def test_weights_bytes_of_tiny_cnn():
    model = tiny_cnn_model()
    expected = sum(np.prod(i.dims) * 4 for i in model.graph.initializer if i.data_type == 1)
    assert compile_model(model).metadata["memory"]["weights_bytes"] == expected


@pytest.mark.parametrize("alignment", [4, 16, 64])
def test_alignment_option_is_honoured(alignment, tmp_path):
    model = three_live_model()
    compiled = compile_model(model, CompileOptions(alignment=alignment))
    meta = compiled.metadata
    assert meta["memory"]["alignment"] == alignment
    offsets = [t["offset"] for t in meta["tensors"] if t["storage"] == "arena"]
    assert len(offsets) >= 3 and all(o % alignment == 0 for o in offsets)
    assert meta["memory"]["arena_bytes"] % alignment == 0
    # four 60-byte tensors are live at the Mul; in place (the default) its output goes over a dying input
    assert meta["memory"]["lower_bound_bytes"] == 3 * align(60, alignment)
    assert compile_model(model, CompileOptions(alignment=alignment, in_place=False)).plan.lower_bound == \
        4 * align(60, alignment)
    assert f"#define MODEL_ARENA_ALIGN {alignment}\n" in compiled.files["model.h"]
    assert f"AOT_ALIGNED({alignment})" in compiled.files["model_arena.c"]
    run_and_compare(compiled, model, tmp_path, f"align{alignment}")


def test_smaller_alignment_gives_smaller_arena():
    sizes = [compile_model(three_live_model(), CompileOptions(alignment=a)).plan.arena_bytes for a in (4, 64)]
    assert sizes[0] < sizes[1]


@pytest.mark.parametrize("alignment", [0, 3, 24, -16])
def test_alignment_must_be_a_power_of_two(alignment):
    with pytest.raises(AotError, match="power of two"):
        compile_model(three_live_model(), CompileOptions(alignment=alignment))
