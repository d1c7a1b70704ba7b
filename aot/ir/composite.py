"""Composite nodes: one node standing for a matched subgraph (``meta["body"]``, a Graph whose inputs
are the composite's non-constant inputs and whose outputs are its outputs), made by the partitioner
for a backend pattern (aot/backends/patterns.py) and rendered by that backend as one kernel."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .graph import Graph, Node

if TYPE_CHECKING:
    from .pattern import PatternMatch

COMPOSITE_DOMAIN = "aot.composite"


def is_composite(node: Node) -> bool:
    return node.domain == COMPOSITE_DOMAIN


def expand_composites(graph: Graph) -> Graph:
    """A copy of ``graph`` with every composite node replaced by its body (for the ONNX export and for
    running the matched ops one by one)."""
    if not any(is_composite(n) for n in graph.nodes):
        return graph
    out = graph.copy()
    for node in [n for n in out.nodes if is_composite(n)]:
        body: Graph = node.meta["body"]
        for name, t in body.tensors.items():
            out.tensors.setdefault(name, t)
        position = out.nodes.index(node)
        out.nodes[position:position + 1] = body.nodes
    return out


def make_composite(graph: Graph, m: "PatternMatch", backend: str) -> Node:
    """Replace the match with one composite node whose body (``meta["body"]``) is the matched subgraph.
    The composite takes the root's name, so per-layer configuration and reports keep addressing it."""
    boundary = m.inputs
    body = Graph(m.root.name, graph.opset)
    body.rounding = graph.rounding
    body.source = graph.source
    internal = {o for n in m.nodes for o in n.outputs if o} - set(m.root.outputs)
    for name in boundary + [o for n in m.nodes for o in n.outputs if o]:
        if name not in body.tensors:
            body.tensors[name] = graph.tensors[name]
    body.inputs = [i for i in boundary if not graph.tensors[i].is_constant]
    body.outputs = [o for o in m.root.outputs if o]
    body.nodes = list(m.nodes)
    # Where the root was: every boundary input is produced before some matched node, so before the root.
    position = graph.nodes.index(m.root) - (len(m.nodes) - 1)
    for n in m.nodes:
        graph.nodes.remove(n)
        graph.node_names.release(n.name)
    for name in internal:
        del graph.tensors[name]  # the name stays claimed: nothing new may take it
    composite = graph.make_node(m.pattern.name, boundary, list(m.root.outputs), name=m.root.name,
                                domain=COMPOSITE_DOMAIN)
    composite.meta.update({"body": body, "pattern": m.pattern.name, "composite_backend": backend,
                           "onnx_name": m.root.meta.get("onnx_name")})
    graph.nodes.insert(position, composite)
    return composite


def dissolve_composite(graph: Graph, composite: Node) -> None:
    """Undo ``make_composite``: the matched nodes and their tensors back in the composite's place."""
    body: Graph = composite.meta["body"]
    position = graph.nodes.index(composite)
    graph.node_names.release(composite.name)
    for n in body.nodes:
        graph.node_names.claim(n.name)
    for name, t in body.tensors.items():
        graph.tensors.setdefault(name, t)
    graph.nodes[position:position + 1] = body.nodes
