"""Elementwise float ops: binary with broadcasting (Add, Sub, Mul, Div, PRelu) and unary maps."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_float
from ....ir import Graph, Node
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


def _clip_bounds(node: Node, graph: Graph) -> tuple[str, str]:
    bounds = []
    for idx, default in ((1, "(-INFINITY)"), (2, "INFINITY")):
        name = node.inputs[idx] if len(node.inputs) > idx else ""
        value = graph.const(name)
        bounds.append(c_float(float(np.asarray(value).reshape(()))) if value is not None else default)
    return bounds[0], bounds[1]


def unary_expr(node: Node, graph: Graph) -> str:
    op, at = node.op_type, node.attrs
    if op == "Relu":
        return "aot_relu_f(x)"
    if op == "LeakyRelu":
        return f"aot_leaky_relu_f(x, {c_float(at.get('alpha', 0.01))})"
    if op == "Clip":
        lo, hi = _clip_bounds(node, graph)
        return f"aot_clamp_f(x, {lo}, {hi})"
    if op == "Sigmoid":
        return "aot_sigmoid_f(x)"
    if op == "Tanh":
        return "tanhf(x)"
    if op == "HardSigmoid":
        return f"aot_hard_sigmoid_f(x, {c_float(at.get('alpha', 0.2))}, {c_float(at.get('beta', 0.5))})"
    if op == "HardSwish":
        return "aot_hard_swish_f(x)"
    if op == "Exp":
        return "expf(x)"
    if op == "Sqrt":
        return "sqrtf(x)"
    if op in ("Identity", "Dropout"):
        return "x"
    raise KeyError(op)


UNARY = ("Relu", "LeakyRelu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Exp", "Sqrt",
         "Identity")


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
           input_names=("X",), output_names=("Y",))(lambda node, graph: {"expr": "x"})
