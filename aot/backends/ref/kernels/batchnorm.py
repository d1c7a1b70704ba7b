"""Inference BatchNormalization that could not be folded into a Conv/Gemm: y = x * scale[c] + shift[c]."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_array_body
from ....ir import Graph, Node
from .. import REF


def batchnorm_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    gamma, beta, mean, var = (graph.const(i).astype(np.float64) for i in node.inputs[1:5])
    scale = gamma / np.sqrt(var + node.attrs.get("epsilon", 1e-5))
    shift = beta - mean * scale
    inner = 1
    for d in x.shape[2:]:
        inner *= d
    return {"N": x.shape[0], "C": x.shape[1], "inner": inner,
            "scale": c_array_body(scale.astype(np.float32)), "shift": c_array_body(shift.astype(np.float32))}


def _bn_check(node: Node, graph: Graph) -> str | None:
    if len([o for o in node.outputs if o]) > 1 or node.attrs.get("training_mode", 0):
        return "BatchNormalization in training mode"
    return None if len(graph.tensors[node.inputs[0]].shape) >= 2 else "input rank < 2"


REF.kernel("BatchNormalization", template="ref/batchnorm.c.j2", static_inputs=(1, 2, 3, 4), check=_bn_check,
           input_names=("X",), output_names=("Y",))(batchnorm_params)
