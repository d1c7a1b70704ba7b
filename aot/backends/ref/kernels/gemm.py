"""Float Gemm and MatMul (batched, numpy broadcasting of batch dims, 1-D operands promoted).

Y[M, N] = init + A[M, K] x B[K, N] runs as register tiles of TILE_M rows x TILE_P columns (see
templates/ref/tile.j2), summing each output as the plain loops do: init, then k = 0, 1, ... in order.
Gemm with B stored [N, K] (transB) is a dot product per output; four run side by side so their
additions overlap instead of waiting on each other.
"""
from __future__ import annotations

import itertools

import numpy as np

from ....codegen.cformat import c_float
from ....ops.ctyping import wide_unsigned
from ....ir import Graph, Node
from .. import REF
from .broadcast import broadcast_strides
from .conv import column_blocks

TILE_M = 4  # rows of the register tile, as TILE_OC for Conv
DOTS = 4  # transB: dot products computed side by side


def _row(r: int) -> str:
    return f"(m0 + {r})" if r else "m0"


def _row_blocks(rows: int) -> dict:
    return {"M_full": rows - rows % TILE_M, "M_tail": rows % TILE_M,
            "row_sizes": sorted({TILE_M, rows % TILE_M} - {0})}


def gemm_params(node: Node, graph: Graph) -> dict:
    a = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    M, N = y.shape
    K = a.shape[0] if trans_a else a.shape[1]
    has_c = len(node.inputs) > 2 and bool(node.inputs[2])
    c_strides = broadcast_strides(graph.tensors[node.inputs[2]].shape, (M, N)) if has_c else [0, 0]
    alpha, beta = c_float(node.attrs.get("alpha", 1.0)), c_float(node.attrs.get("beta", 1.0))
    alpha_is_one = float(node.attrs.get("alpha", 1.0)) == 1.0
    beta_is_one = float(node.attrs.get("beta", 1.0)) == 1.0
    blocks = _row_blocks(M)
    # C expressions of the tile's row r (output row m0 + r): initial value at column n0 + i, and the
    # multiplier at index k (alpha * A[m, k], as the plain loops computed it)
    scaled_a = "" if alpha_is_one else alpha + " * "
    scaled_c = "" if beta_is_one else beta + " * "
    c_terms = [f"(n0 + i){f' * {c_strides[1]}' if c_strides[1] != 1 else ''}"] if c_strides[1] else []

    def init(r: int) -> str:
        terms = ([f"{_row(r)} * {c_strides[0]}"] if c_strides[0] else []) + c_terms
        return f"{scaled_c}C[{' + '.join(terms) or '0'}]" if has_c else "0.0f"

    def weight(r: int) -> str:
        return f"{scaled_a}A[{f'k * {M} + {_row(r)}' if trans_a else f'{_row(r)} * {K} + k'}]"

    return {"M": M, "N": N, "K": K, "trans_a": trans_a, "trans_b": trans_b, "has_c": has_c,
            "c_strides": c_strides, "alpha": alpha, "beta": beta, "alpha_is_one": alpha_is_one,
            "beta_is_one": beta_is_one, "TILE_M": TILE_M, "DOTS": DOTS, "n_blocks": column_blocks(N), **blocks,
            "row_inits": {rows: [init(r) for r in range(rows)] for rows in blocks["row_sizes"]},
            "row_weights": {rows: [weight(r) for r in range(rows)] for rows in blocks["row_sizes"]}}


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
    blocks = _row_blocks(M)
    return {"M": M, "K": K, "N": N, "batches": len(a_off), "a_off": a_off, "b_off": b_off,
            "uniform": all(o == a_off[0] for o in a_off) and all(o == b_off[0] for o in b_off),
            "TILE_M": TILE_M, "n_blocks": column_blocks(N), **blocks,
            "row_inits": {rows: ["0.0f"] * rows for rows in blocks["row_sizes"]},
            "row_weights": {rows: [f"a[{_row(r)} * {K} + k]" for r in range(rows)] for rows in blocks["row_sizes"]}}


REF.kernel("MatMul", template="ref/matmul.c.j2", input_names=("A", "B"), output_names=("Y",))(matmul_params)


# MatMul of float64 or integer operands (exporters' index arithmetic, double-precision models): a plain
# loop in the operands' type; the float32 kernel above is the fast one.
TYPED_MATMUL = ("float64", "int32", "int64", "uint32", "uint64")


def typed_matmul_params(node: Node, graph: Graph) -> dict:
    dtype = graph.tensors[node.outputs[0]].dtype
    acc_type = "double" if dtype == "float64" else wide_unsigned(dtype)
    return {**matmul_params(node, graph), "acc_type": acc_type}


def _typed_matmul_check(node: Node, graph: Graph) -> str | None:
    if any(graph.tensors[i].quant is not None for i in node.inputs[:2]):
        return "quantized operands go to the int8 kernels"
    return None


REF.kernel("MatMul", template="ref/matmul_typed.c.j2", dtypes=TYPED_MATMUL, plain=True, check=_typed_matmul_check,
           input_names=("A", "B"), output_names=("Y",), name="matmul_typed")(typed_matmul_params)
