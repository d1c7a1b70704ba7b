"""Data-dependent, indexing and shape ops of the ref backend against ONNX Runtime.

As in tests/test_ops_float.py, each test builds one ONNX model holding several independent cases, so
one C build covers them all; inputs may be any dtype (runtime indices are int64 or int32 inputs).
Float outputs: abs 1e-4 + rel 1e-4; integer, bool and index outputs: exactly equal.
Runtime indices out of range are clamped by the C (ONNX Runtime rejects them): those cases are
checked against numpy with the same clamp, and under AddressSanitizer.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.reference import run_reference
from aot.targets.host import load

ATOL, RTOL = 1e-4, 1e-4


class Model:
    """Independent single-op cases in one ONNX model; inputs of any dtype."""

    def __init__(self, opset: int = 18, seed: int = 0):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[str] = []
        self.inits: list[onnx.TensorProto] = []
        self.feeds: dict[str, np.ndarray] = {}
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def feed(self, value: np.ndarray) -> str:
        """A graph input holding ``value`` (its dtype and shape)."""
        value = np.asarray(value)
        name = self._name("x")
        elem = helper.np_dtype_to_tensor_dtype(value.dtype)
        self.inputs.append(helper.make_tensor_value_info(name, elem, list(value.shape)))
        self.feeds[name] = value
        return name

    def input(self, shape, dtype: str = "float32", low: float = -3.0, high: float = 3.0) -> str:
        if dtype == "float32":
            return self.feed(self.rng.uniform(low, high, size=shape).astype(np.float32))
        if dtype == "bool":
            return self.feed(self.rng.random(size=shape) < 0.5)
        info = np.iinfo(dtype)
        return self.feed(self.rng.integers(max(info.min, -100), min(info.max, 100), size=shape, dtype=dtype,
                                           endpoint=True))

    def const(self, value, dtype=np.float32) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def ints(self, values) -> str:
        return self.const(values, np.int64)

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, output: bool = True, **attrs) -> list[str]:
        names = [self._name(op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, name=self._name(f"n_{op_type}"), **attrs))
        if output:
            self.outputs += names
        return names

    def proto(self) -> onnx.ModelProto:
        outs = [helper.make_tensor_value_info(n, onnx.TensorProto.UNDEFINED, None) for n in self.outputs]
        graph = helper.make_graph(self.nodes, "ops", self.inputs, outs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
        return model


def build(m: Model, tmp_path: Path, cc: str = "gcc"):
    model = m.proto()
    lib = write_library(compile_model(model, CompileOptions()), tmp_path / "lib")
    return model, load(lib, cc=cc)


def assert_matches(m: Model, got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want) == len(m.outputs)
    for name, g, w in zip(m.outputs, got, want):
        producer = next(n for n in m.nodes if name in n.output)
        where = f"{name} ({helper.printable_node(producer)})"
        w = np.asarray(w)
        assert g.shape == w.shape, f"{where}: shape {g.shape}, expected {w.shape}"
        assert g.dtype == w.dtype, f"{where}: dtype {g.dtype}, expected {w.dtype}"
        if g.dtype.kind == "f":
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=where)
        else:
            np.testing.assert_array_equal(g, w, err_msg=where)


def check(m: Model, tmp_path: Path, cc: str = "gcc") -> None:
    """Compile, build with ``cc``, run, and compare every output with ONNX Runtime."""
    model, host = build(m, tmp_path, cc)
    assert_matches(m, host.run(m.feeds), run_reference(model, m.feeds))


# -- gathers -----------------------------------------------------------------------------------------
def test_gather_runtime_indices(tmp_path):
    m = Model(opset=13)
    ids = np.array([[3, 0, 9, 3], [1, 2, 8, 7]], np.int64)
    m.op("Gather", [m.input((10, 6)), m.feed(ids)])  # an embedding lookup: [vocab, dim] by token ids
    m.op("Gather", [m.input((5, 4)), m.feed(np.array([-1, 0, -4, 2], np.int64))], axis=1)  # negative wrap
    m.op("Gather", [m.input((3, 4, 5)), m.feed(np.array(2, np.int32))], axis=1)  # int32 scalar index
    m.op("Gather", [m.input((3, 4, 5)), m.feed(np.array([[0, 1], [4, -2]], np.int32))], axis=-1)
    m.op("Gather", [m.input((6, 3), "int8"), m.feed(np.array([5, 0, 0], np.int64))])
    m.op("Gather", [m.input((4, 3), "bool"), m.feed(np.array([3, 1], np.int64))])
    m.op("Gather", [m.input((4, 2), "int64"), m.feed(np.array([[2], [0]], np.int64))])
    check(m, tmp_path)


def test_gather_elements_and_nd(tmp_path):
    m = Model(opset=13)
    m.op("GatherElements", [m.input((3, 4)), m.feed(np.array([[0, 2, 1, 2], [-1, 0, 0, 1]], np.int64))])
    m.op("GatherElements", [m.input((3, 4)), m.feed(np.array([[3, 0], [1, -4], [2, 2]], np.int32))], axis=1)
    m.op("GatherElements", [m.input((2, 3, 4), "int32"), m.feed(np.array([[[0], [2]], [[1], [2]]], np.int64))],
         axis=1)
    m.op("GatherND", [m.input((3, 4)), m.feed(np.array([[0, 1], [2, -1]], np.int64))])
    m.op("GatherND", [m.input((3, 4, 2)), m.feed(np.array([[1], [0], [-1]], np.int64))])  # slices
    m.op("GatherND", [m.input((2, 3, 4), "uint8"), m.feed(np.array([[[1, 2]], [[0, 3]]], np.int64))], batch_dims=1)
    m.op("GatherND", [m.input((2, 3, 4)), m.feed(np.array([[1], [2]], np.int64))], batch_dims=1)
    check(m, tmp_path)


# -- scatters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", [16, 18])
def test_scatter(opset, tmp_path):
    m = Model(opset=opset)
    reductions = ["none", "add", "mul"] + (["max", "min"] if opset >= 18 else [])
    for r in reductions:
        m.op("ScatterND", [m.input((4, 3)), m.feed(np.array([[1], [3]], np.int64)), m.input((2, 3))], reduction=r)
        m.op("ScatterND", [m.input((2, 3, 2), "int32"), m.feed(np.array([[0, 2], [1, -1]], np.int64)),
                           m.input((2, 2), "int32")], reduction=r)
        m.op("ScatterElements", [m.input((3, 4)), m.feed(np.array([[1, 0, 2, 1]], np.int64)), m.input((1, 4))],
             reduction=r)
        m.op("ScatterElements", [m.input((2, 5), "int64"), m.feed(np.array([[4, -1], [0, 3]], np.int32)),
                                 m.input((2, 2), "int64")], axis=1, reduction=r)
    m.op("ScatterND", [m.input((2, 2)), m.feed(np.array([[0, 1], [1, 0]], np.int64)), m.input((2,))])
    m.op("ScatterND", [m.input((3,), "bool"), m.feed(np.array([[2]], np.int64)), m.input((1,), "bool")])
    check(m, tmp_path)
