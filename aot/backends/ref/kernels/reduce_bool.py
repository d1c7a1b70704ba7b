"""ReduceMax / ReduceMin of bool tensors: any and all (false < true), with the float reductions' loop
nest; the empty set gives the identity of each (any: false, all: true)."""
from __future__ import annotations

from ....ir import Graph, Node
from .. import REF
from .reduce import reduce_params


def bool_reduce_params(node: Node, graph: Graph) -> dict:
    params = reduce_params(node, graph)
    if params["empty"]:
        params["result"] = "0" if node.op_type == "ReduceMax" else "1"
    return params


REF.kernel("ReduceMax", "ReduceMin", template="ref/reduce.c.j2", static_inputs=(1,), dtypes=("bool",), plain=True,
           input_names=("X",), output_names=("Y",), name="reduce_bool")(bool_reduce_params)
