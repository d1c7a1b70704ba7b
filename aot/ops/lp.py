"""Lp norms: LpPool (the p-norm of each window) and LpNormalization (x divided by its p-norm along
an axis)."""
from __future__ import annotations

from ..ir import Graph, Node
from .common import output_size
from .pool import validate_window_pool, window_macs
from .registry import register_op
from .spec import OpSpec


def validate_lp_pool(graph: Graph, node: Node) -> str | None:
    if int(node.attrs.get("p", 2)) < 1:
        return f"p={node.attrs.get('p')} must be 1 or more"
    rank = len(graph.tensors[node.inputs[0]].shape)
    if rank < 3:
        return f"input of rank {rank}; LpPool takes [N, C, spatial...]"
    return validate_window_pool(graph, node)


def validate_lp_normalization(graph: Graph, node: Node) -> str | None:
    p = int(node.attrs.get("p", 2))
    if p not in (1, 2):
        return f"p={p}; LpNormalization defines p = 1 or 2"
    rank = len(graph.tensors[node.inputs[0]].shape)
    axis = int(node.attrs.get("axis", -1))
    if not -rank <= axis < max(rank, 1):
        return f"axis {axis} is outside the input's rank {rank}"
    return None


register_op(OpSpec("LpPool", "lp", layout="sensitive", macs=window_macs, validate=validate_lp_pool))
register_op(OpSpec("LpNormalization", "lp", macs=lambda graph, node: 2 * output_size(graph, node),
                   validate=validate_lp_normalization))
