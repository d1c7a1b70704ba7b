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

from ....codegen.cformat import c_double, c_float
from ....ir import Graph, Node
from ....ops.sampling import GRID_SAMPLE_MODES
from .. import REF

FLOATS = ("float32", "float64")


def float_math(dtype: str) -> dict:
    """The C spelling of a float type's math: ``lit(v)`` a literal, ``m`` the math.h suffix."""
    if dtype == "float32":
        return {"T": "float", "lit": c_float, "m": "f"}
    return {"T": "double", "lit": c_double, "m": ""}


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
