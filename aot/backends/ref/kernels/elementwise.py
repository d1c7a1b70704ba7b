"""Elementwise float ops: binary with broadcasting (Add, Sub, Mul, Div, PRelu) and unary maps."""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from ....ops import op_spec, op_types
from .. import REF
from .broadcast import loop_nest

BINARY = {
    "Add": "{a} + {b}",
    "Sub": "{a} - {b}",
    "Mul": "{a} * {b}",
    "Div": "{a} / {b}",
    "PRelu": "({a} < 0.0f ? {a} * {b} : {a})",
}


def binary_params(node: Node, graph: Graph) -> dict:
    a, b = (graph.tensors[i] for i in node.inputs[:2])
    y = graph.tensors[node.outputs[0]]
    dims, (sa, sb, sy) = loop_nest(y.shape, [a.shape, b.shape, y.shape])
    return {"dims": dims, "sa": sa, "sb": sb, "sy": sy,
            "expr": BINARY[node.op_type].format(a="a", b="b")}


REF.kernel(*BINARY, template="ref/binary.c.j2", input_names=("A", "B"), output_names=("Y",))(binary_params)


def unary_expr(node: Node, graph: Graph) -> str:
    """The op table's C form of the elementwise map, applied to the element ``x``."""
    form = op_spec(node.op_type).unary
    attrs = form.attrs(graph, node)
    assert attrs is not None, "static_inputs guarantees constant parameters"
    return form.c("x", attrs)


# Every elementwise map of the op table with a C form (activations, Exp, Sqrt, Identity).
UNARY = tuple(op for op in op_types(lambda spec: spec.unary is not None) if op != "Dropout")


def _dropout_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1:
        return "Dropout with a mask output"
    if len(node.inputs) > 2 and node.inputs[2]:
        training = graph.const(node.inputs[2])
        ratio = graph.const(node.inputs[1]) if node.inputs[1] else np.float32(0.5)
        # Training mode drops random elements, except with ratio 0, where it is the identity.
        if training is None or (bool(np.asarray(training).reshape(-1)[0]) and
                                (ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0.0)):
            return "Dropout in training mode"
    return None


REF.kernel(*UNARY, template="ref/unary.c.j2", static_inputs=(1, 2), input_names=("X",), output_names=("Y",))(
    lambda node, graph: {"expr": unary_expr(node, graph)})
REF.kernel("Dropout", template="ref/unary.c.j2", static_inputs=(1, 2), check=_dropout_check,
           input_names=("X",), output_names=("Y",))(lambda node, graph: {"expr": unary_expr(node, graph)})
