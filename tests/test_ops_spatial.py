"""Spatial sampling, pooling-like and linear-algebra ops of the ref backend against ONNX Runtime:
GridSample, AffineGrid, LpPool, Hardmax, LpNormalization, CumProd, EyeLike, ReverseSequence, Det,
MaxUnpool, Col2Im, RoiAlign, DeformConv, TensorScatter.

As in tests/test_ops_indexing.py, each test puts several independent cases into one ONNX model, so
one C build covers them all; floats must agree within abs 1e-4 + rel 1e-4, other dtypes exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_ops_indexing import Model, check


def _grid(m: Model, shape, spread: float = 1.3) -> str:
    """A grid input whose positions reach past [-1, 1] (padding) on every side."""
    return m.feed(m.rng.uniform(-spread, spread, size=shape).astype(np.float32))


# -- GridSample ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_grid_sample_2d(cc, tmp_path):
    m = Model(opset=20)
    for mode in ("linear", "nearest", "cubic"):
        for padding in ("zeros", "border", "reflection"):
            for align in (0, 1):
                m.op("GridSample", [m.input((2, 3, 4, 5)), _grid(m, (2, 3, 6, 2))], mode=mode,
                     padding_mode=padding, align_corners=align)
    # far outside [-1, 1]: reflection folds several times, border clamps, zeros reads nothing
    far = np.array([[[[-7.3, 2.2], [5.1, -9.6], [0.999, -1.001], [1.0, 1.0], [-1.0, -1.0]]]], np.float32)
    for mode in ("linear", "nearest", "cubic"):
        for padding in ("zeros", "border", "reflection"):
            m.op("GridSample", [m.input((1, 2, 3, 4)), m.feed(far)], mode=mode, padding_mode=padding)
    # nearest: halves round to even (positions exactly between two pixels)
    halves = np.array([[[[-0.75, -0.5], [-0.25, 0.0], [0.25, 0.5], [0.75, 1.0]]]], np.float32)
    m.op("GridSample", [m.input((1, 1, 2, 4)), m.feed(halves)], mode="nearest")
    m.op("GridSample", [m.input((1, 1, 1, 1)), _grid(m, (1, 2, 2, 2))], mode="linear", padding_mode="reflection")
    m.op("GridSample", [m.feed(m.rng.uniform(-3, 3, (1, 2, 3, 3))), m.feed(m.rng.uniform(-1.2, 1.2, (1, 4, 2, 2)))],
         mode="cubic", padding_mode="border", align_corners=1)
    check(m, tmp_path, cc)


def test_grid_sample_opset16_names(tmp_path):
    m = Model(opset=16)
    for mode in ("bilinear", "nearest", "bicubic"):
        m.op("GridSample", [m.input((1, 2, 4, 4)), _grid(m, (1, 3, 3, 2))], mode=mode)
        m.op("GridSample", [m.input((2, 1, 3, 5)), _grid(m, (2, 4, 2, 2))], mode=mode, padding_mode="reflection",
             align_corners=1)
    m.op("GridSample", [m.input((1, 1, 3, 3)), _grid(m, (1, 2, 2, 2))])  # defaults: bilinear, zeros
    check(m, tmp_path)


def test_grid_sample_float64(tmp_path):
    m = Model(opset=20)
    for mode in ("linear", "nearest", "cubic"):
        for padding in ("zeros", "reflection"):
            x = m.feed(m.rng.uniform(-3, 3, (2, 1, 3, 5)))  # float64 data and grid
            g = m.feed(m.rng.uniform(-1.4, 1.4, (2, 4, 2, 2)))
            m.op("GridSample", [x, g], mode=mode, padding_mode=padding, align_corners=1)
    check(m, tmp_path)


def test_grid_sample_3d(tmp_path):
    m = Model(opset=20)
    for mode in ("linear", "nearest"):
        for padding in ("zeros", "border", "reflection"):
            for align in (0, 1):
                m.op("GridSample", [m.input((2, 2, 3, 4, 3)), _grid(m, (2, 2, 3, 2, 3))], mode=mode,
                     padding_mode=padding, align_corners=align)
    check(m, tmp_path)


def test_grid_sample_nan_and_infinite_positions(tmp_path):
    """NaN, infinite and huge grid positions sample at the axis' low border (ONNX Runtime's sanitising);
    at 1e10 the float32 linear weights vanish (x1 + 1 rounds back to x)."""
    m = Model(opset=20)
    odd = np.array([[[[np.nan, 0.0], [0.0, np.nan], [np.inf, 0.2], [-np.inf, 0.3], [0.5, 0.5], [1e30, -0.4],
                      [-1e30, 0.1], [1e10, 0.0], [-3e9, 0.6], [0.2, np.inf]]]], np.float32)
    for mode in ("linear", "nearest", "cubic"):
        for padding in ("zeros", "border", "reflection"):
            for align in (0, 1):
                m.op("GridSample", [m.input((1, 2, 3, 3)), m.feed(odd)], mode=mode, padding_mode=padding,
                     align_corners=align)
    m.op("GridSample", [m.input((1, 1, 1, 1)), m.feed(odd)], padding_mode="reflection", align_corners=1)
    check(m, tmp_path)


# -- AffineGrid -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_affine_grid(cc, tmp_path):
    m = Model(opset=20)
    for align in (0, 1):
        m.op("AffineGrid", [m.input((2, 2, 3)), m.ints([2, 3, 4, 5])], align_corners=align)
        m.op("AffineGrid", [m.input((1, 3, 4)), m.ints([1, 1, 3, 2, 4])], align_corners=align)
        m.op("AffineGrid", [m.input((1, 2, 3)), m.ints([1, 1, 1, 3])], align_corners=align)  # one row: y = 1
        theta = m.feed(m.rng.uniform(-2, 2, (2, 2, 3)))  # float64
        m.op("AffineGrid", [theta, m.ints([2, 1, 3, 3])], align_corners=align)
    # the usual spatial transformer: AffineGrid feeding GridSample
    theta = m.feed(np.array([[[0.8, -0.3, 0.1], [0.25, 1.1, -0.2]]], np.float32))
    grid = m.op("AffineGrid", [theta, m.ints([1, 2, 5, 6])], output=False)[0]
    m.op("GridSample", [m.input((1, 2, 4, 4)), grid], padding_mode="border")
    check(m, tmp_path, cc)


# -- LpPool, LpNormalization ------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_lp_pool(cc, tmp_path):
    m = Model(opset=18)
    for p in (1, 2, 3):
        m.op("LpPool", [m.input((1, 2, 5, 6))], kernel_shape=[2, 3], p=p)
    m.op("LpPool", [m.input((2, 3, 7))], kernel_shape=[3], strides=[2], pads=[1, 2])
    m.op("LpPool", [m.input((1, 2, 6, 6))], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)
    m.op("LpPool", [m.input((1, 1, 7, 7))], kernel_shape=[2, 2], dilations=[2, 3])
    for auto_pad in ("SAME_UPPER", "SAME_LOWER", "VALID"):
        m.op("LpPool", [m.input((1, 2, 5, 5))], kernel_shape=[2, 3], strides=[2, 1], auto_pad=auto_pad)
    m.op("LpPool", [m.input((1, 1, 3, 4, 4))], kernel_shape=[2, 2, 2], pads=[0, 1, 1, 1, 0, 1])
    special = np.array([[[[1.0, np.nan, -2.0], [np.inf, 3.0, -np.inf], [0.0, -0.0, 1e20]]]], np.float32)
    m.op("LpPool", [m.feed(special)], kernel_shape=[2, 2])
    m.op("LpPool", [m.feed(special)], kernel_shape=[1, 2], p=1)
    check(m, tmp_path, cc)


def test_lp_normalization(tmp_path):
    m = Model(opset=13)
    for p in (1, 2):
        for axis in (-1, 0, 1):
            m.op("LpNormalization", [m.input((3, 4, 2))], axis=axis, p=p)
        special = np.array([[1.0, np.nan, 3.0], [0.0, 0.0, 0.0], [np.inf, 1.0, -2.0], [-0.0, 0.0, -1.0]], np.float32)
        m.op("LpNormalization", [m.feed(special)], p=p)
        m.op("LpNormalization", [m.feed(m.rng.uniform(-2, 2, (2, 5)))], p=p, axis=0)  # float64
    m.op("LpNormalization", [m.input((4, 3))])  # defaults: p=2, axis=-1
    check(m, tmp_path)


# -- Hardmax, CumProd, ReverseSequence --------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_hardmax(cc, tmp_path):
    m = Model(opset=13)
    for axis in (-1, 0, 1, 2):
        m.op("Hardmax", [m.input((3, 4, 5))], axis=axis)
    ties = np.array([[2.0, 1.0, 2.0], [-np.inf, -np.inf, -np.inf], [np.inf, 5.0, np.inf], [0.0, -0.0, 0.0]], np.float32)
    m.op("Hardmax", [m.feed(ties)])
    m.op("Hardmax", [m.feed(ties)], axis=0)
    m.op("Hardmax", [m.input((1,))])
    check(m, tmp_path, cc)


def test_hardmax_nan_is_never_the_maximum(tmp_path):
    """NaN: the first maximum of the other values, zeros for NaN alone (ONNX Runtime's NaN result
    depends on Eigen's vectorisation, so this checks the documented rule against numpy)."""
    from test_ops_indexing import build
    x = np.array([[np.nan, 1.0, 3.0, 3.0], [np.nan, np.nan, np.nan, np.nan], [2.0, np.nan, -1.0, 2.0]], np.float32)
    m = Model(opset=13)
    m.op("Hardmax", [m.feed(x)])
    _, host = build(m, tmp_path)
    want = np.zeros_like(x)
    for row, values in enumerate(x):
        if not np.isnan(values).all():
            want[row, np.nanargmax(values)] = 1.0
    np.testing.assert_array_equal(host.run(m.feeds)[0], want)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_cumprod(cc, tmp_path):
    m = Model(opset=26)
    for exclusive in (0, 1):
        for reverse in (0, 1):
            m.op("CumProd", [m.input((3, 4), low=-2, high=2), m.ints(1)], exclusive=exclusive, reverse=reverse)
            m.op("CumProd", [m.input((2, 3, 2), "int32"), m.const(-2, np.int32)], exclusive=exclusive, reverse=reverse)
            m.op("CumProd", [m.feed(m.rng.uniform(-2, 2, (4, 3))), m.ints(0)], exclusive=exclusive,
                 reverse=reverse)  # float64
    m.op("CumProd", [m.feed(np.array([1e30, 1e30, 0.0, np.nan, 2.0], np.float32)), m.ints(0)])
    # integer overflow wraps around, as ONNX Runtime's does
    m.op("CumProd", [m.feed(np.array([100000, 100000, 7, -3], np.int32)), m.ints(0)])
    m.op("CumProd", [m.feed(np.array([[1 << 40, 1 << 30], [3, 5]], np.int64)), m.ints(1)])
    check(m, tmp_path, cc)


def test_reverse_sequence(tmp_path):
    m = Model(opset=13)
    m.op("ReverseSequence", [m.input((4, 3)), m.feed(np.array([4, 1, 2], np.int64))])
    m.op("ReverseSequence", [m.input((3, 5, 2)), m.feed(np.array([5, 0, 3], np.int64))], batch_axis=0, time_axis=1)
    m.op("ReverseSequence", [m.input((5, 2, 2, 3), "int8"), m.feed(np.array([2, 5], np.int64))])
    m.op("ReverseSequence", [m.input((2, 4), "bool"), m.feed(np.array([3, 4], np.int64))], batch_axis=0,
         time_axis=1)
    check(m, tmp_path)


def test_reverse_sequence_clamps_lengths(tmp_path):
    """Lengths outside 0..steps (ONNX Runtime rejects them) are clamped: no read outside the input."""
    from test_ops_indexing import build
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    lens = np.array([-2, 9, 2], np.int64)
    m = Model(opset=13)
    m.op("ReverseSequence", [m.feed(x), m.feed(lens)])
    _, host = build(m, tmp_path)
    want = x.copy()
    for b, n in enumerate(np.clip(lens, 0, 4)):
        want[:n, b] = x[:n, b][::-1]
    np.testing.assert_array_equal(host.run(m.feeds)[0], want)


# -- Det, EyeLike -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_det(cc, tmp_path):
    m = Model(opset=22)
    for n in (1, 2, 3, 5):
        m.op("Det", [m.input((n, n))])
    m.op("Det", [m.input((2, 3, 4, 4))])
    singular = np.array([[[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 0.0, 1.0]],  # dependent rows
                         [[0.0, 1.0, 2.0], [0.0, 3.0, 1.0], [0.0, 5.0, 4.0]],  # a zero column
                         [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],  # a permutation
                         [[np.inf, 1.0, 0.0], [1.0, 2.0, 0.0], [0.0, 0.0, 1.0]]], np.float32)
    m.op("Det", [m.feed(singular)])
    m.op("Det", [m.feed(np.array([[np.nan, 1.0], [0.0, 0.0]], np.float32))])
    check(m, tmp_path, cc)


def test_det_float64_against_numpy(tmp_path):
    """ONNX Runtime has no float64 Det: numpy's determinant is the reference."""
    from test_ops_indexing import build
    x = np.random.default_rng(3).uniform(-2, 2, (3, 6, 6))
    m = Model(opset=22)
    m.op("Det", [m.feed(x)])
    _, host = build(m, tmp_path)
    got = host.run(m.feeds)[0]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.linalg.det(x), rtol=1e-12)


def test_eye_like(tmp_path):
    m = Model(opset=22)
    for k in (0, 1, -1, 3, -5, 9):
        m.op("EyeLike", [m.input((3, 4))], k=k)
    m.op("EyeLike", [m.input((4, 2), "int32")], dtype=1, k=-2)  # int32 in, float out
    m.op("EyeLike", [m.input((2, 3), "int64")], k=1)
    m.op("EyeLike", [m.input((3, 3))], dtype=7)  # int64
    check(m, tmp_path)


def test_eye_like_bool(tmp_path):
    """A bool identity (ONNX allows it, ONNX Runtime has no kernel): numpy's eye is the reference."""
    from test_ops_indexing import build
    m = Model(opset=22)
    m.op("EyeLike", [m.input((3, 5))], dtype=9, k=2)
    m.op("EyeLike", [m.input((4, 2), "bool")], k=-1)
    _, host = build(m, tmp_path)
    a, b = host.run(m.feeds)
    np.testing.assert_array_equal(a, np.eye(3, 5, k=2, dtype=bool))
    np.testing.assert_array_equal(b, np.eye(4, 2, k=-1, dtype=bool))
    assert a.dtype == b.dtype == np.bool_


# -- Col2Im, MaxUnpool ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_col2im(cc, tmp_path):
    m = Model(opset=18)
    m.op("Col2Im", [m.input((1, 8, 6)), m.ints([3, 4]), m.ints([2, 2])])
    m.op("Col2Im", [m.input((2, 6, 20)), m.ints([4, 5]), m.ints([1, 3])], pads=[1, 0, 0, 1], strides=[1, 1])
    m.op("Col2Im", [m.input((1, 4, 4)), m.ints([5, 5]), m.ints([2, 2])], strides=[2, 3], dilations=[2, 1])
    m.op("Col2Im", [m.input((1, 9, 4)), m.ints([3, 3]), m.ints([3, 3])], pads=[1, 1, 1, 1], strides=[2, 2])
    m.op("Col2Im", [m.input((1, 2, 3)), m.ints([5]), m.ints([2])], dilations=[2])  # one spatial axis
    m.op("Col2Im", [m.input((1, 8, 8)), m.ints([3, 3, 3]), m.ints([2, 2, 2])])  # three
    check(m, tmp_path, cc)


def test_max_unpool(tmp_path):
    m = Model(opset=22)
    m.op("MaxUnpool", [m.input((1, 2, 2, 2)), m.feed(np.array([[[[5, 7], [13, 15]], [[16, 19], [24, 30]]]], np.int64))],
         kernel_shape=[2, 2], strides=[2, 2])
    m.op("MaxUnpool", [m.input((2, 1, 3)), m.feed(np.array([[[0, 3, 4]], [[6, 9, 11]]], np.int64))], kernel_shape=[2],
         strides=[2])
    m.op("MaxUnpool", [m.input((1, 1, 2, 2)), m.feed(np.array([[[[0, 0], [8, 3]]]], np.int64))], kernel_shape=[3, 3],
         strides=[1, 1], pads=[1, 1, 0, 0])  # a duplicate index: the last write wins
    check(m, tmp_path)


def test_max_unpool_with_output_shape(tmp_path):
    """A given output_shape: the indices address the output tensor as it is (ONNX Runtime's reading;
    the ONNX reference maps them through the default output shape, so test_maxunpool_export_with_
    output_shape, which ONNX Runtime fails as well, expects other positions)."""
    from onnx import TensorProto, helper, numpy_helper

    from aot.compiler import CompileOptions, compile_model, write_library
    from aot.reference import run_reference
    from aot.targets.host import load
    from conftest import require_tool
    node = helper.make_node("MaxUnpool", ["x", "i", "s"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2]),
                                            helper.make_tensor_value_info("i", TensorProto.INT64, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 5, 5])],
                              [numpy_helper.from_array(np.array([1, 1, 5, 5], np.int64), "s")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    feeds = {"x": np.array([[[[5.0, 6.0], [7.0, 8.0]]]], np.float32),
             "i": np.array([[[[5, 7], [13, 24]]]], np.int64)}
    host = load(write_library(compile_model(model, CompileOptions()), tmp_path / "lib"), cc=require_tool("gcc"))
    np.testing.assert_array_equal(host.run(feeds)[0], run_reference(model, feeds)[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # ONNX Runtime has no float64 MaxUnpool
def test_max_unpool_skips_indices_outside_the_output(dtype, tmp_path):
    from test_ops_indexing import build
    m = Model(opset=22)
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]], dtype)
    m.op("MaxUnpool", [m.feed(x), m.feed(np.array([[[[-1, 16], [2, 1 << 40]]]], np.int64))], kernel_shape=[2, 2],
         strides=[2, 2])
    _, host = build(m, tmp_path)
    want = np.zeros((1, 1, 4, 4), dtype)
    want.reshape(-1)[2] = 3.0
    np.testing.assert_array_equal(host.run(m.feeds)[0], want)


# -- RoiAlign -----------------------------------------------------------------------------------------------
def _rois(m: Model, count: int, size: float, dtype=np.float32) -> str:
    corners = m.rng.uniform(-0.2 * size, 1.1 * size, (count, 2, 2))
    return m.feed(np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1).astype(dtype))


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_roi_align(cc, tmp_path):
    m = Model(opset=16)
    batch = m.feed(np.array([1, 0, 1, 1, 0], np.int64))
    for mode in ("avg", "max"):
        for transform in ("half_pixel", "output_half_pixel"):
            m.op("RoiAlign", [m.input((2, 3, 6, 7)), _rois(m, 5, 7), batch], mode=mode,
                 coordinate_transformation_mode=transform, output_height=3, output_width=2)
            m.op("RoiAlign", [m.input((2, 2, 10, 8)), _rois(m, 5, 20), batch], mode=mode,
                 coordinate_transformation_mode=transform, spatial_scale=0.5, sampling_ratio=2)
    # malformed and far-away ROIs: reversed corners, a point, outside the map
    odd = m.feed(np.array([[4.0, 4.0, 1.0, 2.0], [2.0, 2.0, 2.0, 2.0], [-9.0, -9.0, -5.0, -6.0], [3.0, 1.0, 30.0, 4.0]],
                          np.float32))
    for transform in ("half_pixel", "output_half_pixel"):
        m.op("RoiAlign", [m.input((1, 2, 5, 5)), odd, m.feed(np.zeros(4, np.int64))],
             coordinate_transformation_mode=transform, output_height=2, output_width=2, sampling_ratio=1)
    m.op("RoiAlign", [m.feed(m.rng.uniform(-2, 2, (1, 2, 5, 6))), _rois(m, 3, 6, np.float64),
                      m.feed(np.zeros(3, np.int64))], output_height=2, output_width=3)  # float64
    check(m, tmp_path, cc)


def test_roi_align_opset10_default_is_output_half_pixel(tmp_path):
    m = Model(opset=10)
    m.op("RoiAlign", [m.input((1, 2, 6, 6)), _rois(m, 3, 6), m.feed(np.zeros(3, np.int64))], output_height=2,
         output_width=2)
    m.op("RoiAlign", [m.input((1, 2, 6, 6)), _rois(m, 3, 6), m.feed(np.zeros(3, np.int64))], mode="max")
    check(m, tmp_path)


# -- TensorScatter --------------------------------------------------------------------------------------------
def test_tensor_scatter(tmp_path):
    m = Model(opset=24)
    m.op("TensorScatter", [m.input((2, 3, 6, 4)), m.input((2, 3, 2, 4)), m.feed(np.array([0, 4], np.int64))])
    m.op("TensorScatter", [m.input((2, 3, 6, 4)), m.input((2, 3, 3, 4)), m.feed(np.array([5, 4], np.int64))],
         mode="circular")  # wraps past the end
    m.op("TensorScatter", [m.input((3, 5, 2)), m.input((3, 2, 2)), m.feed(np.array([1, 3, 0], np.int64))], axis=1)
    m.op("TensorScatter", [m.input((2, 4, 3), "int32"), m.input((2, 4, 1), "int32"), m.feed(np.array([2, 0], np.int64))],
         axis=-1)
    m.op("TensorScatter", [m.input((2, 5, 3)), m.input((2, 2, 3))])  # no write_indices: position 0
    check(m, tmp_path)


def test_tensor_scatter_positions_outside_the_cache(tmp_path):
    """Linear mode skips positions outside the cache, circular wraps them (ONNX Runtime rejects both)."""
    from test_ops_indexing import build
    cache = np.zeros((3, 4, 1), np.float32)
    update = np.arange(1, 7, dtype=np.float32).reshape(3, 2, 1)
    starts = np.array([3, -1, -6], np.int64)
    m = Model(opset=24)
    m.op("TensorScatter", [m.feed(cache), m.feed(update), m.feed(starts)])
    m.op("TensorScatter", [m.feed(cache), m.feed(update), m.feed(starts)], mode="circular")
    _, host = build(m, tmp_path)
    linear, circular = host.run(m.feeds)
    want_linear, want_circular = cache.copy(), cache.copy()
    for b, start in enumerate(starts):
        for s in range(2):
            if 0 <= start + s < 4:
                want_linear[b, start + s] = update[b, s]
            want_circular[b, (start + s) % 4] = update[b, s]
    np.testing.assert_array_equal(linear, want_linear)
    np.testing.assert_array_equal(circular, want_circular)


# -- DeformConv ---------------------------------------------------------------------------------------------
def _deform(m: Model, x_shape, w_shape, out_hw, offset_group: int = 1, mask: bool = False, bias: bool = False,
            spread: float = 1.5, **attrs) -> None:
    taps = w_shape[2] * w_shape[3]
    offset = m.input((x_shape[0], offset_group * 2 * taps, *out_hw), low=-spread, high=spread)
    inputs = [m.input(x_shape), m.const(m.rng.uniform(-1, 1, w_shape)), offset]
    inputs.append(m.const(m.rng.uniform(-1, 1, w_shape[0])) if bias else "")
    if mask:
        inputs.append(m.input((x_shape[0], offset_group * taps, *out_hw), low=0.0, high=1.0))
    m.op("DeformConv", inputs if inputs[-1] else inputs[:3], offset_group=offset_group, **attrs)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_deform_conv(cc, tmp_path):
    m = Model(opset=22)
    _deform(m, (1, 2, 5, 5), (3, 2, 3, 3), (3, 3))
    _deform(m, (2, 4, 6, 5), (4, 2, 2, 2), (3, 2), group=2, offset_group=2, mask=True, bias=True, strides=[2, 2],
            pads=[1, 0, 0, 0])
    _deform(m, (1, 3, 7, 7), (2, 3, 3, 2), (3, 6), dilations=[2, 1], pads=[0, 0, 0, 0], mask=True)
    _deform(m, (1, 4, 4, 4), (2, 4, 2, 2), (5, 5), offset_group=4, pads=[1, 1, 1, 1], bias=True, spread=8.0)
    check(m, tmp_path, cc)


def test_deform_conv_nan_offset_samples_zero(tmp_path):
    """A NaN offset (ONNX Runtime converts it to an index undefined) samples 0, as an offset far
    outside the image does."""
    from test_ops_indexing import build
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (1, 1, 4, 4)).astype(np.float32)
    w = rng.uniform(-1, 1, (2, 1, 2, 2)).astype(np.float32)
    offset = rng.uniform(-1, 1, (1, 8, 3, 3)).astype(np.float32)
    nan, far = offset.copy(), offset.copy()
    nan[0, ::3, 1, :] = np.nan
    far[0, ::3, 1, :] = 1e6
    m = Model(opset=22)
    xs, ws = m.feed(x), m.feed(w)
    m.op("DeformConv", [xs, ws, m.feed(nan)])
    m.op("DeformConv", [xs, ws, m.feed(far)])
    _, host = build(m, tmp_path)
    got_nan, got_far = host.run(m.feeds)
    assert np.isfinite(got_nan).all()
    np.testing.assert_array_equal(got_nan, got_far)


# -- ONNX node tests with int64 indices, float64 or integer data -----------------------------------------------
# tests/test_onnx_conformance.py runs the node tests whose data is float32; these take int64 indices or
# lengths (RoiAlign, MaxUnpool, ReverseSequence, TensorScatter) or other dtypes (CumProd, EyeLike), so
# they run here with the same freezing, build and tolerance.
import test_onnx_conformance as conformance  # noqa: E402

SPATIAL_OPS = {"CumProd", "EyeLike", "RoiAlign", "MaxUnpool", "ReverseSequence", "TensorScatter"}
# ONNX Runtime (whose reading aot follows) gives other values than these tests expect, with why.
SPATIAL_KNOWN_FAILURES = {
    # The ONNX reference maps the indices through the default output shape (4x4) into the given 5x5 one;
    # ONNX Runtime reads them as indices into the given output, as aot does.
    "test_maxunpool_export_with_output_shape": "ONNX Runtime's indexing of a given output_shape",
}


def spatial_node_cases() -> list:
    if not conformance.NODE_DIR.is_dir():
        return []
    float_suite = {c.name for c in conformance.CASES}
    cases = []
    for folder in sorted(conformance.NODE_DIR.iterdir()):
        if folder.name in float_suite or not (folder / "model.onnx").is_file():
            continue
        case = conformance.case_of(folder)
        if case.ops and set(case.ops) <= SPATIAL_OPS and case.data_sets:
            cases.append(case)
    return cases


def _node_param(case):
    marks = [pytest.mark.xfail(reason=SPATIAL_KNOWN_FAILURES[case.name], strict=True)] \
        if case.name in SPATIAL_KNOWN_FAILURES else []
    return pytest.param(case, id=case.name, marks=marks)


@pytest.mark.parametrize("case", [_node_param(c) for c in spatial_node_cases()])
def test_spatial_node_test(case, tmp_path):
    problems = conformance.run_case(case, tmp_path)
    assert not problems, f"{case.name} ({', '.join(case.ops)}): " + "; ".join(problems)


def test_spatial_node_tests_were_found():
    names = {c.name for c in spatial_node_cases()}
    assert {"test_cumprod_2d_int32", "test_eyelike_with_dtype", "test_roialign_mode_max",
            "test_reversesequence_time", "test_tensorscatter_circular"} <= names
    assert set(SPATIAL_KNOWN_FAILURES) <= names


# -- validation -----------------------------------------------------------------------------------------------
F, I64 = 1, 7  # onnx.TensorProto.FLOAT, INT64


@pytest.mark.parametrize("op,opset,inputs,inits,attrs,reason", [
    ("GridSample", 20, [("x", F, [1, 1, 3, 3]), ("g", F, [1, 2, 2, 2])], [], {"mode": "area"},
     "mode 'area' is not one of"),
    ("GridSample", 20, [("x", F, [1, 1, 3, 3]), ("g", F, [1, 2, 2, 2])], [], {"padding_mode": "wrap"},
     "padding_mode 'wrap' is not one of zeros, border, reflection"),
    ("LpPool", 18, [("x", F, [1, 1, 4, 4])], [], {"kernel_shape": [2, 2], "p": 0}, "p=0 must be 1 or more"),
    ("LpNormalization", 13, [("x", F, [2, 3])], [], {"p": 3}, "p=3; LpNormalization defines p = 1 or 2"),
    ("Hardmax", 13, [("x", F, [2, 3])], [], {"axis": 2}, "'axis' must be in"),  # onnx's shape inference says so
    ("CumProd", 26, [("x", F, [2, 3]), ("a", I64, [])], [], {}, "axis is a runtime input"),
    ("ReverseSequence", 13, [("x", F, [3, 2]), ("l", I64, [2])], [], {"batch_axis": 0, "time_axis": 0},
     "batch_axis 0 and time_axis 0 must be 0 and 1"),
    ("Det", 22, [("x", F, [2, 3, 4])], [], {}, "inner-most 2 dimensions must have the same size"),
    ("Col2Im", 18, [("x", F, [1, 8, 5])], [("i", np.array([3, 4], np.int64)), ("b", np.array([2, 2], np.int64))],
     {}, r"expected \[N, C \* 4, 6\]"),
    ("RoiAlign", 16, [("x", F, [1, 1, 4, 4]), ("r", F, [2, 4]), ("b", I64, [2])], [], {"mode": "sum"},
     "mode 'sum' is not avg or max"),
    ("TensorScatter", 24, [("c", F, [2, 4, 3]), ("u", F, [2, 4, 3])], [], {"axis": 0}, "axis 0 is out of range"),
])
def test_invalid_nodes_are_refused_with_reasons(op, opset, inputs, inits, attrs, reason):
    import onnx
    from onnx import helper, numpy_helper

    from aot.compiler import CompileOptions, compile_model
    from aot.errors import AotError
    vis = [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs]
    node = helper.make_node(op, [n for n, _, _ in inputs] + [n for n, _ in inits], ["y"], **attrs)
    out = helper.make_tensor_value_info("y", onnx.TensorProto.UNDEFINED, None)
    graph = helper.make_graph([node], "g", vis, [out], [numpy_helper.from_array(v, n) for n, v in inits])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    with pytest.raises(AotError, match=f"{op}.*{reason}"):
        compile_model(model, CompileOptions())


# -- sanitizers -------------------------------------------------------------------------------------------------
def _specials(rng: np.random.Generator, shape, dtype=np.float32, extreme: bool = True) -> np.ndarray:
    """NaN, infinities, -0, a denormal and ordinary values; ``extreme``: also +-3e38, whose sums overflow
    in an order-dependent way (a GEMM's blocking decides whether inf - inf happens)."""
    values = [np.nan, np.inf, -np.inf, -0.0, 1e-40, 1e30, -1e30, 0.5, -2.0, 1e10] + ([3e38, -3e38] if extreme else [])
    return rng.choice(np.array(values, dtype), size=shape).astype(dtype)


def test_special_values_under_sanitizers(tmp_path):
    """Every kernel of this family on NaN, infinite and extreme floats and on extreme runtime indices
    (int64 limits) under AddressSanitizer and UndefinedBehaviorSanitizer with float-cast-overflow: no
    report, and the same output as the ordinary build."""
    import subprocess

    from aot.compiler import CompileOptions, compile_model, write_library
    from aot.targets.host import load
    from conftest import require_tool
    from sanitized_build import build_sanitized
    from test_sanitizers import sanitizer_compiler
    rng = np.random.default_rng(11)
    m = Model(opset=26)
    big = np.array([np.iinfo(np.int64).min, np.iinfo(np.int64).max, -1, 7], np.int64)
    for mode in ("linear", "nearest", "cubic"):
        for padding in ("zeros", "border", "reflection"):
            for align in (0, 1):
                m.op("GridSample", [m.feed(_specials(rng, (1, 2, 3, 4))), m.feed(_specials(rng, (1, 4, 3, 2)))],
                     mode=mode, padding_mode=padding, align_corners=align)
    for padding in ("zeros", "border", "reflection"):
        m.op("GridSample", [m.feed(_specials(rng, (1, 1, 2, 3, 2))), m.feed(_specials(rng, (1, 2, 2, 2, 3)))],
             padding_mode=padding, mode="nearest")
        m.op("GridSample", [m.feed(_specials(rng, (1, 1, 2, 3, 2))), m.feed(_specials(rng, (1, 2, 2, 2, 3)))],
             padding_mode=padding)
    m.op("AffineGrid", [m.feed(_specials(rng, (1, 2, 3))), m.ints([1, 1, 3, 4])])
    m.op("LpPool", [m.feed(_specials(rng, (1, 2, 4, 4)))], kernel_shape=[2, 2], p=3)
    m.op("LpNormalization", [m.feed(_specials(rng, (3, 4)))])
    m.op("Hardmax", [m.feed(_specials(rng, (3, 4)))])
    m.op("CumProd", [m.feed(_specials(rng, (3, 4))), m.ints(1)], exclusive=1)
    m.op("CumProd", [m.feed(np.array([np.iinfo(np.int32).min, -1, 3, np.iinfo(np.int32).max], np.int32)), m.ints(0)])
    m.op("ReverseSequence", [m.input((4, 4)), m.feed(big)])
    m.op("Det", [m.feed(_specials(rng, (3, 4, 4)))])
    m.op("Col2Im", [m.feed(_specials(rng, (1, 4, 6))), m.ints([3, 4]), m.ints([2, 2])])
    m.op("MaxUnpool", [m.input((1, 1, 2, 2)), m.feed(big.reshape(1, 1, 2, 2))], kernel_shape=[2, 2], strides=[2, 2])
    m.op("RoiAlign", [m.feed(_specials(rng, (2, 2, 4, 4))), m.feed(_specials(rng, (4, 4))), m.feed(big)],
         output_height=2, output_width=2)
    m.op("RoiAlign", [m.feed(_specials(rng, (2, 2, 4, 4))), m.feed(_specials(rng, (4, 4))), m.feed(big)],
         output_height=2, output_width=2, sampling_ratio=2, mode="max", coordinate_transformation_mode="output_half_pixel")
    m.op("DeformConv", [m.feed(_specials(rng, (1, 2, 4, 4))), m.feed(_specials(rng, (2, 2, 2, 2))),
                        m.feed(_specials(rng, (1, 8, 3, 3))), m.feed(_specials(rng, (2,))),
                        m.feed(_specials(rng, (1, 4, 3, 3)))])
    for mode in ("linear", "circular"):
        m.op("TensorScatter", [m.input((4, 5, 2)), m.input((4, 3, 2)), m.feed(big)], mode=mode)
    compiled = compile_model(m.proto(), CompileOptions())
    lib = write_library(compiled, tmp_path / "lib")
    meta = compiled.metadata
    exe = build_sanitized(lib, meta, sanitizer_compiler("clang", tmp_path))
    (tmp_path / "in.bin").write_bytes(b"".join(np.ascontiguousarray(m.feeds[s["onnx_name"]]).tobytes()
                                               for s in meta["inputs"]))
    run = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), "1"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0 and "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, run.stderr[-3000:]
    raw, pos = (tmp_path / "out.bin").read_bytes(), 0
    plain = load(write_library(compiled, tmp_path / "plain"), cc=require_tool("gcc")).run(m.feeds)
    for spec, want in zip(meta["outputs"], plain):
        n = spec["size"] * np.dtype(spec["dtype"]).itemsize
        got = np.frombuffer(raw[pos:pos + n], spec["dtype"]).reshape(spec["shape"])
        pos += n
        np.testing.assert_array_equal(got, want, err_msg=spec["onnx_name"])


def test_hardmax_before_opset13_coerces_to_2d(tmp_path):
    """Opset 11 Hardmax flattens the input to 2-D at axis (the import's upgrade to opset 13 keeps that)."""
    m = Model(opset=11)
    for axis in (0, 1, 2, -1, -2):
        m.op("Hardmax", [m.input((2, 3, 4))], axis=axis)
    m.op("Hardmax", [m.input((2, 3, 4))])  # default axis 1
    m.op("Hardmax", [m.input((2, 2, 3, 2))], axis=2)
    check(m, tmp_path)


def test_special_values_agree_with_onnx_runtime(tmp_path):
    """NaN, infinities and extremes in the data (not in positions, where ORT is undefined) give ORT's
    results: NaN where ORT has NaN, the same infinities."""
    rng = np.random.default_rng(13)
    m = Model(opset=20)  # ONNX Runtime has no RoiAlign-22 kernel
    m.op("RoiAlign", [m.feed(_specials(rng, (1, 2, 5, 5))), _rois(m, 3, 5), m.feed(np.zeros(3, np.int64))],
         output_height=2, output_width=2)
    m.op("RoiAlign", [m.feed(_specials(rng, (1, 2, 5, 5))), _rois(m, 3, 5), m.feed(np.zeros(3, np.int64))],
         output_height=2, output_width=2, mode="max", sampling_ratio=2)
    m.op("Col2Im", [m.feed(_specials(rng, (1, 4, 6))), m.ints([3, 4]), m.ints([2, 2])])
    mask = rng.choice(np.array([0.0, 0.5, 1.0], np.float32), size=(1, 4, 3, 3))
    m.op("DeformConv", [m.feed(_specials(rng, (1, 1, 4, 4), extreme=False)), m.input((2, 1, 2, 2)), m.input((1, 8, 3, 3)),
                        m.input((2,)), m.feed(mask)])
    m.op("Det", [m.feed(_specials(rng, (4, 3, 3)))])
    m.op("AffineGrid", [m.feed(_specials(rng, (2, 2, 3))), m.ints([2, 1, 2, 3])])
    m.op("GridSample", [m.feed(_specials(rng, (1, 2, 4, 4))), _grid(m, (1, 3, 3, 2))])
    m.op("GridSample", [m.feed(_specials(rng, (1, 2, 4, 4))), _grid(m, (1, 3, 3, 2))], mode="cubic",
         padding_mode="border")
    check(m, tmp_path)
