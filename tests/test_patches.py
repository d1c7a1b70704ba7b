"""Patch-based execution (aot/passes/patches.py): the first stages run strip by strip of their last
output, recomputing the halo rows, so only one strip's maps are alive at a time.

The rewrite is checked three ways: in ONNX Runtime (the patched IR exported back to ONNX, for random
windows: kernel, stride, padding, dilation, strip count), compiled on the host (float within
rounding of the unpatched library, int8 bit-exact with it), and for memory (the planner's lower
bound drops, the pass's estimate of the peak bounds the real one and its MAC count is exact).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model, optimize, write_library
from aot.errors import AotError
from aot.ir.export import to_onnx
from aot.ops import layer_macs
from aot.passes.patches import (_step_peaks, choose_patches, cut_points, estimate, graph_macs, patch_graph,
                                patchable_prefix, peak_live_bytes)
from aot.reference import ort_session
from aot.targets.host import load

from conftest import float_input, make_model

SIZE = 24


def inverted_residual_model(size: int = SIZE, window: tuple[int, int, int, int] = (3, 1, 1, 1)):
    """MobileNetV2's first stages in small: Conv s2 -> depthwise -> 1x1 project, a residual block
    (expand, depthwise with the given (kernel, stride, pad, dilation), project, Add), then a max pool,
    a Conv and a global pool the strips cannot cross."""
    k, s, p, d = window
    rng = np.random.default_rng(11)
    w = lambda *shape: (rng.standard_normal(shape) * 0.3).astype(np.float32)  # noqa: E731
    inits = {"w0": w(8, 3, 3, 3), "b0": w(8), "w1": w(8, 1, 3, 3), "w2": w(6, 8, 1, 1), "w3": w(12, 6, 1, 1),
             "w4": w(12, 1, k, k), "w5": w(6, 12, 1, 1), "w6": w(6, 6, 3, 3)}
    nodes = [helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c0"], ["r0"]),
             helper.make_node("Conv", ["r0", "w1"], ["c1"], group=8, pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["c2"]),
             helper.make_node("Conv", ["c2", "w3"], ["c3"]),
             helper.make_node("Relu", ["c3"], ["r3"]),
             helper.make_node("Conv", ["r3", "w4"], ["c4"], group=12, strides=[s, s], pads=[p, p, p, p],
                              dilations=[d, d]),
             helper.make_node("Relu", ["c4"], ["r4"]),
             helper.make_node("Conv", ["r4", "w5"], ["c5"])]
    if s == 1 and k == 2 * p * 1 + 1 and d == 1:  # same size: a residual Add
        nodes.append(helper.make_node("Add", ["c5", "c2"], ["a5"]))
        last = "a5"
    else:
        last = "c5"
    nodes += [helper.make_node("MaxPool", [last], ["m"], kernel_shape=[2, 2], strides=[2, 2]),
              helper.make_node("Conv", ["m", "w6"], ["c6"], pads=[1, 1, 1, 1]),
              helper.make_node("GlobalAveragePool", ["c6"], ["y"])]
    return make_model(nodes, [float_input("x", [1, 3, size, size])], [float_input("y", [1, 6, 1, 1])], inits,
                      name="inverted_residual")


def run_onnx(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort_session(model).run(None, {"x": x})[0]


@settings(max_examples=15, deadline=None)
@given(kernel=st.integers(1, 5), stride=st.integers(1, 3), pad=st.integers(0, 2), dilation=st.integers(1, 2),
       strips=st.integers(2, 7), size=st.integers(12, 26), data=st.data())
def test_patched_ir_computes_the_same_in_onnx_runtime(kernel, stride, pad, dilation, strips, size, data):
    pad = min(pad, kernel - 1)
    half = (size + 1) // 2
    extent = (kernel - 1) * dilation + 1
    if extent > half + 2 * pad or (half + 2 * pad - extent) // stride + 1 < 2:
        return  # not a valid model: the window does not fit, or too little is left for the max pool
    model = inverted_residual_model(size, (kernel, stride, pad, dilation))
    options = CompileOptions(board="host", backends=["ref"])
    graph = optimize(model, options)
    cuts = cut_points(graph, patchable_prefix(graph))
    cut = data.draw(st.sampled_from(cuts))
    height = graph.tensors[graph.nodes[cut].outputs[0]].shape[2]
    if strips > height:
        return
    before = to_onnx(graph)
    patched = patch_graph(optimize(model, options), cut, strips)
    x = np.random.default_rng(size).standard_normal((1, 3, size, size)).astype(np.float32)
    np.testing.assert_allclose(run_onnx(to_onnx(patched), x), run_onnx(before, x), rtol=1e-5, atol=1e-5)


def test_estimate_bounds_the_peak_and_counts_macs_exactly():
    graph = optimize(inverted_residual_model(), CompileOptions(board="host", backends=["ref"]))
    steps, macs = _step_peaks(graph), [layer_macs(graph, n) for n in graph.nodes]
    for cut in cut_points(graph, patchable_prefix(graph)):
        for strips in (2, 3, 5):
            guess = estimate(graph, cut, strips, steps, macs)
            patched = patch_graph(optimize(inverted_residual_model(), CompileOptions(board="host", backends=["ref"])),
                                  cut, strips)
            assert guess.macs == graph_macs(patched)
            assert guess.peak_bytes >= peak_live_bytes(patched)


def test_auto_lowers_the_peak_within_the_overhead():
    options = CompileOptions(board="host", backends=["ref"], patches="auto", patch_max_overhead=0.5)
    plain = compile_model(inverted_residual_model(), CompileOptions(board="host", backends=["ref"]))
    patched = compile_model(inverted_residual_model(), options)
    info = patched.metadata["memory"]["patching"]
    assert info["chosen"] and info["strips"] >= 2
    assert patched.plan.arena_bytes < plain.plan.arena_bytes
    assert 0 < info["extra_macs_percent"] <= 50
    assert info["macs"] == sum(layer["macs"] for layer in patched.metadata["layers"])
    choice = choose_patches(optimize(inverted_residual_model(), CompileOptions(board="host", backends=["ref"])), 0.0)
    assert choice is None  # no halo may be recomputed: nothing to gain


def qdq_model():
    """An int8 QDQ version of the first stages (per-channel weights, requantized activations)."""
    rng = np.random.default_rng(4)
    inits, nodes = {}, []

    def q(name: str, scale: float, zero: int = 0) -> str:
        inits[f"{name}_s"], inits[f"{name}_z"] = np.array(scale, np.float32), np.array(zero, np.int8)
        nodes.extend([helper.make_node("QuantizeLinear", [name, f"{name}_s", f"{name}_z"], [f"{name}_q"]),
                      helper.make_node("DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [f"{name}_d"])])
        return f"{name}_d"

    def conv(name: str, x: str, cout: int, cin: int, k: int, group: int = 1, **attrs) -> str:
        inits[f"{name}_w"] = rng.integers(-60, 60, (cout, cin // group, k, k)).astype(np.int8)
        inits[f"{name}_ws"], inits[f"{name}_wz"] = np.full(cout, 0.02, np.float32), np.zeros(cout, np.int8)
        nodes.append(helper.make_node("DequantizeLinear", [f"{name}_w", f"{name}_ws", f"{name}_wz"], [f"{name}_wd"],
                                      axis=0))
        nodes.append(helper.make_node("Conv", [x, f"{name}_wd"], [name], group=group, **attrs))
        return name

    x = q("x", 0.05)
    c0 = conv("c0", x, 8, 3, 3, strides=[2, 2], pads=[1, 1, 1, 1])
    nodes.append(helper.make_node("Relu", [c0], ["r0"]))
    r0 = q("r0", 0.1, -128)
    c1 = q(conv("c1", r0, 8, 8, 3, group=8, pads=[1, 1, 1, 1]), 0.2, 3)
    c2 = q(conv("c2", c1, 8, 8, 1), 0.3, -2)
    c3 = q(conv("c3", c2, 8, 8, 3, group=8, pads=[1, 1, 1, 1]), 0.3, 1)
    nodes.append(helper.make_node("Add", [c3, c2], ["a"]))
    a = q("a", 0.4, 0)
    nodes.append(helper.make_node("GlobalAveragePool", [a], ["g"]))
    q("g", 0.1, 0)
    return make_model(nodes, [float_input("x", [1, 3, SIZE, SIZE])],
                      [helper.make_tensor_value_info("g_q", TensorProto.INT8, [1, 8, 1, 1])], inits, name="qdq_stages")


@pytest.fixture(scope="module")
def host_runs(tmp_path_factory):
    """Outputs of the unpatched and patched host libraries of the int8 model (the float rewrite is checked
    in ONNX Runtime above, where it is cheaper)."""
    out = tmp_path_factory.mktemp("patches")
    x = np.random.default_rng(2).uniform(-2, 2, (1, 3, SIZE, SIZE)).astype(np.float32)
    runs = {}
    for kind, model in (("int8", qdq_model()),):
        for patches in ("off", "2:3"):
            compiled = compile_model(model, CompileOptions(board="host", patches=patches))
            runs[kind, patches] = (compiled, load(write_library(compiled, out / f"{kind}_{patches.replace(':', '_')}")).run([x])[0])
    return runs


def test_int8_library_is_bit_exact_with_unpatched(host_runs):
    compiled, got = host_runs["int8", "2:3"]
    assert compiled.metadata["memory"]["patching"]["strips"] == 3
    assert any(n.meta.get("patch") for n in compiled.graph.nodes)
    assert got.dtype == np.int8
    assert np.array_equal(got, host_runs["int8", "off"][1])


def test_bad_patch_settings_are_refused(tmp_path, capsys):
    model_path = tmp_path / "m.onnx"
    onnx.save(inverted_residual_model(), model_path)
    graph = optimize(inverted_residual_model(), CompileOptions(board="host", backends=["ref"]))
    with pytest.raises(AotError, match="not a point where patch-based execution can stop"):
        patch_graph(graph, len(graph.nodes) - 1, 2)
    for setting, message in (("sometimes", "give off, auto or LAYER:STRIPS"), ("nope:2", "no layer 'nope'")):
        code = main(["compile", str(model_path), "-o", str(tmp_path / "out"), "--patches", setting])
        assert code == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_inspect_reports_the_patching(tmp_path, capsys):
    model_path = tmp_path / "m.onnx"
    onnx.save(inverted_residual_model(), model_path)
    assert main(["inspect", str(model_path), "--patches", "auto", "--patch-max-overhead", "50"]) == 0
    line = [r for r in capsys.readouterr().out.splitlines() if r.startswith("patches")]
    assert len(line) == 1 and "strips up to layer" in line[0] and "(+" in line[0]
