"""Each specialisation of the float Conv kernel (pointwise, tiled, depthwise, direct) and the tiled
Gemm/MatMul, on shapes that exercise their remainders (positions % 16, channels % 4, border runs,
strided depthwise, flat interiors), against ONNX Runtime at abs 1e-4 + rel 1e-4. Also checks that
every variant is chosen at least once, so a change of the selection rules cannot leave one untested."""
from __future__ import annotations

import numpy as np
import pytest

from aot.backends.ref.kernels.conv import conv_params, conv_variant
from aot.compiler import CompileOptions, compile_model
from test_ops_float import Model, check

CASES = [
    # (input, weight, attrs, expected variant)
    ((1, 12, 5, 7), (10, 12, 1, 1), {}, "pointwise"),  # 35 positions: 16 + 16 + 3; 10 channels: 4 + 4 + 2
    ((2, 6, 9, 9), (6, 2, 1, 1), {"group": 3}, "pointwise"),
    ((1, 3, 17, 19), (18, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}, "tiled"),
    ((1, 1, 49, 10), (64, 1, 10, 4), {"pads": [4, 1, 5, 1], "strides": [2, 2]}, "tiled"),
    ((1, 4, 6, 6), (10, 2, 3, 3), {"group": 2, "pads": [1, 0, 0, 1], "dilations": [2, 1]}, "tiled"),
    ((1, 3, 5, 6, 7), (5, 3, 2, 3, 3), {"pads": [1, 1, 1, 0, 1, 1]}, "tiled"),
    ((1, 16, 13, 13), (16, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 16}, "depthwise"),  # flat interior
    ((1, 8, 25, 5), (8, 1, 3, 3), {"pads": [1, 1, 1, 1], "group": 8}, "depthwise"),  # narrow rows
    ((1, 8, 15, 17), (8, 1, 3, 3), {"pads": [0, 0, 1, 1], "strides": [2, 2], "group": 8}, "depthwise"),
    ((1, 6, 9, 9), (6, 1, 5, 5), {"pads": [2, 2, 2, 2], "group": 6, "strides": [1, 3]}, "depthwise"),
    ((1, 3, 7, 7), (6, 1, 3, 3), {"pads": [3, 3, 3, 3], "group": 3}, "depthwise"),  # taps wholly in padding
    ((1, 4, 12), (4, 1, 3), {"pads": [1, 1], "group": 4}, "depthwise"),
    ((1, 4, 5, 6, 7), (4, 1, 3, 3, 3), {"pads": [1, 1, 1, 1, 1, 1], "group": 4}, "depthwise"),
    ((1, 3, 7, 7), (2, 3, 3, 3), {"pads": [1, 1, 1, 1]}, "direct"),  # few output channels
    ((1, 300, 2, 2), (8, 300, 3, 3), {"pads": [1, 1, 1, 1]}, "direct"),  # gathering would need > 64 KiB
]


def _variants(model) -> list[str]:
    """The variant of each CASES entry's Conv (found by its shapes: the compile may reorder the
    independent layers to lower the peak memory), from one compile."""
    graph = compile_model(model, CompileOptions()).graph

    def variant(x, w) -> str:
        node = next(n for n in graph.nodes if n.op_type == "Conv" and graph.tensors[n.inputs[0]].shape == x
                    and graph.tensors[n.inputs[1]].shape == w)
        return conv_variant(conv_params(node, graph))
    return [variant(x, w) for x, w, _, _ in CASES]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv_variants(bias, tmp_path):
    m = Model(seed=11)
    for x, w, attrs, _ in CASES:
        inputs = [m.input(x), m.weight(w)] + ([m.weight((w[0],))] if bias else [])
        conv = m.op("Conv", inputs, output=False, **attrs)
        m.op("Relu", conv)  # fused: the variants apply the activation in their store
    proto = m.proto()
    assert _variants(proto) == [c[3] for c in CASES]
    check(m, tmp_path, syntax=True)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_conv_variants_build_clean(cc, tmp_path):
    m = Model(seed=12)
    for x, w, attrs, _ in CASES[::2]:
        m.op("Conv", [m.input(x), m.weight(w), m.weight((w[0],))], **attrs)
    check(m, tmp_path, cc=cc)


def test_gemm_matmul_tiles(tmp_path):
    m = Model(seed=13)
    for M, K, N in [(1, 37, 35), (6, 9, 20), (5, 33, 3)]:
        for trans_b in (0, 1):
            b = m.weight((N, K) if trans_b else (K, N))
            m.op("Gemm", [m.input((M, K)), b, m.weight((N,))], transB=trans_b, alpha=0.5)
        m.op("MatMul", [m.input((2, M, K)), m.weight((K, N))])
    check(m, tmp_path)
