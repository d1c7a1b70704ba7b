"""The x86 backends' int8 kernels (aot/backends/x86/int8_kernels.py) on the host, x86-avx2 (board
host-avx2) and x86-sse4 (board host-sse4): one QDQ model built with onnx.helper holds a layer for every
kernel and each of its remainders (gathers, tile widths, channel blocks, odd reductions, virtual
outputs, the per-lane requantization), and each board's build equals both the golden model and the
portable ref build (board host) bit for bit, in both roundings, on random and extreme inputs."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import test_int8_ops
from aot.compiler import CompileOptions, compile_model, write_library
from aot.quant.golden_runner import run_golden
from aot.targets.board import detect_host_features
from aot.targets.host import load

from conftest import require_tool
from test_int8_ops import (QdqModel, add_average_pool, add_conv, add_fully_connected, add_max_pool, check_cases,
                           f32, feed_sets, per_rounding, weights)

# board -> (backend, kernel name suffix, instruction-set features it needs)
X86_BOARDS = {"host-avx2": ("x86-avx2", "avx2", {"avx2", "fma"}), "host-sse4": ("x86-sse4", "sse4", {"sse4.1"})}


def needs(board: str) -> None:
    """Skips the test where this machine lacks the board's instruction sets."""
    if not X86_BOARDS[board][2] <= set(detect_host_features()):
        pytest.skip(f"this machine has no {', '.join(sorted(X86_BOARDS[board][2]))}")

Q = (f32(2.0 ** -4), -3)  # every activation's quantization


def x86_model() -> QdqModel:
    rng = np.random.default_rng(11)
    m = QdqModel()

    def conv(x: str, cin: int, cout: int, k: tuple[int, int], group: int = 1, relu: bool = True, **attrs) -> str:
        # weight scales that keep the activations' spread from layer to layer (no all-zero layers)
        fan_in = cin // group * k[0] * k[1]
        sw = (rng.uniform(1.5, 3.0, cout) / (127 * np.sqrt(fan_in))).astype(np.float32)
        bias = m.bias(rng.integers(-2000, 2000, cout).astype(np.int32), np.float32(Q[0]) * sw)
        y = m.op("Conv", [x, m.weight(weights(rng, (cout, cin // group, *k)), sw, 0), bias], group=group, **attrs)
        return m.dq(m.q(m.op("Relu", [y]) if relu else y, Q), Q)  # no Relu: negative results are kept

    # Branch 1, NCHW 2-D.
    x = m.int8_input([1, 5, 19, 17], Q)
    x = conv(x, 5, 13, (3, 3), pads=[1, 1, 1, 1])  # plane gather, virtual outputs, K = 45, 13 = 3 x 4 + 1 channels
    # max pools: rows of 17 (two chunks of 16, overlapping), 8 outputs a row; dilated; padded (ref's)
    m.quantized_output(m.op("MaxPool", [x], kernel_shape=[2, 3], strides=[2, 2]), Q)
    m.quantized_output(m.op("MaxPool", [x], kernel_shape=[3, 2], strides=[1, 3], dilations=[2, 4]), Q)
    m.quantized_output(m.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1]), Q)
    x = conv(x, 13, 16, (3, 3), strides=[2, 2], pads=[1, 1, 1, 1])  # line gather: 90 pixels, 2 units a tile, K odd
    x = conv(x, 16, 16, (3, 3), group=16, pads=[1, 1, 1, 1])  # depthwise, virtual outputs, 9 taps
    x = conv(x, 16, 16, (5, 5), group=16, relu=False, pads=[4, 4, 4, 4], dilations=[2, 2])  # dilated depthwise
    x = conv(x, 16, 11, (1, 1), relu=False)  # pointwise: partial units, 11 = 5 x 2 + 1 channels
    x = conv(x, 11, 8, (1, 1))  # pointwise, odd K
    x = conv(x, 8, 8, (3, 3), group=2, pads=[1, 1, 1, 1])  # grouped: a plane per group
    x = conv(x, 8, 16, (3, 3), group=8, pads=[1, 1, 1, 1])  # depthwise, two outputs per input channel
    m.quantized_output(conv(x, 16, 16, (3, 3), group=16, strides=[2, 2], pads=[1, 1, 1, 1]), Q)  # column stride 2
    m.quantized_output(conv(x, 16, 32, (2, 4), group=16, strides=[2, 2]), Q)  # stride 2, even KW, two per channel
    m.quantized_output(conv(x, 16, 16, (3, 3), group=16, strides=[1, 3]), Q)  # column stride 3: ref's

    # Branch 2, a time series along H (W = 1).
    t = m.int8_input([1, 6, 64, 1], Q)
    t = conv(t, 6, 6, (5, 1), group=6)  # depthwise column: one row, stored directly (60 outputs)
    t = conv(t, 6, 20, (3, 1), relu=False, pads=[1, 0, 1, 0])  # plane gather, one column: direct, 4 units a tile
    u = conv(t, 20, 33, (1, 1))  # pointwise, 4 units a tile, one channel a pass
    m.quantized_output(conv(t, 20, 20, (5, 1), group=20, strides=[2, 1], pads=[2, 0, 2, 0]), Q)  # stride 2, two steps
    u = m.dq(m.q(m.op("AveragePool", [u], kernel_shape=[60, 1]), Q), Q)  # runs of 60 bytes: 32 + 16 + 12
    m.quantized_output(conv(u, 33, 10, (1, 1), relu=False), Q)  # one pixel, K odd

    def dense(x: str, k: int, n: int, per_channel: bool = True, relu: bool = True) -> str:
        sw = (rng.uniform(1.5, 3.0, n if per_channel else 1) / (127 * np.sqrt(k))).astype(np.float32)
        y = m.op("Gemm", [x, m.weight(weights(rng, (n, k)), sw, 0),
                          m.bias(rng.integers(-2000, 2000, n).astype(np.int32), np.float32(Q[0]) * sw)], transB=1)
        return m.dq(m.q(m.op("Relu", [y]) if relu else y, Q), Q)

    f = m.dq(m.op("Flatten", [m.q(u, Q)]), Q)  # 33
    f = dense(f, 33, 70)  # K odd; 80 outputs padded: a pass of 64, then one of 16
    m.quantized_output(dense(f, 70, 10, per_channel=False, relu=False), Q)  # one partial block of 16
    # Branch 3, a batch of two: every kernel's loop over images (and the fully connected layer's rows).
    b = m.int8_input([2, 3, 9, 9], Q)
    b = conv(b, 3, 8, (3, 3), pads=[1, 1, 1, 1])
    b = conv(b, 8, 8, (3, 3), group=8, pads=[1, 1, 1, 1])
    b = conv(b, 8, 6, (1, 1))
    m.quantized_output(m.op("MaxPool", [b], kernel_shape=[3, 3], strides=[3, 3]), Q)  # rows of 9 < 16
    b = m.dq(m.op("Flatten", [m.q(b, Q)]), Q)  # 2 x 486
    m.quantized_output(dense(b, 486, 20, relu=False), Q)

    # Multipliers of 0.25 and more (shift -1 or above): requantized lane by lane, ref's store.
    w = rng.integers(-2, 3, (7, 20, 1, 1))
    sw = (4 * np.array([0.3, 0.6, 0.26, 0.9, 0.4, 0.55, 0.28])).astype(np.float32)  # M = 2^-4 * sw / 2^-2
    y = m.op("Conv", [t, m.weight(w, sw, 0), m.bias(rng.integers(-50, 50, 7).astype(np.int32), np.float32(Q[0]) * sw)])
    m.quantized_output(y, (f32(2.0 ** -2), 4))
    # ... and a fully connected layer with such multipliers stays on ref.
    y = m.op("Gemm", [f, m.weight(rng.integers(-2, 3, (7, 70)), sw, 0),
                      m.bias(rng.integers(-50, 50, 7).astype(np.int32), np.float32(Q[0]) * sw)], transB=1)
    m.quantized_output(y, (f32(2.0 ** -2), 4))
    return m


@pytest.fixture(scope="module")
def model():
    return x86_model()


def _layouts(compiled, backend: str) -> list[dict]:
    """Per x86 layer: the kernel's name and the template parameters that pick its code paths."""
    out = []
    for call in compiled.calls:
        if call.backend == backend:
            p = call.kernel.params(call.node, compiled.graph)
            out.append({"kernel": call.kernel.name, **{k: p.get(k) for k in
                        ("gather", "XU", "XR", "OCG", "K", "xvec", "direct", "T2")}, "odd": p.get("K", 0) % 2})
    return out


@pytest.mark.parametrize("board", list(X86_BOARDS))
@pytest.mark.parametrize("rounding", ["single", "tflite"])
def test_x86_int8_kernels_equal_golden_and_ref(model, rounding, board, tmp_path):
    needs(board)
    backend, suffix, _ = X86_BOARDS[board]
    proto = model.proto()
    x86 = compile_model(proto, CompileOptions(board=board, rounding=rounding))
    ref = compile_model(proto, CompileOptions(board="host", rounding=rounding))
    assert {c.backend for c in ref.calls} == {"ref"}

    layers = _layouts(x86, backend)
    convs = [p for p in layers if p["kernel"] == f"int8/conv_gemm_{suffix}"]
    depthwise = [p for p in layers if p["kernel"] == f"int8/conv_depthwise_{suffix}"]
    dense = [p for p in layers if p["kernel"] == f"int8/fully_connected_{suffix}"]
    pools = [p for p in layers if p["kernel"] == f"int8/pool_{suffix}"]
    max_pools = [p for p in layers if p["kernel"] == f"int8/max_pool_{suffix}"]
    strided = [p for p in layers if p["kernel"] == f"int8/conv_depthwise_s2_{suffix}"]
    assert (len(convs), len(depthwise), len(strided), len(dense), len(pools), len(max_pools)) == (11, 5, 3, 3, 1, 3), \
        layers
    # The model reaches every path of the templates (SSE4.1 tiles have one or two units).
    assert {p["gather"] for p in convs} == {"pointwise", "plane", "line"}
    assert {p["XU"] for p in convs} == ({1, 2, 4} if backend == "x86-avx2" else {1, 2})
    assert any(p["OCG"] % p["XR"] for p in convs) and any(p["odd"] for p in convs)
    assert {p["direct"] for p in convs if p["gather"] == "plane"} == {True, False}
    assert {p["direct"] for p in depthwise} == {True, False}
    vector = "hi" if rounding == "single" else "tflite"
    assert {p["xvec"] for p in convs} == {vector, None}  # None: the large multipliers' layer
    on_ref = sorted(c.kernel.name for c in x86.calls if c.node.op_type in ("Conv", "MaxPool", "Gemm")
                    and c.backend == "ref")
    # the column stride 3 depthwise, the large multipliers' fully connected layer, the padded max pool
    assert on_ref == ["int8/conv_depthwise", "int8/fully_connected", "int8/pool"]

    host = load(write_library(x86, tmp_path / "x86"))
    portable = load(write_library(ref, tmp_path / "ref"))
    values: dict[int, set[int]] = {}
    for feed in feed_sets(model, np.random.default_rng(3)):
        got, expected, gold = host.run(feed), portable.run(feed), run_golden(x86.graph, feed)
        for k, (g, e, o) in enumerate(zip(got, expected, gold)):
            assert np.array_equal(g, e), f"output {k}: {backend} differs from ref at {np.flatnonzero(g != e)[:5]}"
            assert np.array_equal(g, o), f"output {k}: {backend} differs from golden"
            values.setdefault(k, set()).update(int(v) for v in g.reshape(-1))
    assert all(len(v) > 4 for v in values.values()), values  # live chains, not saturated constants


@pytest.mark.parametrize("board", list(X86_BOARDS))
def test_x86_int8_kernels_build_clean_with_clang(model, board, tmp_path):
    needs(board)
    cc = require_tool("clang")
    lib = write_library(compile_model(model.proto(), CompileOptions(board=board)), tmp_path / "lib")
    host = load(lib, cc=cc)  # -Wall -Wextra -Werror
    assert host.run(feed_sets(model, np.random.default_rng(5))[0])


# test_int8_ops' drawn cases (shapes, pads, strides, dilations, groups, scales, zero points,
# activations) compiled for each x86 board: each must equal the golden model bit for bit there too.
# host-sse4 draws half as many (its kernels share the selection rules and packing with x86-avx2's).
def _check_drawn_cases(board: str, data, tmp_path_factory, rounding, op: str, add_case) -> None:
    compile_for_host = test_int8_ops.compile_model

    def on_board(options: CompileOptions | None) -> CompileOptions:
        return dataclasses.replace(options or CompileOptions(), board=board)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(test_int8_ops, "compile_model", lambda src, options=None: compile_for_host(src, on_board(options)))
        mp.setattr(test_int8_ops, "INT8_TEMPLATES", ("ref/int8/", f"{X86_BOARDS[board][0]}/int8/"))
        check_cases(data, tmp_path_factory, (op,), add_case, rounding)


def _drawn(board: str, examples: int, *case_sets):
    """A per_rounding test on ``board`` of the (op, add_case) pairs."""
    @per_rounding(examples)
    def body(data, tmp_path_factory, rounding):
        for op, add_case in case_sets:
            _check_drawn_cases(board, data, tmp_path_factory, rounding, op, add_case)

    def test(rounding, tmp_path_factory):
        needs(board)
        body(rounding, tmp_path_factory)
    return pytest.mark.parametrize("rounding", ["single", "tflite"])(test)


test_drawn_convs_on_avx2 = _drawn("host-avx2", 12, ("Conv", add_conv))
test_drawn_fully_connected_on_avx2 = _drawn("host-avx2", 8, ("Gemm", add_fully_connected))
test_drawn_pools_on_avx2 = _drawn("host-avx2", 8, ("MaxPool", add_max_pool), ("AveragePool", add_average_pool))
test_drawn_convs_on_sse4 = _drawn("host-sse4", 6, ("Conv", add_conv))
test_drawn_fully_connected_on_sse4 = _drawn("host-sse4", 4, ("Gemm", add_fully_connected))
test_drawn_pools_on_sse4 = _drawn("host-sse4", 4, ("MaxPool", add_max_pool), ("AveragePool", add_average_pool))
