"""Fuse an elementwise activation into the op producing its input.

The producer keeps ``attrs["activation"] = {"op_type": ..., "attrs": {...}}``; kernels apply it
to each output element before the store, so the intermediate tensor never exists. Which ops can
absorb an activation and which maps are fusable is the op table's (``OpSpec.fuses_activation``,
``UnaryForm.fusable``).
"""
from __future__ import annotations

from ..ir import Graph
from ..ops import activation_spec, op_spec
from .context import PassContext, graph_pass
from .rewrite import absorb, sole_consumer


@graph_pass("fuse_activation")
def fuse_activation(graph: Graph, ctx: PassContext) -> Graph:
    consumers = graph.consumers()
    for node in list(graph.nodes):
        spec = op_spec(node.op_type)
        if spec is None or not spec.fuses_activation or node.domain or node.attrs.get("activation") \
                or ctx.skips(node.name):
            continue
        if graph.tensors[node.outputs[0]].dtype != "float32":
            continue
        act = sole_consumer(graph, node.outputs[0], consumers)
        if act is None or act.domain or ctx.skips(act.name):
            continue
        fused = activation_spec(graph, act)
        if fused is None:
            continue
        node.attrs["activation"] = fused
        absorb(graph, node, act)
        consumers = graph.consumers()
    return graph
