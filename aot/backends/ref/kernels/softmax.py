"""Float Softmax / LogSoftmax over one axis (opset >= 13 semantics; older models are upgraded at import)."""
from ....ir import Graph, Node
from ....ops.ctyping import FLOATS, c_type, cmath
from .. import REF


def softmax_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    axis = int(node.attrs.get("axis", -1)) % max(len(shape), 1)
    outer = 1
    for d in shape[:axis]:
        outer *= d
    inner = 1
    for d in shape[axis + 1:]:
        inner *= d
    dtype = graph.tensors[node.inputs[0]].dtype
    double = dtype == "float64"
    return {"outer": outer, "D": shape[axis] if shape else 1, "inner": inner, "log": node.op_type == "LogSoftmax",
            "t": c_type(dtype), "exp": cmath("exp", dtype), "log_fn": cmath("log", dtype),
            "zero": "0.0" if double else "0.0f", "one": "1.0" if double else "1.0f"}


REF.kernel("Softmax", "LogSoftmax", template="ref/softmax.c.j2", input_names=("X",), dtypes=FLOATS,
           output_names=("Y",))(softmax_params)
