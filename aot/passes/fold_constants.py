"""Evaluate nodes whose inputs are all constants (after other passes made them so)."""
from onnx import helper

from ..frontend.node_eval import evaluate
from ..ir import Graph
from .context import PassContext, graph_pass


@graph_pass("fold_constants")
def fold_constants(graph: Graph, ctx: PassContext) -> Graph:
    kept = []
    for node in graph.nodes:
        inputs = [graph.tensors[i] for i in node.present_inputs]
        if not inputs or not all(t.is_constant for t in inputs) or node.attrs.get("activation"):
            kept.append(node)
            continue
        proto = helper.make_node(node.op_type, node.inputs, node.outputs, domain=node.domain or None,
                                 **{k: v for k, v in node.attrs.items() if not k.startswith("_")})
        try:
            results = evaluate(proto, [(t.name, t.data) for t in inputs], {"": graph.opset})
        except Exception:
            kept.append(node)
            continue
        outputs = [graph.tensors[o] for o in node.outputs if o]
        if any(r.size != t.size for r, t in zip(results, outputs)):
            kept.append(node)  # the evaluator disagrees with the inferred shape: leave it to the kernels
            continue
        for t, value in zip(outputs, results):
            t.data = value.astype(t.dtype, copy=False).reshape(t.shape)
    graph.nodes = kept
    return graph

