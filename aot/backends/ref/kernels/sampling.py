"""GridSample and AffineGrid (float32 and float64), following ONNX Runtime's CPU kernels.

GridSample: a grid position is denormalised to the input's pixel space ((n + 1) / 2 * (len - 1) with
align_corners, else ((n + 1) * len - 1) / 2); nearest rounds half to even (nearbyint), linear reads
2 taps per axis, cubic 4 (Keys, a = -0.75, 2-D only as in ONNX Runtime). Padding applies per tap:
zeros reads 0 outside, border clamps the tap, reflection mirrors it at the borders (-0.5 and
len - 0.5, or 0 and len - 1 with align_corners).

A denormalised position that is NaN, infinite or beyond 2^62 becomes the axis' low border (-0.5, or
0 with align_corners), as ONNX Runtime sanitises it, so every index fits an int64_t; reflected
indices are clamped into their axis, so no position reads outside the input.
"""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from ....ops.sampling import GRID_SAMPLE_MODES
from .. import REF
from .float_types import FLOATS, float_math


def _pad3(dims: tuple[int, ...]) -> list[int]:
    return [1] * (3 - len(dims)) + list(dims)


def grid_sample_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    spatial = len(x.shape) - 2
    align = bool(int(node.attrs.get("align_corners", 0)))
    D, H, W = _pad3(x.shape[2:])
    # the reflection borders per axis: the outer pixel edges, or the outer pixel centres with align_corners
    lo = [0.0 if align else -0.5] * 3
    hi = [float(n - 1) if align else n - 0.5 for n in (D, H, W)]
    return {**float_math(x.dtype), "N": x.shape[0], "C": x.shape[1], "spatial": spatial, "D": D, "H": H, "W": W,
            "OSP": int(np.prod(y.shape[2:], dtype=np.int64)), "mode": GRID_SAMPLE_MODES[node.attrs.get("mode", "linear")],
            "padding": node.attrs.get("padding_mode", "zeros"), "align": align, "lo": lo, "hi": hi}


def _grid_sample_check(node: Node, graph: Graph) -> str | None:
    x, grid = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    if grid.dtype != x.dtype:
        return f"grid of dtype {grid.dtype} for {x.dtype} data (ONNX Runtime takes one float type for both)"
    if GRID_SAMPLE_MODES.get(node.attrs.get("mode", "linear")) == "cubic" and len(x.shape) == 5:
        return "cubic GridSample of a 5-D input (ONNX Runtime samples cubic in 2-D only)"
    return None


REF.kernel("GridSample", template="ref/sampling/grid_sample.c.j2", check=_grid_sample_check, dtypes=FLOATS,
           input_names=("X", "G"), output_names=("Y",), name="grid_sample")(grid_sample_params)


# -- AffineGrid -----------------------------------------------------------------------------------------
def base_axis(length: int, align: bool) -> list[float]:
    """One axis of ONNX Runtime's base grid: float32 linspace(-1, 1, length) (a length of 1 gives 1,
    as Eigen's LinSpaced), scaled by (length - 1) / length without align_corners."""
    f32 = np.float32
    if length == 1:
        values = [f32(1)]
    else:
        step = f32(f32(2) / f32(length - 1))
        values = [f32(1) if i == length - 1 else f32(f32(-1) + f32(i) * step) for i in range(length)]
    if not align:
        values = [f32(f32(v * f32(length - 1)) / f32(length)) for v in values]
    return [float(v) for v in values]


def affine_grid_params(node: Node, graph: Graph) -> dict:
    theta = graph.tensors[node.inputs[0]]
    size = [int(v) for v in np.asarray(graph.const(node.inputs[1])).reshape(-1)]
    align = bool(int(node.attrs.get("align_corners", 0)))
    spatial = size[2:]  # [H, W] or [D, H, W]
    r = len(spatial)
    # the base grid per output axis: x runs along W, y along H, z along D
    axes = [base_axis(n, align) for n in reversed(spatial)]
    return {**float_math(theta.dtype), "N": size[0], "R": r, "dims": spatial, "axes": axes,
            "count": int(np.prod(spatial, dtype=np.int64))}


def _affine_grid_check(node: Node, graph: Graph) -> str | None:
    size = graph.const(node.inputs[1])
    if size is None or np.asarray(size).size not in (4, 5):
        return "size must be a constant [N, C, H, W] or [N, C, D, H, W]"
    return None


REF.kernel("AffineGrid", template="ref/sampling/affine_grid.c.j2", static_inputs=(1,), check=_affine_grid_check,
           dtypes=FLOATS, input_names=("Theta",), output_names=("Y",), name="affine_grid")(affine_grid_params)
