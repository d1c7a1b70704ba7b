"""In-place pairs in the planner (aot/planner: Overlap, InPlace): a layer's output may share bytes with
the input its kernel names, which dies at that layer, at a shift the kernel allows. A byte-by-byte
simulation of the schedule shows that no placement algorithm ever overwrites a live buffer before its
last read except that partner at an allowed shift; the lower bound counts a pair by its span; a pair
whose input is still read later is not offered; and compiled float models (elementwise kernels)
compute what they computed out of place."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.planner.offsets import BufferRequest, Overlap, align_up, first_fit, lower_bound
from aot.planner.placement import by_conflicts, by_size, place
from aot.reference import run_reference
from aot.targets.host import load

from conftest import float_input, make_model

ALIGNMENTS = (1, 4, 16)


@st.composite
def in_place_problems(draw):
    """Buffers with lifetimes, and at some steps one pair: a buffer dying there (input) and one born
    there (output), with shifts: 0, the two end-aligned ones, and arbitrary (also misaligned) ones."""
    steps = draw(st.integers(1, 12))
    requests = []
    for _ in range(draw(st.integers(1, 14))):
        first = draw(st.integers(0, steps - 1))
        last = draw(st.integers(first, steps - 1))
        requests.append(BufferRequest(draw(st.one_of(st.integers(0, 48), st.integers(1, 400))), first, last))
    overlaps = []
    for s in range(steps):
        dying = [i for i, r in enumerate(requests) if r.last == s and r.first < s]
        born = [j for j, r in enumerate(requests) if r.first == s]
        if not dying or not born or not draw(st.booleans()):
            continue
        i, j = draw(st.sampled_from(dying)), draw(st.sampled_from(born))
        a, b = requests[i].size, requests[j].size
        shifts = {0, a - b, *draw(st.lists(st.integers(-b - 32, a + 32), max_size=3))}
        overlaps.append(Overlap(i, j, tuple(sorted(shifts))))
    return requests, overlaps


def simulate(requests: list[BufferRequest], offsets: list[int], overlaps: list[Overlap]) -> None:
    """Run the schedule over an arena of byte owners: at each step, every buffer written before it and
    read at it still owns all its bytes; then the buffers born there take theirs, a byte passing only
    from a dead buffer or, at an allowed shift, from the in-place partner dying at this step."""
    allowed = {(o.input, o.output): set(o.shifts) for o in overlaps}
    owner: dict[int, int] = {}
    for s in range(max((r.last for r in requests), default=-1) + 1):
        for i, r in enumerate(requests):
            if r.size and r.first < s <= r.last:
                assert all(owner.get(b) == i for b in range(offsets[i], offsets[i] + r.size)), (s, i)
        for j, r in enumerate(requests):
            if r.first != s:
                continue
            for b in range(offsets[j], offsets[j] + r.size):
                prev = owner.get(b)
                if prev is not None and prev != j and requests[prev].last >= s:
                    assert offsets[j] - offsets[prev] in allowed.get((prev, j), ()), (s, prev, j)
                owner[b] = j


def brute_force_bound(requests, overlaps, alignment) -> int:
    best = 0
    for s in range(max((r.last for r in requests), default=-1) + 1):
        live = {i for i, r in enumerate(requests) if r.first <= s <= r.last}
        total = sum(align_up(requests[i].size, alignment) for i in live)
        for o in overlaps:
            if {o.input, o.output} <= live:
                a, b = requests[o.input].size, requests[o.output].size
                span = min((align_up(max(a, d + b) - min(0, d), alignment) for d in o.shifts if d % alignment == 0),
                           default=align_up(a, alignment) + align_up(b, alignment))
                total -= max(0, align_up(a, alignment) + align_up(b, alignment) - span)
        best = max(best, total)
    return best


@settings(max_examples=100, deadline=None)
@given(problem=in_place_problems(), alignment=st.sampled_from(ALIGNMENTS))
def test_no_live_buffer_is_clobbered_before_its_last_read(problem, alignment):
    requests, overlaps = problem
    everything = list(range(len(requests)))
    placement = place(requests, alignment, overlaps)
    orders = [by_size(requests, everything), by_conflicts(requests, everything), everything, everything[::-1]]
    for offsets in [placement.offsets] + [first_fit(requests, order, alignment, overlaps) for order in orders]:
        assert all(o % alignment == 0 and o >= 0 for o in offsets)
        simulate(requests, offsets, overlaps)
    bound = lower_bound(requests, alignment, overlaps)
    assert bound == brute_force_bound(requests, overlaps, alignment)
    assert bound <= lower_bound(requests, alignment)
    end = max((o + r.size for o, r in zip(placement.offsets, requests)), default=0)
    assert bound <= placement.size == align_up(end, alignment)
    assert place(list(requests), alignment, list(overlaps)) == placement  # deterministic


def test_chain_of_in_place_layers_needs_one_buffer():
    """Six layers in a row, each over the buffer of the one before (shift 0): one buffer's bytes; the
    same chain without pairs needs two."""
    chain = [BufferRequest(100, i, i + 1) for i in range(6)]
    pairs = [Overlap(i, i + 1, (0,)) for i in range(5)]
    assert place(chain, 16, pairs).size == lower_bound(chain, 16, pairs) == 112
    assert place(chain, 16).size == 224


def test_larger_output_goes_over_its_input_at_an_end_aligned_shift():
    """A 1x1 Conv widening 96 bytes to 288 (shifts 0 and 96 - 288): with a buffer alive beside the
    input before it, the output may start below the input, so the arena is the output's size plus
    that buffer only where both must coexist."""
    reqs = [BufferRequest(96, 0, 1), BufferRequest(288, 1, 2)]
    pair = [Overlap(0, 1, (0, 96 - 288))]
    p = place(reqs, 16, pair)
    assert p.size == 288 and p.offsets[1] - p.offsets[0] in (0, -192)
    assert place(reqs, 16).size == 384
    assert place(reqs, 16, [Overlap(0, 1, (8,))]).size == 384  # misaligned: not used


def float_chain_model():
    """x -> Relu -> Sigmoid -> Add(sigmoid, x): Relu cannot run over x (x is read again by the Add);
    Sigmoid runs over the Relu's output, the Add over one of its dying inputs."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sigmoid", ["r"], ["s"]),
             helper.make_node("Add", ["s", "x"], ["a"]), helper.make_node("Neg", ["a"], ["y"])]
    return make_model(nodes, [float_input("x", [1, 3, 5, 7])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 7])])


def test_in_place_pairs_only_over_dying_inputs(tmp_path):
    model = float_chain_model()
    on = compile_model(model, CompileOptions())
    off = compile_model(model, CompileOptions(in_place=False))
    names = [c.node.op_type for c in on.calls]
    by_op = {names[i]: src for i, src in on.plan.in_place.items()}
    assert "Relu" not in by_op and by_op["Sigmoid"] == on.calls[0].node.outputs[0] and "Add" in by_op
    assert off.plan.in_place == {} and all(c.step.in_place is None for c in off.calls)
    assert on.plan.arena_bytes < off.plan.arena_bytes
    meta = on.metadata
    assert meta["memory"]["in_place_layers"] == [on.calls[i].node.name for i in sorted(on.plan.in_place)]
    prototypes = {c.node.op_type: next(p for p in on.files["kernels.h"].splitlines() if f" {c.fn}(" in p)
                  for c in on.calls}
    assert "restrict" in prototypes["Relu"] and "restrict" not in prototypes["Sigmoid"]
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 7)).astype(np.float32)
    got_on = load(write_library(on, tmp_path / "on")).run([x])[0]
    got_off = load(write_library(off, tmp_path / "off")).run([x])[0]
    assert np.array_equal(got_on, got_off)
    np.testing.assert_allclose(got_on, run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def concat_model(shape: list[int]):
    """Relu(x), Tanh(Sigmoid(x)) and Neg(x) concatenated along the channels, then Abs."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Sigmoid", ["x"], ["b"]),
             helper.make_node("Tanh", ["b"], ["c"]), helper.make_node("Neg", ["x"], ["d"]),
             helper.make_node("Concat", ["a", "c", "d"], ["k"], axis=1), helper.make_node("Abs", ["k"], ["y"])]
    out = [shape[0], 3 * shape[1], *shape[2:]]
    return make_model(nodes, [float_input("x", shape)], [helper.make_tensor_value_info("y", TensorProto.FLOAT, out)])


def test_concat_inputs_are_written_straight_into_their_slices(tmp_path):
    model = concat_model([1, 4, 4, 4])  # 256 bytes per input: aligned slices
    on = compile_model(model, CompileOptions())
    off = compile_model(model, CompileOptions(in_place=False))
    assert "Concat" not in [c.node.op_type for c in on.calls] and "Concat" in [c.node.op_type for c in off.calls]
    k = on.plan.storage["k"]
    assert [(on.plan.storage[n].root, on.plan.storage[n].offset - k.offset) for n in "acd"] == \
        [("k", 0), ("k", 256), ("k", 512)]
    assert on.plan.arena_bytes < off.plan.arena_bytes
    assert {t["name"]: t.get("alias_of") for t in on.metadata["tensors"]}["c"] == "k"
    x = np.random.default_rng(1).standard_normal((1, 4, 4, 4)).astype(np.float32)
    got = [load(write_library(c, tmp_path / name)).run([x])[0] for name, c in (("on", on), ("off", off))]
    assert np.array_equal(got[0], got[1])
    np.testing.assert_allclose(got[0], run_reference(model, {"x": x})[0], rtol=1e-5, atol=1e-6)


def test_concat_with_misaligned_slices_keeps_its_copy():
    compiled = compile_model(concat_model([1, 3, 5, 7]), CompileOptions())  # 420 bytes: not a multiple of 16
    assert "Concat" in [c.node.op_type for c in compiled.calls]
    assert all(st.delta == 0 for st in compiled.plan.storage.values())
