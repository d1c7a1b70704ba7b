"""BatchNormalization that could not be folded into a Conv/Gemm. Inference: y = x * scale[c] +
shift[c] with both precomputed. Training mode (opset >= 14): batch statistics per channel, and the
optional running_mean / running_var outputs blended with the constant input statistics."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_array_body, c_float
from ....ir import Graph, Node
from .. import REF


def _training(node: Node) -> bool:
    return bool(node.attrs.get("training_mode", 0))


def batchnorm_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    gamma, beta, mean, var = (graph.const(i).astype(np.float64) for i in node.inputs[1:5])
    eps = node.attrs.get("epsilon", 1e-5)
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    params = {"N": x.shape[0], "C": x.shape[1], "inner": inner, "training": _training(node)}
    if not params["training"]:
        scale = gamma / np.sqrt(var + eps)
        shift = beta - mean * scale
        return {**params, "scale": c_array_body(scale.astype(np.float32)),
                "shift": c_array_body(shift.astype(np.float32))}
    # Output k (counting present outputs) is the C parameter out{k}: see kernel_arguments.
    present = [role for role, name in zip(("y", "mean", "var"), node.outputs) if name]
    stats = {role: f"out{k}" for k, role in enumerate(present) if role != "y"}
    momentum = float(node.attrs.get("momentum", 0.9))
    f32 = np.float32
    return {**params, "gamma": c_array_body(gamma.astype(f32)), "beta": c_array_body(beta.astype(f32)),
            "in_mean": c_array_body(mean.astype(f32)), "in_var": c_array_body(var.astype(f32)),
            "eps": c_float(eps), "momentum": c_float(momentum), "keep": c_float(1.0 - momentum),
            "count": c_float(x.shape[0] * inner), "stats": stats}


def _bn_check(node: Node, graph: Graph) -> str | None:
    outputs = len(node.outputs)
    if outputs > 3 or (outputs > 1 and not _training(node)):
        return "BatchNormalization with saved statistics outputs (opset < 14 training form)"
    return None if len(graph.tensors[node.inputs[0]].shape) >= 2 else "input rank < 2"


REF.kernel("BatchNormalization", template="ref/batchnorm.c.j2", static_inputs=(1, 2, 3, 4), check=_bn_check,
           input_names=("X",), output_names=("Y",))(batchnorm_params)
