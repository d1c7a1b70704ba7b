"""Record the layout of every tensor whose axes have a meaning (ONNX's native layouts)."""
from ..ir import Graph
from .context import PassContext, graph_pass

SPATIAL_OPS = ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization")
_ACTIVATION_LAYOUT = {3: "NCW", 4: "NCHW", 5: "NCDHW"}
_WEIGHT_LAYOUT = {3: "OIW", 4: "OIHW", 5: "OIDHW"}
SAME_LAYOUT_OPS = ("Relu", "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Add",
                   "Sub", "Mul", "Div", "Exp", "Sqrt", "PRelu", "Identity", "Dropout", "Pad")


@graph_pass("infer_layouts")
def infer_layouts(graph: Graph, ctx: PassContext) -> Graph:
    def mark(name: str, table: dict) -> None:
        t = graph.tensors[name]
        if t.layout is None:
            t.layout = table.get(len(t.shape))

    for node in graph.nodes:
        if node.op_type in SPATIAL_OPS:
            mark(node.inputs[0], _ACTIVATION_LAYOUT)
            mark(node.outputs[0], _ACTIVATION_LAYOUT)
            if node.op_type == "Conv":
                mark(node.inputs[1], _WEIGHT_LAYOUT)
        elif node.op_type in SAME_LAYOUT_OPS:
            out = graph.tensors[node.outputs[0]]
            for i in node.present_inputs:
                t = graph.tensors[i]
                if t.layout and len(t.shape) == len(out.shape) and out.layout is None:
                    out.layout = t.layout
    return graph
