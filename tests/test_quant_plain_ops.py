"""Quantization ops as plain computations (aot/quant/plain_qdq.py, kernels/quantize_plain.py,
kernels/integer_zero_point.py): each model is compiled to C, run, and compared with ONNX Runtime
bit for bit (integer outputs exactly, float outputs of DequantizeLinear exactly too: one subtraction
and one float32 product)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T, helper

from aot.compiler import compile_model, write_library
from aot.errors import AotError
from aot.flows.quant_check import check_quantized
from aot.reference import run_reference
from aot.targets.host import load

from conftest import make_model

RNG = np.random.default_rng(11)
NP = {T.INT8: np.int8, T.UINT8: np.uint8, T.INT16: np.int16, T.UINT16: np.uint16, T.INT32: np.int32,
      T.FLOAT: np.float32}


def vi(name: str, elem: int, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def codes(elem: int, shape) -> np.ndarray:
    info = np.iinfo(NP[elem])
    return RNG.integers(info.min, int(info.max) + 1, shape, dtype=np.int64).astype(NP[elem])


def onnx_reference(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The onnx package's reference evaluator, for forms ONNX Runtime has no kernel for."""
    from onnx.reference import ReferenceEvaluator
    return ReferenceEvaluator(model).run(None, feed)


def assert_matches_ort(model: onnx.ModelProto, feeds: list[dict[str, np.ndarray]], tmp_path,
                       plain_ops: tuple[str, ...] = (), reference=run_reference) -> None:
    compiled = compile_model(model)
    for op in plain_ops:  # the node ran as a plain kernel, not an int8 edge
        assert any(n.op_type == op and n.meta.get("plain_qdq") for n in compiled.graph.nodes), \
            [(n.op_type, n.meta.get("plain_qdq")) for n in compiled.graph.nodes]
    host = load(write_library(compiled, tmp_path / "lib"))
    for feed in feeds:
        for got, want in zip(host.run(feed), reference(model, feed)):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


def real_inputs(shape, scale: float, *, spread: float = 300.0) -> np.ndarray:
    """Floats around the code range, with exact halves (round half to even) and out-of-range values."""
    x = RNG.uniform(-spread, spread, shape).astype(np.float32) * np.float32(scale)
    flat = x.reshape(-1)
    halves = (RNG.integers(-200, 200, flat.size // 3) + 0.5).astype(np.float32) * np.float32(scale)
    flat[: halves.size] = halves
    flat[-2:] = [np.inf, -np.inf]
    return x


# -- QuantizeLinear / DequantizeLinear per tensor ----------------------------------------------------
@pytest.mark.parametrize("elem, zp", [(T.UINT8, 131), (T.INT16, -1200), (T.UINT16, 40000), (T.INT8, -3)])
def test_quantize_then_dequantize_per_tensor(elem, zp, tmp_path):
    """float -> Q -> codes (a graph output of that type) and -> DQ -> float: both outputs exact."""
    scale = np.float32(0.037) if elem in (T.UINT8, T.INT8) else np.float32(0.00071)
    inits = {"s": np.array(scale), "z": np.array(zp, NP[elem])}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    model = make_model(nodes, [vi("x", T.FLOAT, [4, 33])], [vi("q", elem, [4, 33]), vi("y", T.FLOAT, [4, 33])],
                       inits, opset=21)
    spread = 300.0 if elem in (T.UINT8, T.INT8) else 50000.0
    feeds = [{"x": real_inputs((4, 33), scale, spread=spread)} for _ in range(3)]
    # int8 with constant parameters keeps the int8 edge kernels (the QDQ path), the others run plain
    plain = () if elem == T.INT8 else ("QuantizeLinear", "DequantizeLinear")
    assert_matches_ort(model, feeds, tmp_path, plain_ops=plain)


@pytest.mark.parametrize("elem", [T.UINT8, T.INT16, T.UINT16, T.INT32])
def test_dequantize_graph_input_codes(elem, tmp_path):
    zp = {T.UINT8: 200, T.INT16: 17, T.UINT16: 3, T.INT32: -100000}[elem]
    inits = {"s": np.array(0.0123, np.float32), "z": np.array(zp, NP[elem])}
    model = make_model([helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"])], [vi("x", elem, [64])],
                       [vi("y", T.FLOAT, [64])], inits, opset=21)
    assert_matches_ort(model, [{"x": codes(elem, (64,))} for _ in range(3)], tmp_path, plain_ops=("DequantizeLinear",))


def test_quantize_without_zero_point_takes_output_dtype(tmp_path):
    """No zero point: the output type comes from output_dtype (opset 21), the zero point is 0."""
    model = make_model([helper.make_node("QuantizeLinear", ["x", "s"], ["y"], output_dtype=T.UINT16)],
                       [vi("x", T.FLOAT, [50])], [vi("y", T.UINT16, [50])], {"s": np.array(0.01, np.float32)}, opset=21)
    assert_matches_ort(model, [{"x": real_inputs((50,), 0.01, spread=70000.0)}], tmp_path,
                       plain_ops=("QuantizeLinear",))


# -- per axis and blocked ----------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_per_axis_quantize_and_dequantize(axis, tmp_path):
    shape = [3, 4, 5]
    channels = shape[axis]
    inits = {"s": RNG.uniform(0.01, 0.05, channels).astype(np.float32),
             "z": RNG.integers(0, 256, channels).astype(np.uint8)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], axis=axis),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis)]
    model = make_model(nodes, [vi("x", T.FLOAT, shape)], [vi("q", T.UINT8, shape), vi("y", T.FLOAT, shape)],
                       inits, opset=21)
    assert_matches_ort(model, [{"x": real_inputs(shape, 0.03)} for _ in range(3)], tmp_path,
                       plain_ops=("QuantizeLinear", "DequantizeLinear"))


@pytest.mark.parametrize("axis, block", [(1, 2), (1, 3), (0, 2), (2, 4)])
def test_blocked_dequantize(axis, block, tmp_path):
    """Blocked quantization (opset 21): one scale per block of ``block`` elements along ``axis``; a last
    block may be shorter."""
    shape = [2, 5, 6]
    sshape = list(shape)
    sshape[axis] = -(-shape[axis] // block)
    inits = {"s": RNG.uniform(0.01, 0.05, sshape).astype(np.float32),
             "z": RNG.integers(-20, 20, sshape).astype(np.int8)}
    model = make_model([helper.make_node("DequantizeLinear", ["x", "s", "z"], ["y"], axis=axis, block_size=block)],
                       [vi("x", T.INT8, shape)], [vi("y", T.FLOAT, shape)], inits, opset=21)
    assert_matches_ort(model, [{"x": codes(T.INT8, shape)} for _ in range(2)], tmp_path,
                       plain_ops=("DequantizeLinear",))


def test_blocked_quantize_matches_the_onnx_reference(tmp_path):
    """ONNX Runtime has no blocked QuantizeLinear kernel for int16: checked against onnx's reference."""
    shape, block = [3, 7], 3
    inits = {"s": RNG.uniform(0.001, 0.01, (3, 3)).astype(np.float32),
             "z": RNG.integers(-500, 500, (3, 3)).astype(np.int16)}
    model = make_model([helper.make_node("QuantizeLinear", ["x", "s", "z"], ["y"], axis=1, block_size=block)],
                       [vi("x", T.FLOAT, shape)], [vi("y", T.INT16, shape)], inits, opset=21)
    feeds = [{"x": RNG.uniform(-400, 400, shape).astype(np.float32)} for _ in range(3)]
    assert_matches_ort(model, feeds, tmp_path, plain_ops=("QuantizeLinear",), reference=onnx_reference)


# -- scales computed at run time ---------------------------------------------------------------------
def test_run_time_scale_and_zero_point(tmp_path):
    """Scale and zero point as graph inputs (the int8 lowering needs constants; plain kernels read them)."""
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
             helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])]
    model = make_model(nodes, [vi("x", T.FLOAT, [2, 9]), vi("s", T.FLOAT, []), vi("z", T.INT8, [])],
                       [vi("y", T.FLOAT, [2, 9])], opset=13)
    feeds = [{"x": real_inputs((2, 9), 0.05), "s": np.array(s, np.float32), "z": np.array(z, np.int8)}
             for s, z in ((0.05, 0), (0.013, -100), (1.5, 77))]
    assert_matches_ort(model, feeds, tmp_path, plain_ops=("QuantizeLinear", "DequantizeLinear"))


def test_dynamic_quantize_linear(tmp_path):
    """DynamicQuantizeLinear (uint8, scale and zero point from the input's range) compiles by its ONNX
    function body into plain kernels; all three outputs match ONNX Runtime."""
    model = make_model([helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "s", "z"])], [vi("x", T.FLOAT, [3, 17])],
                       [vi("y", T.UINT8, [3, 17]), vi("s", T.FLOAT, []), vi("z", T.UINT8, [])], opset=13)
    feeds = [{"x": RNG.uniform(lo, hi, (3, 17)).astype(np.float32)} for lo, hi in ((-3, 5), (0.5, 9), (-7, -1))]
    feeds.append({"x": np.zeros((3, 17), np.float32)})  # an empty range: ONNX Runtime's scale 1, not 0 / 0
    assert_matches_ort(model, feeds, tmp_path)
    assert "DynamicQuantizeLinear" in {n.op_type for n in compile_model(model).graph.nodes}  # its own kernel


def test_dynamically_quantized_matmul(tmp_path):
    """ONNX Runtime's dynamic quantization of a MatMul: DynamicQuantizeLinear feeds MatMulInteger its uint8
    codes and run-time zero point, against int8 weights. The codes, scale and zero point match ONNX
    Runtime exactly; the int32 products match the exact sums (ONNX Runtime's u8s8 AVX2 path saturates
    int16 pair sums on CPUs without VNNI, so it is not the reference for them)."""
    w = RNG.integers(-128, 128, (8, 5)).astype(np.int8)
    inits = {"w": w, "wz": np.array(3, np.int8)}
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
             helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["acc"])]
    model = make_model(nodes, [vi("x", T.FLOAT, [4, 8])],
                       [vi("acc", T.INT32, [4, 5]), vi("xq", T.UINT8, [4, 8]), vi("xs", T.FLOAT, []),
                        vi("xz", T.UINT8, [])], inits, opset=13)
    compiled = compile_model(model)
    assert [n.op_type for n in compiled.graph.nodes] == ["DynamicQuantizeLinear", "MatMulInteger"]
    host = load(write_library(compiled, tmp_path / "lib"))
    for lo, hi in ((-2, 3), (0.1, 4), (-5, -0.5)):
        feed = {"x": RNG.uniform(lo, hi, (4, 8)).astype(np.float32)}
        acc, xq, xs, xz = host.run(feed)
        want = run_reference(model, feed)
        for got, ref in zip((xq, xs, xz), want[1:]):
            np.testing.assert_array_equal(got, ref)
        exact = (xq.astype(np.int64) - int(xz)) @ (w.astype(np.int64) - 3)
        np.testing.assert_array_equal(acc, exact.astype(np.int32))


# -- MatMulInteger / ConvInteger with run-time zero points --------------------------------------------
@pytest.mark.parametrize("elem", [T.UINT8, T.INT8])
@pytest.mark.parametrize("a_shape, b_shape, a_zp, b_zp", [
    ([4, 7], [7, 3], [], []),  # scalar zero points
    ([4, 7], [7, 3], [], [3]),  # per column of B
    ([4, 7], [7, 3], [4], [3]),  # per row of A (ONNX Runtime refuses it: the onnx reference checks)
    ([2, 1, 4, 7], [3, 7, 5], [], []),  # batch axes broadcast
])
def test_matmul_integer_run_time_zero_points(elem, a_shape, b_shape, a_zp, b_zp, tmp_path):
    out = list(np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))) + [a_shape[-2], b_shape[-1]]
    model = make_model([helper.make_node("MatMulInteger", ["a", "b", "az", "bz"], ["y"])],
                       [vi("a", elem, a_shape), vi("b", elem, b_shape), vi("az", elem, a_zp), vi("bz", elem, b_zp)],
                       [vi("y", T.INT32, out)], opset=13)
    feeds = [{"a": codes(elem, a_shape), "b": codes(elem, b_shape), "az": codes(elem, a_zp), "bz": codes(elem, b_zp)}
             for _ in range(3)]
    assert_matches_ort(model, feeds, tmp_path, reference=per_row_matmul_integer if a_zp else run_reference)


def per_row_matmul_integer(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    """MatMulInteger with one A zero point per row, as the ONNX spec defines it (neither ONNX Runtime nor
    the onnx reference implements that form)."""
    a = feed["a"].astype(np.int64) - feed["az"].astype(np.int64)[:, None]
    b = feed["b"].astype(np.int64) - feed["bz"].astype(np.int64)
    return [(a @ b).astype(np.int32)]


@pytest.mark.parametrize("elem", [T.UINT8, T.INT8])
@pytest.mark.parametrize("attrs, w_zp", [
    ({"pads": [1, 1, 1, 1]}, []),
    ({"pads": [1, 0, 2, 1], "strides": [2, 1]}, [4]),
    ({"group": 2, "dilations": [2, 2]}, [4]),
])
def test_conv_integer_run_time_zero_points(elem, attrs, w_zp, tmp_path):
    group = attrs.get("group", 1)
    x_shape, w_shape = [2, 4, 7, 6], [4, 4 // group, 3, 3]
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], **attrs)
    inputs = [vi("x", elem, x_shape), vi("w", elem, w_shape), vi("xz", elem, []), vi("wz", elem, w_zp)]
    probe = helper.make_model(helper.make_graph([node], "probe", inputs, [vi("y", T.INT32, None)]),
                              opset_imports=[helper.make_opsetid("", 13)])
    out = onnx.shape_inference.infer_shapes(probe).graph.value_info or \
        onnx.shape_inference.infer_shapes(probe).graph.output
    out = out[0].type.tensor_type.shape
    model = make_model([node], inputs, [vi("y", T.INT32, [d.dim_value for d in out.dim])], opset=13)
    feeds = [{"x": codes(elem, x_shape), "w": codes(elem, w_shape), "xz": codes(elem, []), "wz": codes(elem, w_zp)}
             for _ in range(2)]
    # ONNX Runtime's ConvInteger takes one weight zero point; per channel the onnx reference checks
    assert_matches_ort(model, feeds, tmp_path, reference=onnx_reference if w_zp else run_reference)


@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv_with_run_time_scales_and_bias(per_channel, tmp_path):
    """Every QLinearConv parameter a graph input: dequantize, float Conv (bias scale x_scale * w_scale
    computed at run time), quantize. ONNX Runtime's integer kernel rounds once where this rounds the float
    result, so codes may differ by one step at exact ties, never more."""
    c = 3
    w_params = [c] if per_channel else []
    names = ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"]
    inputs = [vi("x", T.UINT8, [1, 2, 5, 5]), vi("xs", T.FLOAT, []), vi("xz", T.UINT8, []),
              vi("w", T.UINT8, [c, 2, 3, 3]), vi("ws", T.FLOAT, w_params), vi("wz", T.UINT8, w_params),
              vi("ys", T.FLOAT, []), vi("yz", T.UINT8, []), vi("b", T.INT32, [c])]
    model = make_model([helper.make_node("QLinearConv", names, ["y"], pads=[1, 1, 1, 1])], inputs,
                       [vi("y", T.UINT8, [1, c, 5, 5])], opset=13)
    host = load(write_library(compile_model(model), tmp_path / "lib"))
    for _ in range(3):
        feed = {"x": codes(T.UINT8, [1, 2, 5, 5]), "xs": np.array(0.02, np.float32), "xz": np.array(120, np.uint8),
                "w": codes(T.UINT8, [c, 2, 3, 3]), "ws": RNG.uniform(0.01, 0.03, w_params).astype(np.float32),
                "wz": RNG.integers(100, 150, w_params).astype(np.uint8), "ys": np.array(0.3, np.float32),
                "yz": np.array(128, np.uint8), "b": RNG.integers(-3000, 3000, c).astype(np.int32)}
        got, want = host.run(feed)[0].astype(int), run_reference(model, feed)[0].astype(int)
        assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.9


@pytest.mark.parametrize("elem", [T.UINT8, T.INT8])
@pytest.mark.parametrize("a_shape, b_shape, per_column", [([3, 6], [6, 4], False), ([3, 6], [6, 4], True),
                                                          ([2, 3, 6], [2, 6, 4], False)])
def test_qlinear_matmul_with_run_time_scales(elem, a_shape, b_shape, per_column, tmp_path):
    """QLinearMatMul with every scale and zero point a graph input (per column of B too)."""
    n = b_shape[-1]
    b_params = [n] if per_column else []
    names = ["a", "as", "az", "b", "bs", "bz", "ys", "yz"]
    out = a_shape[:-1] + [n]
    inputs = [vi("a", elem, a_shape), vi("as", T.FLOAT, []), vi("az", elem, []), vi("b", elem, b_shape),
              vi("bs", T.FLOAT, b_params), vi("bz", elem, b_params), vi("ys", T.FLOAT, []), vi("yz", elem, [])]
    model = make_model([helper.make_node("QLinearMatMul", names, ["y"])], inputs, [vi("y", elem, out)], opset=13)
    host = load(write_library(compile_model(model), tmp_path / "lib"))
    for _ in range(3):
        feed = {"a": codes(elem, a_shape), "as": np.array(0.02, np.float32), "az": codes(elem, []),
                "b": codes(elem, b_shape), "bs": RNG.uniform(0.01, 0.03, b_params).astype(np.float32),
                "bz": codes(elem, b_params), "ys": np.array(0.9, np.float32), "yz": codes(elem, [])}
        got, want = host.run(feed)[0].astype(int), run_reference(model, feed)[0].astype(int)
        # ONNX Runtime requantizes its integer sum once; the float MatMul here rounds at ties apart
        assert np.abs(got - want).max() <= 1 and np.mean(got == want) > 0.9


def test_weight_shared_by_an_int8_and_a_float_layer(tmp_path):
    """One constant weight DQ read by a layer whose input scale is a constant (lowered to int8) and by a
    layer whose input scale is computed at run time (float between plain kernels): the first still lowers."""
    inits = {"xs": np.array(0.05, np.float32), "z": np.array(0, np.int8), "ys": np.array(0.1, np.float32),
             "w": RNG.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8), "ws": np.array(0.01, np.float32)}
    nodes = [helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"]),
             helper.make_node("DequantizeLinear", ["x1", "xs", "z"], ["x1f"]),
             helper.make_node("Conv", ["x1f", "wf"], ["c1"], name="int8_layer"),
             helper.make_node("QuantizeLinear", ["c1", "ys", "z"], ["y1"]),
             helper.make_node("DequantizeLinear", ["x2", "s2", "z"], ["x2f"]),
             helper.make_node("Conv", ["x2f", "wf"], ["c2"], name="float_layer"),
             helper.make_node("QuantizeLinear", ["c2", "ys", "z"], ["y2"])]
    model = make_model(nodes, [vi("x1", T.INT8, [1, 2, 5, 5]), vi("x2", T.INT8, [1, 2, 5, 5]), vi("s2", T.FLOAT, [])],
                       [vi("y1", T.INT8, [1, 3, 3, 3]), vi("y2", T.INT8, [1, 3, 3, 3])], inits, opset=13)
    compiled = compile_model(model)
    convs = {n.name: compiled.graph.tensors[n.inputs[0]].dtype for n in compiled.graph.nodes if n.op_type == "Conv"}
    assert convs == {"int8_layer": "int8", "float_layer": "float32"}
    host = load(write_library(compiled, tmp_path / "lib"))
    for scale in (0.05, 0.02):
        feed = {"x1": codes(T.INT8, [1, 2, 5, 5]), "x2": codes(T.INT8, [1, 2, 5, 5]), "s2": np.array(scale, np.float32)}
        for got, want in zip(host.run(feed), run_reference(model, feed)):
            assert np.abs(got.astype(int) - want.astype(int)).max() <= 1


def test_layer_quantized_per_channel_at_its_output_runs_in_float(tmp_path):
    """DQ -> Conv -> Relu -> Q with one output scale per channel: no int8 kernel takes that, so the
    layer runs in float and its Q is a plain per-axis kernel (before: an error)."""
    from aot.reference import ort_session
    inits = {"xs": np.array(0.05, np.float32), "xz": np.array(2, np.int8),
             "w": RNG.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8), "ws": np.array(0.01, np.float32),
             "ys": np.array([0.05, 0.1, 0.2], np.float32), "yz": np.array([0, -5, 9], np.int8)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws"], ["wf"]),
             helper.make_node("Conv", ["xf", "wf"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "ys", "yz"], ["y"], axis=1)]
    model = make_model(nodes, [vi("x", T.INT8, [1, 2, 4, 4])], [vi("y", T.INT8, [1, 3, 4, 4])], inits, opset=13)
    compiled = compile_model(model)
    assert any(n.op_type == "QuantizeLinear" and n.meta.get("plain_qdq") for n in compiled.graph.nodes)
    host = load(write_library(compiled, tmp_path / "lib"))
    for _ in range(3):
        feed = {"x": codes(T.INT8, [1, 2, 4, 4])}
        want = ort_session(model, fuse_quantized=False).run(None, feed)[0].astype(int)
        assert np.abs(host.run(feed)[0].astype(int) - want).max() <= 1


# -- what stays an error -------------------------------------------------------------------------------
def uint8_edged_cnn() -> onnx.ModelProto:
    """x (uint8) -> DQ -> Conv -> Q (int8) -> DQ -> Conv -> Q -> y (uint8): quantized layers at both edges."""
    inits = {"xs": np.array(0.1, np.float32), "xz": np.array(128, np.uint8),
             "w1": RNG.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8), "w1s": np.array(0.01, np.float32),
             "w2": RNG.integers(-127, 128, (2, 3, 1, 1)).astype(np.int8), "w2s": np.array(0.005, np.float32),
             "ms": np.array(0.5, np.float32), "mz": np.array(-3, np.int8),
             "ys": np.array(0.4, np.float32), "yz": np.array(120, np.uint8)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "xs", "xz"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w1", "w1s"], ["w1f"]),
             helper.make_node("Conv", ["xf", "w1f"], ["c1"], name="first", pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c1", "ms", "mz"], ["m"]),
             helper.make_node("DequantizeLinear", ["m", "ms", "mz"], ["mf"]),
             helper.make_node("DequantizeLinear", ["w2", "w2s"], ["w2f"]),
             helper.make_node("Conv", ["mf", "w2f"], ["c2"], name="last"),
             helper.make_node("QuantizeLinear", ["c2", "ys", "yz"], ["y"])]
    return make_model(nodes, [vi("x", T.UINT8, [1, 2, 5, 5])], [vi("y", T.UINT8, [1, 2, 5, 5])], inits, opset=13)


def test_uint8_edges_of_quantized_layers_stay_integer(tmp_path):
    """uint8 graph input and output at quantized layers: the library keeps uint8 in its API, plain kernels
    convert the codes exactly to and from int8 (code - 128), and both layers run as int8 kernels. C equals
    aot verify's golden model bit for bit and ONNX Runtime (running the QDQ model as the standard defines
    it; its fused u8s8 kernels saturate on some CPUs) within 1."""
    from aot.compiler import CompileOptions
    from aot.reference import ort_session
    model = uint8_edged_cnn()
    compiled = compile_model(model)
    graph = compiled.graph
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    assert len(convs) == 2 and all(graph.tensors[n.inputs[0]].dtype == "int8" for n in convs)
    assert [graph.tensors[n].dtype for n in graph.inputs + graph.outputs] == ["uint8", "uint8"]
    # each conversion is one loop over the codes (the DQ -> Q pair fused), no float buffer between
    assert [n.op_type for n in graph.nodes] == ["RecodeIntegers", "Conv", "Conv", "RecodeIntegers"]
    host = load(write_library(compiled, tmp_path / "lib"))
    for _ in range(3):
        feed = {"x": codes(T.UINT8, [1, 2, 5, 5])}
        want = ort_session(model, fuse_quantized=False).run(None, feed)[0].astype(int)
        got = host.run(feed)[0].astype(int)
        assert np.abs(got - want).max() <= 1 and 0 < np.mean((want > 0) & (want < 255))
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    check = check_quantized(path, options=CompileOptions(), samples=5, progress=False)
    assert check.bit_exact and check.lsb_max <= 1, check.table()


def test_matmul_integer_of_a_vector_is_refused_with_a_reason():
    model = make_model([helper.make_node("MatMulInteger", ["a", "b", "az"], ["y"])],
                       [vi("a", T.UINT8, [7]), vi("b", T.UINT8, [7, 3]), vi("az", T.UINT8, [])],
                       [vi("y", T.INT32, [3])], opset=13)
    with pytest.raises(AotError, match="MatMulInteger of a 1-D operand"):
        compile_model(model)
