"""BitCast (opset 26): the same bytes read as another element type of the same width."""
from __future__ import annotations

from ..ir import Graph, Node
from .common import output_size
from .ctyping import bits
from .registry import register_op
from .spec import OpSpec


def validate_bitcast(graph: Graph, node: Node) -> str | None:
    src, dst = graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype
    if bits(src) != bits(dst):
        return f"{src} and {dst} differ in width ({bits(src)} and {bits(dst)} bits); BitCast keeps the bytes"
    return None


register_op(OpSpec("BitCast", "reinterpret", macs=output_size, validate=validate_bitcast, min_opset=26))
