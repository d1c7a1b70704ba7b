"""NaN, infinities, signed zero, denormals and huge values: every float op family the ref backend runs
follows ONNX Runtime (NaN where ORT has NaN, the same infinities, the same finite values to rounding).

ONNX Runtime 1.32's CPU behaviour, measured, that the kernels follow: ReduceMax/ReduceMin start from the
first element and then pass NaN over (a NaN first element is kept); ReduceLogSumExp gives +inf when +inf
is in the set and -inf for all -inf; MaxPool and GlobalMaxPool start from -FLT_MAX (a window of -inf gives
-FLT_MAX). Where a MaxPool window holds a NaN, ORT's result depends on its vector path (shape and CPU:
mostly the NaN is passed over, sometimes it comes out); the C kernel always gives NaN there, so its NaN
positions are a superset of ORT's and every other position is equal. Sums (Conv, Gemm, pools, ReduceSum)
of values that overflow part way depend on the order of summation, so their random inputs leave out
values near FLT_MAX. QuantizeLinear to int8: -128 for NaN, infinities and huge values saturate.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.compiler import compile_model, write_library
from aot.reference import run_reference
from aot.targets.host import load

from conftest import float_input, make_model

SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e-30, 1e30, -1e30, 3e38, -3e38], np.float32)
# for sums: no values whose partial sums overflow or cancel depending on the order of summation
SPECIAL_SUM = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-40, 1e-30, -1e-30, 1e-38], np.float32)


def special_tensor(shape, seed: int, density: float = 0.25, values: np.ndarray = SPECIAL) -> np.ndarray:
    """Random normal values with a fraction replaced by special ones (every kind appears when room allows)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32).ravel()
    n = max(len(values), int(x.size * density)) if x.size >= 2 * len(values) else x.size // 3
    where = rng.choice(x.size, size=n, replace=False)
    x[where] = np.resize(values, n)
    return x.reshape(shape)


def assert_like_ort(got: np.ndarray, ref: np.ndarray, what: str, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    got, ref = np.asarray(got, np.float32), np.asarray(ref, np.float32)
    assert got.shape == ref.shape, what
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    assert np.array_equal(nan_got, nan_ref), (f"{what}: NaN positions differ from ONNX Runtime at "
                                              f"{np.argwhere(nan_got != nan_ref)[:8].tolist()}\nC:   {got.ravel()}\nORT: {ref.ravel()}")
    inf_ref = np.isinf(ref)
    assert np.array_equal(got[inf_ref], ref[inf_ref]), f"{what}: infinities differ: C {got[inf_ref]} ORT {ref[inf_ref]}"
    assert not np.isinf(got[~inf_ref & ~nan_ref]).any(), f"{what}: C has infinities where ONNX Runtime does not"
    fin = ~nan_ref & ~inf_ref
    np.testing.assert_allclose(got[fin], ref[fin], rtol=rtol, atol=atol, err_msg=what)


def check(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path, what: str, **tol) -> None:
    lib = load(write_library(compile_model(model), tmp_path / "lib"))
    got = lib.run(list(feeds.values()))
    ref = run_reference(model, feeds)
    for g, r in zip(got, ref):
        assert_like_ort(g, r, what, **tol)


def single(op_type: str, in_shapes: dict, out_shape: list, inits: dict | None = None, opset: int = 13, **attrs):
    node = helper.make_node(op_type, list(in_shapes) + list(inits or {}), ["y"], name="op", **attrs)
    return make_model([node], [float_input(k, v) for k, v in in_shapes.items()], [float_input("y", out_shape)],
                      inits, opset=opset)


POOLS = [
    ("MaxPool", [1, 3, 6, 6], [1, 3, 3, 3], dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("MaxPool", [1, 2, 5, 5], [1, 2, 5, 5], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])),
    ("MaxPool", [1, 2, 9], [1, 2, 4], dict(kernel_shape=[3], strides=[2])),
    ("AveragePool", [1, 3, 6, 6], [1, 3, 3, 3], dict(kernel_shape=[2, 2], strides=[2, 2])),
    ("AveragePool", [1, 2, 5, 5], [1, 2, 5, 5], dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("GlobalMaxPool", [1, 4, 3, 3], [1, 4, 1, 1], {}),
    ("GlobalAveragePool", [1, 4, 3, 3], [1, 4, 1, 1], {}),
]


@pytest.mark.parametrize("op_type,shape,out,attrs", POOLS, ids=[f"{p[0]}{i}" for i, p in enumerate(POOLS)])
@pytest.mark.parametrize("density", [0.1, 0.5])
def test_pools(op_type, shape, out, attrs, density, tmp_path):
    x = special_tensor(shape, 1, density, SPECIAL if "Max" in op_type else SPECIAL_SUM)
    model = single(op_type, {"x": shape}, out, **attrs)
    if "Max" not in op_type:
        check(model, {"x": x}, tmp_path, op_type)
        return
    got = load(write_library(compile_model(model), tmp_path / "lib")).run([x])[0]
    ref = run_reference(model, {"x": x})[0]
    # NaN exactly where a window holds one: the same pool over the NaN mask
    mask = np.isnan(x).astype(np.float32)
    nan_windows = run_reference(model, {"x": mask})[0] > 0
    assert np.array_equal(np.isnan(got), nan_windows), f"{op_type}: NaN is not where windows hold NaN"
    assert not (np.isnan(ref) & ~nan_windows).any(), "ONNX Runtime has NaN where no window holds one"
    assert_like_ort(got[~nan_windows], ref[~nan_windows], op_type)
    assert np.array_equal(got[~nan_windows].view(np.uint32), ref[~nan_windows].view(np.uint32)), op_type


def test_max_pool_windows_of_nan_and_minus_inf(tmp_path):
    """Windows of -inf give -FLT_MAX as in ONNX Runtime, a NaN anywhere in a window gives NaN, -0.0 stays
    (which of +0.0 and -0.0 a tie gives depends on ORT's vector path, so no ties here); ORT has NaN in no window where C has none."""
    nan, inf = np.nan, np.inf
    windows = [[nan, 1, 2, 3], [1, nan, 2, 3], [1, 2, 3, nan], [nan, nan, nan, nan], [nan, -inf, -inf, -inf],
               [-inf, -inf, -inf, -inf], [inf, nan, 1, 2], [-0.0, -1.0, -2.0, -1e-40], [1e-40, -1e-40, 0.0, 1e-45],
               [3e38, -3e38, inf, 1.0]]
    x = np.array(windows, np.float32).reshape(1, len(windows), 2, 2)
    expected = np.array([nan, nan, nan, nan, nan, -3.4028235e38, nan, -0.0, 1e-40, inf], np.float32)
    for op_type, attrs in (("MaxPool", dict(kernel_shape=[2, 2])), ("GlobalMaxPool", {})):
        model = single(op_type, {"x": list(x.shape)}, [1, len(windows), 1, 1], **attrs)
        got = load(write_library(compile_model(model), tmp_path / op_type)).run([x])[0].ravel()
        assert np.array_equal(got.view(np.uint32), expected.view(np.uint32)) or (
            np.array_equal(np.isnan(got), np.isnan(expected))
            and np.array_equal(got[~np.isnan(got)].view(np.uint32), expected[~np.isnan(expected)].view(np.uint32))), got
        ref = run_reference(model, {"x": x})[0].ravel()
        assert not (np.isnan(ref) & ~np.isnan(got)).any(), (op_type, ref)
        assert np.array_equal(ref[~np.isnan(expected)].view(np.uint32), got[~np.isnan(expected)].view(np.uint32))


SOFTMAX_CASES = [[1, np.nan, 2], [np.nan, 1, 2], [np.inf, 1, 2], [-np.inf, -np.inf, 1], [np.inf, np.inf, 0],
                 [-np.inf] * 3, [1e30, -1e30, 0], [3e38, 3e38, 3e38], [1e-40, -1e-40, 0.0], [88, 89, 90]]


@pytest.mark.parametrize("op_type", ["Softmax", "LogSoftmax"])
def test_softmax(op_type, tmp_path):
    x = np.array(SOFTMAX_CASES, np.float32)
    check(single(op_type, {"x": list(x.shape)}, list(x.shape), axis=1), {"x": x}, tmp_path / "rows", op_type)
    x3 = special_tensor([2, 5, 3], 2, 0.2)
    check(single(op_type, {"x": [2, 5, 3]}, [2, 5, 3], axis=1), {"x": x3}, tmp_path / "inner", op_type)


REDUCES = ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceMean", "ReduceProd", "ReduceSumSquare", "ReduceL1",
           "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"]
REDUCE_ROWS = [[1, np.nan, 2], [np.nan, 1, 2], [1, 2, np.nan], [3, 4, 5], [np.inf, 1, 2], [-np.inf, -np.inf, 1],
               [np.inf, -np.inf, 0], [-np.inf] * 3, [1e30, 1e30, -1], [3e38, 3e38, 1], [-0.0, -0.0, -0.0],
               [1e-40, 1e-40, 0], [np.nan] * 3, [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("op_type", REDUCES)
def test_reductions(op_type, tmp_path):
    x = np.array(REDUCE_ROWS, np.float32)
    axes = {"a": np.array([1], np.int64)}
    check(single(op_type, {"x": list(x.shape)}, [len(x)], axes, opset=18, keepdims=0), {"x": x}, tmp_path / "rows",
          op_type)
    check(single(op_type, {"x": list(x.shape)}, [3], {"a": np.array([0], np.int64)}, opset=18, keepdims=0),
          {"x": x}, tmp_path / "cols", op_type)
    x3 = special_tensor([3, 4, 5], 3, 0.1, SPECIAL if op_type in ("ReduceMax", "ReduceMin") else SPECIAL_SUM)
    check(single(op_type, {"x": [3, 4, 5]}, [3, 5], {"a": np.array([1], np.int64)}, opset=18, keepdims=0),
          {"x": x3}, tmp_path / "middle", op_type)


BINARY = ["Add", "Sub", "Mul", "Div", "PRelu"]


@pytest.mark.parametrize("op_type", BINARY)
def test_binary(op_type, tmp_path):
    a = np.tile(SPECIAL, len(SPECIAL)).reshape(len(SPECIAL), len(SPECIAL))
    b = a.T.copy()
    check(single(op_type, {"a": list(a.shape), "b": list(b.shape)}, list(a.shape)), {"a": a, "b": b},
          tmp_path / "full", op_type)
    row = SPECIAL.reshape(1, -1)
    check(single(op_type, {"a": list(a.shape), "b": list(row.shape)}, list(a.shape)), {"a": b, "b": row},
          tmp_path / "bcast", op_type)


def test_gemm_matmul_conv(tmp_path):
    rng = np.random.default_rng(4)
    x = special_tensor([2, 16], 5, 0.1, SPECIAL_SUM)
    w = rng.standard_normal((16, 6)).astype(np.float32)
    b = rng.standard_normal(6).astype(np.float32)
    check(single("Gemm", {"x": [2, 16]}, [2, 6], {"w": w, "b": b}), {"x": x}, tmp_path / "gemm", "Gemm", rtol=1e-4)
    check(single("MatMul", {"x": [2, 16]}, [2, 6], {"w": w}), {"x": x}, tmp_path / "matmul", "MatMul", rtol=1e-4)
    wbig = w.copy()
    wbig[0, 0], wbig[3, 2] = 1e30, -1e30
    xs = rng.standard_normal((2, 16)).astype(np.float32)
    xs[0, 0], xs[1, 3] = 1e30, 1e30
    check(single("MatMul", {"x": [2, 16]}, [2, 6], {"w": wbig}), {"x": xs}, tmp_path / "overflow", "MatMul",
          rtol=1e-4)
    xc = special_tensor([1, 3, 7, 7], 6, 0.05, SPECIAL_SUM)
    for name, shape, attrs in (("conv", (4, 3, 3, 3), dict(pads=[1, 1, 1, 1])), ("pointwise", (4, 3, 1, 1), {}),
                               ("depthwise", (3, 1, 3, 3), dict(group=3, pads=[1, 1, 1, 1]))):
        wc = rng.standard_normal(shape).astype(np.float32)
        bc = rng.standard_normal(shape[0]).astype(np.float32)
        check(single("Conv", {"x": [1, 3, 7, 7]}, [1, shape[0], 7, 7], {"w": wc, "b": bc}, **attrs), {"x": xc},
              tmp_path / name, f"Conv {name}", rtol=1e-4, atol=1e-4)


def test_data_movement_keeps_bits(tmp_path):
    """Concat, Slice, Transpose, Pad, Split-free copies: NaN, -0.0 and denormals come through bit for bit."""
    a = special_tensor([2, 3, 4], 7, 0.5)
    b = special_tensor([2, 2, 4], 8, 0.5)
    nodes = [helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
             helper.make_node("Slice", ["c", "st", "en", "ax"], ["s"]),
             helper.make_node("Transpose", ["s"], ["t"], perm=[2, 0, 1]),
             helper.make_node("Pad", ["t", "pads", "pv"], ["y"], mode="constant")]
    inits = {"st": np.array([1], np.int64), "en": np.array([4], np.int64), "ax": np.array([1], np.int64),
             "pads": np.array([0, 1, 0, 0, 0, 1], np.int64), "pv": np.array(-0.0, np.float32)}
    model = make_model(nodes, [float_input("a", [2, 3, 4]), float_input("b", [2, 2, 4])],
                       [float_input("y", [4, 3, 4])], inits)
    lib = load(write_library(compile_model(model), tmp_path / "lib"))
    got = lib.run([a, b])[0]
    ref = run_reference(model, {"a": a, "b": b})[0]
    assert np.array_equal(got.view(np.uint32) & 0x7FC00000 == 0x7FC00000, np.isnan(ref))
    assert np.array_equal(got[~np.isnan(ref)].view(np.uint32), ref[~np.isnan(ref)].view(np.uint32))


def test_batchnorm(tmp_path):
    x = special_tensor([1, 4, 3, 3], 9, 0.3, SPECIAL_SUM)
    rng = np.random.default_rng(9)
    inits = {"s": rng.standard_normal(4).astype(np.float32), "b": rng.standard_normal(4).astype(np.float32),
             "m": rng.standard_normal(4).astype(np.float32), "v": rng.uniform(0.5, 2, 4).astype(np.float32)}
    check(single("BatchNormalization", {"x": [1, 4, 3, 3]}, [1, 4, 3, 3], inits), {"x": x}, tmp_path, "BN")


QL_VALUES = np.array([np.nan, -np.nan, np.inf, -np.inf, 1e30, -1e30, 3e38, -3e38, 300.0, -300.0, 2.5, 3.5, -2.5, 1e-40,
                      -0.0, 63.5, -64.5, 127.4, -128.6], np.float32)


@pytest.mark.parametrize("scale,zp", [(1.0, 3), (0.5, -3), (0.25, 0), (1e-30, 127), (3e38, -128)])
def test_quantize_linear_of_special_values(scale, zp, tmp_path):
    """int8 QuantizeLinear: NaN gives -128, infinities and huge values saturate, as ONNX Runtime; the C
    kernel and the Python golden agree (the C cast is defined for every input)."""
    from aot.quant.golden import quantize_linear

    x = QL_VALUES
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], name="quant"),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], name="dequant")]
    inits = {"s": np.array(scale, np.float32), "z": np.array(zp, np.int8)}
    model = make_model(nodes, [float_input("x", [x.size])], [float_input("y", [x.size])], inits)
    ql_only = make_model(nodes[:1], [float_input("x", [x.size])],
                         [helper.make_tensor_value_info("q", TensorProto.INT8, [x.size])], inits)
    ort_q = run_reference(ql_only, {"x": x})[0]
    compiled = compile_model(model)
    assert "QuantizeLinear" in [c.node.op_type for c in compiled.calls]
    got = load(write_library(compiled, tmp_path / "lib")).run([x])[0]
    with np.errstate(over="ignore"):
        expected = (ort_q.astype(np.float32) - zp) * np.float32(scale)
    assert np.array_equal(got, expected), f"C {got}\nORT {expected}"
    node = next(c.node for c in compiled.calls if c.node.op_type == "QuantizeLinear")
    with np.errstate(all="raise"):
        golden = quantize_linear(node, compiled.graph, x)
    assert np.array_equal(golden, ort_q), f"golden {golden}\nORT {ort_q}"


def test_channels_last_max_pool_as_channels_first(tmp_path):
    """The NHWC MaxPool (--layout MaxPool=NHWC) gives the same bits as the NCHW one on special values."""
    from aot.compiler import CompileOptions

    x = special_tensor([1, 3, 6, 6], 10, 0.3)
    model = single("MaxPool", {"x": [1, 3, 6, 6]}, [1, 3, 3, 3], kernel_shape=[2, 2], strides=[2, 2])
    nchw = load(write_library(compile_model(model), tmp_path / "nchw")).run([x])[0]
    compiled = compile_model(model, CompileOptions(desired_layouts={"MaxPool": ["NHWC"]}))
    assert any("nhwc" in c.kernel.template for c in compiled.calls if c.node.op_type == "MaxPool")
    nhwc = load(write_library(compiled, tmp_path / "nhwc")).run([x])[0]
    assert np.array_equal(np.isnan(nchw), np.isnan(nhwc)) and np.isnan(nchw).any()
    assert np.array_equal(nchw[~np.isnan(nchw)].view(np.uint32), nhwc[~np.isnan(nhwc)].view(np.uint32))


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32"])
def test_cast_float_to_int_of_special_values(dtype, tmp_path):
    """NaN gives ONNX Runtime's value (0, or INT32_MIN for int32); in-range values truncate as ORT;
    out-of-range values and infinities saturate (ORT wraps them: the ONNX spec leaves them undefined)."""
    info = np.iinfo(dtype)
    x = np.array([np.nan, np.inf, -np.inf, 3e9, -3e9, 2147483648.0, 2147483520.0, -2147483648.0, 300, -300, 2.7,
                  -2.7, 127.9, -128.9, -0.0, 1e-40], np.float32)
    to = {"int8": TensorProto.INT8, "int16": TensorProto.INT16, "int32": TensorProto.INT32}[dtype]
    model = make_model([helper.make_node("Cast", ["x"], ["y"], to=to)], [float_input("x", [x.size])],
                       [helper.make_tensor_value_info("y", to, [x.size])])
    got = load(write_library(compile_model(model), tmp_path / "lib")).run([x])[0]
    ref = run_reference(model, {"x": x})[0]
    finite = np.isfinite(x)
    in_range = finite & (x >= info.min) & (x < float(info.max) + 1)
    assert np.array_equal(got[in_range], ref[in_range])
    assert got[0] == ref[0] == (info.min if dtype == "int32" else 0)  # NaN
    with np.errstate(invalid="ignore"):
        assert np.array_equal(got[~in_range & ~np.isnan(x)], np.where(x[~in_range & ~np.isnan(x)] > 0, info.max, info.min))
