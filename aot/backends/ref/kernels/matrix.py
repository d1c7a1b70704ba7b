"""Det (float32, float64) and EyeLike (any output dtype, bool included).

Det follows ONNX Runtime (Eigen's PartialPivLU): Gaussian elimination with row pivoting on the
column's largest magnitude, the determinant the product of the pivots with the permutation's sign;
a zero pivot column is left as it is (its zero makes the determinant 0). The working copy of one
matrix lives on the stack, so matrices are limited to 64x64.
EyeLike writes a constant: ones on diagonal k (k > 0 above the main diagonal), its input's values are
never read.
"""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from .. import REF
from .float_types import float_math
from .shape_ops import ALL_DTYPES

MAX_DET_SIZE = 64


def det_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    return {**float_math(x.dtype), "M": x.shape[-1], "count": int(np.prod(x.shape[:-2], dtype=np.int64))}


def _det_check(node: Node, graph: Graph) -> str | None:
    m = graph.tensors[node.inputs[0]].shape[-1]
    return f"{m}x{m} matrices (the kernel takes up to {MAX_DET_SIZE}x{MAX_DET_SIZE})" if m > MAX_DET_SIZE else None


REF.kernel("Det", template="ref/matrix/det.c.j2", check=_det_check, dtypes=("float32", "float64"),
           input_names=("X",), output_names=("Y",), name="det")(det_params)


def eye_like_params(node: Node, graph: Graph) -> dict:
    rows, cols = graph.tensors[node.outputs[0]].shape
    k = int(node.attrs.get("k", 0))
    return {"rows": rows, "cols": cols, "k": max(-rows, min(cols, k))}  # beyond +-size: no diagonal at all


REF.kernel("EyeLike", template="ref/matrix/eye_like.c.j2", dtypes=ALL_DTYPES,
           input_names=("X",), output_names=("Y",), name="eye_like")(eye_like_params)
