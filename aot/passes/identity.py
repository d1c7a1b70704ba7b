"""Drop Identity and inference-mode Dropout by reading their input directly."""
from ..ir import Graph
from ..ops import op_spec
from .context import PassContext, graph_pass


def _pass_through(op_type: str) -> bool:
    spec = op_spec(op_type)
    return spec is not None and spec.pass_through


@graph_pass("remove_identity")
def remove_identity(graph: Graph, ctx: PassContext) -> Graph:
    producers = graph.producers()
    kept = []
    for node in graph.nodes:
        if not _pass_through(node.op_type) or node.domain or (node.op_type == "Dropout" and len(node.present_inputs) > 2):
            kept.append(node)
            continue
        if node.op_type == "Dropout" and len([o for o in node.outputs if o]) > 1:
            kept.append(node)  # the mask output is consumed: keep the node (its kernel writes ones)
            continue
        src, dst = node.inputs[0], node.outputs[0]
        if dst in graph.outputs:
            producer = producers.get(src)
            if producer is None or src in graph.outputs or src in graph.inputs:
                kept.append(node)  # a graph output that is a graph input or constant needs a copy
                continue
            # The producer writes the graph output directly; readers of src now read dst.
            producer.outputs = [dst if o == src else o for o in producer.outputs]
            for n in graph.nodes:
                n.inputs = [dst if i == src else i for i in n.inputs]
            producers[dst] = producer
            continue
        for n in graph.nodes:
            n.inputs = [src if i == dst else i for i in n.inputs]
    graph.nodes = kept
    return graph
