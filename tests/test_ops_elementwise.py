"""The elementwise, logical, comparison and cast family of the ref backend against ONNX Runtime, for
every dtype the op table's forms handle (float32, float64, the integer types, bool as uint8_t).

As in tests/test_ops_float.py, one ONNX model holds many independent cases, so one C build covers them.
Floats: NaN where ONNX Runtime has NaN, the same infinities, finite values within abs 1e-5 + rel 1e-5
(ONNX Runtime's vectorised exp/log/erf differ from libm in the last bits). Integers and bools: equal.
Every case is also checked against the op's numpy form in the op table (the two forms must agree).
Where ONNX Runtime's result is a hardware trap or undefined C (x / 0, INT_MIN / -1, float -> int out of
range) the defined result aot gives is checked without ONNX Runtime.
"""
from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.backends import REGISTRY
from aot.codegen.csyntax import check_sources
from aot.compiler import compile_model, write_library
from aot.errors import AotError
from aot.ops import op_spec
from aot.ops.ctyping import ALL, FLOATS, INTS, SIGNED, UNSIGNED
from aot.reference import run_reference
from aot.targets.host import load
from conftest import require_tool

RTOL, ATOL = 1e-5, 1e-5
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 1e-30, -1e-30, 1e30, -1e30, 3.0, -3.0]


class Model:
    """Independent single-op cases of any dtype in one ONNX model."""

    def __init__(self, opset: int = 20, seed: int = 0):
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.feeds: dict[str, np.ndarray] = {}
        self.values: dict[str, np.ndarray] = {}  # inputs and constants, for the numpy forms
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def random(self, shape, dtype: str, low: float = -3.0, high: float = 3.0) -> np.ndarray:
        if dtype == "bool":
            return self.rng.integers(0, 2, size=shape).astype(bool)
        if dtype in FLOATS:
            return self.rng.uniform(low, high, size=shape).astype(dtype)
        info = np.iinfo(dtype)  # the whole range: wrap-around is the point
        return self.rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)

    def input(self, shape=None, dtype: str = "float32", low: float = -3.0, high: float = 3.0, values=None) -> str:
        """A graph input with ``values`` (or random ones of ``shape``, floats in [low, high))."""
        data = np.asarray(values, dtype=dtype) if values is not None else self.random(shape, dtype, low, high)
        name = self._name("x")
        self.inputs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(data.dtype),
                                                         list(data.shape)))
        self.feeds[name] = self.values[name] = data
        return name

    def const(self, values, dtype: str) -> str:
        name = self._name("c")
        data = np.asarray(values, dtype=dtype)
        self.inits.append(numpy_helper.from_array(data, name))
        self.values[name] = data
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        name = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=self._name(f"n_{op_type}"), **attrs))
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None))
        return name

    def proto(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "elementwise", self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        model.ir_version = 9
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
        onnx.checker.check_model(model, full_check=True)
        return model


def numpy_form(node: onnx.NodeProto, values: dict[str, np.ndarray]) -> np.ndarray | None:
    """The op table's numpy form of the node (None for ops without one, e.g. Cast)."""
    spec = op_spec(node.op_type)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    fake = types.SimpleNamespace(attrs={k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()})
    arrays = [values[i] for i in node.input if i]
    with np.errstate(all="ignore"):
        if spec.unary is not None:
            return spec.unary.numpy(arrays[0], spec.unary.attrs(None, fake))
        if spec.broadcast is not None:
            return spec.broadcast.numpy(arrays, spec.broadcast.attrs(None, fake))
    return None


def assert_same(got: np.ndarray, want: np.ndarray, where: str) -> None:
    assert got.shape == want.shape, f"{where}: shape {got.shape}, expected {want.shape}"
    assert got.dtype == want.dtype, f"{where}: dtype {got.dtype}, expected {want.dtype}"
    if got.dtype.kind != "f":
        assert np.array_equal(got, want), f"{where}:\n got  {got.ravel()}\n want {want.ravel()}"
        return
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{where}: NaN differs:\n got  {got.ravel()}\n want {want.ravel()}"
    inf = np.isinf(want)
    assert np.array_equal(got[inf], want[inf]), f"{where}: infinities differ: {got[inf]} {want[inf]}"
    finite = ~np.isnan(want) & ~inf
    np.testing.assert_allclose(got[finite], want[finite], rtol=RTOL, atol=ATOL, err_msg=where)


def build(m: Model, tmp_path: Path, cc: str = "gcc"):
    model = m.proto()
    lib = write_library(compile_model(model), tmp_path / "lib")
    return model, lib, load(lib, cc=cc).run(m.feeds)


def ort_has_kernel(model: onnx.ModelProto, node: onnx.NodeProto) -> bool:
    """Whether ONNX Runtime implements ``node`` for its dtypes (it lacks e.g. Max on int8, Where on int16)."""
    import onnxruntime as ort
    types_ = {vi.name: vi for vi in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output)}
    inits = [i for i in model.graph.initializer if i.name in node.input]
    inputs = [types_[i] for i in node.input if i and i in types_]
    single = helper.make_model(helper.make_graph([node], "one", inputs, [types_[o] for o in node.output], inits),
                               opset_imports=model.opset_import)
    single.ir_version = model.ir_version
    try:
        ort.InferenceSession(single.SerializeToString(), providers=["CPUExecutionProvider"])
        return True
    except Exception:  # NOT_IMPLEMENTED
        return False


def check(m: Model, tmp_path: Path, cc: str = "gcc", numpy_forms: bool = True) -> None:
    """Compile, build, run; every output equals ONNX Runtime's and the op table's numpy form. Outputs of
    nodes ONNX Runtime has no kernel for are compared with the numpy form alone."""
    model, lib, got = build(m, tmp_path, cc)
    producers = [next(n for n in m.nodes if vi.name in n.output) for vi in m.outputs]
    lacking = {n.output[0] for n in producers if not ort_has_kernel(model, n)}
    assert len(lacking) < len(producers) / 2, f"ONNX Runtime lacks most of these: {sorted(lacking)}"
    kept = onnx.ModelProto()
    kept.CopyFrom(model)
    del kept.graph.output[:]
    kept.graph.output.extend(vi for vi in model.graph.output if vi.name not in lacking)
    reference = iter(run_reference(_prune(kept), m.feeds))
    assert len(got) == len(m.outputs)
    for vi, g, node in zip(m.outputs, got, producers):
        known = all(i in m.values for i in node.input if i)
        where = f"{helper.printable_node(node)} on {[str(m.values[i].dtype) for i in node.input if i in m.values]}"
        form = numpy_form(node, m.values) if numpy_forms and known else None
        if vi.name in lacking:
            assert form is not None, f"{where}: neither ONNX Runtime nor a numpy form to compare with"
            assert_same(g, np.asarray(form).astype(g.dtype).reshape(g.shape), where + " vs the numpy form")
            continue
        w = next(reference)
        assert_same(g, w, where + " vs ONNX Runtime")
        if form is not None:
            assert_same(np.asarray(form).astype(w.dtype).reshape(w.shape), w, where + ": the numpy form vs ONNX Runtime")


def _prune(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model without the nodes (and then inputs) no kept output depends on."""
    needed = {vi.name for vi in model.graph.output}
    nodes = []
    for node in reversed(list(model.graph.node)):
        if any(o in needed for o in node.output):
            nodes.append(node)
            needed.update(i for i in node.input if i)
    del model.graph.node[:]
    model.graph.node.extend(reversed(nodes))
    keep_inputs = [vi for vi in model.graph.input if vi.name in needed]
    del model.graph.input[:]
    model.graph.input.extend(keep_inputs)
    return model


# -- unary math ----------------------------------------------------------------------------------
UNARY_MATH = ["Exp", "Log", "Sqrt", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh", "Acosh",
              "Atanh", "Erf", "Floor", "Ceil", "Round", "Reciprocal", "Abs", "Neg", "Sign"]
# ONNX Runtime 1.32 has no float64 kernel for these
NO_ORT_DOUBLE = {"Tan", "Atan", "Sinh", "Cosh", "Asinh", "Acosh", "Atanh", "Erf", "Asin", "Acos"}


@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_math_with_special_values(dtype, tmp_path):
    m = Model()
    rng = np.random.default_rng(1)
    for op in UNARY_MATH:
        if dtype == "float64" and op in NO_ORT_DOUBLE:
            continue
        values = np.concatenate([SPECIAL, rng.uniform(-4, 4, 16), rng.uniform(-1, 1, 8)]).astype(dtype)
        m.op(op, [m.input(values=values.reshape(5, 8), dtype=dtype)])
    # Round: ties go to the even neighbour
    m.op("Round", [m.input(values=[0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999998, 1e8 + 0.5], dtype=dtype)])
    check(m, tmp_path)


def test_activations_with_attributes(tmp_path):
    m = Model()
    values = np.concatenate([SPECIAL, np.linspace(-6, 6, 24)]).astype(np.float32)
    cases = [("Elu", {}), ("Elu", {"alpha": 0.3}), ("Selu", {}), ("Selu", {"alpha": 2.0, "gamma": 0.5}),
             ("Celu", {}), ("Celu", {"alpha": 2.5}), ("ThresholdedRelu", {}), ("ThresholdedRelu", {"alpha": -0.5}),
             ("Shrink", {}), ("Shrink", {"lambd": 1.5, "bias": 0.25}), ("Mish", {}), ("Gelu", {}),
             ("Gelu", {"approximate": "tanh"}), ("Gelu", {"approximate": "none"})]
    for op, attrs in cases:
        m.op(op, [m.input(values=values, dtype="float32")], **attrs)
    check(m, tmp_path)


def test_activations_fuse_into_their_producer(tmp_path):
    """Elu/Selu/Celu/Mish/Gelu/ThresholdedRelu after Add run inside the Add's kernel."""
    m = Model()
    for op, attrs in [("Elu", {"alpha": 0.5}), ("Selu", {}), ("Celu", {}), ("Mish", {}),
                      ("Gelu", {"approximate": "tanh"}), ("ThresholdedRelu", {"alpha": 0.2})]:
        s = m._name("sum")
        m.nodes.append(helper.make_node("Add", [m.input((2, 3)), m.input((3,))], [s]))
        m.op(op, [s], **attrs)
    model = m.proto()
    compiled = compile_model(model)
    assert [c.node.op_type for c in compiled.calls] == ["Add"] * 6
    got = load(write_library(compiled, tmp_path / "lib")).run(m.feeds)
    for g, w, node in zip(got, run_reference(model, m.feeds), m.nodes[1::2]):
        assert_same(g, w, node.op_type)


def test_predicates_and_logic(tmp_path):
    m = Model()
    for dtype in FLOATS:
        m.op("IsNaN", [m.input(values=SPECIAL, dtype=dtype)])
        for pos in (0, 1):
            for neg in (0, 1):
                m.op("IsInf", [m.input(values=SPECIAL, dtype=dtype)], detect_positive=pos, detect_negative=neg)
    m.op("Not", [m.input((3, 4), "bool")])
    for dtype in INTS:
        m.op("BitwiseNot", [m.input((10,), dtype)])
    check(m, tmp_path)


# -- integers --------------------------------------------------------------------------------------
def extremes(dtype: str) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.array([info.min, info.min + 1, -1 if info.min else 2, 0, 1, info.max - 1, info.max, 7], dtype=dtype)


@pytest.mark.parametrize("dtype", SIGNED)
def test_integer_abs_neg_sign_wrap(dtype, tmp_path):
    """|INT_MIN| and -INT_MIN wrap to INT_MIN, as in ONNX Runtime."""
    m = Model()
    for op in ("Abs", "Neg", "Sign"):
        m.op(op, [m.input(values=extremes(dtype), dtype=dtype)])
        m.op(op, [m.input((4, 5), dtype)])
    check(m, tmp_path)


def test_unsigned_abs_and_sign(tmp_path):
    m = Model()
    for dtype in UNSIGNED:
        m.op("Abs", [m.input(values=extremes(dtype), dtype=dtype)])
        m.op("Sign", [m.input(values=extremes(dtype), dtype=dtype)])
    check(m, tmp_path)


@pytest.mark.parametrize("dtype", INTS)
def test_integer_arithmetic_wraps_around(dtype, tmp_path):
    m = Model()
    e = extremes(dtype)
    for op in ("Add", "Sub", "Mul"):
        m.op(op, [m.input(values=e[:, None], dtype=dtype), m.input(values=e[None, :], dtype=dtype)])  # every pair
        m.op(op, [m.input((2, 3, 4), dtype), m.input((4,), dtype)])
    # Div truncates toward zero; no zero divisor and no INT_MIN / -1 (ONNX Runtime traps on both)
    divisors = np.array([d for d in e if d not in (0, -1)], dtype=dtype)
    m.op("Div", [m.input(values=e[:, None], dtype=dtype), m.input(values=divisors[None, :], dtype=dtype)])
    m.op("Div", [m.input(values=np.array([7, 9, 100, 5], dtype=dtype) * (1 if dtype in UNSIGNED else -1), dtype=dtype),
                 m.input(values=[2, 4, 7, 5], dtype=dtype)])
    for fmod in (0, 1):
        m.op("Mod", [m.input(values=e[:, None], dtype=dtype), m.input(values=divisors[None, :], dtype=dtype)], fmod=fmod)
    check(m, tmp_path)


@pytest.mark.parametrize("dtype", SIGNED)
def test_integer_division_where_onnxruntime_traps(dtype, tmp_path):
    """x / 0 and x % 0 give 0; INT_MIN / -1 wraps to INT_MIN and INT_MIN % -1 is 0 (defined C, no trap)."""
    m = Model()
    info = np.iinfo(dtype)
    a = np.array([5, -5, info.min, info.min, 0], dtype=dtype)
    b = np.array([0, 0, -1, 0, 0], dtype=dtype)
    for op, attrs in [("Div", {}), ("Mod", {"fmod": 0}), ("Mod", {"fmod": 1})]:
        m.op(op, [m.input(values=a, dtype=dtype), m.input(values=b, dtype=dtype)], **attrs)
    _, _, (div, mod, fmod) = build(m, tmp_path)
    assert div.tolist() == [0, 0, info.min, 0, 0]
    assert mod.tolist() == fmod.tolist() == [0, 0, 0, 0, 0]


def test_mod_signs(tmp_path):
    """fmod=0 takes the divisor's sign (integers), fmod=1 the dividend's (integers and floats)."""
    m = Model()
    a, b = [5, -5, 5, -5, 7, -7, 0, 3], [3, 3, -3, -3, 7, 2, 4, -8]
    for dtype in ("int8", "int32", "int64", "uint16"):
        va = np.abs(a) if dtype in UNSIGNED else a
        vb = np.abs(b) if dtype in UNSIGNED else b
        for fmod in (0, 1):
            m.op("Mod", [m.input(values=va, dtype=dtype), m.input(values=vb, dtype=dtype)], fmod=fmod)
    for dtype in FLOATS:
        m.op("Mod", [m.input(values=[5.5, -5.5, 5.5, -5.5, np.inf, 3.0, np.nan, 0.0], dtype=dtype),
                     m.input(values=[3.0, 3.0, -3.0, -3.0, 2.0, np.inf, 1.0, 0.0], dtype=dtype)], fmod=1)
        m.op("Mod", [m.input((3, 4), dtype, -10, 10), m.input((4,), dtype, 0.5, 3)], fmod=1)
    check(m, tmp_path)


def test_bitwise_and_shifts(tmp_path):
    m = Model()
    for dtype in INTS:
        for op in ("BitwiseAnd", "BitwiseOr", "BitwiseXor"):
            m.op(op, [m.input((2, 3, 4), dtype), m.input((3, 1), dtype)])
    for dtype in UNSIGNED:
        width = np.dtype(dtype).itemsize * 8
        counts = np.array([0, 1, 3, width - 1, width, width + 1, 2, 5], dtype=dtype)  # width and more give 0
        for direction in ("LEFT", "RIGHT"):
            m.op("BitShift", [m.input(values=extremes(dtype), dtype=dtype), m.input(values=counts, dtype=dtype)],
                 direction=direction)
            m.op("BitShift", [m.input((2, 4), dtype), m.input(values=[1, 2, 3, 4], dtype=dtype)], direction=direction)
    check(m, tmp_path)


# -- float binary ops, Pow, variadic ---------------------------------------------------------------
def test_float64_binary_broadcasting(tmp_path):
    m = Model()
    for op in ("Add", "Sub", "Mul", "Div"):
        m.op(op, [m.input((2, 3, 4), "float64"), m.input((3, 1), "float64", 0.5, 2)])
    m.op("Add", [m.input((2, 3), "float64"), m.const(np.full((3,), 0.1), "float64")])  # a double constant
    check(m, tmp_path)


def test_pow(tmp_path):
    m = Model()
    base = [2.0, -2.0, 0.0, np.nan, -8.0, 1.5, 0.5, np.inf, -np.inf, 1.0]
    for bdt in FLOATS:
        for edt, exps in [("float32", [3, 0.5, -1, 0, 1 / 3, 2.5, np.nan, -2, 0.5, np.inf]),
                          ("float64", [3, 2, -1, 0, 1, 2.5, 2, -2, 3, 0]),
                          ("int32", [3, 2, -1, 0, 1, 4, 2, -2, 3, 0]),
                          ("int64", [10, 2, -1, 0, 1, 4, 2, -2, 3, 0])]:
            m.op("Pow", [m.input(values=base, dtype=bdt), m.input(values=exps, dtype=edt)])
        m.op("Pow", [m.input((2, 3, 4), bdt, 0.1, 3), m.input((4,), bdt, -2, 2)])  # broadcasting
    for bdt in ("int32", "int64"):
        for edt in ("int32", "int64", "float32"):
            m.op("Pow", [m.input(values=[2, 3, -2, 7, 0, 1, -1, 10], dtype=bdt),
                         m.input(values=[10, 2, 3, 0, 5, 9, 7, 2], dtype=edt)])
    check(m, tmp_path)


def test_variadic_max_min_sum_mean(tmp_path):
    m = Model()
    shapes = [((2, 3, 4),), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1), (1,)), ((3,), (2, 3), (1, 3), (2, 1))]
    for op in ("Max", "Min", "Sum", "Mean"):
        for dtype in FLOATS:
            for group in shapes:
                m.op(op, [m.input(s, dtype) for s in group])
        # NaN wins in Max/Min, on a tie the first operand (-0.0 vs 0.0)
        special = [np.nan, 1.0, np.nan, -0.0, 0.0, np.inf, -np.inf, 2.0]
        other = [1.0, np.nan, np.nan, 0.0, -0.0, 1.0, 1.0, np.inf]
        m.op(op, [m.input(values=special, dtype="float32"), m.input(values=other, dtype="float32")])
    for op in ("Max", "Min"):
        for dtype in ("int32", "int64", "uint32", "uint64"):  # the integer types ONNX Runtime has Max/Min for
            m.op(op, [m.input((2, 3), dtype), m.input((3,), dtype), m.input((1,), dtype)])
    check(m, tmp_path)


def test_max_min_signed_zero_bits(tmp_path):
    """On a tie the first operand is kept, so the sign of zero follows ONNX Runtime's bit for bit."""
    m = Model()
    for op in ("Max", "Min"):
        m.op(op, [m.input(values=[-0.0, 0.0], dtype="float32"), m.input(values=[0.0, -0.0], dtype="float32")])
    model, _, got = build(m, tmp_path)
    for g, w in zip(got, run_reference(model, m.feeds)):
        assert np.array_equal(np.signbit(g), np.signbit(w))


# -- comparisons, logic, Where ---------------------------------------------------------------------
def test_comparisons(tmp_path):
    m = Model()
    with_nan = [np.nan, 1.0, 2.0, np.inf, -np.inf, 0.0, -0.0, np.nan]
    other = [np.nan, 2.0, 2.0, np.inf, 1.0, -0.0, 0.0, 1.0]
    for op in ("Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"):
        for dtype in FLOATS:
            m.op(op, [m.input(values=with_nan, dtype=dtype), m.input(values=other, dtype=dtype)])
            m.op(op, [m.input((2, 3, 4), dtype), m.input((3, 1), dtype)])
        for dtype in INTS:
            e = extremes(dtype)
            m.op(op, [m.input(values=e[:, None], dtype=dtype), m.input(values=e[None, :], dtype=dtype)])
    m.op("Equal", [m.input((3, 4), "bool"), m.input((4,), "bool")])
    check(m, tmp_path)


def test_logical(tmp_path):
    m = Model()
    for op in ("And", "Or", "Xor"):
        for a, b in [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 5)), ((), (3,))]:
            m.op(op, [m.input(a, "bool"), m.input(b, "bool")])
    check(m, tmp_path)


def test_where_broadcasts_three_operands(tmp_path):
    m = Model()
    for dtype in ALL:
        m.op("Where", [m.input((2, 1, 4), "bool"), m.input((3, 1), dtype), m.input((4,), dtype)])
        m.op("Where", [m.input((3,), "bool"), m.input((2, 3), dtype), m.input((), dtype)])
    m.op("Where", [m.input((2, 3), "bool"), m.input(values=[np.nan, np.inf, -0.0], dtype="float32"),
                   m.const([1.0, 2.0, 3.0], "float32")])
    check(m, tmp_path)


def test_comparison_feeds_where(tmp_path):
    """A chain of the family: Where(Greater(x, 0), x, Neg(x)) == Abs(x), and an int Cast of the mask."""
    m = Model()
    x = m.input((3, 4))
    mask = m._name("mask")
    neg = m._name("neg")
    m.nodes += [helper.make_node("Greater", [x, m.const(0.0, "float32")], [mask]),
                helper.make_node("Neg", [x], [neg])]
    m.op("Where", [mask, x, neg])
    m.op("Cast", [mask], to=TensorProto.INT32)
    check(m, tmp_path, numpy_forms=False)


# -- Cast ------------------------------------------------------------------------------------------
ONNX_TYPES = {"float32": TensorProto.FLOAT, "float64": TensorProto.DOUBLE, "int8": TensorProto.INT8,
              "uint8": TensorProto.UINT8, "int16": TensorProto.INT16, "uint16": TensorProto.UINT16,
              "int32": TensorProto.INT32, "uint32": TensorProto.UINT32, "int64": TensorProto.INT64,
              "uint64": TensorProto.UINT64, "bool": TensorProto.BOOL}
# The largest float32 / float64 values below 2^31, 2^63, 2^32, 2^64 (they convert exactly)
BELOW = {"float32": {31: 2147483520.0, 63: 9.223371487098962e18, 32: 4294967040.0, 64: 1.8446742974197924e19},
         "float64": {31: 2147483647.75, 63: 9.223372036854774784e18, 32: 4294967295.5, 64: 1.8446744073709550e19}}


def cast_values(src: str, dst: str) -> np.ndarray:
    """Values of ``src`` whose conversion to ``dst`` ONNX defines: everything for integer and bool sources
    (integers wrap modulo 2^bits), NaN and values in range (truncated toward zero) for float sources."""
    if src == "bool":
        return np.array([True, False, True], dtype=bool)
    if src in INTS:
        info = np.iinfo(src)
        return np.array([info.min, -1 if info.min else 200, 0, 1, 100, info.max, info.max // 3], dtype=src)
    if dst in FLOATS or dst == "bool":
        return np.array([np.nan, np.inf, -np.inf, -0.0, 1.5, -2.7, 1e30, 3.4e38, 1e-40], dtype=src)
    info = np.iinfo(dst)
    width = np.dtype(dst).itemsize * 8
    top = BELOW[src][width - 1] if dst in SIGNED and width >= 32 else \
        (BELOW[src][width] if width >= 32 else float(info.max) + 0.9)
    values = [np.nan, 0.0, -0.0, 0.7, 1.5, 99.9, top]
    if dst in SIGNED:
        values += [-0.7, -1.5, -99.9, float(info.min) - (0.9 if width < 32 else 0), -top]
    else:
        values += [-0.9]  # truncates to 0
    return np.array(values, dtype=src)


def test_cast_every_dtype_pair(tmp_path):
    m = Model()
    for src in ALL:
        for dst in ALL:
            m.op("Cast", [m.input(values=cast_values(src, dst), dtype=src)], to=ONNX_TYPES[dst])
    check(m, tmp_path)


def test_castlike(tmp_path):
    m = Model()
    for src, like in [("float32", "int32"), ("int64", "float32"), ("float64", "float32"), ("uint8", "bool"),
                      ("bool", "float64")]:
        m.op("CastLike", [m.input(values=cast_values(src, like), dtype=src), m.input((2,), like)])
    m.op("CastLike", [m.input(values=[1.5, -2.5], dtype="float32"), m.const([0], "int16")])
    check(m, tmp_path)


@pytest.mark.parametrize("src", FLOATS)
def test_cast_float_out_of_range_saturates(src, tmp_path):
    """Out-of-range values and infinities saturate (ONNX leaves them undefined; ONNX Runtime wraps on x86);
    NaN gives ONNX Runtime's x86 value."""
    m = Model()
    values = [np.nan, np.inf, -np.inf, 1e30, -1e30, 1e19, -1e19, 5e9, -5e9, 70000.0, -70000.0, 300.0, -300.0]
    for dst in INTS:
        m.op("Cast", [m.input(values=values, dtype=src)], to=ONNX_TYPES[dst])
    model, _, got = build(m, tmp_path)
    want = run_reference(model, m.feeds)
    for dst, g, w in zip(INTS, got, want):
        info = np.iinfo(dst)
        assert g[0] == w[0], f"{src} NaN -> {dst}: {g[0]}, ONNX Runtime {w[0]}"
        x = np.array(values[1:], dtype=src).tolist()
        expected = [int(info.max) if v >= float(info.max) else int(info.min) if v <= float(info.min) else int(v) for v in x]
        assert g[1:].tolist() == expected, f"{src} -> {dst}"


def test_float16_computes_in_float32_with_float16_io(tmp_path):
    """float16 is a storage format (aot/ir/formats.py): Abs runs in float32 on the decoded input and the
    output is rounded back to float16, which for Abs is exact."""
    node = helper.make_node("Abs", ["x"], ["y"])
    model = helper.make_model(helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT16, [4])],
                                                [helper.make_tensor_value_info("y", TensorProto.FLOAT16, [4])]),
                              opset_imports=[helper.make_opsetid("", 17)])
    x = np.array([-1.5, 65504, -0.0, -6e-8], np.float16)
    lib = write_library(compile_model(model), tmp_path / "lib")
    assert "const uint16_t* x" in (lib / "model.h").read_text()
    got = load(lib, cc="gcc", cflags="-O1 -Wall -Wextra -Werror").run({"x": x})[0]
    assert got.dtype == np.float16 and got.view(np.uint16).tolist() == np.abs(x).view(np.uint16).tolist()


# -- plain integer kernels and int8 quantization; compilers ------------------------------------------
def test_plain_integer_kernels_do_not_claim_int8_layers():
    """Sub, Abs, Max, Where... on int8 compute on the stored numbers; PTQ must not quantize those layers
    for them (only kernels that requantize, like Add and Mul, count)."""
    ref = REGISTRY.get("ref")
    for op in ("Sub", "Div", "Max", "Where", "Equal", "Cast", "Pow"):
        assert not ref.supports_int8(op), op
    # requantizing kernels do: Add and Mul, and the maps run as lookup tables of their QDQ form
    assert all(ref.supports_int8(op) for op in ("Add", "Mul", "Abs", "Neg", "Sigmoid"))


def test_clang_with_syntax_check(tmp_path):
    require_tool("clang")
    m = Model()
    for dtype in ("int8", "uint16", "int64", "uint64", "float64"):
        for op in ("Add", "Mul", "Div", "Max", "Equal"):
            m.op(op, [m.input((2, 3), dtype, 0.5, 2), m.input((3,), dtype, 0.5, 2)])
        m.op("Mod", [m.input((2, 3), dtype, 0.5, 2), m.input((3,), dtype, 0.5, 2)], fmod=1)
        m.op("Cast", [m.input((4,), dtype, 0, 2)], to=TensorProto.UINT64)  # floats in range
    m.op("BitShift", [m.input((4,), "uint64"), m.input(values=[0, 63, 64, 65], dtype="uint64")], direction="LEFT")
    m.op("Where", [m.input((4,), "bool"), m.input((4,), "int64"), m.input((1,), "int64")])
    m.op("Gelu", [m.input((5,))])
    m.op("IsInf", [m.input(values=SPECIAL, dtype="float32")], detect_positive=0, detect_negative=0)
    model, lib, _ = build(m, tmp_path, cc="clang")
    assert check_sources(lib) == []
    check(m, tmp_path / "clang", cc="clang")


# -- MatMul in the operands' own type ---------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "int32", "int64", "uint32", "uint64"])
def test_typed_matmul_matches_onnxruntime_with_wraparound_and_broadcast_batches(tmp_path, dtype):
    m = Model()
    low, high = (-3.0, 3.0) if dtype == "float64" else (None, None)
    a = m.input((2, 1, 3, 5), dtype) if low is None else m.input((2, 1, 3, 5), dtype, low, high)
    b = m.input((4, 5, 2), dtype) if low is None else m.input((4, 5, 2), dtype, low, high)
    v = m.input((5,), dtype) if low is None else m.input((5,), dtype, low, high)
    outs = [m.op("MatMul", [a, b]), m.op("MatMul", [v, b]), m.op("MatMul", [a, v])]
    model, lib, got = build(m, tmp_path)
    want = run_reference(model, m.feeds)
    for name, g, w in zip(outs, got, want):
        assert_same(g, w, f"MatMul {dtype} {name}")


def test_float64_softmax_and_wrap_pad_match_onnxruntime(tmp_path):
    m = Model()
    x = m.input((2, 3, 5), "float64", -30.0, 30.0)
    outs = [m.op("Softmax", [x], axis=1), m.op("LogSoftmax", [x], axis=-1)]
    p = m.input((2, 3), "float32")
    pads = m.const([1, 4, 2, 5], "int64")  # wider than the input: it repeats more than once
    outs.append(m.op("Pad", [p, pads], mode="wrap"))
    model, lib, got = build(m, tmp_path)
    for name, g, w in zip(outs, got, run_reference(model, m.feeds)):
        assert_same(g, w, name)
