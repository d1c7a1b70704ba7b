"""The cmsis-nn backend (aot/backends/cmsis_nn): int8 layers run by Arm's CMSIS-NN library, compiled
from the tree in ../shared/third_party/CMSIS-NN (never copied into the project).

Each op family CMSIS-NN implements is built as small QDQ models (tests/test_int8_ops.py's builders),
compiled with ``--backend cmsis-nn --backend ref`` in both roundings, built for the host (CMSIS-NN's
pure-C path) and compared with the golden model bit for bit. Every layer runs on cmsis-nn or
cmsis-nn says why not (then ref runs it); the fixed cases check the usual layers really are taken.
KWS int8 runs on Cortex-M4 under QEMU (CMSIS-NN's DSP path), bit-identical with the golden model.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aot.backends import REGISTRY
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.quant.golden_runner import run_golden
from aot.targets.host import load
from conftest import REPO, require_tool
from test_int8_ops import (SETTINGS, QdqModel, add_average_pool, add_conv, add_fully_connected, add_max_pool,
                           add_softmax, binary_case, feed_sets, float_reference, seeds, weights)

CMSIS_NN = REPO.parent / "shared" / "third_party" / "CMSIS-NN"
MISSING = f"CMSIS-NN not found at ../shared/third_party/CMSIS-NN ({CMSIS_NN}); see its README"
pytestmark = pytest.mark.skipif(not (CMSIS_NN / "Include" / "arm_nnfunctions.h").is_file(), reason=MISSING)
ROUNDINGS = ["tflite", "single"]
EXAMPLES = 6  # per op and rounding: each example builds CMSIS-NN's sources for the host


def options(rounding: str, **extra) -> CompileOptions:
    return CompileOptions(backends=["cmsis-nn", "ref"], rounding=rounding,
                          backend_options={"cmsis-nn": {"path": str(CMSIS_NN)}}, **extra)


def check(model: QdqModel, tmp_path: Path, ops: tuple[str, ...], rounding: str, feeds) -> dict[str, str]:
    """Compile with cmsis-nn first, run on the host: C == golden bit for bit on every feed and within one
    LSB of ONNX Runtime. Returns, per layer of ``ops``, the CMSIS-NN function or the reason it declined."""
    proto = model.proto()
    compiled = compile_model(proto, options(rounding))
    graph = compiled.graph
    placed = {}
    for call in compiled.calls:
        if call.node.op_type in ops:
            if call.backend == "cmsis-nn":
                placed[call.node.name] = call.kernel.name
            else:
                reason = REGISTRY.get("cmsis-nn").reject_reason(call.node, graph)
                assert reason, f"{call.node.name} ran on {call.backend} though cmsis-nn accepts it"
                placed[call.node.name] = "declined: " + reason
    assert placed, f"none of {ops} in the compiled graph"
    host = load(write_library(compiled, tmp_path / "lib"), cc="gcc")
    sess = float_reference(proto)
    names = [i.name for i in proto.graph.input]
    for feed in feeds:
        got = host.run(feed)
        for k, (g, e) in enumerate(zip(got, run_golden(graph, feed))):
            bad = np.flatnonzero(g.reshape(-1) != e.reshape(-1))
            assert bad.size == 0, f"output {k}: C differs from golden at {bad.size}/{g.size} ({placed})"
        for k, (g, r, unit) in enumerate(zip(got, sess.run(None, dict(zip(names, feed))), model.out_scales)):
            lsb = np.abs(g.astype(np.float64) - np.asarray(r).astype(np.float64)) / unit
            assert lsb.max(initial=0.0) <= 1 + 1e-3, f"output {k}: C is {lsb.max():.2f} LSB from ONNX Runtime"
    return placed


def hypothesis_cases(add_case, ops: tuple[str, ...]):
    """test(rounding, tmp_path_factory): EXAMPLES drawn models of three cases each (test_int8_ops' drawing)."""
    def test(rounding: str, tmp_path_factory: pytest.TempPathFactory) -> None:
        @settings(max_examples=EXAMPLES, **SETTINGS)
        @given(data=st.data())
        def run(data: st.DataObject) -> None:
            rng = np.random.default_rng(data.draw(seeds))
            m = QdqModel()
            for _ in range(3):
                add_case(m, data, rng)
            check(m, tmp_path_factory.mktemp("cmsis"), ops, rounding, feed_sets(m, rng))
        run()
    return pytest.mark.parametrize("rounding", ROUNDINGS)(test)


test_conv_drawn = hypothesis_cases(add_conv, ("Conv",))
test_fully_connected_drawn = hypothesis_cases(add_fully_connected, ("Gemm",))
test_average_pool_drawn = hypothesis_cases(add_average_pool, ("AveragePool",))
test_max_pool_drawn = hypothesis_cases(add_max_pool, ("MaxPool",))
test_add_drawn = hypothesis_cases(binary_case("Add"), ("Add",))
test_mul_drawn = hypothesis_cases(binary_case("Mul"), ("Mul",))
test_softmax_drawn = hypothesis_cases(add_softmax, ("Softmax",))


# -- the usual layers are taken -------------------------------------------------------------------
def conv_layer(m: QdqModel, rng, c: int, oc: int, group: int, kernel, **attrs) -> str:
    x = m.int8_input([1, c, 9, 7], (0.05, -3))
    ws = (2.0 ** -rng.integers(5, 9, oc)).astype(np.float32)
    w = m.weight(weights(rng, [oc, c // group, *kernel]), ws, 0)
    b = m.bias(rng.integers(-2000, 2000, oc), np.float32(0.05) * ws)
    y = m.op("Relu", [m.op("Conv", [x, w, b], group=group, kernel_shape=list(kernel), **attrs)])
    m.quantized_output(y, (0.1, -128))
    return y


def usual_layers(rng) -> QdqModel:
    """One layer of each kind CMSIS-NN takes, with shapes its 1x1, 1xN, 3x3-depthwise, grouped and
    generic paths see."""
    m = QdqModel()
    conv_layer(m, rng, 3, 8, 1, [3, 3], pads=[1, 1, 1, 1])  # im2col convolution
    conv_layer(m, rng, 4, 6, 1, [1, 1])  # 1x1
    conv_layer(m, rng, 5, 5, 5, [3, 3], pads=[1, 1, 1, 1], strides=[2, 2])  # depthwise 3x3
    conv_layer(m, rng, 4, 8, 4, [3, 2])  # depthwise, channel multiplier 2
    conv_layer(m, rng, 6, 4, 2, [3, 3], pads=[1, 1, 1, 1])  # two groups
    x = m.int8_input([1, 6, 8, 8], (0.02, 5))
    m.quantized_output(m.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2]), (0.02, 5))
    m.quantized_output(m.op("AveragePool", [x], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1]), (0.02, 5))
    a, b = m.int8_input([2, 10], (0.03, 1)), m.int8_input([2, 10], (0.07, -9))
    m.quantized_output(m.op("Add", [a, b]), (0.08, 2))
    m.quantized_output(m.op("Mul", [a, b]), (0.004, -1))
    fc_w = m.weight(weights(rng, [5, 10]), np.float32([0.01]), 0)
    m.quantized_output(m.op("Gemm", [a, fc_w], transB=1), (0.05, 0))
    m.quantized_output(m.op("Softmax", [a], axis=-1), (1 / 256, -128))
    return m


OPS = ("Conv", "MaxPool", "AveragePool", "Add", "Mul", "Gemm", "Softmax")


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_usual_layers_run_on_cmsis_nn(rounding, tmp_path):
    rng = np.random.default_rng(7)
    m = usual_layers(rng)
    placed = check(m, tmp_path, OPS, rounding, feed_sets(m, rng))
    taken = sorted(set(placed.values()))
    expected = ["arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_elementwise_add_s8",
                "arm_elementwise_mul_s8", "arm_fully_connected_s8", "arm_max_pool_s8"]
    if rounding == "tflite":  # TFLite's recipes: CMSIS-NN has no single-rounding average or softmax
        expected += ["arm_avgpool_s8", "arm_softmax_s8"]
    assert [t for t in taken if not t.startswith("declined")] == sorted(expected), placed
    lib = tmp_path / "lib"
    kernels = (lib / "kernels_cmsis-nn.c").read_text()
    assert kernels.count("arm_convolve_wrapper_s8(") == 3 and kernels.count("arm_depthwise_conv_wrapper_s8(") == 2
    makefile = (lib / "Makefile").read_text()
    assert "arm_convolve_s8.c" in makefile and "arm_lstm" not in makefile and "arm_softmax_s16" not in makefile
    assert ("CMSIS_NN_USE_SINGLE_ROUNDING" in makefile) == (rounding == "single")
    if rounding == "tflite":  # the same library under clang -Werror (CMSIS-NN has gcc-only attributes)
        require_tool("clang")
        clang = load(lib, cc="clang")
        for feed in feed_sets(m, rng):
            for g, e in zip(clang.run(feed), run_golden(compile_model(m.proto(), options(rounding)).graph, feed)):
                assert np.array_equal(g, e)


def test_missing_tree_is_reported(tmp_path, monkeypatch):
    m = QdqModel()
    x = m.int8_input([1, 4], (0.1, 0))
    m.quantized_output(m.op("Add", [x, x]), (0.2, 0))
    monkeypatch.delenv("CMSIS_NN_PATH", raising=False)
    with pytest.raises(AotError, match="needs option 'path'.*CMSIS_NN_PATH"):
        compile_model(m.proto(), CompileOptions(backends=["cmsis-nn", "ref"]))
    bad = CompileOptions(backends=["cmsis-nn", "ref"], backend_options={"cmsis-nn": {"path": str(tmp_path)}})
    with pytest.raises(AotError, match="not a CMSIS-NN source tree"):
        compile_model(m.proto(), bad)
    monkeypatch.setenv("CMSIS_NN_PATH", str(CMSIS_NN))
    compiled = compile_model(m.proto(), CompileOptions(backends=["cmsis-nn", "ref"]))
    assert {c.backend for c in compiled.calls if c.node.op_type == "Add"} == {"cmsis-nn"}


# -- on a board -----------------------------------------------------------------------------------
@pytest.mark.parametrize("board, rounding", [("cortex-m4", "tflite"), ("cortex-m55", "tflite"),
                                             ("cortex-m55", "single"), ("cortex-m3", "single")])
def test_usual_layers_on_boards(board, rounding):
    """Every family on CMSIS-NN's DSP (M4), Helium (M55) and plain Thumb-2 (M3) paths under QEMU:
    bit-identical with the host build and the golden model."""
    from aot.flows.board_run import run_on_board
    from test_qemu_models import assert_matches, require_board
    require_board(board)
    report = run_on_board(usual_layers(np.random.default_rng(7)).proto(), board, options=options(rounding))
    assert_matches(report)


@pytest.mark.parametrize("rounding", ["tflite", "single"])
def test_kws_on_cortex_m4_is_bit_exact(rounding, shared_model):
    """KWS int8 with CMSIS-NN's DSP path on Cortex-M4 under QEMU: bit-identical with the host build and
    the golden model, every Conv, pooling, Gemm (and in tflite rounding Softmax) run by CMSIS-NN."""
    from aot.flows.board_run import run_on_board
    from test_qemu_models import assert_matches, require_board
    require_board("cortex-m4")
    model = shared_model("mlperf_tiny/kws_ref_model_int8.onnx")
    sample = shared_model("mlperf_tiny/samples/kws_int8.npy")
    compiled = compile_model(model, options(rounding, board="cortex-m4"))
    cmsis = [c.node.op_type for c in compiled.calls if c.backend == "cmsis-nn"]
    assert cmsis.count("Conv") == 9 and "Gemm" in cmsis
    assert ("AveragePool" in cmsis and "Softmax" in cmsis) == (rounding == "tflite")
    report = run_on_board(model, "cortex-m4", feeds=[np.load(sample)], options=options(rounding))
    assert_matches(report)
    defines = compiled.metadata["build"]["cmsis-nn"]["defines"]
    assert defines == (["CMSIS_NN_USE_SINGLE_ROUNDING"] if rounding == "single" else [])


# -- context buffers --------------------------------------------------------------------------------
SIZES_MAIN = """#include <stdio.h>
#include "arm_nnfunctions.h"
int main(void)
{
%s    return 0;
}
"""


def _size_lines(kernel: str, p: dict, index: int) -> list[str]:
    """C printing CMSIS-NN's pure-C, DSP and Helium buffer sizes of one layer (all three are compiled on
    the host), as "index size" lines."""
    tiles = ", ".join("{%d, %d}" % tuple(p[k]) for k in ("stride", "pad", "dilation"))
    n, h, w, c = p.get("in_dims", [1, 1, 1, 1])
    out = "{%s}" % ", ".join(map(str, p.get("out_dims", [1, 1, 1, 1])))
    lines = [f"    {{ const cmsis_nn_dims in = {{{n}, {h}, {w}, {c}}}, out = {out};"]
    if kernel == "arm_convolve_wrapper_s8":
        lines.append(f"      const cmsis_nn_conv_params cp = {{0, 0, {tiles}, {{-128, 127}}}};")
        lines.append(f"      const cmsis_nn_dims f = {{{p['out_dims'][3]}, {p['KH']}, {p['KW']}, {c}}};")
        calls = [f"arm_convolve_wrapper_s8_get_buffer_size{v}(&cp, &in, &f, &out)" for v in ("", "_dsp", "_mve")]
    elif kernel == "arm_depthwise_conv_wrapper_s8":
        lines.append(f"      const cmsis_nn_dw_conv_params cp = {{0, 0, {p['ch_mult']}, {tiles}, {{-128, 127}}}};")
        lines.append(f"      const cmsis_nn_dims f = {{1, {p['KH']}, {p['KW']}, {p['out_dims'][3]}}};")
        calls = [f"arm_depthwise_conv_wrapper_s8_get_buffer_size{v}(&cp, &in, &f, &out)" for v in ("", "_dsp", "_mve")]
    else:  # arm_avgpool_s8
        calls = [f"arm_avgpool_s8_get_buffer_size{v}({p['out_dims'][2]}, {c})" for v in ("", "_dsp", "_mve")]
    lines += [f'      printf("{index} %d\\n", (int){call});' for call in calls]
    lines.append("      (void)in; (void)out; }")
    return lines


def test_planned_scratch_covers_every_cmsis_nn_path(tmp_path, shared_model):
    """The arena's scratch for each layer is at least what CMSIS-NN asks for on any path it may compile."""
    from aot.backends.cmsis_nn.sources import sources_for
    rng = np.random.default_rng(3)
    m = QdqModel()
    conv_layer(m, rng, 3, 8, 1, [3, 3], pads=[1, 1, 1, 1])
    conv_layer(m, rng, 4, 6, 1, [1, 1])
    conv_layer(m, rng, 4, 6, 1, [1, 1], strides=[2, 2])
    conv_layer(m, rng, 6, 6, 1, [1, 3], pads=[0, 1, 0, 1])  # 1xN
    conv_layer(m, rng, 5, 5, 5, [3, 3], pads=[1, 1, 1, 1], strides=[2, 2])
    conv_layer(m, rng, 6, 6, 6, [5, 3], pads=[2, 1, 2, 1])
    conv_layer(m, rng, 4, 8, 4, [3, 2], dilations=[2, 1])
    x = m.int8_input([1, 6, 8, 8], (0.02, 5))
    m.quantized_output(m.op("AveragePool", [x], kernel_shape=[3, 3], pads=[1, 1, 1, 1]), (0.02, 5))
    layers = []
    for model in (m.proto(), shared_model("mlperf_tiny/kws_ref_model_int8.onnx")):
        compiled = compile_model(model, options("tflite"))
        layers += [(c.kernel.name, c.kernel.params(c.node, compiled.graph), c.step.scratch_bytes)
                   for c in compiled.calls if c.kernel.name in ("arm_convolve_wrapper_s8",
                                                                "arm_depthwise_conv_wrapper_s8", "arm_avgpool_s8")]
    assert {k for k, _, _ in layers} == {"arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_avgpool_s8"}
    body = "".join(line + "\n" for i, (k, p, _) in enumerate(layers) for line in _size_lines(k, p, i))
    (tmp_path / "sizes.c").write_text(SIZES_MAIN % body)
    functions = ["arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_avgpool_s8"]
    sources = [str(CMSIS_NN / "Source" / s) for s in sources_for(functions)]
    sources += [str(CMSIS_NN / "Source" / d) for d in ("ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c",
                                                       "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c")]
    exe = tmp_path / "sizes"
    import subprocess
    subprocess.run(["gcc", "-O1", "-std=c99", f"-I{CMSIS_NN / 'Include'}", str(tmp_path / "sizes.c"),
                    *sorted(set(sources)), "-o", str(exe)], check=True)
    asked: dict[int, int] = {}
    for line in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split("\n"):
        if line:
            i, size = map(int, line.split())
            asked[i] = max(asked.get(i, 0), size)
    assert len(asked) == len(layers)
    for i, (kernel, _, planned) in enumerate(layers):
        assert planned >= asked[i], f"layer {i} ({kernel}): planned {planned} B, CMSIS-NN asks {asked[i]} B"
