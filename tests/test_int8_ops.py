"""Every int8 kernel's C output equals the golden model (aot.quant.golden) bit for bit.

Each hypothesis example builds a small QDQ ONNX model with onnx.helper holding a few independent
cases of one op (int8 graph inputs behind a DequantizeLinear, or float inputs behind QuantizeLinear;
int8 weights per channel or per tensor behind DequantizeLinear; int32 biases with scale
x_scale * w_scale), compiles it, checks that the compiled graph really is integer (so a silent float
fallback cannot pass), builds the C library and compares its outputs with ``run_golden`` on random
inputs and on the all -128 / all 127 extremes.

Shapes, scales and zero points are drawn by hypothesis: zero points favour -128, 0 and 127; scales
are often exact powers of two (multipliers land on .5 ties, where rounding schemes differ); output
scales are sometimes so small that every output saturates, or so large that the multiplier
underflows to zero. A second check against ONNX Runtime running the QDQ model as written (float
requantization, so at most 1 LSB apart) catches kernels where C and golden agree on the wrong
semantics (a dropped Relu, a wrong pad value).

Every test runs in both roundings (``rounding``: "single" and "tflite", TFLite's double rounding and
integer recipes); the tflite mode with fewer hypothesis examples (``per_rounding``). A mutation check
shows the two modes really differ: the C of one against the golden model of the other fails.

Also here: outputs pinned at -128 and 127 on purpose (``test_outputs_saturate``), int32 biases reaching
the kernels unchanged, one library holding every int8 kernel built with gcc and clang, and
aot/quant/fixed_point.py against exact rational arithmetic.
"""
from __future__ import annotations

import itertools
from fractions import Fraction
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from aot.codegen.csyntax import check_sources
from aot.compiler import CompiledModel, CompileOptions, compile_model, write_library
from aot.quant.fixed_point import (INT32_MAX, INT32_MIN, quantize_multiplier, requantize,
                                   requantize_double_rounding)
from aot.quant.golden_runner import run_golden
from aot.targets.host import load
from conftest import require_tool

OPSET = 13
CASES = 3  # independent cases of the op per model: one C build checks several
INT8_TEMPLATES = "ref/int8/"
# Ops that move int8 values without arithmetic (their kernels are dtype-generic copies).
MOVERS = ("Reshape", "Flatten", "Transpose", "Concat", "Pad", "Squeeze", "Unsqueeze", "Identity", "Resize", "Slice",
          "Gather")
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
ROUNDINGS = ["single", "tflite"]
TFLITE_SHARE = 3  # the tflite mode runs a third of the examples: it shares every kernel body


def per_rounding(max_examples: int):
    """A hypothesis test ``body(data, tmp_path_factory, rounding)`` run in each rounding mode, with
    ``max_examples`` examples in single rounding and fewer in tflite mode (keeps the suite's time)."""
    def wrap(body: Callable) -> Callable:
        def test(rounding: str, tmp_path_factory: pytest.TempPathFactory) -> None:
            examples = max_examples if rounding == "single" else max(2, max_examples // TFLITE_SHARE)

            @settings(max_examples=examples, **SETTINGS)
            @given(data=st.data())
            def run(data: st.DataObject) -> None:
                body(data, tmp_path_factory, rounding)
            run()
        test.__name__, test.__qualname__, test.__doc__ = body.__name__, body.__qualname__, body.__doc__
        return pytest.mark.parametrize("rounding", ROUNDINGS)(test)
    return wrap

QP = tuple[float, int]  # (scale, zero point)
Act = tuple[str, tuple[float, float] | None]  # activation kind ("none", "Relu", "Clip") and Clip bounds


# -- strategies ------------------------------------------------------------------------------------
def f32(x: float) -> float:
    return float(np.float32(x))


def log_scale(lo: float, hi: float) -> st.SearchStrategy[float]:
    """A float32 scale 2^e, e in [lo, hi]; integer e gives exact power-of-two ratios between scales."""
    exponents = st.one_of(st.integers(int(np.ceil(lo)), int(np.floor(hi))), st.floats(lo, hi))
    return exponents.map(lambda e: f32(2.0 ** e))


zero_points = st.one_of(st.sampled_from([-128, 127, 0]), st.integers(-128, 127))
# Output scale relative to the natural one: 2^-12 saturates nearly every output at -128/127, 2^40 makes
# the requantization multiplier underflow to zero (every output is the zero point).
scale_factors = st.one_of(log_scale(-3.0, 3.0), st.sampled_from([2.0 ** -12, 2.0 ** 40]))
seeds = st.integers(0, 2 ** 32 - 1)


def qparams(data: st.DataObject, lo: float = -16.0, hi: float = 4.0) -> QP:
    return data.draw(log_scale(lo, hi)), data.draw(zero_points)


def rescaled(data: st.DataObject, q: QP) -> QP:
    """Output quantization relative to the input's: the same, or another scale and zero point."""
    return q if data.draw(st.booleans()) else (f32(q[0] * data.draw(scale_factors)), data.draw(zero_points))


def weight_scales(data: st.DataObject, rng: np.random.Generator, count: int) -> np.ndarray:
    if data.draw(st.booleans()):
        return (2.0 ** -rng.integers(5, 10, count)).astype(np.float32)
    return rng.uniform(1e-3, 2e-2, count).astype(np.float32)


def output_scale(data: st.DataObject, natural: float) -> float:
    """``natural`` times a drawn factor, sometimes rounded to a power of two (exact multipliers)."""
    real = natural * data.draw(scale_factors)
    return f32(2.0 ** np.round(np.log2(real))) if data.draw(st.booleans()) else f32(real)


def activation(data: st.DataObject) -> Act:
    kind = data.draw(st.sampled_from(["none", "Relu", "Relu6", "Clip"]))
    if kind == "Relu6":
        return "Clip", (0.0, 6.0)
    if kind == "Clip":
        lo = data.draw(st.floats(-4.0, 1.0))
        return "Clip", (lo, lo + data.draw(st.floats(0.5, 6.0)))
    return kind, None


def weights(rng: np.random.Generator, shape) -> np.ndarray:
    w = rng.integers(-128, 128, shape).astype(np.int8)
    w.reshape(-1)[0] = -128  # the asymmetric extreme ONNX Runtime's quantizer can produce
    return w


def draw_bias(data: st.DataObject, rng: np.random.Generator, channels: int, k: int) -> np.ndarray:
    """int32 bias; the extreme leaves just enough headroom that the int32 accumulator cannot overflow."""
    headroom = 2 * 255 * 128 * k  # |sum_k (x - zp) * w| plus the folded zero-point term of Gemm
    limit = data.draw(st.sampled_from([0, 2 ** 10, 2 ** 20, INT32_MAX - headroom]))
    bias = rng.integers(-limit, limit + 1, channels).astype(np.int32)
    if limit and channels > 1:
        bias[:2] = [limit, -limit]
    return bias


# -- model building --------------------------------------------------------------------------------
class QdqModel:
    """Builds a QDQ ONNX model: int8 (or float) inputs, DQ'd constants, ops, Q at the outputs."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.outputs: list[onnx.ValueInfoProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.input_specs: list[tuple[tuple[int, ...], QP, bool]] = []  # shape, quantization, is float
        self.edge_quantized: list[str] = []  # int8 outputs of the float inputs' QuantizeLinear
        self.out_scales: list[float] = []  # one LSB of each output (1 for int8 outputs)
        self.count = 0

    def _name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value: np.ndarray) -> str:
        name = self._name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=self._name("n_" + op_type), **attrs))
        return out

    def dq(self, name: str, q: QP) -> str:
        return self.op("DequantizeLinear", [name, self.const(np.float32(q[0])), self.const(np.int8(q[1]))])

    def q(self, name: str, q: QP) -> str:
        return self.op("QuantizeLinear", [name, self.const(np.float32(q[0])), self.const(np.int8(q[1]))])

    def int8_input(self, shape, q: QP) -> str:
        """An int8 graph input and its DequantizeLinear (tf2onnx style); returns the float tensor."""
        name = f"x{len(self.inputs)}"
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.INT8, list(shape)))
        self.input_specs.append((tuple(shape), q, False))
        return self.dq(name, q)

    def float_input(self, shape, q: QP) -> str:
        """A float graph input quantized then dequantized (ONNX Runtime quantizer style)."""
        name = f"x{len(self.inputs)}"
        self.inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        self.input_specs.append((tuple(shape), q, True))
        self.edge_quantized.append(self.q(name, q))
        return self.dq(self.edge_quantized[-1], q)

    def weight(self, values: np.ndarray, scales: np.ndarray, axis: int) -> str:
        """int8 constant behind DequantizeLinear; per channel along ``axis`` when several scales."""
        scales = np.asarray(scales, np.float32)
        attrs = {"axis": axis} if scales.size > 1 else {}
        zp = np.zeros(scales.shape, np.int8)
        return self.op("DequantizeLinear", [self.const(values.astype(np.int8)), self.const(scales),
                                            self.const(zp)], **attrs)

    def bias(self, values: np.ndarray, scales: np.ndarray) -> str:
        scales = np.asarray(scales, np.float32)
        attrs = {"axis": 0} if scales.size > 1 else {}
        return self.op("DequantizeLinear", [self.const(values.astype(np.int32)), self.const(scales),
                                            self.const(np.zeros(scales.shape, np.int32))], **attrs)

    def activation(self, name: str, act: Act) -> str:
        kind, bounds = act
        if kind == "Relu":
            return self.op("Relu", [name])
        if kind == "Clip":
            return self.op("Clip", [name, self.const(np.float32(bounds[0])), self.const(np.float32(bounds[1]))])
        return name

    def output(self, name: str) -> None:
        self.outputs.append(helper.make_tensor_value_info(name, TensorProto.INT8, None))
        self.out_scales.append(1.0)

    def quantized_output(self, name: str, q: QP) -> None:
        self.output(self.q(name, q))

    def float_output(self, name: str, q: QP) -> None:
        """Quantize, then dequantize to a float graph output (ONNX Runtime quantizer style)."""
        self.outputs.append(helper.make_tensor_value_info(self.dq(self.q(name, q), q), TensorProto.FLOAT, None))
        self.out_scales.append(q[0])

    def proto(self) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "int8_case", self.inputs, self.outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="aot-tests")
        model.ir_version = 8
        model = onnx.shape_inference.infer_shapes(model, strict_mode=True)  # fills the output shapes
        onnx.checker.check_model(model, full_check=True)
        return model


# -- running and comparing -------------------------------------------------------------------------
def float_reference(proto: onnx.ModelProto) -> ort.InferenceSession:
    """ONNX Runtime running the QDQ model as written (DequantizeLinear, float op, QuantizeLinear): with
    graph optimizations off it does not fuse QLinear* kernels, whose own range limits would decide."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def input_values(rng: np.random.Generator, shape, q: QP, is_float: bool) -> list[np.ndarray]:
    """int8: random, all -128, all 127, a random mix of both. float: random over a little more than the
    representable range, exact .5 ties of the scale, far out of range, and +-0."""
    if not is_float:
        return [rng.integers(-128, 128, shape).astype(np.int8), np.full(shape, -128, np.int8),
                np.full(shape, 127, np.int8), rng.choice(np.array([-128, 127], np.int8), shape)]
    s, zp = np.float32(q[0]), q[1]
    ties = (rng.integers(-140, 140, shape) + 0.5 - zp) * s
    return [rng.uniform((-135 - zp) * s, (135 - zp) * s, shape).astype(np.float32), ties.astype(np.float32),
            rng.choice(np.array([-1e30, 1e30], np.float32), shape),
            rng.choice(np.array([0.0, -0.0, s, -s], np.float32), shape)]


def feed_sets(model: QdqModel, rng: np.random.Generator) -> list[list[np.ndarray]]:
    per_input = [input_values(rng, *spec) for spec in model.input_specs]
    return [list(f) for f in zip(*per_input)]


def assert_integer(compiled: CompiledModel, ops: tuple[str, ...]) -> None:
    """Every node is an int8 kernel except Quantize/Dequantize at the graph's edges, and each op in
    ``ops`` is there with an int8 output and (unless it only moves data) an int8 kernel template."""
    graph = compiled.graph
    for node in graph.nodes:
        out = graph.tensors[node.outputs[0]]
        if node.op_type == "QuantizeLinear":
            assert node.inputs[0] in graph.inputs, f"QuantizeLinear inside the graph: {node.name}"
            continue
        if node.op_type == "DequantizeLinear":
            assert node.outputs[0] in graph.outputs, f"DequantizeLinear inside the graph: {node.name}"
            continue
        assert out.dtype == "int8", f"{node.op_type} {node.name} computes {out.dtype} (float fallback?)"
        assert out.quant is not None, f"{node.op_type} output {out.name} has no scale/zero point"
    templates = {c.node.name: c.template or "" for c in compiled.calls}
    for op in ops:
        nodes = [n for n in graph.nodes if n.op_type == op]
        assert nodes, f"no {op} in the compiled graph: {[n.op_type for n in graph.nodes]}"
        for n in nodes:
            assert graph.tensors[n.outputs[0]].dtype == ("float32" if op == "DequantizeLinear" else "int8")
            if op not in MOVERS:
                assert templates.get(n.name, "").startswith(INT8_TEMPLATES), (op, templates.get(n.name))


def check_model(model: QdqModel, tmp_path_factory: pytest.TempPathFactory, ops: tuple[str, ...],
                feeds: list[list[np.ndarray]], cc: str = "cc", syntax: bool = False,
                rounding: str = "single") -> list[list[np.ndarray]]:
    """Compile, check integer-ness, build, run: C == golden bit for bit on every feed, and C within one
    LSB of ONNX Runtime's float requantization. Returns the C outputs per feed."""
    proto = model.proto()
    compiled = compile_model(proto, CompileOptions(rounding=rounding))
    assert compiled.graph.rounding == rounding
    assert_integer(compiled, ops)
    lib = write_library(compiled, tmp_path_factory.mktemp("int8") / "lib")
    if syntax:
        assert check_sources(lib) == []
    host = load(lib, cc=cc)
    sess = float_reference(proto)
    names = [i.name for i in proto.graph.input]
    results = []
    for feed in feeds:
        got = host.run(feed)
        gold = run_golden(compiled.graph, feed)
        for k, (g, e) in enumerate(zip(got, gold)):
            assert g.dtype == e.dtype and g.shape == e.shape, (k, g.dtype, e.dtype, g.shape, e.shape)
            if not np.array_equal(g, e):
                bad = np.flatnonzero(g.reshape(-1) != e.reshape(-1))
                pytest.fail(f"output {k}: C differs from golden at {bad.size}/{g.size} elements, first at "
                            f"{bad[0]}: C {g.reshape(-1)[bad[0]]} golden {e.reshape(-1)[bad[0]]}")
        for k, (g, r, unit) in enumerate(zip(got, sess.run(None, dict(zip(names, feed))), model.out_scales)):
            lsb = np.abs(g.astype(np.float64) - np.asarray(r).astype(np.float64)) / unit
            assert lsb.max(initial=0.0) <= 1 + 1e-3, f"output {k}: C is {lsb.max():.2f} LSB from ONNX Runtime"
        results.append(got)
    return results


AddCase = Callable[[QdqModel, st.DataObject, np.random.Generator], tuple[str, ...] | None]


def check_cases(data: st.DataObject, tmp_path_factory: pytest.TempPathFactory, ops: tuple[str, ...],
                add_case: AddCase, rounding: str = "single") -> None:
    """CASES independent cases in one model, one build; a case may name further ops it must compile to."""
    rng = np.random.default_rng(data.draw(seeds))
    m = QdqModel()
    for _ in range(CASES):
        ops += add_case(m, data, rng) or ()
    check_model(m, tmp_path_factory, ops, feed_sets(m, rng), rounding=rounding)


# -- Conv ------------------------------------------------------------------------------------------
def conv_geometry(data: st.DataObject, nsp: int, pointwise: bool) -> tuple[dict, list[int]]:
    """Conv attributes and an input spatial shape that gives at least one output."""
    if pointwise:
        return {"kernel_shape": [1] * nsp}, [data.draw(st.integers(1, 7)) for _ in range(nsp)]
    kernel = [data.draw(st.integers(1, 3)) for _ in range(nsp)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(nsp)]
    attrs = {"kernel_shape": kernel, "strides": strides}
    if data.draw(st.booleans()):  # auto_pad as some exporters write it
        attrs["auto_pad"] = data.draw(st.sampled_from(["SAME_UPPER", "SAME_LOWER", "VALID"]))
        return attrs, [max(data.draw(st.integers(1, 9)), k) for k in kernel]
    dilations = [data.draw(st.integers(1, 2)) for _ in range(nsp)]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    begin = [data.draw(st.integers(0, e - 1)) for e in eff]
    end = [data.draw(st.integers(0, e - 1)) for e in eff]
    spatial = [max(data.draw(st.integers(1, 9)), e - b - en) for e, b, en in zip(eff, begin, end)]
    return {**attrs, "dilations": dilations, "pads": begin + end}, spatial


def add_conv(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    nsp = data.draw(st.sampled_from([1, 2]))
    kind = data.draw(st.sampled_from(["regular", "depthwise", "grouped", "pointwise"]))
    attrs, spatial = conv_geometry(data, nsp, kind == "pointwise")
    if kind == "depthwise":
        c = data.draw(st.integers(1, 6))
        group, oc = c, c * data.draw(st.integers(1, 2))
    elif kind == "grouped":
        group = data.draw(st.integers(2, 3))
        c, oc = group * data.draw(st.integers(1, 3)), group * data.draw(st.integers(1, 3))
    else:
        group, c, oc = 1, data.draw(st.integers(1, 6)), data.draw(st.integers(1, 8))
    sx, zx = qparams(data)
    sw = weight_scales(data, rng, oc if data.draw(st.booleans()) else 1)
    w = weights(rng, [oc, c // group] + attrs["kernel_shape"])
    k = (c // group) * int(np.prod(attrs["kernel_shape"]))
    x = m.int8_input([data.draw(st.integers(1, 2)), c] + spatial, (sx, zx))
    inputs = [x, m.weight(w, sw, 0)]
    if data.draw(st.booleans()):
        inputs.append(m.bias(draw_bias(data, rng, oc, k), np.float32(sx) * sw))
    y = m.activation(m.op("Conv", inputs, group=group, **attrs), activation(data))
    natural = sx * float(np.median(sw)) * 74 * 74 * np.sqrt(k) * 3 / 127  # ~3 sigma of random inputs
    m.quantized_output(y, (output_scale(data, natural), data.draw(zero_points)))


@per_rounding(30)
def test_conv(data, tmp_path_factory, rounding):
    """Regular, depthwise, grouped and 1x1 Conv, 1-D and 2-D, pads/auto_pad, strides, dilations,
    per-channel and per-tensor weights, int32 bias up to the accumulator's headroom, fused Relu/Clip."""
    check_cases(data, tmp_path_factory, ("Conv",), add_conv, rounding)


# -- fully connected -------------------------------------------------------------------------------
def add_fully_connected(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    """tf2onnx MatMul (+ Add of a per-channel bias) with W [K, N], or ONNX Runtime Gemm (transB 0 or 1)
    with a bias whose per-tensor scale is a 1-element tensor; float or int8 graph input and output."""
    style = data.draw(st.sampled_from(["matmul", "matmul_add", "gemm_t", "gemm_n"]))
    rows, k, n = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 40)), data.draw(st.integers(1, 12))
    sx, zx = qparams(data)
    per_channel = data.draw(st.booleans())
    sw = weight_scales(data, rng, n if per_channel else 1)
    w = weights(rng, (n, k))
    bias_scale = np.float32(sx) * sw
    if style == "matmul_add":
        bias_scale = np.broadcast_to(bias_scale, (n,)).astype(np.float32)
    ort_style = data.draw(st.booleans())
    x = m.float_input([rows, k], (sx, zx)) if ort_style else m.int8_input([rows, k], (sx, zx))
    if style in ("matmul", "matmul_add"):
        y = m.op("MatMul", [x, m.weight(np.ascontiguousarray(w.T), sw, 1)])
        if style == "matmul_add":
            y = m.op("Add", [y, m.bias(draw_bias(data, rng, n, k), bias_scale)])
    else:
        trans_b = int(style == "gemm_t")
        inputs = [x, m.weight(w if trans_b else np.ascontiguousarray(w.T), sw, 0 if trans_b else 1)]
        if data.draw(st.booleans()):
            inputs.append(m.bias(draw_bias(data, rng, n, k), bias_scale))
        y = m.op("Gemm", inputs, transB=trans_b)
    y = m.activation(y, activation(data))
    natural = sx * float(np.median(sw)) * 74 * 74 * np.sqrt(k) * 3 / 127
    q = (output_scale(data, natural), data.draw(zero_points))
    if ort_style:
        m.float_output(y, q)
    else:
        m.quantized_output(y, q)


@per_rounding(25)
def test_fully_connected(data, tmp_path_factory, rounding):
    check_cases(data, tmp_path_factory, ("Gemm",), add_fully_connected, rounding)


# -- Add / Mul -------------------------------------------------------------------------------------
def broadcast_shapes(data: st.DataObject) -> tuple[list[int], list[int]]:
    rank = data.draw(st.integers(1, 4))
    full = [data.draw(st.integers(1, 4)) for _ in range(rank)]
    other = [d if data.draw(st.booleans()) else 1 for d in full][data.draw(st.integers(0, rank - 1)):]
    return (full, other) if data.draw(st.booleans()) else (other, full)


def binary_case(op: str) -> AddCase:
    def add_case(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
        a_shape, b_shape = broadcast_shapes(data)
        qa, qb = qparams(data), qparams(data)
        if data.draw(st.booleans()):  # related scales, including far apart ones
            qb = (f32(qa[0] * data.draw(st.sampled_from([1.0, 2.0, 0.5, 1000.0, 1e-3]))), qb[1])
        y = m.op(op, [m.int8_input(a_shape, qa), m.int8_input(b_shape, qb)])
        natural = (qa[0] + qb[0]) * 128 / 127 if op == "Add" else qa[0] * qb[0] * 128 * 128 / 127
        m.quantized_output(m.activation(y, activation(data)), (output_scale(data, natural), data.draw(zero_points)))
    return add_case


@per_rounding(20)
def test_add(data, tmp_path_factory, rounding):
    """Both inputs rescaled (different scales and zero points), broadcasting, fused Relu/Clip."""
    check_cases(data, tmp_path_factory, ("Add",), binary_case("Add"), rounding)


@per_rounding(15)
def test_mul(data, tmp_path_factory, rounding):
    check_cases(data, tmp_path_factory, ("Mul",), binary_case("Mul"), rounding)


# -- pooling ---------------------------------------------------------------------------------------
def pool_geometry(data: st.DataObject, nsp: int, dilated: bool) -> tuple[dict, list[int]]:
    kernel = [data.draw(st.integers(1, 3)) for _ in range(nsp)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(nsp)]
    dilations = [data.draw(st.integers(1, 2)) if dilated else 1 for _ in range(nsp)]
    pads = [data.draw(st.integers(0, k - 1)) for k in kernel + kernel]
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    spatial = [max(data.draw(st.integers(1, 8)), e) for e in eff]
    attrs = {"kernel_shape": kernel, "strides": strides, "pads": pads}
    if dilated:
        attrs["dilations"] = dilations
    # ceil_mode only where its extra window starts inside the input or the leading pad: ONNX shape
    # inference keeps a window starting in the trailing pad, ONNX Runtime drops it.
    last = [-(-(i + pads[a] + pads[a + nsp] - e) // s) * s for a, (i, e, s) in enumerate(zip(spatial, eff, strides))]
    if data.draw(st.booleans()) and all(lw < i + pads[a] for a, (lw, i) in enumerate(zip(last, spatial))):
        attrs["ceil_mode"] = 1
    return attrs, spatial


def add_average_pool(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    attrs, spatial = pool_geometry(data, data.draw(st.sampled_from([1, 2])), dilated=False)
    qx = qparams(data)
    x = m.int8_input([data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))] + spatial, qx)
    y = m.op("AveragePool", [x], count_include_pad=data.draw(st.sampled_from([0, 1])), **attrs)
    m.quantized_output(m.activation(y, activation(data)), rescaled(data, qx))


@per_rounding(20)
def test_average_pool(data, tmp_path_factory, rounding):
    """Pads with and without count_include_pad (one multiplier per window count), strides, 1-D/2-D."""
    check_cases(data, tmp_path_factory, ("AveragePool",), add_average_pool, rounding)


def add_max_pool(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    attrs, spatial = pool_geometry(data, data.draw(st.sampled_from([1, 2])), dilated=True)
    qx = qparams(data)
    x = m.int8_input([1, data.draw(st.integers(1, 3))] + spatial, qx)
    qy = rescaled(data, qx)
    m.quantized_output(m.activation(m.op("MaxPool", [x], **attrs), activation(data)), qy)
    return () if qy == qx else ("Requantize",)


@per_rounding(15)
def test_max_pool(data, tmp_path_factory, rounding):
    """Same scales in and out (MaxPool on int8, a fused Relu/Clip clamps it) or different ones
    (MaxPool then Requantize); pads, strides, dilations."""
    check_cases(data, tmp_path_factory, ("MaxPool",), add_max_pool, rounding)


def add_global_average_pool(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    spatial = [data.draw(st.integers(1, 9)) for _ in range(data.draw(st.sampled_from([1, 2])))]
    qx = qparams(data)
    x = m.int8_input([data.draw(st.integers(1, 2)), data.draw(st.integers(1, 5))] + spatial, qx)
    m.quantized_output(m.activation(m.op("GlobalAveragePool", [x]), activation(data)), rescaled(data, qx))


@per_rounding(10)
def test_global_average_pool(data, tmp_path_factory, rounding):
    check_cases(data, tmp_path_factory, ("GlobalAveragePool",), add_global_average_pool, rounding)


# -- Softmax ---------------------------------------------------------------------------------------
def add_softmax(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    shape = [data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2)))]
    x = m.int8_input(shape + [data.draw(st.integers(1, 40))], qparams(data, -8.0, 1.0))
    # The usual output quantization of probabilities (1/256, -128) or a random one.
    qy = (1 / 256, -128) if data.draw(st.booleans()) else qparams(data, -10.0, -1.0)
    m.quantized_output(m.op("Softmax", [x], axis=-1), qy)


@per_rounding(12)
def test_softmax(data, tmp_path_factory, rounding):
    check_cases(data, tmp_path_factory, ("Softmax",), add_softmax, rounding)


# -- standalone Relu / Clip (Requantize) -----------------------------------------------------------
def add_standalone_activation(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    act = activation(data)
    qx = qparams(data)
    x = m.int8_input([data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(1, 4)))], qx)
    m.quantized_output(m.activation(x, act if act[0] != "none" else ("Relu", None)), rescaled(data, qx))


@per_rounding(12)
def test_standalone_activation_requantizes(data, tmp_path_factory, rounding):
    """DQ -> Relu / Relu6 (Clip 0..6) / Clip -> Q: a Requantize with clamp bounds."""
    check_cases(data, tmp_path_factory, ("Requantize",), add_standalone_activation, rounding)


# -- MatMul of two activations -------------------------------------------------------------------------
def add_batch_matmul(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    """[batch..., M, K] x [batch..., K, N] with numpy broadcasting of the batch axes (attention scores)."""
    M, K, N = (data.draw(st.integers(1, 5)) for _ in range(3))
    batch = [data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2)))]
    a_batch = [d if data.draw(st.booleans()) else 1 for d in batch]
    b_batch = [d if data.draw(st.booleans()) else 1 for d in batch][data.draw(st.integers(0, len(batch))):]
    a = m.int8_input(a_batch + [M, K], qparams(data))
    b = m.int8_input(b_batch + [K, N], qparams(data))
    m.quantized_output(m.activation(m.op("MatMul", [a, b]), activation(data)), qparams(data, -12.0, 6.0))


@per_rounding(12)
def test_matmul_of_two_activations(data, tmp_path_factory, rounding):
    """DQ(a) x DQ(b) -> Q: both operands int8 activations, batch axes broadcast."""
    check_cases(data, tmp_path_factory, ("MatMul",), add_batch_matmul, rounding)


# -- ReduceMean ---------------------------------------------------------------------------------------
def add_reduce_mean(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    shape = [data.draw(st.integers(1, 5)) for _ in range(data.draw(st.integers(1, 4)))]
    axes = sorted(data.draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
    x = m.int8_input(shape, qparams(data))
    signed = [a - len(shape) if data.draw(st.booleans()) else a for a in axes]
    m.quantized_output(m.op("ReduceMean", [x], axes=signed, keepdims=int(data.draw(st.booleans()))),
                       qparams(data))


@per_rounding(12)
def test_reduce_mean(data, tmp_path_factory, rounding):
    """DQ -> ReduceMean over any axes -> Q: TFLite's MEAN (one multiplier for scale ratio / count)."""
    check_cases(data, tmp_path_factory, ("ReduceMean",), add_reduce_mean, rounding)


# -- elementwise maps as lookup tables ----------------------------------------------------------------
LOOKUP_ATTRS = {"LeakyRelu": lambda d: {"alpha": f32(d.draw(st.floats(0.01, 0.5)))},
                "HardSigmoid": lambda d: {"alpha": f32(d.draw(st.floats(0.1, 0.5))), "beta": 0.5}}
LOOKUP_OPS = ("Sigmoid", "Tanh", "Exp", "HardSigmoid", "LeakyRelu",  # HardSwish: opset 14, this module is 13
              "Softplus", "Softsign", "Sqrt",
              "Abs", "Neg", "Floor", "Ceil", "Reciprocal")


def add_lookup(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    op = data.draw(st.sampled_from(LOOKUP_OPS))
    qx = qparams(data)
    x = m.int8_input([data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(1, 3)))], qx)
    m.quantized_output(m.op(op, [x], **LOOKUP_ATTRS.get(op, lambda d: {})(data)), qparams(data))
    return (op,)


@per_rounding(16)
def test_elementwise_maps_run_as_lookup_tables(data, tmp_path_factory, rounding):
    """DQ -> Sigmoid / Tanh / Exp / ... -> Q: one 256-entry table of the QDQ result per layer."""
    check_cases(data, tmp_path_factory, (), add_lookup, rounding)


# -- data movement ---------------------------------------------------------------------------------
def add_mover(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    op = data.draw(st.sampled_from(["Reshape", "Flatten", "Transpose", "Slice", "Gather"]))
    shape = [data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(2, 4)))]
    qx = qparams(data)
    x = m.int8_input(shape, qx)
    if op == "Reshape":
        y = m.op("Reshape", [x, m.const(np.array([-1, shape[-1]], np.int64))])
    elif op == "Flatten":
        y = m.op("Flatten", [x], axis=data.draw(st.integers(0, len(shape))))
    elif op == "Slice":
        axis = data.draw(st.integers(0, len(shape) - 1))
        start = data.draw(st.integers(0, shape[axis] - 1))
        y = m.op("Slice", [x, m.const(np.array([start], np.int64)), m.const(np.array([shape[axis]], np.int64)),
                           m.const(np.array([axis], np.int64))])
    elif op == "Gather":
        axis = data.draw(st.integers(0, len(shape) - 1))
        picks = [data.draw(st.integers(-shape[axis], shape[axis] - 1)) for _ in range(data.draw(st.integers(1, 3)))]
        y = m.op("Gather", [x, m.const(np.array(picks, np.int64))], axis=axis)
    else:
        y = m.op("Transpose", [x], perm=data.draw(st.permutations(range(len(shape)))))
    qy = rescaled(data, qx)
    m.quantized_output(y, qy)
    return (op,) if qy == qx else (op, "Requantize")


@per_rounding(12)
def test_reshape_flatten_transpose_slice_gather(data, tmp_path_factory, rounding):
    """Same scales: the op alone on int8; different scales: the op then a Requantize."""
    check_cases(data, tmp_path_factory, (), add_mover, rounding)


def add_prelu(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    channels = data.draw(st.integers(1, 4))
    shape = [1, channels] + [data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2)))]
    qx = qparams(data)
    x = m.int8_input(shape, qx)
    kind = data.draw(st.sampled_from(["scalar", "per_channel", "int8_weight"]))
    per_channel = [channels] + [1] * (len(shape) - 2)
    values = rng.uniform(-0.5, 1.5, size=per_channel if kind != "scalar" else [1]).astype(np.float32)
    if kind == "int8_weight":  # the slope quantized by the exporter, behind a DequantizeLinear
        scale = float(np.max(np.abs(values))) / 127
        slope = m.weight(np.rint(values / scale), np.float32(scale), axis=0)
    else:
        slope = m.const(values)
    m.quantized_output(m.op("PRelu", [x, slope]), rescaled(data, qx))
    return ()


@per_rounding(12)
def test_prelu(data, tmp_path_factory, rounding):
    """PRelu with a scalar or per-channel slope (float, or int8 behind a DequantizeLinear): two
    requantizations, the slope's product for negative inputs."""
    check_cases(data, tmp_path_factory, ("PRelu",), add_prelu, rounding)


def add_resize(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    spatial = [data.draw(st.integers(2, 4)) for _ in range(2)]  # halving keeps at least one row
    qx = qparams(data)
    x = m.int8_input([1, data.draw(st.integers(1, 3))] + spatial, qx)
    scales = [1.0, 1.0] + [data.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0])) for _ in spatial]
    transform = data.draw(st.sampled_from(["asymmetric", "half_pixel", "align_corners", "pytorch_half_pixel"]))
    mode = data.draw(st.sampled_from(["nearest", "linear"]))
    attrs = {"nearest_mode": data.draw(st.sampled_from(["round_prefer_floor", "floor", "ceil", "round_prefer_ceil"]))} \
        if mode == "nearest" else {}
    y = m.op("Resize", [x, "", m.const(np.array(scales, np.float32))], mode=mode,
             coordinate_transformation_mode=transform, **attrs)
    m.quantized_output(y, rescaled(data, qx))
    return ()


@per_rounding(12)
def test_resize(data, tmp_path_factory, rounding):
    """Resize on int8 (a U-Net's or detector's upsampling): nearest moves values (requantizing them where
    the output's quantization differs), linear interpolates x - zp with Q10 weights (TFLite's bilinear)
    and requantizes the sum once."""
    check_cases(data, tmp_path_factory, ("Resize",), add_resize, rounding)


def add_concat(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> tuple[str, ...]:
    rank = data.draw(st.integers(1, 4))
    base = [data.draw(st.integers(1, 3)) for _ in range(rank)]
    axis = data.draw(st.integers(-rank, rank - 1))
    qy = qparams(data)
    parts, requantized = [], False
    for _ in range(data.draw(st.integers(2, 3))):
        shape = list(base)
        shape[axis] = data.draw(st.integers(1, 3))
        q = qy if data.draw(st.booleans()) else qparams(data)
        requantized |= q != qy
        parts.append(m.int8_input(shape, q))
    m.quantized_output(m.op("Concat", parts, axis=axis), qy)
    return ("Requantize",) if requantized else ()


@per_rounding(12)
def test_concat_requantizes_inputs(data, tmp_path_factory, rounding):
    """Inputs whose scale differs from the output's get a Requantize before the Concat."""
    check_cases(data, tmp_path_factory, ("Concat",), add_concat, rounding)


@per_rounding(12)
def test_pad(data, tmp_path_factory, rounding):
    """Constant padding writes quantize(value) in the output's quantization, rounded once: the zero
    point for 0.0 or no value; edge/reflect copy int8 values."""
    rng = np.random.default_rng(data.draw(seeds))
    shape = [data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(1, 4)))]
    pads = [data.draw(st.integers(0, 2)) for _ in range(2 * len(shape))]
    mode = data.draw(st.sampled_from(["constant", "constant", "edge", "reflect"]))
    if mode == "reflect":
        pads = [min(p, s - 1) for p, s in zip(pads, shape + shape)]
    qx = qparams(data)
    qy = rescaled(data, qx)
    value = data.draw(st.sampled_from([None, 0.0, 0.5, -3.0]))
    m = QdqModel()
    inputs = [m.int8_input(shape, qx), m.const(np.array(pads, np.int64))]
    if value is not None and mode == "constant":
        inputs.append(m.const(np.float32(value)))
    m.quantized_output(m.op("Pad", inputs, mode=mode), qy)
    # A constant input away from the zero point tells padding and data apart.
    feeds = [[np.full(shape, 100 if qx[1] < 0 else -100, np.int8)]] + feed_sets(m, rng)
    out = check_model(m, tmp_path_factory, ("Pad",), feeds, rounding=rounding)[0][0]
    if mode == "constant" and any(pads):
        real = 0.0 if value is None else value
        expected = int(np.clip(np.rint(np.float32(real) / np.float32(qy[0])) + qy[1], -128, 127))
        mask = np.ones(out.shape, bool)
        mask[tuple(slice(b, b + s) for b, s in zip(pads[:len(shape)], shape))] = False
        assert np.all(out[mask] == expected), (out[mask], expected)


# -- Quantize / Dequantize at the edges ------------------------------------------------------------
def add_edges(m: QdqModel, data: st.DataObject, rng: np.random.Generator) -> None:
    shape = [data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(1, 3)))]
    qx = qparams(data, -8.0, 2.0)
    x = m.float_input(shape, qx)
    m.output(m.edge_quantized[-1])  # the edge QuantizeLinear's int8 output itself
    m.float_output(m.op("Relu", [x]), qparams(data, -8.0, 2.0))


@per_rounding(10)
def test_quantize_dequantize_edges(data, tmp_path_factory, rounding):
    """float -> QuantizeLinear (round half to even, saturating; inputs with exact ties and far out of
    range) -> int8 Relu as a Requantize -> DequantizeLinear -> float, compared bit for bit too."""
    check_cases(data, tmp_path_factory, ("QuantizeLinear", "Requantize", "DequantizeLinear"), add_edges, rounding)


# -- int32 bias --------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["Conv", "Gemm"])
@pytest.mark.parametrize("factor", [1, 2])
def test_int32_bias_reaches_the_kernel_exactly(op, factor):
    """A bias whose scale is x_scale * w_scale (per channel, or per tensor as a 1-element tensor) is
    used as the int32 it is, also next to the int32 limits where a float32 round trip would move it by
    up to 128; a bias with another scale is rescaled in float64 (not through a float32 DequantizeLinear,
    which would be tens of units off for large values)."""
    rng = np.random.default_rng(factor)
    sx = f32(0.0123)
    extremes = np.array([INT32_MAX - 5, INT32_MIN + 5, 123456789, -987654321, 1, 0, -1, 2 ** 24 + 1], np.int64)
    bias = extremes // (4 if factor == 2 else 1) | 1  # odd values: a float32 round trip cannot keep them all
    per_channel = op == "Conv"
    sw = rng.uniform(1e-3, 2e-2, 8 if per_channel else 1).astype(np.float32)
    m = QdqModel()
    scale = (factor * np.float32(sx) * sw).astype(np.float32)  # the float32 product quantizers write
    if op == "Conv":
        x = m.int8_input([1, 3, 4, 4], (sx, 0))
        y = m.op("Conv", [x, m.weight(weights(rng, (8, 3, 1, 1)), sw, 0), m.bias(bias, scale)])
    else:
        x = m.int8_input([1, 5], (sx, 0))
        y = m.op("Gemm", [x, m.weight(weights(rng, (8, 5)), sw, 0), m.bias(bias, scale)], transB=1)
    m.quantized_output(y, (1.0, 0))
    graph = compile_model(m.proto()).graph
    node = next(n for n in graph.nodes if n.op_type == op)
    kept = graph.const(node.inputs[2])
    assert kept.dtype == np.int32
    if factor == 1:
        assert kept.tolist() == bias.tolist()
    else:
        exact = [round(Fraction(int(b)) * Fraction(float(s)) / (Fraction(sx) * Fraction(float(w))))
                 for b, s, w in zip(bias, np.broadcast_to(scale, (8,)), np.broadcast_to(sw, (8,)))]
        assert kept.tolist() == exact


# -- every kernel, both compilers ------------------------------------------------------------------
@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
@settings(max_examples=2, **SETTINGS)
@given(data=st.data())
def test_every_int8_kernel_in_one_model(compiler, rounding, data, tmp_path_factory):
    """One case of every op family in one library: builds warning-free (-std=c99 -Wall -Wextra -Werror)
    with gcc and clang, passes the generated-C checks (no forbidden calls, VLAs, recursion) and still
    equals the golden model."""
    require_tool(compiler)
    rng = np.random.default_rng(data.draw(seeds))
    m = QdqModel()
    for add_case in (add_conv, add_fully_connected, binary_case("Add"), binary_case("Mul"), add_average_pool,
                     add_max_pool, add_global_average_pool, add_softmax, add_standalone_activation, add_mover,
                     add_concat, add_edges):
        add_case(m, data, rng)
    ops = ("Conv", "Gemm", "Add", "Mul", "AveragePool", "MaxPool", "GlobalAveragePool", "Softmax", "Requantize",
           "Concat", "QuantizeLinear", "DequantizeLinear")
    check_model(m, tmp_path_factory, ops, feed_sets(m, rng), cc=compiler, syntax=True, rounding=rounding)


# -- saturation edges ------------------------------------------------------------------------------
SATURATING = {"conv": "Conv", "matmul_add": "Gemm", "gemm": "Gemm", "add": "Add", "mul": "Mul",
              "average_pool": "AveragePool", "requantize": "Requantize"}


def saturating_model(kind: str, zx: int, zy: int, rng: np.random.Generator) -> QdqModel:
    """Output scale 2^-12 against an input scale of 2^-4: nearly every output is pinned at -128 or 127."""
    qx, qy = (f32(2.0 ** -4), zx), (f32(2.0 ** -12), zy)
    m = QdqModel()
    if kind == "conv":
        x = m.int8_input([1, 2, 5, 5], qx)
        sw = np.full(3, 0.01, np.float32)
        bias = np.array([INT32_MAX - 2 ** 20, -INT32_MAX + 2 ** 20, 0], np.int32)
        y = m.op("Conv", [x, m.weight(weights(rng, (3, 2, 3, 3)), sw, 0), m.bias(bias, np.float32(qx[0]) * sw)],
                 pads=[1, 1, 1, 1])
    elif kind in ("matmul_add", "gemm"):
        x = m.int8_input([2, 16], qx)
        sw = rng.uniform(1e-3, 1e-2, 8).astype(np.float32)
        w = weights(rng, (8, 16))
        bias = m.bias(rng.integers(-2 ** 20, 2 ** 20, 8).astype(np.int32), np.float32(qx[0]) * sw)
        if kind == "gemm":
            y = m.op("Gemm", [x, m.weight(w, sw, 0), bias], transB=1)
        else:
            y = m.op("Add", [m.op("MatMul", [x, m.weight(np.ascontiguousarray(w.T), sw, 1)]), bias])
    elif kind in ("add", "mul"):
        # Add: both inputs of the first one's sign; Mul: the second one of both signs.
        qb = (f32(2.0 ** -3), zx if kind == "add" else 0)
        y = m.op(kind.capitalize(), [m.int8_input([2, 3, 4], qx), m.int8_input([3, 4], qb)])
    elif kind == "average_pool":
        y = m.op("AveragePool", [m.int8_input([1, 2, 4, 4], qx)], kernel_shape=[2, 2])
    else:
        y = m.activation(m.int8_input([4, 16], qx), ("Clip", (-100.0, 100.0)))
    m.quantized_output(y, qy)
    return m


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("kind", sorted(SATURATING))
def test_outputs_saturate(kind, rounding, tmp_path_factory):
    """Zero points at 0 and at both ends of int8, requantized values far outside int8 (so the
    requantized int32 plus the zero point must not overflow either). An input zero point at -128 (127)
    makes every real input >= 0 (<= 0), which pushes outputs to 127 (-128)."""
    rng = np.random.default_rng(sorted(SATURATING).index(kind))
    for zx, zy in ((0, 0), (0, 127), (0, -128), (-128, -128), (127, 127)):
        m = saturating_model(kind, zx, zy, rng)
        feeds = [list(f) for f in zip(*[[rng.integers(-128, 128, s).astype(np.int8) for _ in range(3)]
                                         for s, _, _ in m.input_specs])]
        outs = np.concatenate([o[0].reshape(-1) for o in check_model(m, tmp_path_factory, (SATURATING[kind],), feeds,
                                                                     rounding=rounding)])
        pinned = {v for v in (-128, 127) if np.any(outs == v)} - {zy}
        assert pinned, (zx, zy, np.unique(outs))
        if (zx, zy) == (0, 0):  # inputs of both signs: both ends
            assert pinned == {-128, 127}, np.unique(outs)


# -- fixed point -----------------------------------------------------------------------------------
def reference_requantize(acc: int, multiplier: int, shift: int) -> int:
    """round-half-up(acc * multiplier / 2^(31 - shift)) in exact rational arithmetic, saturated to int32."""
    rounded = (Fraction(acc * multiplier, 2 ** (31 - shift)) + Fraction(1, 2)).__floor__()
    return max(INT32_MIN, min(INT32_MAX, rounded))


acc_values = st.one_of(st.integers(INT32_MIN, INT32_MAX),
                       st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]))
multipliers = st.one_of(st.integers(2 ** 30, INT32_MAX), st.sampled_from([0, 2 ** 30, INT32_MAX]))


@settings(max_examples=600, deadline=None)
@given(acc=acc_values, multiplier=multipliers, shift=st.integers(-31, 30))
def test_requantize_is_single_rounding(acc, multiplier, shift):
    got = requantize(np.array([acc], np.int64), np.array([multiplier]), np.array([shift]))
    assert int(got[0]) == reference_requantize(acc, multiplier, shift)


def test_requantize_rounds_ties_up_and_is_vectorized():
    # acc * 2^30 / 2^31 = acc / 2 lands exactly on .5 for odd acc: ties go toward +infinity.
    accs = np.array([1, -1, 3, -3, 5, -5], np.int64)
    assert requantize(accs, 2 ** 30, 0).tolist() == [1, 0, 2, -1, 3, -2]
    grid = np.array(list(itertools.product([INT32_MIN, -12345, -1, 0, 7, INT32_MAX], [2 ** 30, 1518500250, INT32_MAX],
                                           [-31, -5, 0, 1, 30])), np.int64)
    got = requantize(grid[:, 0], grid[:, 1], grid[:, 2])
    assert got.tolist() == [reference_requantize(*map(int, row)) for row in grid]


@settings(max_examples=400, deadline=None)
@given(exponent=st.floats(-31.0, 28.99), mantissa=st.floats(1.0, 2.0, exclude_max=True))
def test_quantize_multiplier_reconstructs(exponent, mantissa):
    real = mantissa * 2.0 ** exponent
    multiplier, shift = quantize_multiplier(real)
    assert 2 ** 30 <= multiplier <= INT32_MAX and -31 <= shift <= 30
    rebuilt = Fraction(multiplier) * Fraction(2) ** (shift - 31)
    assert abs(rebuilt - Fraction(real)) / Fraction(real) < Fraction(1, 2 ** 30)


def test_quantize_multiplier_edges():
    assert quantize_multiplier(0.0) == (0, 0)
    assert quantize_multiplier(1.0) == (2 ** 30, 1)
    assert quantize_multiplier(0.5) == (2 ** 30, 0)
    # a mantissa rounding up to 2^31 moves to the next exponent instead of overflowing int32
    assert quantize_multiplier(1.0 - 2.0 ** -40) == (2 ** 30, 1)
    # below 2^-32 every int32 accumulator rounds to 0, so the pair is (0, 0); from 2^31 on it saturates
    assert quantize_multiplier(2.0 ** -33) == (0, 0)
    assert requantize(np.array([INT32_MAX, INT32_MIN]), *quantize_multiplier(2.0 ** -33)).tolist() == [0, 0]
    assert quantize_multiplier(2.0 ** 40) == (INT32_MAX, 30)
    with pytest.raises(ValueError):
        quantize_multiplier(-1.0)


def reference_double_rounding(acc: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier in exact rational arithmetic: acc * 2^left_shift (saturated
    here), its product with the multiplier / 2^31 rounded to nearest with ties up, then / 2^right_shift
    rounded to nearest with ties away from zero."""
    x = max(INT32_MIN, min(INT32_MAX, acc * 2 ** max(shift, 0)))
    high = INT32_MAX if x == multiplier == INT32_MIN else (Fraction(x * multiplier, 2 ** 31) + Fraction(1, 2)).__floor__()
    q = Fraction(high, 2 ** max(-shift, 0))
    rounded = (abs(q) + Fraction(1, 2)).__floor__()
    return rounded if q >= 0 else -rounded


@settings(max_examples=600, deadline=None)
@given(acc=acc_values, multiplier=multipliers, shift=st.integers(-31, 30))
def test_requantize_double_rounding_is_tflites(acc, multiplier, shift):
    got = requantize_double_rounding(np.array([acc], np.int64), np.array([multiplier]), np.array([shift]))
    assert int(got[0]) == reference_double_rounding(acc, multiplier, shift)


def test_double_rounding_differs_from_single_on_ties():
    # acc / 4: TFLite rounds acc / 2 first (1 / 2 -> 1), then halves again with ties away from zero
    # (-2 / 4 -> -1, -6 / 4 -> -2); single rounding rounds acc / 4 once, ties up.
    accs = np.array([1, 2, -2, -6], np.int64)
    assert requantize_double_rounding(accs, 2 ** 30, -1).tolist() == [1, 1, -1, -2]
    assert requantize(accs, 2 ** 30, -1).tolist() == [0, 1, 0, -1]


def test_tflite_softmax_fixed_point_tracks_float():
    """aot/quant/gemmlowp.py's exp and reciprocal (TFLite's gemmlowp recipe) against float math."""
    from aot.quant import gemmlowp
    for v in (-1e-3, -0.1, -0.25, -0.579, -1.0, -2.5, -7.3, -20.0):
        assert abs(gemmlowp.exp_on_negative_values(int(v * 2 ** 26)) / 2 ** 31 - np.exp(v)) < 1e-6
    assert gemmlowp.exp_on_negative_values(0) == INT32_MAX
    for s in (1.0, 1.2, 1.5605, 1.99, 3.7, 250.0):
        r, bits = gemmlowp.reciprocal(int(s * 2 ** 19))
        assert abs(r / 2 ** 31 * 2.0 ** -bits - 1 / s) < 1e-6


# -- the two roundings differ -----------------------------------------------------------------------
def tie_model() -> QdqModel:
    """Ops whose results land on exact .5 ties (power-of-two scales, equal-quantization pooling) where
    the two roundings disagree. (The two Softmax recipes differ too, but on few inputs: the TFLite
    Micro agreement test, tests/test_tflite_agreement.py, sees them.)"""
    m = QdqModel()
    x = m.int8_input([1, 3, 4, 4], (1.0, 0))
    m.quantized_output(m.op("Conv", [x, m.weight(np.ones((2, 3, 1, 1), np.int8), np.float32([0.25]), 0)]), (1.0, 0))
    m.quantized_output(m.op("AveragePool", [m.int8_input([1, 2, 4, 4], (0.5, 3))], kernel_shape=[2, 2]), (0.5, 3))
    return m


def test_each_rounding_matches_only_its_own_golden(tmp_path_factory):
    """Mutation check: C built in one rounding equals the golden model of that rounding bit for bit and
    differs from the golden model of the other one (so a wrong rounding in either would fail)."""
    m = tie_model()
    rng = np.random.default_rng(11)
    feeds = feed_sets(m, rng) + [[rng.integers(-128, 128, s).astype(np.int8) for s, _, _ in m.input_specs]
                                 for _ in range(4)]
    proto = m.proto()
    built = {}
    for rounding in ROUNDINGS:
        compiled = compile_model(proto, CompileOptions(rounding=rounding))
        built[rounding] = (compiled.graph, load(write_library(compiled, tmp_path_factory.mktemp(rounding) / "lib")))
    for rounding, (graph, host) in built.items():
        other = built["tflite" if rounding == "single" else "single"][0]
        differs = [False] * len(m.outputs)
        for feed in feeds:
            got = host.run(feed)
            for k, (g, own, theirs) in enumerate(zip(got, run_golden(graph, feed), run_golden(other, feed))):
                assert np.array_equal(g, own), (rounding, k)
                differs[k] |= not np.array_equal(g, theirs)
        assert all(differs), (rounding, differs)


def test_rounding_option_reaches_the_graph_and_metadata(tmp_path):
    import json

    from aot.cli import main
    from aot.errors import AotError
    proto = tie_model().proto()
    with pytest.raises(AotError, match="unknown rounding"):
        compile_model(proto, CompileOptions(rounding="half_even"))
    onnx.save(proto, tmp_path / "m.onnx")
    assert main(["compile", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "lib"), "--rounding", "tflite"]) == 0
    assert json.loads((tmp_path / "lib" / "metadata.json").read_text())["rounding"] == "tflite"
    assert "aot_requantize_tflite" in "".join(p.read_text() for p in (tmp_path / "lib").glob("*.c"))


def test_c_requantize_tflite_equals_golden_on_extremes(tmp_path):
    """runtime_c's aot_requantize_tflite and aot_requantize_tflite_rs (shift <= -1) against
    fixed_point.requantize_double_rounding on the int32 extremes, every shift and tie-prone multipliers."""
    import subprocess

    from aot.resources import runtime_dir
    cc = require_tool("gcc")
    accs = [INT32_MIN, INT32_MIN + 1, -123457, -6, -3, -2, -1, 0, 1, 2, 3, 98765, INT32_MAX - 1, INT32_MAX]
    grid = list(itertools.product(accs, [0, 1, 2 ** 30, 1518500250, INT32_MAX], range(-31, 31)))
    calls = "".join(f'    printf("%ld\\n", (long)aot_requantize_tflite((int32_t){a}LL, {m}, {s}));\n' for a, m, s in grid)
    shortcut = [(a, m, s) for a, m, s in grid if s <= -1]  # aot_requantize_tflite_rs: rshift = -shift >= 1
    calls += "".join(f'    printf("%ld\\n", (long)aot_requantize_tflite_rs((int32_t){a}LL, {m}, {-s}));\n'
                     for a, m, s in shortcut)
    (tmp_path / "t.c").write_text(f'#include <stdio.h>\n#include "aot_runtime.h"\nint main(void) {{\n{calls}    return 0;\n}}\n')
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-I", str(runtime_dir()), "-o",
                    str(tmp_path / "t"), str(tmp_path / "t.c"), "-lm"], check=True)
    got = [int(v) for v in subprocess.run([str(tmp_path / "t")], check=True, capture_output=True, text=True).stdout.split()]
    g = np.array(grid + shortcut, np.int64)
    assert got == requantize_double_rounding(g[:, 0], g[:, 1], g[:, 2]).tolist()
