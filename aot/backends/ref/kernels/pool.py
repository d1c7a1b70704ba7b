"""Float MaxPool / AveragePool (pads, auto_pad, strides, dilations, ceil_mode via the known output
shape, count_include_pad) and GlobalAveragePool / GlobalMaxPool."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .spatial import spatial_check, window


def pool_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    win = window(node, graph)
    return {"win": win, "NC": x.shape[0] * x.shape[1], "is_max": node.op_type == "MaxPool",
            "include_pad": bool(node.attrs.get("count_include_pad", 0)),
            "ISP": win.in_sp[0] * win.in_sp[1] * win.in_sp[2],
            "OSP": win.out_sp[0] * win.out_sp[1] * win.out_sp[2]}


def _pool_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1:
        return "MaxPool with an Indices output"
    return spatial_check(node, graph)


REF.kernel("MaxPool", "AveragePool", template="ref/pool.c.j2", check=_pool_check, input_names=("X",),
           output_names=("Y",))(pool_params)


def global_pool_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    spatial = 1
    for d in x.shape[2:]:
        spatial *= d
    return {"NC": x.shape[0] * x.shape[1], "SP": spatial, "is_max": node.op_type == "GlobalMaxPool"}


REF.kernel("GlobalAveragePool", "GlobalMaxPool", template="ref/global_pool.c.j2", input_names=("X",),
           output_names=("Y",))(global_pool_params)
