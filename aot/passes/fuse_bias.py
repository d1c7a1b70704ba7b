"""Turn ``Conv -> Add(per-channel constant)`` into a Conv bias and ``MatMul -> Add(constant)`` into Gemm."""
import numpy as np

from ..ir import Graph
from ..ops import op_spec
from .context import PassContext, graph_pass
from .rewrite import absorb, sole_consumer


def _per_channel(const: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray | None:
    """The constant as a length-C vector if it only varies along axis 1 of ``out_shape``."""
    if const.ndim > len(out_shape):
        return None
    full = (1,) * (len(out_shape) - const.ndim) + const.shape
    if any(d != 1 for i, d in enumerate(full) if i != 1):
        return None
    return np.broadcast_to(const.reshape(-1), (out_shape[1],)) if full[1] in (1, out_shape[1]) else None


@graph_pass("fuse_bias_add")
def fuse_bias_add(graph: Graph, ctx: PassContext) -> Graph:
    consumers = graph.consumers()
    for node in list(graph.nodes):
        spec = op_spec(node.op_type)
        if spec is None or not spec.absorbs_bias_add or node.domain or node.attrs.get("activation") \
                or ctx.skips(node.name):
            continue
        add = sole_consumer(graph, node.outputs[0], consumers)
        if add is None or add.op_type != "Add" or ctx.skips(add.name):
            continue
        other = add.inputs[1] if add.inputs[0] == node.outputs[0] else add.inputs[0]
        const = graph.const(other)
        out = graph.tensors[node.outputs[0]]
        if const is None or const.dtype != np.float32 or graph.tensors[add.outputs[0]].shape != out.shape:
            continue
        if node.op_type == "Conv":
            vec = _per_channel(const, out.shape)
            if vec is None:
                continue
            old = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else 0.0
            if len(node.inputs) > 2 and node.inputs[2] and old is None:
                continue
            bias = graph.add_constant(other + "_bias", (vec + old).astype(np.float32))
            node.inputs = node.inputs[:2] + [bias.name]
        else:
            a, b = (graph.tensors[i] for i in node.inputs)
            if a.shape.__len__() != 2 or b.shape.__len__() != 2:
                continue
            node.op_type = "Gemm"
            node.attrs = {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0}
            node.inputs = node.inputs + [other]
        absorb(graph, node, add)
        consumers = graph.consumers()
    return graph
