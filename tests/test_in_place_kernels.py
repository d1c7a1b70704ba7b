"""In-place kernels compute what they compute out of place, bit for bit (issue 13, must-show 3).

One QDQ model (onnx.helper) holds several chains, each from its own int8 input: a depthwise Conv
(odd planes, stride 1 and 2, padded and not, 2-D and 1-D), a 1x1 Conv widening, narrowing or keeping
the channels, a fused Relu, an int8 lookup (Sigmoid) and an int8 Add; a depthwise Conv with two
outputs per channel (never in place) closes one chain. It is compiled with in-place layers (the
default) and with ``in_place=False``; the plans must differ as intended, and both libraries, built
for the host, give identical outputs, equal to the golden model. The same model runs on cortex-m4
under QEMU (the arm-dsp variants in place), bit-exact against host and golden."""
from __future__ import annotations

import numpy as np
import pytest

from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.board_run import host_baseline, run_on_board
from aot.quant.golden_runner import run_golden
from aot.targets.board import resolve_board
from aot.targets.host import load

from test_int8_ops import QdqModel, weights

# Two chains of layers, each layer from the one before: (Conv attributes of a depthwise layer, the
# 1x1 layer's output channels) in order, from an int8 input of the given shape.
CHAINS = [
    ([1, 3, 9, 11], [({"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, 8),  # padded, stride 1, widening 1x1
                     ({"kernel_shape": [3, 3], "strides": [2, 2]}, 5),  # no padding, stride 2, narrowing
                     ({"kernel_shape": [2, 3], "strides": [1, 2], "dilations": [2, 1], "pads": [0, 1, 1, 0]}, 5)]),
    ([1, 4, 13], [({"kernel_shape": [3], "strides": [2], "pads": [1, 0]}, 6)]),  # 1-D
]
LAYERS = sum(len(layers) for _, layers in CHAINS)


def build_model() -> QdqModel:
    """Each depthwise layer is followed by a 1x1 Conv + Relu, a Sigmoid (int8 lookup) and an Add of
    another int8 input; a depthwise Conv with two outputs per channel (never in place) ends the model."""
    rng = np.random.default_rng(13)
    m = QdqModel()
    for shape, layers in CHAINS:
        x = m.int8_input(shape, (0.05, -3))
        for attrs, oc in layers:
            c, taps = shape[1], int(np.prod(attrs["kernel_shape"]))
            w = weights(rng, [c, 1] + attrs["kernel_shape"])
            dw = m.op("Conv", [x, m.weight(w, np.full(c, 0.01, np.float32), 0)], group=c, **attrs)
            sd = 0.05 * 0.01 * 74 * np.sqrt(taps)
            d = m.dq(m.q(dw, (sd, 2)), (sd, 2))
            ws = (2.0 ** -rng.integers(6, 9, oc)).astype(np.float32)
            pw = m.op("Relu", [m.op("Conv", [d, m.weight(weights(rng, [oc, c] + [1] * (len(shape) - 2)), ws, 0)])])
            p = m.dq(m.q(pw, (0.08, -128)), (0.08, -128))
            s = m.dq(m.q(m.op("Sigmoid", [p]), (1 / 256, -128)), (1 / 256, -128))
            shape = [1, oc] + list(conv_output(shape[2:], attrs))
            x = m.dq(m.q(m.op("Add", [s, m.int8_input(shape, (0.03, 5))]), (0.02, -20)), (0.02, -20))
        m.quantized_output(x, (0.02, -20))
    x = m.int8_input([1, 2, 5, 5], (0.05, 4))
    m.quantized_output(m.op("Conv", [x, m.weight(weights(rng, [4, 1, 3, 3]), np.full(4, 0.01, np.float32), 0)],
                            group=2, kernel_shape=[3, 3]), (0.2, 0))
    return m


def conv_output(spatial: list[int], attrs: dict) -> list[int]:
    n = len(spatial)
    pads, strides, dil = attrs.get("pads", [0] * 2 * n), attrs.get("strides", [1] * n), attrs.get("dilations", [1] * n)
    return [(i + pads[a] + pads[a + n] - (k - 1) * dil[a] - 1) // strides[a] + 1
            for a, (i, k) in enumerate(zip(spatial, attrs["kernel_shape"]))]


@pytest.fixture(scope="module")
def model():
    return build_model().proto()


def in_place_ops(compiled) -> list[str]:
    return [f"{compiled.calls[i].node.op_type}:{compiled.calls[i].kernel.name}" for i in compiled.plan.in_place]


def test_in_place_equals_out_of_place_on_host(model, tmp_path_factory):
    on = compile_model(model, CompileOptions())
    off = compile_model(model, CompileOptions(in_place=False))
    kinds = in_place_ops(on)  # the placement overlaps a declared pair where that packs best: most of them
    for kind in ("Conv:int8/conv_depthwise", "Conv:int8/conv_gemm", "Sigmoid:int8/lookup", "Add:int8/binary"):
        assert kinds.count(kind) >= LAYERS - 1, kinds
    convs = [c for c in on.calls if c.node.op_type == "Conv"]
    multiplier_two = [c for c in convs if on.graph.tensors[c.node.outputs[0]].shape[1] == 4 and c.node.attrs.get("group") == 2]
    assert len(multiplier_two) == 1 and multiplier_two[0].step.in_place is None
    assert off.plan.in_place == {} and on.plan.arena_bytes < off.plan.arena_bytes
    libs = [load(write_library(c, tmp_path_factory.mktemp("inplace") / "lib")) for c in (on, off)]
    rng = np.random.default_rng(0)
    shapes = [tuple(d.dim_value for d in i.type.tensor_type.shape.dim) for i in model.graph.input]
    feeds = [[rng.integers(-128, 128, s).astype(np.int8) for s in shapes] for _ in range(3)]
    feeds += [[np.full(s, v, np.int8) for s in shapes] for v in (-128, 127)]
    for k, feed in enumerate(feeds):
        got_on, got_off = libs[0].run(feed), libs[1].run(feed)
        gold = run_golden(on.graph, feed)
        for a, b, g in zip(got_on, got_off, gold):
            assert np.array_equal(a, b) and np.array_equal(a, g)
            assert k >= 3 or len(np.unique(a)) > 5, "degenerate test: outputs barely vary"


def test_in_place_arm_dsp_kernels_on_cortex_m4(model):
    board = resolve_board("cortex-m4")
    missing = board.missing_tools("gcc")
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    baseline = host_baseline(model, seed=3)
    report = run_on_board(model, board, baseline=baseline)
    assert report.ok and all(c.max_abs == 0 for c in report.checks), report.table()
    compiled = compile_model(model, CompileOptions(board="cortex-m4"))
    kinds = in_place_ops(compiled)
    assert kinds.count("Conv:int8/conv_depthwise_dsp") >= LAYERS - 1, kinds
    assert kinds.count("Conv:int8/conv_gemm_dsp") >= LAYERS - 1, kinds


@pytest.mark.parametrize("relative, target", [("mlperf_tiny/kws_ref_model_int8.onnx", 9600),
                                              ("mlperf_tiny/str_ww_ref_model.onnx", 4760),
                                              ("mlperf_tiny/ad01_int8.onnx", 768)])
def test_mlperf_tiny_arena_targets_on_cortex_m4(shared_model, relative, target):
    """Issue 13's RAM targets (arena with the I/O in it, default backends arm-dsp then ref); the
    outputs on the board are checked bit for bit by tests/test_qemu_models.py."""
    compiled = compile_model(shared_model(relative), CompileOptions(board="cortex-m4"))
    assert compiled.plan.io_in_arena and compiled.plan.total_bytes <= target
    if "ad01" not in relative:  # fully connected layers: nothing to overlap, already at the bound
        assert len(compiled.plan.in_place) >= 6
