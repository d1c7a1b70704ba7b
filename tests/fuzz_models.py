"""Hypothesis strategies over ONNX models for the fuzzer (tests/test_fuzz.py). No tests here.

``fuzz_cases()`` draws a ``FuzzCase``: the bytes of a model file and notes on how it was made. A model is
a short chain of the ops aot supports, built with onnx.helper on small static shapes from one of a few
families (see OP_FAMILIES), mostly valid so that the compiler's code generation is reached; then a few
mutations (MUTATIONS) make it an edge case or malformed: wrong attributes, initializers, dims, names,
graph structure, declared outputs, opsets and IR versions, and byte-level corruption of the file.

Shapes along the chain come from ONNX shape inference on the partial model, so each op is drawn to fit
what its input really is; when inference cannot say (a mutated or odd op), the chain stops there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

F32 = TensorProto.FLOAT

# Names that are C keywords, standard identifiers, the library's API or otherwise awkward as C names.
AWKWARD_NAMES = ["int", "main", "NULL", "model_run", "model_run_with_arena", "MODEL_ARENA_SIZE", "arena",
                 "memcpy", "uint8_t", "INFINITY", "AOT_OK", "x", "y", "1x", "a b", "a-b", "_", "__x",
                 "model", "weights", "Ä", "x" * 300, "in0", "out0", "const", "return", "size_t", "errno"]


@dataclass(frozen=True)
class FuzzCase:
    """A model file's bytes; ``notes`` say which families and mutations made it (shown on failure)."""

    data: bytes
    notes: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"FuzzCase({len(self.data)} bytes: {'; '.join(self.notes)})"


@dataclass
class Builder:
    """A graph under construction: nodes, initializers and the known shape of each float tensor."""

    opset: int
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    inputs: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)  # tensor -> shape (from shape inference)
    dtypes: dict = field(default_factory=dict)  # tensor -> ONNX element type, where not float
    extra_outputs: list = field(default_factory=list)  # tensors also exposed as graph outputs
    quant_weights: bool = False  # weights drawn as int8 constants behind DequantizeLinear (QDQ layers)
    count: int = 0

    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}{self.count}"

    def const(self, value: np.ndarray, base: str = "c") -> str:
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def ints(self, values, base: str = "i") -> str:
        return self.const(np.asarray(values, np.int64), base)

    def node(self, op: str, inputs: list[str], outputs: int = 1, **attrs) -> list[str]:
        outs = [self.fresh(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=self.fresh(f"n_{op}_"), **attrs))
        return outs

    def weight(self, value: np.ndarray, base: str = "w") -> str:
        """A float weight; in a QDQ layer an int8 constant with a DequantizeLinear node."""
        if not self.quant_weights:
            return self.const(value.astype(np.float32), base)
        scale = float(np.abs(value).max() / 127) or 1.0
        q = np.clip(np.round(value / scale), -127, 127).astype(np.int8)
        return self.node("DequantizeLinear", [self.const(q, base + "q"), self.const(np.float32(scale), "s"),
                                              self.const(np.int8(0), "zp")])[0]

    def model(self, outputs: list[str], declare_shapes: bool = True) -> onnx.ModelProto:
        outs = [helper.make_tensor_value_info(o, self.dtypes.get(o, F32), list(self.shapes[o])
                                              if declare_shapes and o in self.shapes else None)
                for o in dict.fromkeys(outputs)]
        graph = helper.make_graph(self.nodes, "fuzz", self.inputs, outs, self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)], producer_name="aot-fuzz")
        m.ir_version = 8 if self.opset >= 13 else 7
        return m

    def infer(self, tensors: list[str]) -> bool:
        """Record the inferred shapes of ``tensors``; False when inference fails or leaves one unknown."""
        try:
            inferred = onnx.shape_inference.infer_shapes(self.model(tensors, declare_shapes=False), strict_mode=True)
        except Exception:  # onnx raises several types on models it cannot infer: stop the chain there
            return False
        found = {}
        for vi in list(inferred.graph.output) + list(inferred.graph.value_info):
            tt = vi.type.tensor_type
            if tt.HasField("shape") and all(d.HasField("dim_value") and d.dim_value >= 0 for d in tt.shape.dim):
                found[vi.name] = tuple(d.dim_value for d in tt.shape.dim)
                if tt.elem_type not in (0, F32):
                    self.dtypes[vi.name] = tt.elem_type
        if not all(t in found for t in tensors):
            return False
        self.shapes.update({t: found[t] for t in tensors})
        return True


def size(small: int) -> st.SearchStrategy[int]:
    """A dimension: mostly 1..small, sometimes past the 4-, 8- and 16-wide blocks kernels unroll by."""
    return st.one_of(st.integers(1, small), st.integers(1, small), st.integers(1, small), st.integers(8, 20))


# -- values -------------------------------------------------------------------------------------------
def small_floats() -> st.SearchStrategy[float]:
    """Mostly ordinary numbers, sometimes the values that break arithmetic."""
    return st.one_of(st.floats(-4, 4, width=32),
                     st.sampled_from([0.0, -0.0, 1e-30, 1e30, -1e30, float("nan"), float("inf"), float("-inf")]))


@st.composite
def arrays(draw, shape: tuple[int, ...], special: bool = True) -> np.ndarray:
    seed = draw(st.integers(0, 2 ** 16))
    a = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    if special and a.size and draw(st.integers(0, 9)) == 0:
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf, 1e30, 0.0]))
    return a


def broadcastable(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts onto ``shape`` (right-aligned, some dims 1, maybe a lower rank)."""
    rank = draw(st.integers(0, len(shape)))
    tail = shape[len(shape) - rank:]
    return tuple(d if draw(st.booleans()) else 1 for d in tail)


# -- op families: (draw, builder, x) -> the new float tensor, or None when the op does not fit x ------
def unary(draw, b: Builder, x: str) -> str | None:
    op = draw(st.sampled_from(["Relu", "Sigmoid", "Tanh", "Abs", "Neg", "Exp", "Sqrt", "Reciprocal", "Floor",
                               "Ceil", "Softplus", "Softsign", "HardSigmoid", "HardSwish", "LeakyRelu",
                               "Identity", "Dropout"]))
    if op == "HardSwish" and b.opset < 14:
        op = "HardSigmoid"
    attrs = {}
    if op == "LeakyRelu":
        attrs["alpha"] = draw(small_floats())
    if op == "HardSigmoid":
        attrs.update(alpha=draw(small_floats()), beta=draw(small_floats()))
    return b.node(op, [x], **attrs)[0]


def clip(draw, b: Builder, x: str) -> str | None:
    lo, hi = draw(small_floats()), draw(small_floats())
    if b.opset < 11:
        return b.node("Clip", [x], min=lo, max=hi)[0]
    ins = [x, b.const(np.float32(lo), "lo") if draw(st.booleans()) else "",
           b.const(np.float32(hi), "hi") if draw(st.booleans()) else ""]
    while ins[-1] == "":
        ins.pop()
    return b.node("Clip", ins)[0]


def binary(draw, b: Builder, x: str) -> str | None:
    op = draw(st.sampled_from(["Add", "Sub", "Mul", "Div", "PRelu"]))
    shape = b.shapes[x]
    how = draw(st.sampled_from(["const", "const", "self", "input", "earlier"]))
    if how == "self":
        other = x
    elif how == "earlier":
        same = [t for t, s in b.shapes.items() if s == shape]
        other = draw(st.sampled_from(same))
    elif how == "input":
        other, other_shape = b.fresh("in"), broadcastable(draw, shape)
        b.inputs.append(helper.make_tensor_value_info(other, F32, list(other_shape)))
        b.shapes[other] = other_shape
    else:
        other = b.const(draw(arrays(broadcastable(draw, shape))), "k")
    ins = [x, other] if op == "PRelu" or draw(st.booleans()) else [other, x]
    return b.node(op, ins)[0]


def softmax(draw, b: Builder, x: str) -> str | None:
    rank = len(b.shapes[x])
    if rank == 0:
        return None
    op = draw(st.sampled_from(["Softmax", "LogSoftmax"]))
    return b.node(op, [x], axis=draw(st.integers(-rank, rank - 1)))[0]


def reduce(draw, b: Builder, x: str) -> str | None:
    rank = len(b.shapes[x])
    if rank == 0:
        return None
    op = draw(st.sampled_from(["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
                               "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]))
    axes = draw(st.lists(st.integers(-rank, rank - 1), min_size=0, max_size=rank,
                         unique_by=lambda a: a % rank))
    keep = draw(st.integers(0, 1))
    axes_as_input = b.opset >= 18 or (op == "ReduceSum" and b.opset >= 13)
    if axes_as_input:
        ins = [x, b.ints(axes, "axes")] if axes or draw(st.booleans()) else [x]
        noop = {"noop_with_empty_axes": 1} if not axes and draw(st.booleans()) else {}
        return b.node(op, ins, keepdims=keep, **noop)[0]
    return b.node(op, [x], keepdims=keep, **({"axes": axes} if axes else {}))[0]


def transpose(draw, b: Builder, x: str) -> str | None:
    rank = len(b.shapes[x])
    perm = draw(st.permutations(list(range(rank))))
    give_perm = rank > 0 and (rank < 2 or draw(st.booleans()))  # no perm: reverse the axes
    return b.node("Transpose", [x], **({"perm": perm} if give_perm else {}))[0]


def reshape(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    n = math.prod(shape)
    dims, rest = [], n
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from([k for k in range(1, rest + 1) if rest % k == 0] or [1]))
        dims.append(d)
        rest //= d
    dims.append(rest)
    if draw(st.booleans()):
        dims[draw(st.integers(0, len(dims) - 1))] = -1
    op = draw(st.sampled_from(["Reshape", "Reshape", "Flatten", "Squeeze", "Unsqueeze"]))
    if op == "Flatten":
        return b.node("Flatten", [x], axis=draw(st.integers(-len(shape), len(shape))))[0]
    if op in ("Squeeze", "Unsqueeze"):
        if op == "Squeeze":
            axes = [i for i, d in enumerate(shape) if d == 1]
            if not axes:
                return None
            axes = draw(st.lists(st.sampled_from(axes), min_size=1, unique=True))
        else:
            axes = draw(st.lists(st.integers(0, len(shape)), min_size=1, max_size=2, unique=True))
        if b.opset >= 13:
            return b.node(op, [x, b.ints(axes, "axes")])[0]
        return b.node(op, [x], axes=axes)[0]
    return b.node("Reshape", [x, b.ints(dims, "shape")])[0]


def concat(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    other_shape = list(shape)
    other_shape[axis] = draw(st.integers(1, 3))
    others = [x if draw(st.booleans()) else b.const(draw(arrays(tuple(other_shape))), "cat")
              for _ in range(draw(st.integers(1, 2)))]
    return b.node("Concat", [x, *others], axis=axis)[0]


def slice_(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    axes = draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1, max_size=len(shape),
                         unique_by=lambda a: a % len(shape)))
    starts, ends, steps = [], [], []
    for a in axes:
        d = shape[a]
        step = draw(st.sampled_from([1, 1, 2, -1, 3]))
        starts.append(draw(st.one_of(st.integers(-d - 1, d + 1), st.sampled_from([-2 ** 63, 2 ** 63 - 1]))))
        ends.append(draw(st.one_of(st.integers(-d - 1, d + 1), st.sampled_from([-2 ** 63, 2 ** 63 - 1]))))
        steps.append(step)
    if b.opset < 10:
        return b.node("Slice", [x], starts=starts, ends=ends, axes=[a % len(shape) for a in axes])[0]
    ins = [x, b.ints(starts, "st"), b.ints(ends, "en"), b.ints(axes, "ax")]
    if draw(st.booleans()) or any(s != 1 for s in steps):
        ins.append(b.ints(steps, "sp"))
    return b.node("Slice", ins)[0]


def split(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    d = shape[axis]
    parts = draw(st.integers(1, min(d, 3)))
    cuts = sorted(draw(st.lists(st.integers(1, d - 1), min_size=parts - 1, max_size=parts - 1, unique=True))) \
        if d > 1 and parts > 1 else []
    sizes = [e - s for s, e in zip([0, *cuts], [*cuts, d])]
    if b.opset >= 18 and draw(st.booleans()):
        outs = b.node("Split", [x], len(sizes), axis=axis, num_outputs=len(sizes))
    elif b.opset >= 13:
        outs = b.node("Split", [x, b.ints(sizes, "split")], len(sizes), axis=axis)
    else:
        outs = b.node("Split", [x], len(sizes), axis=axis, split=sizes)
    b.extra_outputs.extend(outs[1:])
    return outs[0]


def pad(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    mode = draw(st.sampled_from(["constant", "constant", "reflect", "edge"]))
    pads = [draw(st.integers(-1 if mode == "constant" else 0, 2)) for _ in range(2 * len(shape))]
    value = draw(small_floats())
    if b.opset < 11:
        return b.node("Pad", [x], mode=mode, pads=pads, value=value)[0]
    ins = [x, b.ints(pads, "pads")]
    if mode == "constant" and draw(st.booleans()):
        ins.append(b.const(np.float32(value), "pv"))
    return b.node("Pad", ins, mode=mode)[0]


def gather(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    d = shape[axis]
    ishape = draw(st.sampled_from([(), (1,), (2,), (3,), (2, 2)]))
    idx = np.array(draw(st.lists(st.integers(-d, d - 1), min_size=math.prod(ishape), max_size=math.prod(ishape))),
                   np.int64).reshape(ishape)
    if draw(st.booleans()):
        idx = idx.astype(np.int32)
    return b.node("Gather", [x, b.const(idx, "idx")], axis=axis)[0]


def cast(draw, b: Builder, x: str) -> str | None:
    # mostly the types aot's Cast kernel writes; the rest are refused (or not) cleanly
    to = draw(st.sampled_from([TensorProto.INT32, TensorProto.INT8, TensorProto.INT16, TensorProto.INT32,
                               TensorProto.INT8, TensorProto.UINT8, TensorProto.INT64, TensorProto.FLOAT16,
                               TensorProto.DOUBLE, TensorProto.BOOL]))
    y = b.node("Cast", [x], to=to)[0]
    return b.node("Cast", [y], to=F32)[0]


def spatial(draw, b: Builder, x: str, kernel_max: int = 3) -> dict | None:
    """Window attributes for Conv and the pools over x's spatial dims (mostly fitting, sometimes not)."""
    shape = b.shapes[x]
    if len(shape) not in (3, 4):
        return None
    dims = shape[2:]
    kernel = [draw(st.integers(1, max(1, min(kernel_max, d + 1)))) for d in dims]
    attrs = {"kernel_shape": kernel}
    if draw(st.booleans()):
        attrs["strides"] = [draw(st.integers(1, 3)) for _ in dims]
    mode = draw(st.sampled_from(["pads", "pads", "none", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if mode == "pads":
        attrs["pads"] = [draw(st.integers(0, max(0, k - 1))) for k in kernel * 2]
    elif mode != "none":
        attrs["auto_pad"] = mode
    return attrs


def conv(draw, b: Builder, x: str) -> str | None:
    attrs = spatial(draw, b, x)
    if attrs is None:
        return None
    shape = b.shapes[x]
    channels = shape[1]
    group = draw(st.sampled_from([g for g in range(1, channels + 1) if channels % g == 0]))
    out = group * draw(st.integers(1, 3))
    if group > 1:
        attrs["group"] = group
    if draw(st.booleans()):
        attrs["dilations"] = [draw(st.integers(1, 2)) for _ in shape[2:]]
    kernel = attrs["kernel_shape"]
    if draw(st.booleans()):
        del attrs["kernel_shape"]  # taken from the weight
    ins = [x, b.weight(draw(arrays((out, channels // group, *kernel), special=False)) * 0.5)]
    if draw(st.booleans()):
        ins.append(b.const(draw(arrays((out,))), "bias"))
    return b.node("Conv", ins, **attrs)[0]


def pool(draw, b: Builder, x: str) -> str | None:
    op = draw(st.sampled_from(["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"]))
    if op.startswith("Global"):
        return b.node(op, [x])[0] if len(b.shapes[x]) >= 3 else None
    attrs = spatial(draw, b, x)
    if attrs is None:
        return None
    if b.opset >= 10 and draw(st.booleans()):
        attrs["ceil_mode"] = 1
    if op == "MaxPool" and b.opset >= 10 and draw(st.booleans()):
        attrs["dilations"] = [draw(st.integers(1, 2)) for _ in attrs["kernel_shape"]]
    if op == "AveragePool" and draw(st.booleans()):
        attrs["count_include_pad"] = 1
    return b.node(op, [x], **attrs)[0]


def batchnorm(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if len(shape) < 2:
        return None
    c = shape[1]
    var = np.abs(draw(arrays((c,), special=False))) + draw(st.sampled_from([0.0, 0.1, 1.0]))
    if draw(st.integers(0, 5)) == 0:
        var[0] = -1.0  # a negative variance: sqrt of a negative number
    ins = [x, b.const(draw(arrays((c,))), "scale"), b.const(draw(arrays((c,))), "bias"),
           b.const(draw(arrays((c,))), "mean"), b.const(var.astype(np.float32), "var")]
    return b.node("BatchNormalization", ins, epsilon=draw(st.sampled_from([1e-5, 0.0, 1e-3])))[0]


def gemm(draw, b: Builder, x: str) -> str | None:
    shape = b.shapes[x]
    if not shape:
        return None
    if draw(st.booleans()) or len(shape) == 1:  # MatMul takes any rank
        n = draw(size(5))
        wshape = (shape[-1], n) if draw(st.integers(0, 5)) else (shape[-1],)
        return b.node("MatMul", [x, b.weight(draw(arrays(wshape, special=False)))])[0]
    if len(shape) != 2:
        x = b.node("Flatten", [x], axis=1)[0]
        b.shapes[x] = (shape[0], math.prod(shape[1:]))
    m, k = b.shapes[x]
    n = draw(size(5))
    trans_a, trans_b = draw(st.integers(0, 1)) if m == k else 0, draw(st.integers(0, 1))
    w = draw(arrays((n, k) if trans_b else (k, n), special=False))
    attrs = {"transB": trans_b} if trans_b else {}
    if trans_a:
        attrs["transA"] = 1
    if draw(st.booleans()):
        attrs["alpha"] = draw(small_floats())
    ins = [x, b.weight(w)]
    if draw(st.booleans()) or b.opset < 11:
        ins.append(b.const(draw(arrays(draw(st.sampled_from([(n,), (1, n), (m, n), (1,), ()])))), "c"))
        if draw(st.booleans()):
            attrs["beta"] = draw(small_floats())
    return b.node("Gemm", ins, **attrs)[0]


def qdq_pair(draw, b: Builder, x: str) -> str:
    """QuantizeLinear -> DequantizeLinear on x, per tensor (or per channel on axis 1 from opset 13)."""
    shape = b.shapes.get(x, ())
    dtype = draw(st.sampled_from([np.int8, np.int8, np.int8, np.uint8]))  # aot's kernels take int8
    per_axis = b.opset >= 13 and len(shape) >= 2 and draw(st.integers(0, 3)) == 0
    n = shape[1] if per_axis else None
    scale = np.float32(draw(st.sampled_from([0.02, 0.1, 1.0, 1e-3, 7.5]))) if n is None else \
        np.full(n, draw(st.sampled_from([0.02, 0.1, 1.0])), np.float32)
    zp_value = draw(st.integers(int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)))
    zp = dtype(zp_value) if n is None else np.full(n, zp_value, dtype)
    attrs = {"axis": 1} if per_axis else {}
    s, z = b.const(scale, "qs"), b.const(zp, "qz")
    q = b.node("QuantizeLinear", [x, s, z], **attrs)[0]
    return b.node("DequantizeLinear", [q, s, z], **attrs)[0]


def qdq_layer(draw, b: Builder, x: str) -> str | None:
    """A quantized layer as exporters write it: QDQ on the input, int8 weights, QDQ on the output."""
    if b.opset < 10:
        return None
    op = draw(st.sampled_from([conv, gemm, binary, pool, unary, reshape, concat, softmax, clip, pad]))
    xq = qdq_pair(draw, b, x)
    b.shapes[xq] = b.shapes[x]
    b.quant_weights = True
    try:
        y = op(draw, b, xq)
    finally:
        b.quant_weights = False
    if y is None or not b.infer([y]):
        return y
    return qdq_pair(draw, b, y)


OP_FAMILIES: list[Callable] = [unary, clip, binary, softmax, reduce, transpose, reshape, concat, slice_, split,
                               pad, gather, cast, conv, pool, batchnorm, gemm, qdq_layer]


@st.composite
def valid_models(draw) -> tuple[onnx.ModelProto, list[str]]:
    """A chain of 1..5 supported ops on one float input (through an int8 input and DequantizeLinear
    sometimes); mostly valid. Returns the model and notes naming the ops drawn."""
    opset = draw(st.one_of(st.sampled_from([13, 13, 17, 21]), st.integers(7, 21)))
    b = Builder(opset)
    image = draw(st.booleans())
    shape = ((draw(st.integers(1, 2)), draw(size(4)), *[draw(size(7)) for _ in range(draw(st.integers(1, 2)))])
             if image else tuple(draw(st.lists(size(6), min_size=1, max_size=4))))
    while math.prod(shape) > 4096:  # keeps sanitized runs of the larger layers fast
        shape = tuple(d // 2 if d == max(shape) else d for d in shape)
    notes = [f"opset {opset}", f"input {list(shape)}"]
    if opset >= 10 and draw(st.integers(0, 7)) == 0:
        dtype = draw(st.sampled_from([TensorProto.INT8, TensorProto.UINT8]))
        b.inputs.append(helper.make_tensor_value_info("xq", dtype, list(shape)))
        zp = np.int8(0) if dtype == TensorProto.INT8 else np.uint8(128)
        x = b.node("DequantizeLinear", ["xq", b.const(np.float32(0.05), "s"), b.const(zp, "zp")])[0]
        notes.append("int8 input")
    else:
        x = "x"
        b.inputs.append(helper.make_tensor_value_info(x, F32, list(shape)))
    b.shapes[x] = shape
    for _ in range(draw(st.integers(1, 5))):
        family = draw(st.sampled_from(OP_FAMILIES))
        y = family(draw, b, x)
        if y is None:
            continue
        notes.append(family.__name__)
        x = y
        if not b.infer([y, *b.extra_outputs]):
            notes.append("(shape unknown: chain stops)")
            break
        if 0 in b.shapes[y]:  # an empty tensor (a Slice past the end): it ends the model, ops need values
            notes.append("(empty: chain stops)")
            break
    outputs = [x, *b.extra_outputs]
    if len(b.nodes) and draw(st.integers(0, 5)) == 0:  # an intermediate tensor as a second output
        outputs.append(draw(st.sampled_from([o for n in b.nodes for o in n.output])))
    return b.model(outputs, declare_shapes=draw(st.integers(0, 4)) > 0), notes


# -- mutations: (draw, model) -> note; they edit the model in place ----------------------------------
def _all_tensor_names(m: onnx.ModelProto) -> list[str]:
    names = [i.name for i in m.graph.input] + [i.name for i in m.graph.initializer]
    names += [o for n in m.graph.node for o in n.output]
    return sorted(set(n for n in names if n))


def mutate_attribute(draw, m: onnx.ModelProto) -> str:
    nodes = list(m.graph.node)
    if not nodes:
        return "no node to mutate"
    node = draw(st.sampled_from(nodes))
    if not node.attribute or draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(["axis", "group", "kernel_shape", "pads", "strides", "perm", "keepdims",
                                     "to", "alpha", "mode", "bogus", "dilations", "ceil_mode", "transB"]))
        value = draw(st.sampled_from([-1, 0, 7, 2 ** 40, [0], [-1, -1], [2 ** 31] * 2, 1.5, "SAME", [1.0]]))
        node.attribute.append(helper.make_attribute(name, value))
        return f"{node.op_type}: added attribute {name}={value!r:.40}"
    a = draw(st.sampled_from(list(node.attribute)))
    kind = draw(st.sampled_from(["value", "value", "type", "length", "duplicate"]))
    if kind == "duplicate":
        node.attribute.append(a)
    elif kind == "type":
        new = helper.make_attribute(a.name, draw(st.sampled_from([1.5, 3, [1, 2], "x", [0.5]])))
        a.CopyFrom(new)
    elif a.type == onnx.AttributeProto.INT:
        a.i = draw(st.sampled_from([-2 ** 63, -2 ** 31, -7, -1, 0, 2, 5, 2 ** 31, 2 ** 63 - 1]))
    elif a.type == onnx.AttributeProto.INTS:
        if kind == "length" or not a.ints:
            a.ints.extend(draw(st.lists(st.integers(-2, 4), min_size=0, max_size=3)))
            if draw(st.booleans()) and a.ints:
                del a.ints[0]
        else:
            a.ints[draw(st.integers(0, len(a.ints) - 1))] = draw(st.sampled_from([-2 ** 40, -3, -1, 0, 1000,
                                                                                  2 ** 40]))
    elif a.type == onnx.AttributeProto.FLOAT:
        a.f = draw(st.sampled_from([float("nan"), float("inf"), -1.0, 0.0, 1e38, -1e-45]))
    elif a.type == onnx.AttributeProto.STRING:
        a.s = draw(st.sampled_from([b"", b"SAME_UPPER", b"reflect", b"wrap", b"\xff\xfe", b"NOTSET"]))
    elif a.type == onnx.AttributeProto.TENSOR:
        a.t.dims.append(0)
    return f"{node.op_type}.{a.name}: {kind}"


def mutate_initializer(draw, m: onnx.ModelProto) -> str:
    inits = list(m.graph.initializer)
    if not inits:
        return "no initializer to mutate"
    t = draw(st.sampled_from(inits))
    kind = draw(st.sampled_from(["dims", "dims", "dtype", "data", "external", "scalar", "remove"]))
    if kind == "dims":
        dims = list(t.dims)
        how = draw(st.sampled_from(["add", "drop", "zero", "negative", "huge", "swap"]))
        if how == "add":
            dims.insert(draw(st.integers(0, len(dims))), draw(st.sampled_from([1, 2])))
        elif how == "drop" and dims:
            dims.pop(draw(st.integers(0, len(dims) - 1)))
        elif how == "swap" and len(dims) >= 2:
            dims.reverse()
        elif dims:
            dims[draw(st.integers(0, len(dims) - 1))] = {"zero": 0, "negative": -1, "huge": 2 ** 33}.get(how, 1)
        del t.dims[:]
        t.dims.extend(dims)
    elif kind == "dtype":
        t.data_type = draw(st.sampled_from([TensorProto.INT64, TensorProto.INT32, TensorProto.DOUBLE,
                                            TensorProto.FLOAT16, TensorProto.BOOL, TensorProto.INT8,
                                            TensorProto.UINT8, TensorProto.STRING, TensorProto.BFLOAT16,
                                            TensorProto.COMPLEX64, 0, 40]))
    elif kind == "data":
        if t.raw_data:
            cut = draw(st.integers(0, len(t.raw_data) + 3))
            t.raw_data = t.raw_data[:cut] if cut <= len(t.raw_data) else t.raw_data + b"\0" * cut
        else:
            t.float_data.append(1.0)
    elif kind == "external":
        t.data_location = TensorProto.EXTERNAL
        t.ClearField("raw_data")
        where = draw(st.sampled_from(["missing.bin", "../outside.bin", "/etc/hostname", "", "."]))
        t.external_data.append(onnx.StringStringEntryProto(key="location", value=where))
    elif kind == "scalar":
        del t.dims[:]
    else:
        m.graph.initializer.remove(t)
    return f"initializer {t.name}: {kind}"


def mutate_value_info(draw, m: onnx.ModelProto) -> str:
    where = draw(st.sampled_from(["input", "output"]))
    vis = list(m.graph.input if where == "input" else m.graph.output)
    if not vis:
        return f"no {where}"
    vi = draw(st.sampled_from(vis))
    tt = vi.type.tensor_type
    kind = draw(st.sampled_from(["dim", "dim", "dtype", "noshape", "rank", "notensor"]))
    if kind == "dim" and tt.shape.dim:
        d = tt.shape.dim[draw(st.integers(0, len(tt.shape.dim) - 1))]
        value = draw(st.sampled_from([0, -1, -7, 2 ** 31, 2 ** 40, 3, "N", ""]))
        if isinstance(value, str):
            d.dim_param = value
        else:
            d.dim_value = value
    elif kind == "dtype":
        tt.elem_type = draw(st.sampled_from([TensorProto.INT64, TensorProto.DOUBLE, TensorProto.FLOAT16,
                                             TensorProto.BOOL, TensorProto.STRING, TensorProto.INT8, 0, 99]))
    elif kind == "noshape":
        tt.ClearField("shape")
    elif kind == "rank":
        tt.shape.dim.add().dim_value = 1
    else:
        vi.type.ClearField("tensor_type")
        vi.type.sequence_type.elem_type.tensor_type.elem_type = F32
    return f"{where} {vi.name}: {kind}"


def _rename(m: onnx.ModelProto, old: str, new: str, everywhere: bool) -> None:
    fields = [*m.graph.input, *m.graph.output, *m.graph.initializer]
    for f in fields:
        if f.name == old:
            f.name = new
            if not everywhere:
                return
    for n in m.graph.node:
        for lst in (n.input, n.output):
            for i, v in enumerate(lst):
                if v == old:
                    lst[i] = new
                    if not everywhere:
                        return


def mutate_names(draw, m: onnx.ModelProto) -> str:
    names = _all_tensor_names(m)
    if not names:
        return "no names"
    old = draw(st.sampled_from(names))
    kind = draw(st.sampled_from(["awkward", "awkward", "dangling", "duplicate", "empty", "node_names"]))
    if kind == "node_names":
        name = draw(st.sampled_from(AWKWARD_NAMES + [""]))
        for n in m.graph.node:
            n.name = name
        return f"every node named {name!r:.20}"
    new = {"awkward": draw(st.sampled_from(AWKWARD_NAMES)), "dangling": old + "_typo", "empty": "",
           "duplicate": draw(st.sampled_from(names))}[kind]
    _rename(m, old, new, everywhere=kind == "awkward")
    return f"tensor {old!r} -> {new!r:.20} ({kind})"


def mutate_structure(draw, m: onnx.ModelProto) -> str:
    g = m.graph
    kind = draw(st.sampled_from(["drop_node", "dup_node", "reverse", "cycle", "unused_input", "output_is_input",
                                 "dup_output", "unknown_op", "domain", "extra_node_input", "drop_node_input",
                                 "no_outputs", "input_is_initializer"]))
    nodes = list(g.node)
    if kind == "drop_node" and nodes:
        g.node.remove(draw(st.sampled_from(nodes)))
    elif kind == "dup_node" and nodes:
        g.node.append(draw(st.sampled_from(nodes)))
    elif kind == "reverse":
        rev = list(reversed(nodes))
        del g.node[:]
        g.node.extend(rev)
    elif kind == "cycle" and nodes:
        n = draw(st.sampled_from(nodes))
        if n.input and draw(st.booleans()):
            n.input[0] = nodes[-1].output[0]  # an earlier node reads the last one's output
        else:
            n.input.append(n.output[0])  # a node reads its own output
    elif kind == "unused_input":
        g.input.append(helper.make_tensor_value_info(draw(st.sampled_from(AWKWARD_NAMES)), F32, [2, 3]))
    elif kind == "output_is_input" and g.input:
        g.output.append(g.input[0])
    elif kind == "dup_output" and g.output:
        g.output.append(g.output[0])
    elif kind == "unknown_op" and nodes:
        n = draw(st.sampled_from(nodes))
        n.op_type = draw(st.sampled_from(["FooBar", "LSTM", "If", "Resize", "Constant", "ConstantOfShape"]))
    elif kind == "domain" and nodes:
        draw(st.sampled_from(nodes)).domain = draw(st.sampled_from(["com.microsoft", "ai.onnx.ml", "ai.onnx",
                                                                     "custom"]))
    elif kind == "extra_node_input" and nodes:
        draw(st.sampled_from(nodes)).input.append(draw(st.sampled_from(_all_tensor_names(m) + [""])))
    elif kind == "drop_node_input" and nodes:
        n = draw(st.sampled_from(nodes))
        if n.input:
            del n.input[draw(st.integers(0, len(n.input) - 1))]
    elif kind == "no_outputs":
        del g.output[:]
    elif kind == "input_is_initializer" and g.initializer:
        t = draw(st.sampled_from(list(g.initializer)))
        g.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return f"structure: {kind}"


def mutate_versions(draw, m: onnx.ModelProto) -> str:
    kind = draw(st.sampled_from(["opset", "opset", "ir", "extra_domain", "no_opset", "dup_opset"]))
    if kind == "opset" and m.opset_import:
        m.opset_import[0].version = draw(st.integers(1, 25))
    elif kind == "ir":
        m.ir_version = draw(st.sampled_from([0, 1, 3, 4, 6, 7, 9, 10, 11, 12, 13]))
    elif kind == "extra_domain":
        m.opset_import.append(helper.make_opsetid(draw(st.sampled_from(["com.microsoft", "ai.onnx.ml", "x"])), 1))
    elif kind == "no_opset":
        del m.opset_import[:]
    else:
        m.opset_import.append(helper.make_opsetid("", draw(st.integers(7, 21))))
    return f"versions: {kind} (opset {[o.version for o in m.opset_import]}, ir {m.ir_version})"


MUTATIONS: list[Callable] = [mutate_attribute, mutate_initializer, mutate_value_info, mutate_names,
                             mutate_structure, mutate_versions]


@st.composite
def corrupt_bytes(draw, data: bytes) -> tuple[bytes, str]:
    """Truncate, flip, insert or overwrite bytes of a serialized model."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "zero_run"]))
    buf = bytearray(data)
    if kind == "truncate":
        cut = draw(st.integers(0, max(0, len(buf) - 1)))
        return bytes(buf[:cut]), f"bytes: truncated at {cut} of {len(buf)}"
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, max(0, len(buf) - 1)))
        if kind == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            buf[pos:pos] = bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=4)))
        else:
            buf[pos:pos + 4] = b"\0\0\0\0"
    return bytes(buf), f"bytes: {kind}"


@st.composite
def fuzz_cases(draw, max_mutations: int = 3, corrupt: bool = True) -> FuzzCase:
    """A model drawn by valid_models, then 0..max_mutations mutations, then (rarely) byte corruption."""
    model, notes = draw(valid_models())
    for _ in range(draw(st.integers(0, max_mutations))):
        notes.append(draw(st.sampled_from(MUTATIONS))(draw, model))
    try:
        data = model.SerializeToString()
    except ValueError as exc:  # protobuf refuses invalid UTF-8 in string fields: keep the model without it
        notes.append(f"not serializable ({exc})")
        data = b""
    if corrupt and draw(st.integers(0, 9)) == 0:
        data, note = draw(corrupt_bytes(data))
        notes.append(note)
    return FuzzCase(data, tuple(notes))
