"""Per-op tests of the ref backend's float kernels against ONNX Runtime.

Each test builds one small ONNX model with onnx.helper that holds several independent cases of an
op (shapes, attributes, broadcasting, negative axes...), each with its own inputs and output, so
one C build covers them all. Tolerance: abs 1e-4 + rel 1e-4 (the project's float standard).
Everything builds with gcc; a selection also with clang (-Wall -Wextra -Werror in both).
"""
from __future__ import annotations

import json

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.codegen.csyntax import check_sources
from aot.compiler import CompileOptions, compile_model, write_library
from aot.reference import run_reference
from aot.targets.host import load
from conftest import require_tool

ATOL, RTOL = 1e-4, 1e-4
INT64_MAX = np.iinfo(np.int64).max


class Model:
    """Collects independent single-op cases into one ONNX model."""

    def __init__(self, opset: int = 17, seed: int = 0):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.feeds: dict[str, np.ndarray] = {}
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def input(self, shape, low: float = -2.0, high: float = 2.0) -> str:
        name = self._name("x")
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        self.feeds[name] = self.rng.uniform(low, high, size=shape).astype(np.float32)
        return name

    def const(self, value, dtype=np.float32) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, shape, scale: float = 0.5) -> str:
        return self.const(self.rng.standard_normal(shape) * scale)

    def ints(self, values) -> str:
        return self.const(values, np.int64)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, output: bool = True, **attrs) -> list[str]:
        """Add a node; its outputs become graph outputs unless ``output`` is False."""
        names = [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self._name(f"n_{op_type}"), **attrs))
        if output:
            self.outputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in names]
        return names

    def output(self, name: str) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))

    def proto(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "ops", self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # fills the output shapes
        onnx.checker.check_model(model, full_check=True)
        return model


def check(m: Model, tmp_path: Path, cc: str = "gcc", syntax: bool = False, board: str = "host",
          cflags: str = "-O2") -> list[dict]:
    """Compile for ``board``, build with ``cc``, run, and compare every output with ONNX Runtime; the layers."""
    model = m.proto()
    compiled = compile_model(model, CompileOptions(board=board))
    lib = write_library(compiled, tmp_path / "lib")
    if syntax:
        assert check_sources(lib) == []
    got = load(lib, cc=cc, cflags=cflags).run(m.feeds)
    want = run_reference(model, m.feeds)
    assert len(got) == len(want) == len(m.outputs)
    for vi, g, w in zip(m.outputs, got, want):
        producer = next(n for n in m.nodes if vi.name in n.output)
        where = f"{vi.name} ({producer.op_type} {helper.printable_node(producer)})"
        assert g.shape == w.shape, f"{where}: shape {g.shape}, ONNX Runtime {w.shape}"
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=where)
    return json.loads((lib / "metadata.json").read_text())["layers"]


# -- elementwise ----------------------------------------------------------------------------------
BROADCAST_SHAPES = [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (5,)), ((2, 3, 4, 5), (3, 1, 1)),
                    ((1, 3, 1, 5), (2, 1, 4, 1)), ((2, 3), ()), ((4, 1), (1, 4)), ((1,), (3, 2))]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
def test_binary_broadcasting(op, tmp_path):
    m = Model()
    for a, b in BROADCAST_SHAPES:
        m.op(op, [m.input(a), m.input(b, 0.5, 2.0) if op == "Div" else m.input(b)])
    m.op(op, [m.input((3, 4)), m.weight((4,))])  # a constant operand
    m.op(op, [m.weight((2, 1)), m.input((2, 3))])  # a constant first operand
    check(m, tmp_path)


def test_prelu(tmp_path):
    m = Model()
    for x, slope in [((2, 3, 4, 5), (3, 1, 1)), ((2, 3, 4), (4,)), ((2, 3), (2, 3)), ((3, 4), (1,))]:
        m.op("PRelu", [m.input(x), m.weight(slope)])
    m.op("PRelu", [m.input((2, 3, 2)), m.input((3, 1))])  # a runtime slope
    check(m, tmp_path)


def test_unary(tmp_path):
    m = Model()
    shape = (2, 3, 4)
    for op, attrs in [("Relu", {}), ("LeakyRelu", {}), ("LeakyRelu", {"alpha": 0.3}), ("Sigmoid", {}),
                      ("Tanh", {}), ("HardSigmoid", {}), ("HardSigmoid", {"alpha": 0.5, "beta": 0.1}),
                      ("HardSwish", {}), ("Exp", {})]:
        m.op(op, [m.input(shape, -4.0, 4.0)], **attrs)
    m.op("Sqrt", [m.input(shape, 0.0, 9.0)])
    check(m, tmp_path)


def test_clip(tmp_path):
    m = Model()
    m.op("Clip", [m.input((3, 4)), m.const(-0.5), m.const(0.7)])
    m.op("Clip", [m.input((3, 4)), m.const(0.0)])  # min only
    m.op("Clip", [m.input((3, 4)), "", m.const(0.3)])  # max only
    m.op("Clip", [m.input((3, 4))])  # no bounds: a copy
    m.op("Clip", [m.input((3, 4)), m.const(1.0), m.const(-1.0)])  # min > max: all max
    check(m, tmp_path)


def test_clip_opset10_attributes(tmp_path):
    m = Model(opset=10)
    m.op("Clip", [m.input((2, 5))], min=-0.25, max=0.5)
    check(m, tmp_path)


def test_identity_and_dropout(tmp_path):
    m = Model(opset=13)
    m.op("Identity", [m.input((2, 3))])  # graph input straight to an output: a copy kernel
    m.op("Dropout", [m.input((2, 3))])
    m.op("Dropout", [m.input((4,)), m.const(0.3), m.const(False, np.bool_)])  # scalar ratio, inference
    h = m.op("Identity", [m.input((3, 2))], output=False)[0]  # removed by a pass
    m.op("Relu", [h])
    d = m.op("Dropout", [m.input((3, 2))], output=False)[0]
    m.op("Tanh", [d])
    check(m, tmp_path)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax(op, tmp_path):
    m = Model()
    for shape, axis in [((2, 5), -1), ((2, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -3), ((3, 4, 2, 2), 2), ((6,), 0)]:
        m.op(op, [m.input(shape, -5.0, 5.0)], axis=axis)
    m.op(op, [m.input((2, 3))])  # default axis
    check(m, tmp_path)


def test_softmax_opset11_flattens(tmp_path):
    m = Model(opset=11)  # opset < 13: the input is seen as 2-D at ``axis``
    m.op("Softmax", [m.input((2, 3, 4))], axis=1)
    m.op("LogSoftmax", [m.input((2, 3, 4))], axis=2)
    check(m, tmp_path)


# -- matrix products ------------------------------------------------------------------------------
def test_gemm(tmp_path):
    m = Model()
    M, K, N = 3, 5, 4
    for ta in (0, 1):
        for tb in (0, 1):
            a = m.input((K, M) if ta else (M, K))
            b = m.weight((N, K) if tb else (K, N))
            m.op("Gemm", [a, b, m.weight((N,))], transA=ta, transB=tb)
    m.op("Gemm", [m.input((M, K)), m.weight((K, N)), m.weight((M, 1))], alpha=0.5, beta=2.0)
    m.op("Gemm", [m.input((M, K)), m.weight((K, N)), m.weight((M, N))], beta=-1.0)
    m.op("Gemm", [m.input((M, K)), m.weight((K, N)), m.weight((1, N))])
    m.op("Gemm", [m.input((M, K)), m.weight((K, N)), m.weight(())])  # a scalar C
    m.op("Gemm", [m.input((M, K)), m.weight((K, N))], alpha=1.5)  # no C
    m.op("Gemm", [m.input((M, K)), m.input((N, K)), m.input((N,))], transB=1)  # runtime B and C
    check(m, tmp_path)


def test_matmul(tmp_path):
    m = Model()
    for a, b in [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (2, 4, 5)),
                 ((2, 1, 3, 4), (1, 5, 4, 6)), ((2, 3, 4), (4, 5)), ((4, 5), (2, 5, 3))]:
        m.op("MatMul", [m.input(a), m.input(b)])
    m.op("MatMul", [m.input((2, 3, 4)), m.weight((4, 6))])
    check(m, tmp_path)


def test_fused_activations(tmp_path):
    """Conv/Gemm/MatMul/Add with the activation that the fuse_activation pass folds into them."""
    m = Model()
    c = m.op("Conv", [m.input((1, 2, 5, 5)), m.weight((3, 2, 3, 3)), m.weight((3,))], output=False, pads=[1] * 4)
    m.op("Relu", c)
    g = m.op("Gemm", [m.input((2, 6)), m.weight((6, 4))], output=False)
    m.op("Clip", g + [m.const(0.0), m.const(0.6)])
    mm = m.op("MatMul", [m.input((2, 6)), m.weight((6, 4))], output=False)
    m.op("Sigmoid", mm)
    a = m.op("Add", [m.input((2, 3, 4)), m.input((4,))], output=False)
    m.op("HardSwish", a)
    c2 = m.op("Conv", [m.input((1, 2, 4, 4)), m.weight((2, 2, 1, 1))], output=False)
    m.op("LeakyRelu", c2, alpha=0.2)
    g2 = m.op("Gemm", [m.input((2, 6)), m.weight((6, 4))], output=False)
    m.op("HardSigmoid", g2)
    a2 = m.op("Add", [m.input((3, 3)), m.input((3, 3))], output=False)
    m.op("Tanh", a2)
    check(m, tmp_path)


# -- convolution and pooling ----------------------------------------------------------------------
CONV_CASES = [
    # (input shape, weight shape, attributes)
    ((1, 3, 7, 7), (4, 3, 3, 3), {}),
    ((2, 3, 7, 7), (4, 3, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 3, 8, 9), (4, 3, 3, 2), {"pads": [0, 1, 2, 1], "strides": [2, 1]}),
    ((1, 2, 9, 9), (3, 2, 3, 3), {"dilations": [2, 2], "pads": [2, 2, 2, 2]}),
    ((1, 2, 10, 8), (3, 2, 3, 3), {"strides": [3, 2], "dilations": [1, 2]}),
    ((1, 4, 6, 6), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    ((1, 4, 6, 6), (4, 1, 3, 3), {"group": 4, "pads": [1, 1, 1, 1]}),  # depthwise
    ((1, 3, 6, 6), (6, 1, 3, 3), {"group": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}),  # depthwise x2
    ((1, 3, 7, 7), (4, 3, 3, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    ((1, 3, 8, 8), (4, 3, 4, 4), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    ((1, 3, 6, 6), (4, 3, 2, 2), {"auto_pad": "SAME_LOWER"}),
    ((1, 3, 7, 7), (4, 3, 3, 3), {"auto_pad": "VALID", "strides": [2, 2]}),
    ((1, 8, 5, 5), (4, 8, 1, 1), {}),  # pointwise
    ((1, 3, 10), (2, 3, 3), {"pads": [1, 2], "strides": [2]}),  # 1-D
    ((1, 2, 4, 5, 5), (3, 2, 2, 3, 3), {"pads": [1, 0, 1, 0, 1, 1], "strides": [1, 2, 1]}),  # 3-D
    ((1, 2, 3, 3), (2, 2, 5, 5), {"pads": [2, 2, 2, 2]}),  # kernel larger than the input
]


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
def test_conv(bias, tmp_path):
    m = Model()
    for x, w, attrs in CONV_CASES:
        inputs = [m.input(x), m.weight(w)] + ([m.weight((w[0],))] if bias else [])
        m.op("Conv", inputs, **attrs)
    check(m, tmp_path)


def test_conv_runtime_weights(tmp_path):
    m = Model()
    m.op("Conv", [m.input((1, 2, 5, 5)), m.input((3, 2, 3, 3)), m.input((3,))], pads=[1, 1, 1, 1])
    check(m, tmp_path)


POOL_CASES = [
    ((1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ((2, 3, 7, 7), {"kernel_shape": [3, 3]}),
    ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ((1, 2, 6, 7), {"kernel_shape": [3, 2], "strides": [2, 3], "pads": [0, 1, 2, 0]}),
    ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    ((1, 2, 8, 8), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    ((1, 2, 7, 7), {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    ((1, 2, 6, 6), {"kernel_shape": [2, 2], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    ((1, 2, 7, 7), {"kernel_shape": [2, 2], "auto_pad": "VALID"}),
    ((1, 3, 10), {"kernel_shape": [3], "strides": [2], "pads": [1, 1]}),  # 1-D
    ((1, 2, 4, 5, 5), {"kernel_shape": [2, 3, 3], "strides": [2, 1, 2], "pads": [0, 1, 1, 1, 1, 1]}),  # 3-D
]


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool(op, tmp_path):
    m = Model(opset=19)
    for x, attrs in POOL_CASES:
        m.op(op, [m.input(x)], **attrs)
    if op == "AveragePool":
        for x, attrs in POOL_CASES[2:6]:
            m.op(op, [m.input(x)], count_include_pad=1, **attrs)
    m.op(op, [m.input((1, 2, 9, 9))], kernel_shape=[3, 3], dilations=[2, 2], pads=[1, 1, 1, 1])
    m.op(op, [m.input((1, 2, 9, 9))], kernel_shape=[2, 2], dilations=[2, 3], strides=[2, 2])
    check(m, tmp_path)


def test_global_average_pool(tmp_path):
    m = Model()
    for shape in [(1, 3, 5, 5), (2, 4, 3), (1, 2, 2, 3, 4), (2, 3, 1, 1)]:
        m.op("GlobalAveragePool", [m.input(shape)])
    check(m, tmp_path)


def test_batchnorm(tmp_path):
    m = Model(opset=15)
    for shape in [(2, 3, 4, 5), (4, 3), (1, 3, 6), (1, 2, 2, 3, 3)]:
        c = shape[1]
        var = m.const(m.rng.uniform(0.5, 2.0, c))
        m.op("BatchNormalization", [m.input(shape), m.weight((c,)), m.weight((c,)), m.weight((c,)), var],
             epsilon=1e-3)
    check(m, tmp_path)


def test_batchnorm_training_mode(tmp_path):
    m = Model(opset=15)
    c = 3
    stats = [m.weight((c,)), m.weight((c,)), m.weight((c,)), m.const(m.rng.uniform(0.5, 2.0, c))]
    m.op("BatchNormalization", [m.input((2, c, 4, 5))] + stats, outputs=3, training_mode=1, momentum=0.8)
    m.op("BatchNormalization", [m.input((4, c))] + stats, outputs=3, training_mode=1)
    check(m, tmp_path)


# -- data movement --------------------------------------------------------------------------------
def test_reshape_like(tmp_path):
    """Alias ops both as graph outputs (a copy) and inside the graph (shared buffer)."""
    m = Model(opset=13)
    m.op("Reshape", [m.input((2, 3, 4)), m.ints([4, -1])])
    m.op("Reshape", [m.input((2, 3, 4)), m.ints([0, 12])])
    m.op("Flatten", [m.input((2, 3, 4))], axis=0)
    m.op("Flatten", [m.input((2, 3, 4, 5))], axis=2)
    m.op("Flatten", [m.input((2, 3, 4))], axis=-1)
    m.op("Squeeze", [m.input((1, 3, 1, 4)), m.ints([0, -2])])
    m.op("Squeeze", [m.input((1, 3, 1, 4))])
    m.op("Unsqueeze", [m.input((3, 4)), m.ints([0, -1])])
    for op, inputs in [("Reshape", [m.input((2, 6)), m.ints([3, 4])]), ("Flatten", [m.input((2, 2, 3))]),
                       ("Squeeze", [m.input((2, 1, 3)), m.ints([1])]),
                       ("Unsqueeze", [m.input((2, 3)), m.ints([1])])]:
        m.op("Relu", m.op(op, inputs, output=False))
    check(m, tmp_path)


def test_transpose(tmp_path):
    m = Model()
    m.op("Transpose", [m.input((2, 3))])
    m.op("Transpose", [m.input((2, 3, 4))])  # default: reversed axes
    m.op("Transpose", [m.input((2, 3, 4))], perm=[1, 0, 2])
    m.op("Transpose", [m.input((2, 3, 4, 5))], perm=[0, 2, 3, 1])
    m.op("Transpose", [m.input((2, 3, 4, 5))], perm=[3, 1, 0, 2])
    m.op("Transpose", [m.input((1, 3, 1, 5))], perm=[0, 3, 2, 1])
    check(m, tmp_path)


def test_concat(tmp_path):
    m = Model()
    m.op("Concat", [m.input((2, 3)), m.input((4, 3))], axis=0)
    m.op("Concat", [m.input((2, 3, 4)), m.input((2, 1, 4)), m.input((2, 2, 4))], axis=1)
    m.op("Concat", [m.input((2, 3, 2)), m.input((2, 3, 5))], axis=-1)
    m.op("Concat", [m.input((2, 3)), m.weight((2, 2))], axis=1)  # a constant part
    m.op("Concat", [m.input((3,))], axis=0)
    check(m, tmp_path)


def test_pad(tmp_path):
    m = Model(opset=18)
    m.op("Pad", [m.input((2, 3)), m.ints([1, 2, 0, 1])])
    m.op("Pad", [m.input((1, 2, 3, 3)), m.ints([0, 0, 1, 2, 0, 0, 2, 1]), m.const(1.5)])
    m.op("Pad", [m.input((3, 4)), m.ints([2, 1, 1, 2])], mode="reflect")
    m.op("Pad", [m.input((3, 4)), m.ints([2, 3, 0, 1])], mode="edge")
    m.op("Pad", [m.input((4, 5)), m.ints([-1, 1, 0, -2])])  # negative pads crop
    m.op("Pad", [m.input((2, 3, 4)), m.ints([1, 2]), m.const(-1.0), m.ints([-1])])  # axes input
    check(m, tmp_path)


def test_slice(tmp_path):
    m = Model(opset=13)
    m.op("Slice", [m.input((5, 6)), m.ints([1, 2]), m.ints([4, 5])])
    m.op("Slice", [m.input((5, 6)), m.ints([-3]), m.ints([INT64_MAX]), m.ints([1])])
    m.op("Slice", [m.input((5, 6)), m.ints([0, 1]), m.ints([5, 6]), m.ints([0, 1]), m.ints([2, 2])])
    m.op("Slice", [m.input((5, 6)), m.ints([-1]), m.ints([-INT64_MAX]), m.ints([0]), m.ints([-1])])  # reverse
    m.op("Slice", [m.input((4, 7)), m.ints([5]), m.ints([0]), m.ints([-1]), m.ints([-2])])
    m.op("Slice", [m.input((2, 3, 4, 5)), m.ints([1, -3]), m.ints([100, -1]), m.ints([-1, 1])])
    m.op("Slice", [m.input((2, 3, 4)), m.ints([0, 0]), m.ints([1, 3]), m.ints([0, 2]), m.ints([1, 3])])
    m.op("Slice", [m.input((3, 4)), m.ints([-10]), m.ints([10]), m.ints([1])])  # clamped to the tensor
    check(m, tmp_path)


def test_split(tmp_path):
    m = Model(opset=13)
    m.op("Split", [m.input((6, 4)), m.ints([2, 4])], outputs=2)
    m.op("Split", [m.input((2, 7, 3)), m.ints([1, 4, 2])], outputs=3, axis=1)
    m.op("Split", [m.input((2, 6))], outputs=3, axis=-1)  # equal parts
    m.op("Split", [m.input((2, 3, 4)), m.ints([1, 3])], outputs=2, axis=-1)
    check(m, tmp_path)


def test_split_opset18_num_outputs(tmp_path):
    m = Model(opset=18)
    m.op("Split", [m.input((7, 2))], outputs=3, num_outputs=3)  # uneven: 3, 3, 1
    m.op("Split", [m.input((2, 8))], outputs=4, axis=1, num_outputs=4)
    m.op("Split", [m.input((2, 5)), m.ints([2, 3])], outputs=2, axis=1)
    check(m, tmp_path)


def test_split_opset11_attribute(tmp_path):
    m = Model(opset=11)
    m.op("Split", [m.input((5, 3))], outputs=2, split=[2, 3])
    m.op("Split", [m.input((2, 6))], outputs=2, axis=1)
    check(m, tmp_path)


def test_gather(tmp_path):
    m = Model(opset=13)
    m.op("Gather", [m.input((5, 4)), m.ints([0, 3, 1])])
    m.op("Gather", [m.input((5, 4)), m.ints([-1, 0, -2])], axis=1)
    m.op("Gather", [m.input((3, 4, 5)), m.ints(2)], axis=1)  # a scalar index drops the axis
    m.op("Gather", [m.input((3, 4, 5)), m.ints([[0, 1], [3, 2]])], axis=-1)  # 2-D indices
    m.op("Gather", [m.input((6, 3)), m.ints([1, 3, 5])])  # evenly spaced: no index table
    m.op("Gather", [m.input((6, 3)), m.ints([4, 4, 0])], axis=0)  # repeated
    check(m, tmp_path)


# -- reductions -----------------------------------------------------------------------------------
REDUCE_CASES = [((2, 3, 4), [1], 1), ((2, 3, 4), [0, 2], 0), ((2, 3, 4), [-1], 1), ((2, 3, 4, 5), [1, 2], 0),
                ((2, 3, 4, 5), [0, 3], 1), ((3, 4), None, 1), ((3, 4), None, 0), ((5,), [0], 0)]


def test_reduce_mean_axes_attribute(tmp_path):
    m = Model(opset=13)
    for shape, axes, keep in REDUCE_CASES:
        attrs = {"keepdims": keep} | ({"axes": axes} if axes is not None else {})
        m.op("ReduceMean", [m.input(shape)], **attrs)
    m.op("ReduceMean", [m.input((2, 3))])  # defaults: all axes, keepdims
    check(m, tmp_path)


def test_reduce_mean_axes_input(tmp_path):
    m = Model(opset=18)
    for shape, axes, keep in REDUCE_CASES:
        m.op("ReduceMean", [m.input(shape)] + ([m.ints(axes)] if axes is not None else []), keepdims=keep)
    m.op("ReduceMean", [m.input((2, 3))], noop_with_empty_axes=1)  # no axes: a copy
    m.op("ReduceMean", [m.input((2, 3)), m.ints([])], noop_with_empty_axes=0)  # empty axes: all
    check(m, tmp_path)


REDUCE_OPS = ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1", "ReduceL2",
              "ReduceLogSum", "ReduceLogSumExp"]


def test_other_reductions(tmp_path):
    m = Model(opset=18)
    for op in REDUCE_OPS:
        low = 0.1 if op == "ReduceLogSum" else -2.0
        for shape, axes, keep in REDUCE_CASES[:5]:
            m.op(op, [m.input(shape, low, 2.0), m.ints(axes)], keepdims=keep)
        m.op(op, [m.input((3, 4), low, 2.0)])
    m.op("ReduceLogSumExp", [m.input((2, 3), 80.0, 90.0), m.ints([1])])  # expf alone would overflow
    check(m, tmp_path)


# -- a mixed model with clang ---------------------------------------------------------------------
def mixed_model() -> Model:
    """Chains most kernels (with aliases, fusion and multi-output ops) in one graph."""
    m = Model(opset=18, seed=3)
    x = m.input((1, 3, 8, 8))
    c = m.op("Conv", [x, m.weight((6, 3, 3, 3)), m.weight((6,))], output=False, pads=[1, 1, 1, 1])
    r = m.op("Clip", c + [m.const(0.0), m.const(6.0)], output=False)
    dw = m.op("Conv", r + [m.weight((6, 1, 3, 3))], output=False, group=6, strides=[2, 2], auto_pad="SAME_UPPER")
    bn = m.op("BatchNormalization", [dw[0], m.weight((6,)), m.weight((6,)), m.weight((6,)),
                                     m.const(m.rng.uniform(0.5, 1.5, 6))], output=False)
    hs = m.op("HardSwish", bn, output=False)
    p = m.op("AveragePool", hs, output=False, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)
    a, b = m.op("Split", p + [m.ints([2, 4])], outputs=2, output=False, axis=1)
    s = m.op("Slice", [b, m.ints([3, 0]), m.ints([-INT64_MAX, 4]), m.ints([2, 3]), m.ints([-1, 1])], output=False)
    t = m.op("Transpose", s, output=False, perm=[0, 1, 3, 2])
    cat = m.op("Concat", [a] + t, output=False, axis=1)
    pad = m.op("Pad", cat + [m.ints([0, 0, 1, 0, 0, 0, 0, 1])], output=False, mode="reflect")
    mp = m.op("MaxPool", pad, output=False, kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)
    g = m.op("Gather", mp + [m.ints([0, 2, 5])], output=False, axis=1)
    mean = m.op("ReduceMean", g + [m.ints([2, 3])], output=False, keepdims=1)
    sq = m.op("Squeeze", mean + [m.ints([2, 3])], output=False)
    fl = m.op("Flatten", m.op("GlobalAveragePool", mp, output=False), output=False)
    both = m.op("Concat", sq + fl, output=False, axis=1)
    gemm = m.op("Gemm", both + [m.weight((9, 5)), m.weight((5,))], output=False)
    pr = m.op("PRelu", gemm + [m.weight((5,))], output=False)
    sm = m.op("Softmax", pr, axis=-1)
    u = m.op("Unsqueeze", [sm[0], m.ints([0])], output=False)
    mm = m.op("MatMul", u + [m.weight((5, 3))], output=False)
    e = m.op("Exp", m.op("Tanh", mm, output=False), output=False)
    q = m.op("Sqrt", m.op("Div", e + [m.const(2.0)], output=False), output=False)
    m.op("Reshape", q + [m.ints([3, 1])])
    m.op("LeakyRelu", m.op("Sub", [m.input((1, 3)), m.weight((3,))], output=False), alpha=0.1)
    m.op("Sigmoid", m.op("Mul", [m.input((2, 1)), m.input((1, 3))], output=False))
    m.op("HardSigmoid", m.op("Dropout", [m.input((2, 2))], output=False))
    return m


@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_mixed_model(compiler, tmp_path):
    require_tool(compiler)
    check(mixed_model(), tmp_path, cc=compiler, syntax=True)


CLANG_SELECTION = {
    "conv": lambda m: [m.op("Conv", [m.input(x), m.weight(w)], **a) for x, w, a in CONV_CASES[::3]],
    "pool": lambda m: [m.op(op, [m.input(x)], **a) for op in ("MaxPool", "AveragePool") for x, a in POOL_CASES[::2]],
    "slice_split_gather": lambda m: [
        m.op("Slice", [m.input((5, 6)), m.ints([-1]), m.ints([-INT64_MAX]), m.ints([0]), m.ints([-1])]),
        m.op("Split", [m.input((2, 7))], outputs=3, axis=1, num_outputs=3),
        m.op("Gather", [m.input((3, 4, 5)), m.ints([[0, 1], [3, 2]])], axis=1)],
    "reduce_bn_training": lambda m: [
        m.op("ReduceMean", [m.input((2, 3, 4)), m.ints([0, 2])], keepdims=0),
        m.op("ReduceMean", [m.input((2, 3))], noop_with_empty_axes=1),
        m.op("BatchNormalization", [m.input((2, 3, 4))] + [m.weight((3,)) for _ in range(3)] +
             [m.const([1.0, 0.5, 2.0])], outputs=3, training_mode=1)],
}


@pytest.mark.parametrize("selection", sorted(CLANG_SELECTION))
def test_clang_selection(selection, tmp_path):
    require_tool("clang")
    m = Model(opset=18)
    CLANG_SELECTION[selection](m)
    check(m, tmp_path, cc="clang")
