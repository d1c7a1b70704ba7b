"""Matrix ops: Det (the determinant of each trailing square matrix) and EyeLike (an identity-like
matrix of its input's shape, ones on diagonal k)."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import OpSpec


def validate_det(graph: Graph, node: Node) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        return f"input of shape {list(shape)}; Det takes [..., M, M] square matrices"
    return None


def validate_eye_like(graph: Graph, node: Node) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    if len(shape) != 2:
        return f"input of rank {len(shape)}; EyeLike takes a 2-D tensor"
    return None


def _det_macs(graph: Graph, node: Node) -> int:
    shape = graph.tensors[node.inputs[0]].shape
    m = shape[-1] if shape else 0
    return graph.tensors[node.outputs[0]].size * m ** 3 // 3


register_op(OpSpec("Det", "matrix", macs=_det_macs, validate=validate_det, min_opset=11))
register_op(OpSpec("EyeLike", "matrix", validate=validate_eye_like))
