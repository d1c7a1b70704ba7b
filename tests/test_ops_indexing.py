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
from conftest import require_tool

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
    return model, load(lib, cc=require_tool(cc))


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


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_gather_elements_and_nd(cc, tmp_path):
    m = Model(opset=13)
    m.op("GatherElements", [m.input((3, 4)), m.feed(np.array([[0, 2, 1, 2], [-1, 0, 0, 1]], np.int64))])
    m.op("GatherElements", [m.input((3, 4)), m.feed(np.array([[3, 0], [1, -4], [2, 2]], np.int32))], axis=1)
    m.op("GatherElements", [m.input((2, 3, 4), "int32"), m.feed(np.array([[[0], [2]], [[1], [2]]], np.int64))],
         axis=1)
    m.op("GatherND", [m.input((3, 4)), m.feed(np.array([[0, 1], [2, -1]], np.int64))])
    m.op("GatherND", [m.input((3, 4, 2)), m.feed(np.array([[1], [0], [-1]], np.int64))])  # slices
    m.op("GatherND", [m.input((2, 3, 4), "uint8"), m.feed(np.array([[[1, 2]], [[0, 3]]], np.int64))], batch_dims=1)
    m.op("GatherND", [m.input((2, 3, 4)), m.feed(np.array([[1], [2]], np.int64))], batch_dims=1)
    check(m, tmp_path, cc)


# -- scatters -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset,cc", [(16, "gcc"), (18, "clang")])
def test_scatter(opset, cc, tmp_path):
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
    check(m, tmp_path, cc)


# -- selections and scans ---------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_topk_and_arg(cc, tmp_path):
    m = Model(opset=13)
    m.op("TopK", [m.input((3, 7)), m.ints([3])], outputs=2)
    m.op("TopK", [m.input((3, 7)), m.ints([2])], outputs=2, largest=0)
    m.op("TopK", [m.input((2, 5, 3)), m.ints([5])], outputs=2, axis=1)
    m.op("TopK", [m.feed(np.array([[1, 3, 3, 2, 3, 1]], np.int32)), m.ints([4])], outputs=2)  # ties
    m.op("TopK", [m.feed(np.array([[1, 3, 3, 2, 3, 1]], np.int64)), m.ints([3])], outputs=2, largest=0)
    nan = np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, 1.0, 5.0, np.nan], [2.0, 2.0, np.inf, -np.inf]], np.float32)
    for largest in (0, 1):  # NaN ranks above every number
        m.op("TopK", [m.feed(nan), m.ints([2])], outputs=2, largest=largest)
        m.op("TopK", [m.feed(nan.astype(np.float64)), m.ints([3])], outputs=2, largest=largest)
    m.op("ArgMax", [m.feed(nan)], axis=1)
    m.op("ArgMin", [m.feed(nan)], axis=1)
    ties = np.array([[2.0, 1.0, 2.0, 1.0, 2.0], [0.0, 0.0, 0.0, 1.0, 1.0]], np.float32)
    for op in ("ArgMax", "ArgMin"):
        for keep in (0, 1):
            m.op(op, [m.input((3, 4, 5))], axis=1, keepdims=keep)
            m.op(op, [m.input((3, 4))], axis=-1, keepdims=keep)
        for last in (0, 1):
            m.op(op, [m.feed(ties)], axis=1, select_last_index=last)
            m.op(op, [m.feed(ties.astype(np.int8))], axis=0, keepdims=0, select_last_index=last)
        m.op(op, [m.input((4, 3), "uint8")])
    check(m, tmp_path, cc)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_cumsum_trilu_onehot(cc, tmp_path):
    m = Model(opset=14)
    for exclusive in (0, 1):
        for reverse in (0, 1):
            m.op("CumSum", [m.input((3, 4)), m.ints(1)], exclusive=exclusive, reverse=reverse)
            m.op("CumSum", [m.input((2, 3, 2), "int32"), m.const(-2, np.int32)], exclusive=exclusive, reverse=reverse)
    m.op("CumSum", [m.input((5,), "int64"), m.ints(0)])
    for upper in (0, 1):
        for k in (None, 0, 1, -1, 5, -7):
            inputs = [m.input((2, 3, 4))] + ([] if k is None else [m.ints(k)])
            m.op("Trilu", inputs, upper=upper)
        m.op("Trilu", [m.input((4, 3), "int64"), m.ints(1)], upper=upper)
        m.op("Trilu", [m.input((3, 3), "bool"), m.ints(-1)], upper=upper)
    m.op("OneHot", [m.feed(np.array([[0, 3, -1], [2, 7, -5]], np.int64)), m.ints(4), m.const([0.0, 1.0])])
    # ONNX Runtime has OneHot for a few (indices, values, depth) type triples only; these cover them
    m.op("OneHot", [m.feed(np.array([1, 2, 0], np.int32)), m.const(3.0), m.const([-1.0, 5.0])], axis=0)
    m.op("OneHot", [m.feed(np.array([[1.7, -0.5], [2.9, -3.2]], np.float32)), m.ints(3),
                    m.const([2, 9], np.int64)], axis=1)
    m.op("OneHot", [m.feed(np.array([0, 4, 2, 9], np.int64)), m.const(5, np.int32), m.const([0.5, 2.5])], axis=-2)
    check(m, tmp_path, cc)


# -- shape ops --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_shape_ops(cc, tmp_path):
    m = Model(opset=13)
    m.op("Expand", [m.input((3, 1)), m.ints([2, 3, 4])])
    m.op("Expand", [m.input((1, 4)), m.ints([3, 1])])  # the shape broadcasts too
    m.op("Expand", [m.input((2, 1, 3), "int64"), m.ints([2, 5, 3])])
    m.op("Expand", [m.input((1,), "bool"), m.ints([4])])
    m.op("Tile", [m.input((2, 3)), m.ints([2, 3])])
    m.op("Tile", [m.input((2, 1, 3), "uint16"), m.ints([1, 4, 1])])
    m.op("Tile", [m.input((3,)), m.ints([1])])
    for mode in ("DCR", "CRD"):
        m.op("DepthToSpace", [m.input((1, 8, 2, 3))], blocksize=2, mode=mode)
        m.op("DepthToSpace", [m.input((2, 9, 1, 2), "uint8")], blocksize=3, mode=mode)
    m.op("SpaceToDepth", [m.input((1, 2, 4, 6))], blocksize=2)
    m.op("SpaceToDepth", [m.input((2, 1, 3, 3))], blocksize=3)
    check(m, tmp_path, cc)


def test_constant_shape_ops_fold(tmp_path):
    """Range, ConstantOfShape and NonZero of constants have a static output: the importer folds
    them; with a runtime input their output shape would depend on values, which is refused."""
    m = Model(opset=13)
    r = m.op("Range", [m.const(1.0), m.const(4.0), m.const(0.5)], output=False)[0]
    m.op("Add", [m.input((6,)), r])
    c = m.op("ConstantOfShape", [m.ints([2, 3])], output=False,
             value=numpy_helper.from_array(np.array([2.5], np.float32)))[0]
    m.op("Mul", [m.input((2, 3)), c])
    nz = m.op("NonZero", [m.const([[1, 0, 2], [0, 3, 0]], np.int32)], output=False)[0]
    m.op("Concat", [m.input((2, 3), "int64"), nz], axis=0)
    check(m, tmp_path)
    for op, inputs in [("Range", [m.const(0.0), "limit", m.const(1.0)]), ("NonZero", ["limit"])]:
        vi = [helper.make_tensor_value_info("limit", onnx.TensorProto.FLOAT, [] if op == "Range" else [4])]
        g = helper.make_graph([helper.make_node(op, inputs, ["y"])], "g", vi,
                              [helper.make_tensor_value_info("y", onnx.TensorProto.UNDEFINED, None)], m.inits)
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        with pytest.raises(AotError, match="output shape depends on input values \\(of 'limit'"):
            compile_model(model, CompileOptions())


# -- Einsum ---------------------------------------------------------------------------------------------
EINSUMS = [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("bhqd,bhkd->bhqk", [(1, 2, 3, 4), (1, 2, 5, 4)]),
           ("bhqk,bhkd->bhqd", [(1, 2, 3, 5), (1, 2, 5, 4)]), ("ij->ji", [(3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
           ("i,i->", [(5,), (5,)]), ("i,j->ij", [(3,), (4,)]), ("ij->i", [(3, 4)]), ("ii->i", [(3, 3)]),
           ("ii", [(4, 4)]), ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 2)]), ("bij->", [(2, 3, 2)]),
           ("nchw->nhwc", [(1, 2, 3, 4)]), ("...ij,...jk", [(1, 3, 4), (2, 4, 2)]), ("ij,ij->ij", [(2, 3), (2, 3)]), ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)])]


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_einsum(cc, tmp_path):
    m = Model(opset=12)
    for eq, shapes in EINSUMS:
        m.op("Einsum", [m.input(s) for s in shapes], equation=eq)
    m.op("Einsum", [m.input((2, 3)), m.const(np.ones((3, 4), np.float32))], equation="ij,jk->ik")  # a weight
    check(m, tmp_path, cc)


@pytest.mark.parametrize("eq,shapes,reason", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "letter 'j' has sizes 3 and 4"),
    ("ij->ik", [(2, 3)], r"output letters \['k'\] appear in no operand"),
    ("ij->jj", [(2, 3)], "repeats a letter")])
def test_einsum_refused(eq, shapes, reason):
    inputs = [helper.make_tensor_value_info(f"x{i}", onnx.TensorProto.FLOAT, list(s)) for i, s in enumerate(shapes)]
    node = helper.make_node("Einsum", [f"x{i}" for i in range(len(shapes))], ["y"], equation=eq)
    g = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(AotError, match=reason):
        compile_model(model, CompileOptions())


# -- Resize ---------------------------------------------------------------------------------------------
TRANSFORMS = ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "half_pixel_symmetric"]


def test_resize_nearest(tmp_path):
    m = Model(opset=19)
    for nearest in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        for transform in TRANSFORMS + ["tf_half_pixel_for_nn"]:
            m.op("Resize", [m.input((1, 2, 3, 4)), "", m.const([1, 1, 1.7, 0.6])], mode="nearest",
                 nearest_mode=nearest, coordinate_transformation_mode=transform)
    m.op("Resize", [m.input((1, 1, 4, 4), "uint8"), "", m.const([1, 1, 2, 2])])  # integers are moved
    m.op("Resize", [m.input((2, 3, 4), "int32"), "", "", m.ints([2, 6, 3])])
    m.op("Resize", [m.input((1, 2, 3, 5)), "", "", m.ints([6, 3])], axes=[2, 3])
    m.op("Resize", [m.input((1, 1, 4, 4)), m.const([0, 0, -0.3, 0.1, 1, 1, 0.9, 1.4]), "", m.ints([1, 1, 3, 5])],
         coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=2.0)
    m.op("Resize", [m.input((1, 2, 3, 4)), "", m.const([1, 1, 1, 1])], mode="linear")  # every axis kept: a copy
    m.op("Resize", [m.input((1, 1, 1, 1)), "", m.const([1, 1, 1, 1])], mode="cubic")
    m.op("Resize", [m.input((1, 2, 4, 5)), "", "", m.ints([7, 3])], axes=[3, 2], keep_aspect_ratio_policy="not_larger")
    m.op("Resize", [m.input((1, 2, 4, 5)), "", "", m.ints([7, 3])], axes=[2, 3], keep_aspect_ratio_policy="not_smaller")
    check(m, tmp_path)


@pytest.mark.parametrize("mode,cc", [("linear", "gcc"), ("cubic", "clang")])
def test_resize_interpolating(mode, cc, tmp_path):
    m = Model(opset=19)
    for transform in TRANSFORMS:
        m.op("Resize", [m.input((1, 2, 4, 5)), "", m.const([1, 1, 2.0, 1.5])], mode=mode,
             coordinate_transformation_mode=transform)
        m.op("Resize", [m.input((1, 1, 6, 7)), "", m.const([1, 1, 0.5, 0.6])], mode=mode,
             coordinate_transformation_mode=transform)
    # sizes; ONNX Runtime's cubic takes 2-D or 4-D only
    m.op("Resize", [m.input((2, 3, 4) if mode == "linear" else (1, 2, 3, 4)), "", "",
                    m.ints([2, 5, 7] if mode == "linear" else [1, 2, 5, 7])], mode=mode)
    m.op("Resize", [m.input((1, 2, 8, 8)), "", "", m.ints([3, 5])], mode=mode, axes=[2, 3], antialias=1)
    m.op("Resize", [m.input((1, 1, 6, 6)), m.const([0.2, 0.3, 0.8, 0.9]), "", m.ints([4, 5])], mode=mode,
         axes=[2, 3], coordinate_transformation_mode="tf_crop_and_resize")
    m.op("Resize", [m.input((1, 1, 4, 4)), m.const([0, 0, -0.2, 0.3, 1, 1, 1.3, 0.9]), "", m.ints([1, 1, 5, 3])],
         mode=mode, coordinate_transformation_mode="tf_crop_and_resize", extrapolation_value=7.5)
    if mode == "cubic":
        for a, excl in ((-0.5, 1), (-0.75, 1), (-0.5, 0)):
            m.op("Resize", [m.input((1, 1, 4, 5)), "", m.const([1, 1, 1.6, 0.7])], mode=mode, cubic_coeff_a=a,
                 exclude_outside=excl)
    check(m, tmp_path, cc)


def test_resize_older_opsets_and_upsample(tmp_path):
    m = Model(opset=11)
    m.op("Resize", [m.input((1, 2, 3, 3)), m.const([]), m.const([1, 1, 2, 2])], mode="linear")
    m.op("Resize", [m.input((1, 2, 3, 3)), m.const([]), m.const([1, 1, 2, 3])], mode="nearest",
         coordinate_transformation_mode="asymmetric", nearest_mode="floor")
    m.op("Resize", [m.input((1, 1, 3, 4)), m.const([]), m.const([]), m.ints([1, 1, 5, 2])], mode="cubic")
    check(m, tmp_path / "11")
    m = Model(opset=9)
    m.op("Upsample", [m.input((1, 2, 2, 3)), m.const([1, 1, 2, 3])], mode="nearest")
    check(m, tmp_path / "9")


# -- models -------------------------------------------------------------------------------------------
def embedding_model(vocab: int = 50, dim: int = 8, tokens: int = 6) -> tuple[onnx.ModelProto, str]:
    """Token ids (int64 input) -> Gather of a [vocab, dim] table -> mean over tokens -> classifier."""
    rng = np.random.default_rng(3)
    inits = [numpy_helper.from_array(rng.standard_normal((vocab, dim)).astype(np.float32), "table"),
             numpy_helper.from_array(rng.standard_normal((dim, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["emb"], name="embed"),
             helper.make_node("ReduceMean", ["emb", "axes"], ["pooled"], name="pool", keepdims=0),
             helper.make_node("MatMul", ["pooled", "w"], ["logits"], name="fc"),
             helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1)]
    g = helper.make_graph(nodes, "embedding", [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64,
                                                                             [2, tokens])],
                          [helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, [2, 3])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model, "ids"


def test_embedding_lookup(tmp_path):
    model, name = embedding_model()
    host = load(write_library(compile_model(model, CompileOptions()), tmp_path / "lib"))
    rng = np.random.default_rng(0)
    for ids in (rng.integers(0, 50, (2, 6)), rng.integers(-50, 50, (2, 6)), np.full((2, 6), 49)):
        feeds = {name: ids.astype(np.int64)}
        np.testing.assert_allclose(host.run(feeds)[0], run_reference(model, feeds)[0], atol=ATOL, rtol=RTOL)


def clamped(indices: np.ndarray, dim: int) -> np.ndarray:
    """The documented treatment of a runtime index: wrapped once when negative, then clamped."""
    i = indices.astype(np.int64)
    i = np.where(i < 0, i + dim, i)
    return np.clip(i, 0, dim - 1).astype(indices.dtype)


BAD = np.array([[1000, -1000], [np.iinfo(np.int64).max, np.iinfo(np.int64).min], [5, -6]], np.int64)


def out_of_range_model() -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict[str, np.ndarray], Model]:
    """Every runtime-index op fed indices far outside their axes: the model, its feeds, and the same
    feeds with the indices clamped (what the C computes; ONNX Runtime runs those)."""
    m = Model(opset=18)
    bad32 = np.array([[7, -9], [2 ** 31 - 1, -2 ** 31], [0, 3]], np.int32)
    fixed: dict[str, np.ndarray] = {}

    def bad(values: np.ndarray, clamp: np.ndarray) -> str:
        name = m.feed(values)
        fixed[name] = clamp
        return name

    m.op("Gather", [m.input((5, 4)), bad(BAD, clamped(BAD, 5))])
    m.op("Gather", [m.input((3, 5), "int32"), bad(bad32, clamped(bad32, 5))], axis=1)
    m.op("GatherElements", [m.input((3, 2)), bad(BAD, clamped(BAD, 3))])
    tuples = np.stack([clamped(BAD[:, 0], 3), clamped(BAD[:, 1], 4)], axis=1)
    m.op("GatherND", [m.input((3, 4)), bad(BAD, tuples)])
    m.op("ScatterND", [m.input((3, 4)), bad(BAD, tuples), m.input((3,))])
    column = BAD[:, :1].copy()
    m.op("ScatterElements", [m.input((3, 2)), bad(column, clamped(column, 3)), m.input((3, 1))], axis=0,
         reduction="add")
    m.op("OneHot", [m.feed(BAD), m.ints(4), m.const([0.0, 1.0])])  # out of range: a row of off values
    return m.proto(), m.feeds, {**m.feeds, **fixed}, m


def test_out_of_range_indices_are_clamped(tmp_path):
    model, feeds, fixed, m = out_of_range_model()
    host = load(write_library(compile_model(model, CompileOptions()), tmp_path / "lib"))
    assert_matches(m, host.run(feeds), run_reference(model, fixed))


def test_out_of_range_indices_under_sanitizers(tmp_path):
    """The same model built with clang -fsanitize=address,undefined: no report, same outputs."""
    from test_sanitizers import build_sanitized, sanitizer_compiler
    cc = sanitizer_compiler("clang", tmp_path)
    model, feeds, fixed, m = out_of_range_model()
    compiled = compile_model(model, CompileOptions())
    meta = compiled.metadata
    exe = build_sanitized(write_library(compiled, tmp_path / "lib"), meta, cc)
    record = b"".join(np.ascontiguousarray(feeds[s["onnx_name"]], s["dtype"]).tobytes() for s in meta["inputs"])
    (tmp_path / "in.bin").write_bytes(record)
    run = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "1"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, run.stderr[-3000:]
    raw, pos, got = (tmp_path / "out.bin").read_bytes(), 0, []
    for o in meta["outputs"]:
        n = o["size"] * np.dtype(o["dtype"]).itemsize
        got.append(np.frombuffer(raw[pos:pos + n], o["dtype"]).reshape(o["shape"]))
        pos += n
    assert_matches(m, got, run_reference(model, fixed))


def unet_model() -> onnx.ModelProto:
    """A small U-Net: two downsampling stages, Resize back up (nearest, then linear) with skip Concats."""
    rng = np.random.default_rng(5)
    inits, nodes = [], []

    def conv(x: str, cin: int, cout: int, name: str) -> str:
        inits.append(numpy_helper.from_array((rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32),
                                             f"{name}.w"))
        inits.append(numpy_helper.from_array((rng.standard_normal(cout) * 0.1).astype(np.float32), f"{name}.b"))
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.c"], name=name, pads=[1] * 4))
        nodes.append(helper.make_node("Relu", [f"{name}.c"], [f"{name}.r"], name=f"{name}.relu"))
        return f"{name}.r"

    def pool(x: str, name: str) -> str:
        nodes.append(helper.make_node("MaxPool", [x], [name], name=name, kernel_shape=[2, 2], strides=[2, 2]))
        return name

    def up(x: str, name: str, mode: str) -> str:
        inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), f"{name}.scales"))
        nodes.append(helper.make_node("Resize", [x, "", f"{name}.scales"], [name], name=name, mode=mode,
                                      coordinate_transformation_mode="half_pixel" if mode == "linear" else "asymmetric",
                                      nearest_mode="floor"))
        return name

    def cat(a: str, b: str, name: str) -> str:
        nodes.append(helper.make_node("Concat", [a, b], [name], name=name, axis=1))
        return name

    e1 = conv("image", 1, 4, "enc1")
    e2 = conv(pool(e1, "down1"), 4, 8, "enc2")
    mid = conv(pool(e2, "down2"), 8, 8, "mid")
    d2 = conv(cat(up(mid, "up2", "nearest"), e2, "skip2"), 16, 8, "dec2")
    d1 = conv(cat(up(d2, "up1", "linear"), e1, "skip1"), 12, 4, "dec1")
    inits.append(numpy_helper.from_array((rng.standard_normal((2, 4, 1, 1)) * 0.5).astype(np.float32), "head.w"))
    nodes.append(helper.make_node("Conv", [d1, "head.w"], ["mask"], name="head"))
    g = helper.make_graph(nodes, "unet", [helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, [1, 1, 16, 16])],
                          [helper.make_tensor_value_info("mask", onnx.TensorProto.FLOAT, [1, 2, 16, 16])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def test_unet_with_resize_passes_verify(tmp_path, capsys):
    from aot.cli import main
    path = tmp_path / "unet.onnx"
    onnx.save(unet_model(), str(path))
    code = main(["verify", str(path), "--samples", "3"])
    out = capsys.readouterr().out
    assert code == 0 and "verify: PASS" in out, out


# -- ONNX node tests with integer, bool or float64 data ------------------------------------------------
# tests/test_onnx_conformance.py runs the node tests whose data is float32; these ops mostly take or
# give indices (int64), bool masks or float64 data, so their other node tests run here, with the same
# freezing, build and tolerance.
import test_onnx_conformance as conformance  # noqa: E402

INDEXING_OPS = {"Gather", "GatherElements", "GatherND", "ScatterND", "ScatterElements", "Expand", "Tile", "Range",
                "ConstantOfShape", "TopK", "ArgMax", "ArgMin", "CumSum", "Trilu", "OneHot", "DepthToSpace",
                "SpaceToDepth", "Resize", "Upsample", "Einsum", "NonZero", "Scatter"}
TYPED_DTYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.BOOL} | {
    getattr(onnx.TensorProto, t) for t in ("INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "INT64", "UINT64")}
def typed_node_cases() -> list:
    if not conformance.NODE_DIR.is_dir():
        return []
    supported = set(conformance.REF.supported_ops())
    float_suite = {c.name for c in conformance.CASES}
    cases = []
    for folder in sorted(conformance.NODE_DIR.iterdir()):
        if folder.name in float_suite or not (folder / "model.onnx").is_file():
            continue
        model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
        ops = tuple(sorted({n.op_type for n in model.graph.node}))
        if not ops or not set(ops) <= supported or not set(ops) & INDEXING_OPS:
            continue
        if any(n.domain not in ("", "ai.onnx") for n in model.graph.node):
            continue
        values = list(model.graph.input) + list(model.graph.output)
        if any(conformance._elem_type(vi) not in TYPED_DTYPES for vi in values):
            continue
        sets = sorted(folder.glob("test_data_set_*"))
        if sets:
            cases.append(conformance.Case(folder.name, folder, conformance.default_opset(model), ops,
                                          tuple(conformance.inputs_to_freeze(model)), sets))
    return cases


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in typed_node_cases()])
def test_typed_node_test(case, tmp_path):
    problems = conformance.run_case(case, tmp_path)
    assert not problems, f"{case.name} ({', '.join(case.ops)}): " + "; ".join(problems)


@pytest.mark.parametrize("op,inputs,attrs", [
    ("Range", [np.float32(1.0), np.float32(4.0), np.float32(0.3)], {}),
    ("Range", [np.int32(10), np.int32(-3), np.int32(-4)], {}),
    ("ConstantOfShape", [np.array([2, 3], np.int64)], {"value": numpy_helper.from_array(np.array([7], np.int32))}),
    ("ConstantOfShape", [np.array([4], np.int64)], {}),
    ("NonZero", [np.array([[1, 0, 2], [0, 3, 0]], np.int32)], {})])
def test_constant_kernel_tables(op, inputs, attrs):
    """The tables of the Range/ConstantOfShape/NonZero kernels (for nodes that reach the backend
    unfolded) equal the ONNX reference evaluator's outputs."""
    from onnx.reference import ReferenceEvaluator

    from aot.backends.ref.kernels.shape_ops import constant_values
    from aot.ir import Graph
    names = [f"i{k}" for k in range(len(inputs))]
    want = ReferenceEvaluator(helper.make_node(op, names, ["y"], **attrs)).run(None, dict(zip(names, inputs)))[0]
    g = Graph("g", 18)
    for name, value in zip(names, inputs):
        g.add_constant(name, np.asarray(value))
    y = g.add_tensor("y", want.shape, want.dtype.name)
    node = g.make_node(op, names, [y.name], {k: v for k, v in attrs.items()}, name="n")
    got = constant_values(node, g)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)


# -- validation ---------------------------------------------------------------------------------------
F, I64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
SCALES2 = [("r", np.zeros(0, np.float32)), ("s", np.array([1, 1, 2, 2], np.float32))]


@pytest.mark.parametrize("op,inputs,inits,attrs,reason", [
    ("Resize", [("x", F, [1, 1, 2, 2]), ("", 0, 0), ("s", F, [4])], [], {}, None),
    ("Resize", [("x", F, [1, 1, 2, 2])], SCALES2, {"mode": "area"}, "mode 'area' is not nearest, linear, cubic"),
    ("Resize", [("x", F, [1, 1, 2, 2])], SCALES2, {"coordinate_transformation_mode": "weird"},
     "coordinate_transformation_mode 'weird' is not one of"),
    ("Resize", [("x", F, [1, 1, 2, 2])], SCALES2, {"nearest_mode": "up"}, "nearest_mode 'up' is not one of"),
    ("Resize", [("x", F, [1, 1, 2, 2])], [SCALES2[0], ("s", np.array([1, 1, 2, -2], np.float32))], {"mode": "linear"},
     r"scales \[1.0, 1.0, 2.0, -2.0\] must be positive"),
    ("TopK", [("x", F, [3, 4]), ("k", I64, [1])], [], {}, None),
    ("DepthToSpace", [("x", F, [1, 8, 2, 2])], [], {"blocksize": 2, "mode": "XYZ"}, "mode 'XYZ' is not DCR or CRD"),
    ("Tile", [("x", F, [2, 2]), ("r", I64, [2])], [], {}, None),
    ("ScatterElements", [("x", F, [3, 3]), ("i", I64, [1, 3]), ("u", F, [1, 3])], [], {"reduction": "avg"},
     "reduction 'avg' is not none, add, mul, max or min"),
    ("CumSum", [("x", F, [3, 3]), ("a", I64, [])], [], {}, "axis is a runtime input"),
    ("Trilu", [("x", F, [3, 3]), ("k", I64, [])], [], {}, "k is a runtime input"),
    ("Einsum", [("a", F, [2, 3]), ("b", F, [3, 4])], [], {"equation": "ij,jk->ik,"}, "characters other than letters"),
])
def test_invalid_nodes_are_refused_with_reasons(op, inputs, inits, attrs, reason):
    vis = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs if n]
    names = [n for n, _, _ in inputs] + [n for n, _ in inits]
    node = helper.make_node(op, names, ["y", "i"] if op == "TopK" else ["y"], **attrs)
    outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output]
    g = helper.make_graph([node], "g", vis, outs, [numpy_helper.from_array(v, n) for n, v in inits])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])
    # None: the runtime input decides the output's shape, which the importer says naming that input
    runtime = next((n for n, _, _ in inputs[1:] if n), "")
    expected = f"invalid {op} .*{reason}" if reason else \
        f"{op} .*output shape depends on input values \\(of '{runtime}', computed at run time; fixing graph " \
        f"input '{runtime}' at compile time"
    with pytest.raises(AotError, match=expected):
        compile_model(model, CompileOptions())
