"""Fuse an elementwise activation into the Conv/Gemm/MatMul/Add producing its input.

The producer keeps ``attrs["activation"] = {"op_type": ..., "attrs": {...}}``; kernels apply it
to each output element before the store, so the intermediate tensor never exists.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .context import PassContext, graph_pass
from .rewrite import absorb, sole_consumer

PRODUCERS = ("Conv", "Gemm", "MatMul", "Add")
ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSwish", "HardSigmoid", "Tanh")


def activation_spec(graph: Graph, act: Node) -> dict | None:
    """The activation as a fusable description, or None when its parameters are not constant."""
    if act.op_type == "Clip":
        bounds = {}
        for key, name in zip(("min", "max"), act.inputs[1:3]):
            if not name:
                continue
            value = graph.const(name)
            if value is None:
                return None
            bounds[key] = float(np.asarray(value).reshape(()))
        return {"op_type": "Clip", "attrs": bounds}
    if act.op_type == "LeakyRelu":
        return {"op_type": "LeakyRelu", "attrs": {"alpha": float(act.attrs.get("alpha", 0.01))}}
    if act.op_type == "HardSigmoid":
        return {"op_type": "HardSigmoid", "attrs": {"alpha": float(act.attrs.get("alpha", 0.2)),
                                                    "beta": float(act.attrs.get("beta", 0.5))}}
    return {"op_type": act.op_type, "attrs": {}}


@graph_pass("fuse_activation")
def fuse_activation(graph: Graph, ctx: PassContext) -> Graph:
    consumers = graph.consumers()
    for node in list(graph.nodes):
        if node.op_type not in PRODUCERS or node.attrs.get("activation") or ctx.skips(node.name):
            continue
        if graph.tensors[node.outputs[0]].dtype != "float32":
            continue
        act = sole_consumer(graph, node.outputs[0], consumers)
        if act is None or act.op_type not in ACTIVATIONS or ctx.skips(act.name):
            continue
        spec = activation_spec(graph, act)
        if spec is None:
            continue
        node.attrs["activation"] = spec
        absorb(graph, node, act)
        consumers = graph.consumers()
    return graph
