"""int8 elementwise maps as lookup tables: every op of the op table whose int8 rule is "lookup"
(Sigmoid, Tanh, Exp, HardSwish, ...) runs as one 256-entry table built at compile time from the op's
numpy form (aot/quant/kernel_params.py), so the C and the golden model read the same table and both
equal the QDQ form's result exactly."""
from __future__ import annotations

from ....ir import Graph, Node
from ....ops import op_spec, op_types
from ....quant import kernel_params as kp
from .. import REF
from ...in_place import elementwise

LOOKUP_OPS = op_types(lambda spec: spec.int8 is not None and spec.int8.rule == "lookup")


def _lookup_check(node: Node, graph: Graph) -> str | None:
    x, y = node.inputs[0], node.outputs[0]
    for name in (x, y):
        q = graph.tensors[name].quant
        if q is None:
            return f"int8 tensor '{name}' has no scale/zero point"
        if q.scale.size != 1:
            return f"int8 tensor '{name}' is quantized per channel (a table needs one scale)"
    if op_spec(node.op_type).unary.attrs(graph, node) is None:
        return f"{node.op_type} parameters are not compile-time constants"
    if node.attrs.get("activation") is not None:
        return "a fused activation (the lowering keeps maps separate)"
    return None


REF.kernel(*LOOKUP_OPS, template="ref/int8/lookup.c.j2", check=_lookup_check, dtypes=("int8",), static_inputs=(1, 2), in_place=elementwise,
           input_names=("X",), output_names=("Y",))(lambda node, graph: kp.lookup_qparams(node, graph))
