"""Float Gemm and MatMul (batched, numpy broadcasting of batch dims, 1-D operands promoted)."""
from __future__ import annotations

import itertools

import numpy as np

from ....codegen.cformat import c_float
from ....ir import Graph, Node
from .. import REF
from .broadcast import broadcast_strides


def gemm_params(node: Node, graph: Graph) -> dict:
    a = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    M, N = y.shape
    K = a.shape[0] if trans_a else a.shape[1]
    has_c = len(node.inputs) > 2 and bool(node.inputs[2])
    c_strides = broadcast_strides(graph.tensors[node.inputs[2]].shape, (M, N)) if has_c else [0, 0]
    return {"M": M, "N": N, "K": K, "trans_a": trans_a, "trans_b": trans_b, "has_c": has_c,
            "c_strides": c_strides, "alpha": c_float(node.attrs.get("alpha", 1.0)),
            "beta": c_float(node.attrs.get("beta", 1.0)),
            "alpha_is_one": float(node.attrs.get("alpha", 1.0)) == 1.0,
            "beta_is_one": float(node.attrs.get("beta", 1.0)) == 1.0}


def _gemm_check(node: Node, graph: Graph) -> str | None:
    if len(graph.tensors[node.inputs[0]].shape) != 2 or len(graph.tensors[node.inputs[1]].shape) != 2:
        return "Gemm operands must be 2-D"
    return None


REF.kernel("Gemm", template="ref/gemm.c.j2", check=_gemm_check, input_names=("A", "B", "C"),
           output_names=("Y",))(gemm_params)


def matmul_params(node: Node, graph: Graph) -> dict:
    a_shape = graph.tensors[node.inputs[0]].shape
    b_shape = graph.tensors[node.inputs[1]].shape
    a2 = (1,) + a_shape if len(a_shape) == 1 else a_shape
    b2 = b_shape + (1,) if len(b_shape) == 1 else b_shape
    M, K, N = a2[-2], a2[-1], b2[-1]
    batch = np.broadcast_shapes(a2[:-2], b2[:-2])
    a_bs = broadcast_strides(a2[:-2], batch) if batch else []
    b_bs = broadcast_strides(b2[:-2], batch) if batch else []
    a_off, b_off = [], []
    for idx in itertools.product(*[range(d) for d in batch]):
        a_off.append(sum(i * s for i, s in zip(idx, a_bs)) * M * K)
        b_off.append(sum(i * s for i, s in zip(idx, b_bs)) * K * N)
    if not batch:
        a_off, b_off = [0], [0]
    return {"M": M, "K": K, "N": N, "batches": len(a_off), "a_off": a_off, "b_off": b_off,
            "uniform": all(o == a_off[0] for o in a_off) and all(o == b_off[0] for o in b_off)}


REF.kernel("MatMul", template="ref/matmul.c.j2", input_names=("A", "B"), output_names=("Y",))(matmul_params)
