"""Remove nodes whose outputs nobody reads, and tensors nothing refers to."""
from ..ir import Graph
from .context import PassContext, graph_pass


@graph_pass("eliminate_dead_code")
def eliminate_dead_code(graph: Graph, ctx: PassContext) -> Graph:
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(o in live for o in node.outputs if o):
            kept.append(node)
            live.update(i for i in node.inputs if i)
    graph.nodes = kept[::-1]
    referenced = live | set(graph.inputs) | {o for n in graph.nodes for o in n.outputs if o}
    for name in [n for n in graph.tensors if n not in referenced]:
        graph.remove_tensor(name)
    return graph
