"""The bias-add pattern: ``Conv -> Add(per-channel constant)`` becomes the Conv's bias and
``MatMul -> Add(constant)`` a Gemm (the ops whose ``OpSpec.absorbs_bias_add`` is set)."""
import numpy as np

from ..ir import Graph, Node
from ..ir.pattern import Pattern, PatternMatch, const, op
from ..ops import op_spec
from .context import PassContext, graph_pass
from .rewrite import absorb, apply_fusion


def _per_channel(const: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """The constant as a length-C vector if it only varies along axis 1 of ``out_shape``."""
    if const.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - const.ndim) + const.shape
    if any(d != 1 for i, d in enumerate(full) if i != 1):
        return None
    return np.broadcast_to(const.reshape(-1), (out_shape[1],)) if full[1] in (1, out_shape[1]) else None


def _absorbs_bias(node: Node, graph: Graph) -> bool:
    spec = op_spec(node.op_type)
    return spec is not None and spec.absorbs_bias_add and not node.domain and not node.attrs.get("activation")


def _check(m: PatternMatch, graph: Graph) -> str | None:
    node, add = m.nodes
    const = graph.const(m.captures["bias"])
    out = graph.tensors[node.outputs[0]]
    if const.dtype != np.float32 or graph.tensors[add.outputs[0]].shape != out.shape:
        return "the Add broadcasts the output or is not float32"
    if node.op_type == "Conv":
        if _per_channel(const, out.shape) is None:
            return "the constant is not per channel"
        if len(node.inputs) > 2 and node.inputs[2] and graph.const(node.inputs[2]) is None:
            return "the Conv's own bias is computed at run time"
    elif any(len(graph.tensors[i].shape) != 2 for i in node.inputs):
        return "MatMul operands are not 2-D"
    return None


def _fuse(m: PatternMatch, graph: Graph) -> None:
    node, add = m.nodes
    other = m.captures["bias"]
    if node.op_type == "Conv":
        vec = _per_channel(graph.const(other), graph.tensors[node.outputs[0]].shape)
        old = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else 0.0
        bias = graph.add_constant(other + "_bias", (vec + old).astype(np.float32))
        node.inputs = node.inputs[:2] + [bias.name]
    else:
        node.op_type = "Gemm"
        node.attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
        node.inputs = node.inputs + [other]
    absorb(graph, node, add)


BIAS_ADD = Pattern("bias_add", op("Add", op(None, where=_absorbs_bias), const("bias"), commutative=True),
                   check=_check, rewrite=_fuse)


@graph_pass("fuse_bias_add")
def fuse_bias_add(graph: Graph, ctx: PassContext) -> Graph:
    return apply_fusion(graph, ctx, BIAS_ADD)
