"""Record the layout of every tensor whose axes have a meaning (ONNX's native layouts): the data of
layout-sensitive ops and their weights, then whatever elementwise (agnostic) and layout-preserving
ops pass on (the op table's ``OpSpec.layout``)."""
from ..ir import Graph
from ..ops import op_spec
from .context import PassContext, graph_pass

_ACTIVATION_LAYOUT = {3: "NCW", 4: "NCHW", 5: "NCDHW"}
_WEIGHT_LAYOUT = {3: "OIW", 4: "OIHW", 5: "OIDHW"}


@graph_pass("infer_layouts")
def infer_layouts(graph: Graph, ctx: PassContext) -> Graph:
    def mark(name: str, table: dict) -> None:
        t = graph.tensors[name]
        if t.layout is None:
            t.layout = table.get(len(t.shape))

    for node in graph.nodes:
        spec = op_spec(node.op_type)
        if spec is None or node.domain:
            continue
        if spec.layout == "sensitive":
            mark(node.inputs[0], _ACTIVATION_LAYOUT)
            mark(node.outputs[0], _ACTIVATION_LAYOUT)
            if spec.weight_input is not None and len(node.inputs) > spec.weight_input:
                mark(node.inputs[spec.weight_input], _WEIGHT_LAYOUT)
        elif spec.layout in ("agnostic", "preserving"):
            out = graph.tensors[node.outputs[0]]
            for i in node.present_inputs:
                t = graph.tensors[i]
                if t.layout and len(t.shape) == len(out.shape) and out.layout is None:
                    out.layout = t.layout
    return graph
