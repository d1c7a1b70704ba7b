"""Elementwise ops: the op table's broadcast forms (arithmetic, comparisons, logic, Where, the variadic
Max/Min/Sum/Mean) as one loop nest over the output, and its unary maps as one loop; every dtype the
op's form handles (float32, float64, integers, bool as uint8_t)."""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from ....ir.dtypes import c_type
from ....ops import op_spec, op_types
from ....ops.ctyping import ALL
from .. import REF
from ...in_place import elementwise
from .broadcast import loop_nest


def _operand_problem(node: Node, graph: Graph) -> str | None:
    """Why the op's broadcast form does not handle these operand dtypes (None when it does)."""
    form = op_spec(node.op_type).broadcast
    dts = [graph.tensors[i].dtype for i in node.inputs if i]
    if form.operand_dtypes is not None:
        return form.operand_dtypes(dts)
    if dts[0] not in form.dtypes:
        return f"{node.op_type} on {dts[0]} (its C form takes {', '.join(form.dtypes)})"
    if any(d != dts[0] for d in dts):
        return f"{node.op_type} on operands of mixed dtypes {', '.join(dts)}"
    return None


def broadcast_params(node: Node, graph: Graph) -> dict:
    """The loop nest over the output, each operand's strides and C variable, and the statements that
    compute the element: one expression, or a fold over the operands for the variadic ops."""
    form = op_spec(node.op_type).broadcast
    ins = [graph.tensors[i] for i in node.inputs if i]
    y = graph.tensors[node.outputs[0]]
    dims, strides = loop_nest(y.shape, [t.shape for t in ins] + [y.shape])
    dts = [t.dtype for t in ins]
    attrs = form.attrs(graph, node)
    if form.variadic:
        names = [f"v{k}" for k in range(len(ins))]
        steps = [f"{c_type(dts[0])} acc = {names[0]};"]
        steps += [f"acc = {form.c(['acc', v], attrs, [dts[0], dts[0]])};" for v in names[1:]]
        expr = form.finish("acc", len(ins), dts[0]) if form.finish else "acc"
    else:
        names = ["a", "b"] if len(ins) == 2 else ["c", "a", "b"]
        steps, expr = [], form.c(names, attrs, dts)
    return {"dims": dims, "sy": strides[-1], "steps": steps, "expr": expr,
            "operands": [{"var": v, "strides": st} for v, st in zip(names, strides)]}


BROADCAST = op_types(lambda spec: spec.broadcast is not None)
for _arity, _names in ((2, ("A", "B")), (3, ("C", "A", "B")), (None, ())):
    _ops = [op for op in BROADCAST if (op_spec(op).broadcast.variadic and _arity is None) or
            (not op_spec(op).broadcast.variadic and _arity == (3 if op == "Where" else 2))]
    REF.kernel(*_ops, template="ref/binary.c.j2", check=_operand_problem, dtypes=ALL, plain=True, in_place=elementwise,
               input_names=_names, output_names=("Y",))(broadcast_params)


def unary_expr(node: Node, graph: Graph) -> str:
    """The op table's C form of the elementwise map, applied to the element ``x``."""
    form = op_spec(node.op_type).unary
    attrs = form.attrs(graph, node)
    assert attrs is not None, "static_inputs guarantees constant parameters"
    return form.c_for("x", attrs, graph.tensors[node.inputs[0]].dtype)


def _unary_check(node: Node, graph: Graph) -> str | None:
    form = op_spec(node.op_type).unary
    dtype = graph.tensors[node.inputs[0]].dtype
    return None if dtype in form.dtypes else f"{node.op_type} on {dtype} (its C form takes {', '.join(form.dtypes)})"


# Every elementwise map of the op table with a C form (activations, unary math, predicates, Identity).
UNARY = tuple(op for op in op_types(lambda spec: spec.unary is not None) if op != "Dropout")


def _dropout_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1:
        return "Dropout with a mask output"
    return dropout_training_problem(node, graph)


def dropout_training_problem(node: Node, graph: Graph) -> str | None:
    """Why the Dropout is not the identity (training mode with a ratio other than 0), or None."""
    if len(node.inputs) > 2 and node.inputs[2]:
        training = graph.const(node.inputs[2])
        ratio = graph.const(node.inputs[1]) if node.inputs[1] else np.float32(0.5)
        # Training mode drops random elements, except with ratio 0, where it is the identity.
        if training is None or (bool(np.asarray(training).reshape(-1)[0]) and
                                (ratio is None or float(np.asarray(ratio).reshape(-1)[0]) != 0.0)):
            return "Dropout in training mode"
    return None


REF.kernel(*UNARY, template="ref/unary.c.j2", static_inputs=(1, 2), check=_unary_check, dtypes=ALL, plain=True, in_place=elementwise,
           input_names=("X",), output_names=("Y",))(lambda node, graph: {"expr": unary_expr(node, graph)})
REF.kernel("Dropout", template="ref/unary.c.j2", static_inputs=(1, 2), check=_dropout_check, in_place=elementwise,
           input_names=("X",), output_names=("Y",))(lambda node, graph: {"expr": unary_expr(node, graph)})
