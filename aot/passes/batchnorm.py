"""Fold inference BatchNormalization into the op that feeds it (``OpSpec.folds_batchnorm``: Conv, Gemm)."""
import numpy as np

from ..ir import Graph
from ..ops import op_spec
from .context import PassContext, graph_pass
from .rewrite import absorb, sole_consumer


def _bn_scale_shift(graph: Graph, bn) -> tuple[np.ndarray, np.ndarray] | None:
    params = [graph.const(i) for i in bn.inputs[1:5]]
    if any(p is None for p in params) or len(bn.present_inputs) != 5:
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
    return scale, beta - mean * scale


@graph_pass("fold_batchnorm")
def fold_batchnorm(graph: Graph, ctx: PassContext) -> Graph:
    consumers = graph.consumers()
    for node in list(graph.nodes):
        spec = op_spec(node.op_type)
        if spec is None or not spec.folds_batchnorm or node.domain or node.attrs.get("activation") \
                or ctx.skips(node.name):
            continue
        bn = sole_consumer(graph, node.outputs[0], consumers)
        if bn is None or bn.op_type != "BatchNormalization" or len([o for o in bn.outputs if o]) != 1:
            continue
        if ctx.skips(bn.name):
            continue
        folded = _bn_scale_shift(graph, bn)
        weight = graph.const(node.inputs[1])
        if folded is None or weight is None or weight.dtype != np.float32:
            continue
        scale, shift = folded
        has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        bias = graph.const(node.inputs[2]) if has_bias else None
        if has_bias and bias is None:
            continue  # a bias computed at run time cannot absorb the shift
        if node.op_type == "Conv":
            new_w = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
            old_b = bias if bias is not None else np.zeros(weight.shape[0], np.float64)
            new_b = old_b * scale + shift
        else:
            if node.attrs.get("transA", 0) or weight.ndim != 2:
                continue
            trans_b = node.attrs.get("transB", 0)
            new_w = weight * (scale[:, None] if trans_b else scale[None, :])
            new_w = new_w * node.attrs.get("alpha", 1.0)
            node.attrs["alpha"] = 1.0
            beta = node.attrs.get("beta", 1.0)
            old_b = beta * bias if bias is not None else np.zeros(scale.shape, np.float64)
            new_b = old_b * scale + shift
            node.attrs["beta"] = 1.0
        w_t = graph.add_constant(node.inputs[1] + "_bn", new_w.astype(np.float32),
                                 layout=graph.tensors[node.inputs[1]].layout)
        b_t = graph.add_constant((node.inputs[2] if bias is not None else node.name + "_bias") + "_bn",
                                 np.asarray(new_b, np.float32))
        node.inputs = [node.inputs[0], w_t.name, b_t.name]
        absorb(graph, node, bn)
        consumers = graph.consumers()
    return graph
