"""MaxPool of plain (not quantized) int8/uint8 and float data, and MaxPool's second output: the flat
index of each maximum in the input (int64; storage_order 0 row-major, 1 column-major over the spatial
axes, offset by the image and channel as ONNX Runtime's). The float MaxPool without indices has its
own kernel (pool.py); this one runs where that one cannot."""
from __future__ import annotations

from ....codegen.cformat import c_int
from ....ir import Graph, Node
from ....ir.dtypes import c_type
from ....ops.ctyping import FLOATS
from .. import REF
from .pool import pool_params
from .spatial import spatial_check

DATA = ("float32", "float64", "int8", "uint8")


def _lowest(dtype: str) -> str:
    if dtype == "float32":
        return "-3.40282347e+38f"  # ONNX Runtime starts at the lowest finite value
    if dtype == "float64":
        return "-1.7976931348623157e+308"
    return c_int(-128 if dtype == "int8" else 0)


def plain_pool_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    params = pool_params(node, graph)
    i0, i1, i2 = params["win"].in_sp
    column_major = int(node.attrs.get("storage_order", 0)) == 1
    where = f"id + ih * {i0} + iw * {i0 * i1}" if column_major else f"(id * {i1} + ih) * {i2} + iw"
    return {**params, "ctype": c_type(x.dtype), "lowest": _lowest(x.dtype),
            "indices": len(node.outputs) > 1 and bool(node.outputs[1]), "where": where}


def _check(node: Node, graph: Graph) -> str | None:
    dtype = graph.tensors[node.inputs[0]].dtype
    if dtype not in DATA:
        return f"MaxPool on {dtype}"
    if len(node.outputs) > 1 and node.outputs[1] and graph.tensors[node.outputs[1]].dtype != "int64":
        return "MaxPool indices must be int64"
    return spatial_check(node, graph)


# Below the float kernel (pool.py), which takes the float MaxPool without indices.
REF.kernel("MaxPool", template="ref/misc/maxpool_plain.c.j2", check=_check, dtypes=DATA + ("int64",), plain=True,
           priority=-1, input_names=("X",), output_names=("Y", "Ind"), name="maxpool_plain")(plain_pool_params)
