"""The arm-dsp tiled Conv's shapes at their edges, bit-exact under QEMU with gcc and clang: pixels per
tile chosen per layer (1 to 7, partial last tiles), weights packed into the kernel as int8 words (the
default) or unpacked int16 lanes (arm-dsp.weights=int16) (K < 4: no group; K % 4 tails; more groups
than the full unroll: a loop of 8 plus the rest), grouped, strided and 5x5 Convs; and Helium's tiled Conv on the same model (pixels per tile, windows gathered by vector loads)."""
from __future__ import annotations

import numpy as np
import pytest

from aot.backends.arm_dsp.kernels import packed_weights, packed_weights_int8, tile_pixels
from aot.compiler import CompileOptions, compile_model
from aot.flows.board_run import run_on_board

from conftest import require_tool
from test_int8_ops import QdqModel, f32, weights


def edge_model(h: int, w: int) -> QdqModel:
    rng = np.random.default_rng(h * 31 + w)
    m = QdqModel()
    q = (f32(2.0 ** -4), -3)
    x = m.int8_input([1, 6, h, w], q)

    def conv(x: str, cin: int, cout: int, k: int, group: int = 1, **attrs) -> str:
        sw = (rng.uniform(1.5, 3.0, cout) / (127 * np.sqrt(cin // group * k * k))).astype(np.float32)
        bias = m.bias(rng.integers(-2000, 2000, cout).astype(np.int32), np.float32(q[0]) * sw)
        y = m.op("Conv", [x, m.weight(weights(rng, (cout, cin // group, k, k)), sw, 0), bias], group=group, **attrs)
        return m.dq(m.q(m.op("Relu", [y]), q), q)

    x = conv(x, 6, 70, 1)     # K = 6: one group and a tail of 2
    x = conv(x, 70, 150, 1)   # K = 70: 17 groups (a loop of 8 + 8), tail 2
    x = conv(x, 150, 2, 1)    # K = 150: 37 groups (4 loops + 4), tail 2
    x = conv(x, 2, 9, 1)      # K = 2: no group at all
    x = conv(x, 9, 9, 3, group=3, pads=[1, 1, 1, 1])  # grouped 3x3: K = 27
    x = conv(x, 9, 8, 3, pads=[1, 1, 1, 1], strides=[2, 2])
    x = conv(x, 8, 5, 5, pads=[2, 2, 2, 2])  # 25 taps: two Helium gathers per input channel
    m.quantized_output(x, (f32(2.0 ** -3), 1))
    return m


WEIGHTS = ("int8", "int16")  # arm-dsp.weights: the tiled Conv's weights in flash


def _weights_options(mode: str, board: str = "cortex-m4") -> CompileOptions:
    return CompileOptions(board=board, backend_options={"arm-dsp": {"weights": mode}})


# Every plane size with gcc and int8 weights (the tile tails); the other compiler and weight format on
# a spread of them (the same tails, fewer QEMU runs: keeps the suite's time).
EDGE_CASES = ([("gcc", "int8", hw) for hw in [(1, 1), (1, 3), (1, 7), (5, 5), (4, 5), (6, 11)]]
              + [("gcc", "int16", hw) for hw in [(1, 7), (5, 5), (6, 11)]]
              + [("clang", "int8", hw) for hw in [(1, 3), (4, 5), (6, 11)]]
              + [("clang", "int16", (5, 5))])


@pytest.mark.parametrize("cc, mode, hw", EDGE_CASES, ids=[f"{c}-{m}-{h}x{w}" for c, m, (h, w) in EDGE_CASES])
def test_tiled_conv_edges_bit_exact(cc, mode, hw, tmp_path):
    import onnx
    h, w = hw
    require_tool(cc)
    path = tmp_path / "edges.onnx"
    onnx.save(edge_model(h, w).proto(), str(path))
    options = _weights_options(mode)
    compiled = compile_model(path, options)
    tiled = [c for c in compiled.calls if c.kernel.name == "int8/conv_gemm_dsp"]
    assert len(tiled) == 7, [(c.node.op_type, c.kernel.name) for c in compiled.calls]
    step = "AOT_W16_POST" if mode == "int16" else "AOT_W8_POST"
    assert step in compiled.files["kernels_arm-dsp.c"]
    report = run_on_board(path, "cortex-m4", cc=cc, timeout=120, options=options)
    assert report.ok, [str(c) for c in report.checks]


@pytest.mark.parametrize("h, w", [(1, 1), (5, 5), (6, 11)])
def test_helium_tiled_conv_edges_bit_exact(h, w, tmp_path):
    """The same on cortex-m55 (gcc: clang builds for cortex-m55 differ from the golden model on this
    model even with --backend ref, a problem outside these kernels): Helium's pixels per tile (1 to 8)
    and its gathered windows."""
    import onnx
    path = tmp_path / "edges.onnx"
    onnx.save(edge_model(h, w).proto(), str(path))
    compiled = compile_model(path, CompileOptions(board="cortex-m55"))
    assert sum(c.kernel.name == "int8/conv_gemm_mve" for c in compiled.calls) == 7
    report = run_on_board(path, "cortex-m55", cc="gcc", timeout=120)
    assert report.ok, [str(c) for c in report.checks]


def test_tile_pixels_fit_the_plane():
    """Planes of up to seven pixels are one tile of exactly that many; 125 pixels take 7 (18 tiles)."""
    for (h, w), pix in {(1, 1): 1, (1, 3): 3, (1, 7): 7, (5, 25): 7}.items():
        model = edge_model(h, w).proto()
        compiled = compile_model(model, CompileOptions(board="cortex-m4"))
        first = next(c for c in compiled.calls if c.kernel.name == "int8/conv_gemm_dsp")
        assert tile_pixels(first.node, compiled.graph) == pix, (h, w)


def test_packed_weights_lanes():
    """Per channel: (k0, k2) and (k1, k3) as int16 lanes of a word (low lane first), then the tail."""
    class Node:
        inputs = ["x", "w"]

    class Graph:
        @staticmethod
        def const(name):
            return np.array([[1, -2, 3, -4, 5, -128], [127, 0, -1, 2, 0, 0]], dtype=np.int8).reshape(2, 6, 1, 1)

    words = packed_weights(Node(), Graph())
    def lanes(word: int) -> tuple[int, int]:  # (low int16 lane, high int16 lane)
        return int(np.uint16(word & 0xFFFF).astype(np.int16)), word >> 16

    assert len(words) == 2 * (2 + 2)
    assert [lanes(v) for v in words[:2]] == [(1, 3), (-2, -4)] and words[2:4] == [5, -128]
    assert [lanes(v) for v in words[4:6]] == [(127, -1), (0, 2)] and words[6:8] == [0, 0]

    words, tail = packed_weights_int8(Node(), Graph())  # the model's bytes: a word per group, then tails
    assert [np.array([v], "<i4").view(np.int8).tolist() for v in words] == [[1, -2, 3, -4], [127, 0, -1, 2]]
    assert tail == [5, -128, 0, 0]


def depthwise_model(h: int, w: int) -> QdqModel:
    rng = np.random.default_rng(h * 7 + w)
    m = QdqModel()
    q = (f32(2.0 ** -4), -3)
    x = m.int8_input([1, 8, h, w], q)

    def dw(x: str, k: tuple[int, int], **attrs) -> str:
        sw = (rng.uniform(1.5, 3.0, 8) / (127 * np.sqrt(k[0] * k[1]))).astype(np.float32)
        bias = m.bias(rng.integers(-2000, 2000, 8).astype(np.int32), np.float32(q[0]) * sw)
        y = m.op("Conv", [x, m.weight(weights(rng, (8, 1, *k)), sw, 0), bias], group=8, **attrs)
        return m.dq(m.q(m.op("Relu", [y]), q), q)

    x = dw(x, (3, 3), pads=[1, 1, 1, 1])                 # padded plane, rows copied a word at a time
    x = dw(x, (3, 5), pads=[1, 2, 1, 2])                 # a group of four taps and a last one
    x = dw(x, (3, 3), pads=[1, 1, 1, 1], strides=[2, 2])
    x = dw(x, (2, 3), pads=[0, 1, 1, 1])                 # two rows' middle taps in one register
    x = dw(x, (1, 3), pads=[0, 1, 0, 1])                 # one row: its middle tap alone
    x = dw(x, (2, 2))                                    # unpadded, no pairs when the row is one pixel
    m.quantized_output(x, (f32(2.0 ** -3), 1))
    return m


@pytest.mark.parametrize("h, w", [(9, 5), (6, 11), (7, 18)])
def test_depthwise_edges_bit_exact(h, w, cc, tmp_path):
    """arm-dsp's depthwise Conv: short rows unrolled (OW <= 8, odd and even), longer rows looped,
    padded planes copied by AOT_COPY4, with gcc and clang."""
    import onnx
    path = tmp_path / "dw.onnx"
    onnx.save(depthwise_model(h, w).proto(), str(path))
    compiled = compile_model(path, CompileOptions(board="cortex-m4"))
    assert sum(c.kernel.name == "int8/conv_depthwise_dsp" for c in compiled.calls) == 6
    report = run_on_board(path, "cortex-m4", cc=cc, timeout=120)
    assert report.ok, [str(c) for c in report.checks]


def _layers_bench():
    """bench/layers.py as a module (bench/ is a script folder: its shared_models import needs the path)."""
    import importlib.util
    import sys
    from pathlib import Path
    folder = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location("bench_layers", folder / "layers.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_layers_bench_describes_and_tabulates():
    """bench/layers.py names each Conv by what it computes and lists only layers CMSIS-NN ran."""
    layers = _layers_bench()
    compiled = compile_model(depthwise_model(9, 5).proto(), CompileOptions(board="cortex-m4"))
    convs = [c for c in compiled.calls if c.node.op_type == "Conv"]
    assert layers.describe(compiled.graph, convs[0].node) == "dw 3x3 8ch @9x5"
    assert layers.describe(compiled.graph, convs[2].node) == "dw 3x3/2x2 8ch @5x3"
    compiled = compile_model(edge_model(5, 5).proto(), CompileOptions(board="cortex-m4"))
    first = next(c for c in compiled.calls if c.node.op_type == "Conv")
    assert layers.describe(compiled.graph, first.node) == "1x1 6->70 @5x5"
    row = layers.LayerRow
    rows = [row("m", "cortex-m4", "gcc", 0, "a", "Conv", "1x1 6->70 @5x5", "arm-dsp:x", "cmsis-nn:conv", 300, 600),
            row("m", "cortex-m4", "gcc", 1, "b", "Softmax", "1x3", "ref:softmax", "ref:softmax", 80, 80)]
    text = layers.table(rows, all_layers=False)
    assert "| 0.50 |" in text and "Softmax" not in text
    assert "Softmax" in layers.table(rows, all_layers=True)


@pytest.mark.parametrize("mode", WEIGHTS)
def test_fit_check_counts_packed_weights(mode):
    """The tiled Conv's weights live in its kernel (int8: the model's bytes; int16: twice that and a
    word per tail weight): the fit check and metadata.json count them."""
    from aot.targets.board import resolve_board
    from aot.targets.fit import fit_report
    compiled = compile_model(edge_model(5, 5).proto(), _weights_options(mode))
    report = fit_report(resolve_board("cortex-m4"), compiled.graph, compiled.calls, compiled.plan)
    total = 0
    for call in compiled.calls:
        if call.kernel.name == "int8/conv_gemm_dsp":
            if mode == "int16":
                size = 4 * len(packed_weights(call.node, compiled.graph))
            else:
                words, tail = packed_weights_int8(call.node, compiled.graph)
                size = 4 * len(words) + len(tail)
                assert size == compiled.graph.tensors[call.node.inputs[1]].size
            assert report.weights[f"{call.node.name} (in its kernel)"] == size
            assert call.node.inputs[1] not in report.weights  # not passed: not in weights.h
            total += size
    assert total and compiled.metadata["memory"]["weights_bytes"] >= total
