"""Fuse an elementwise activation into the op producing its input: the activation epilogue pattern.

The producer keeps ``attrs["activation"] = {"op_type": ..., "attrs": {...}}``; kernels apply it
to each output element before the store, so the intermediate tensor never exists. Which ops can
absorb an activation and which maps are fusable is the op table's (``OpSpec.fuses_activation``,
``UnaryForm.fusable``).
"""
from __future__ import annotations

from ..ir import Graph, Node
from ..ir.pattern import Pattern, PatternMatch, op
from ..ops import activation_spec, op_spec
from .context import PassContext, graph_pass
from .rewrite import absorb, apply_fusion


def _absorbs_activation(node: Node, graph: Graph) -> bool:
    spec = op_spec(node.op_type)
    return spec is not None and spec.fuses_activation and not node.domain and not node.attrs.get("activation")


def _fusable(node: Node, graph: Graph) -> bool:
    spec = op_spec(node.op_type)
    return spec is not None and spec.unary is not None and spec.unary.fusable and not node.domain


def _check(m: PatternMatch, graph: Graph) -> str | None:
    return None if activation_spec(graph, m.root) else "activation parameters are not compile-time constants"


def _fuse(m: PatternMatch, graph: Graph) -> None:
    producer, act = m.nodes
    producer.attrs["activation"] = activation_spec(graph, act)
    absorb(graph, producer, act)


ACTIVATION_EPILOGUE = Pattern(
    "activation_epilogue", op(None, op(None, where=_absorbs_activation, dtype="float32"), where=_fusable),
    check=_check, rewrite=_fuse)


@graph_pass("fuse_activation")
def fuse_activation(graph: Graph, ctx: PassContext) -> Graph:
    return apply_fusion(graph, ctx, ACTIVATION_EPILOGUE)
