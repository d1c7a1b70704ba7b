"""The optimizers of the ``ai.onnx.preview.training`` domain: Adagrad, Momentum (standard and
Nesterov) and Adam. Each takes a learning rate R and a step count T (runtime scalars), then per
optimized tensor X its gradient G and its state (Adagrad: H; Momentum: V; Adam: V and H), grouped
by kind (X1, X2, G1, G2, ...), and writes the new X and the new state, grouped the same way. Pure
elementwise math; the op table lists them as "<domain>.<op>" (their kernels' domain)."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import OpSpec

DOMAIN = "ai.onnx.preview.training"
# state tensors per optimized tensor, besides X and G
STATES = {"Adagrad": 1, "Momentum": 1, "Adam": 2}


def groups(node: Node) -> int:
    """How many tensors the node optimizes."""
    return (len(node.inputs) - 2) // (2 + STATES[node.op_type])


def validate_optimizer(graph: Graph, node: Node) -> str | None:
    per = 2 + STATES[node.op_type]
    n = groups(node)
    if n < 1 or len(node.inputs) != 2 + per * n or len(node.outputs) != (per - 1) * n:
        return (f"{len(node.inputs)} inputs and {len(node.outputs)} outputs: {node.op_type} takes R, T and "
                f"{per} tensors per optimized tensor, and writes {per - 1} per optimized tensor")
    if not all(node.inputs) or not all(node.outputs):
        return "every input and output must be present"
    for name in node.inputs[:2]:
        if graph.tensors[name].size != 1:
            return f"R and T are scalars; '{name}' has shape {list(graph.tensors[name].shape)}"
    for i in range(n):
        shapes = {tuple(graph.tensors[node.inputs[2 + k * n + i]].shape) for k in range(per)}
        if len(shapes) > 1:
            return f"optimized tensor {i + 1}: its X, G and state tensors have different shapes {sorted(shapes)}"
    if node.op_type == "Momentum" and node.attrs.get("mode", "standard") not in ("standard", "nesterov"):
        return f"mode '{node.attrs.get('mode')}' is not 'standard' or 'nesterov'"
    return None


def _macs(graph: Graph, node: Node) -> int:
    return sum(graph.tensors[o].size for o in node.outputs if o) * 4


for _op in STATES:
    register_op(OpSpec(f"{DOMAIN}.{_op}", "training", macs=_macs, validate=validate_optimizer))
