"""LpPool and LpNormalization (float32; LpNormalization float64 too), following ONNX Runtime.

LpPool: y = (sum over the window of |x|^p)^(1/p); |x|^p is computed in double and summed in float,
the root taken in float (ONNX Runtime's pool functor). Padding contributes nothing (a padded zero adds
0). pads, auto_pad, strides, dilations and ceil_mode come in through the shared window geometry and the
known output shape.
LpNormalization: x / ||x||_p along the axis, and 0 where the norm is 0 (ONNX Runtime's choice).
"""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from .. import REF
from .float_types import float_math
from .spatial import spatial_check, window


def lp_pool_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    win = window(node, graph)
    return {"win": win, "NC": x.shape[0] * x.shape[1], "p": int(node.attrs.get("p", 2)),
            "ISP": win.in_sp[0] * win.in_sp[1] * win.in_sp[2], "OSP": win.out_sp[0] * win.out_sp[1] * win.out_sp[2]}


REF.kernel("LpPool", template="ref/lp/lp_pool.c.j2", check=spatial_check, input_names=("X",),
           output_names=("Y",), name="lp_pool")(lp_pool_params)


def lp_normalization_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", -1)) % len(x.shape)
    return {**float_math(x.dtype), "outer": int(np.prod(x.shape[:axis], dtype=np.int64)), "dim": x.shape[axis],
            "inner": int(np.prod(x.shape[axis + 1:], dtype=np.int64)), "p": int(node.attrs.get("p", 2))}


REF.kernel("LpNormalization", template="ref/lp/lp_normalization.c.j2", dtypes=("float32", "float64"),
           input_names=("X",), output_names=("Y",), name="lp_normalization")(lp_normalization_params)
