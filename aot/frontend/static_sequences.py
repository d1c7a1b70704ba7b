"""Sequences of tensors whose length is known at compile time, resolved at import into their tensors.

Exporters use ONNX sequences inside a model for Python lists (torch.split/unbind followed by a loop
over the pieces and a cat, SequenceMap over the pieces): SplitToSequence, SequenceMap,
ConcatFromSequence. With static shapes the length of each such sequence is known, so a sequence
value is held here as the list of its tensors' names and never reaches the IR: SequenceAt and
ConcatFromSequence become Identity and Concat of those tensors, SequenceMap copies its body per
element (as control_flow.py does for Scan). Positions (SequenceAt, SequenceInsert, SequenceErase)
must be compile-time constants. A sequence as a graph input or output stays unsupported.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper

if TYPE_CHECKING:
    from .control_flow import ControlFlowExpander

SEQUENCE_OPS = ("SequenceEmpty", "SequenceConstruct", "SequenceLength", "SequenceAt", "SequenceInsert",
                "SequenceErase", "SplitToSequence", "ConcatFromSequence", "SequenceMap")


def expand_sequence_op(cf: "ControlFlowExpander", node: onnx.NodeProto) -> str | None:
    """Resolve one sequence node (or an Identity of a sequence); the reason it cannot be, or None."""
    seqs = cf.sequences
    op = node.op_type
    for name in node.input:
        if name and name not in seqs:
            missing = cf._unavailable([name])
            if missing:
                return f"{op}: {missing}"
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute if a.type != onnx.AttributeProto.GRAPH}
    first = node.input[0] if node.input else ""
    if op != "SequenceConstruct" and op != "SequenceEmpty" and op != "SplitToSequence" and first not in seqs:
        return f"{op}: its input '{first}' is not a sequence aot knows the length of"
    if op == "SequenceEmpty":
        seqs[node.output[0]] = []
    elif op == "SequenceConstruct":
        seqs[node.output[0]] = list(node.input)
    elif op == "Identity":
        seqs[node.output[0]] = list(seqs[first])
    elif op == "SequenceLength":
        name, const = cf._const_node(f"{node.output[0]}__value", np.array(len(seqs[first]), dtype=np.int64))
        cf._import([const] + cf._wire([name], node.output))
    elif op in ("SequenceAt", "SequenceInsert", "SequenceErase"):
        return _positional(cf, node, seqs[first])
    elif op == "SplitToSequence":
        return _split(cf, node, attrs)
    elif op == "ConcatFromSequence":
        parts = seqs[first]
        if not parts:
            return "ConcatFromSequence: the sequence is empty"
        axis = int(attrs.get("axis", 0))
        if attrs.get("new_axis", 0):
            rank = len(cf._shape(parts[0])) + 1
            if not -rank <= axis < rank:
                return f"ConcatFromSequence: axis {axis} is outside the output rank {rank}"
            cf._import(cf._stack(parts, axis % rank, node.output[0]))
        else:
            cf._import(cf._concat(parts, axis, node.output[0]))
    elif op == "SequenceMap":
        return _sequence_map(cf, node)
    return None


def _position(cf: "ControlFlowExpander", node: onnx.NodeProto, index: int, length: int, inclusive: bool) -> int | str:
    """The constant position input ``index`` of ``node`` made non-negative, or why it cannot be."""
    value = cf._constant(node.input[index])
    if value is None:
        return f"{node.op_type}: the position depends on input values; aot needs it at compile time"
    pos = int(value.reshape(-1)[0])
    high = length + (1 if inclusive else 0)
    if not -length <= pos < high:
        return f"{node.op_type}: position {pos} is outside a sequence of {length} tensors"
    return pos + length if pos < 0 else pos


def _positional(cf: "ControlFlowExpander", node: onnx.NodeProto, items: list[str]) -> str | None:
    op, length = node.op_type, len(items)
    has_pos = {"SequenceAt": 1, "SequenceInsert": 2, "SequenceErase": 1}[op]
    if len(node.input) > has_pos and node.input[has_pos]:
        pos = _position(cf, node, has_pos, length, inclusive=op == "SequenceInsert")
        if isinstance(pos, str):
            return pos
    elif op == "SequenceErase" and not items:
        return "SequenceErase: the sequence is empty"
    else:
        pos = length if op == "SequenceInsert" else length - 1  # the default: the end
    if op == "SequenceAt":
        cf._import(cf._wire([items[pos]], node.output))
    elif op == "SequenceInsert":
        cf.sequences[node.output[0]] = items[:pos] + [node.input[1]] + items[pos:]
    else:
        cf.sequences[node.output[0]] = items[:pos] + items[pos + 1:]
    return None


def _split(cf: "ControlFlowExpander", node: onnx.NodeProto, attrs: dict) -> str | None:
    x = node.input[0]
    shape = cf._shape(x)
    axis = int(attrs.get("axis", 0))
    if not -len(shape) <= axis < len(shape):
        return f"SplitToSequence: axis {axis} is outside the rank {len(shape)} of '{x}'"
    axis %= len(shape)
    dim = shape[axis]
    split_name = node.input[1] if len(node.input) > 1 else ""
    keepdims = int(attrs.get("keepdims", 1))
    if split_name:
        split = cf._constant(split_name)
        if split is None:
            return "SplitToSequence: the split sizes depend on input values; aot needs them at compile time"
        if split.ndim == 0:  # one chunk size: equal chunks, the last one smaller
            step = int(split)
            if step <= 0:
                return f"SplitToSequence: the chunk size {step} is not positive"
            sizes = [min(step, dim - s) for s in range(0, dim, step)]
        else:
            sizes = [int(s) for s in split]
        keepdims = 1  # ONNX: keepdims applies only when split is not given
    else:
        sizes = [1] * dim
    if not sizes or sum(sizes) != dim or min(sizes) < 0:
        return f"SplitToSequence: sizes {sizes} do not split a dimension of {dim}"
    base = node.output[0]
    pieces = [cf._fresh(f"{base}__{k}") for k in range(len(sizes))]
    sizes_name, sizes_node = cf._const_node(f"{base}__sizes", np.array(sizes, dtype=np.int64))
    nodes = [sizes_node, helper.make_node("Split", [x, sizes_name], pieces, axis=axis)]
    if not keepdims:
        axes_name, axes_node = cf._const_node(f"{base}__axes", np.array([axis], dtype=np.int64))
        squeezed = [cf._fresh(f"{p}__squeezed") for p in pieces]
        nodes += [axes_node] + [helper.make_node("Squeeze", [p, axes_name], [s]) for p, s in zip(pieces, squeezed)]
        pieces = squeezed
    cf._import(nodes)
    cf.sequences[base] = pieces
    return None


def _sequence_map(cf: "ControlFlowExpander", node: onnx.NodeProto) -> str | None:
    body = next((a.g for a in node.attribute if a.name == "body"), None)
    if body is None or len(body.input) != len(node.input) or len(body.output) != len(node.output):
        return "SequenceMap: its body does not match its inputs and outputs"
    lengths = {len(cf.sequences[i]) for i in node.input if i in cf.sequences}
    if len(lengths) != 1:
        return f"SequenceMap: its input sequences have different lengths {sorted(lengths)}"
    length = lengths.pop()
    too_many = cf._budget("SequenceMap", length, len(body.node))
    if too_many:
        return too_many
    label = node.name or node.output[0]
    results: list[list[str]] = [[] for _ in node.output]
    for t in range(length):
        bind = {b.name: (cf.sequences[i][t] if i in cf.sequences else i) for b, i in zip(body.input, node.input)}
        nodes, outs = cf._copy_body(body, bind, f"{label}_it{t}")
        cf._import(nodes)
        for k, o in enumerate(outs):
            results[k].append(o)
    for target, items in zip(node.output, results):
        cf.sequences[target] = items
    return None
