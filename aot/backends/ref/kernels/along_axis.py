"""Hardmax (float32), CumProd (every numeric dtype, integers wrap around like CumSum),
ReverseSequence and TensorScatter (any dtype) along one axis.

Hardmax marks the first maximum. NaN never counts as the maximum, and a slice of NaN alone gives
zeros: ONNX Runtime's result there depends on how Eigen vectorises its row maximum (a leading NaN
can poison a short row, not a long one), which no fixed rule reproduces.
ReverseSequence clamps each sequence_lens entry into 0..time steps, so the C never reads outside the
input (ONNX Runtime rejects such a length with an error).
TensorScatter: in linear mode a position outside the cache axis is not written (ONNX Runtime
rejects it); circular mode wraps positions around the axis, negative write indices included.
"""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from .. import REF
from .indexing import NUMERIC, arith
from .shape_ops import ALL_DTYPES


def _around(shape: tuple[int, ...], axis: int) -> dict:
    return {"outer": int(np.prod(shape[:axis], dtype=np.int64)), "dim": shape[axis],
            "inner": int(np.prod(shape[axis + 1:], dtype=np.int64))}


def hardmax_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    return _around(shape, int(node.attrs.get("axis", -1)) % len(shape))


REF.kernel("Hardmax", template="ref/along_axis/hardmax.c.j2", input_names=("X",), output_names=("Y",),
           name="hardmax")(hardmax_params)


def cumprod_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0]) % len(x.shape)
    return {**_around(x.shape, axis), "exclusive": bool(int(node.attrs.get("exclusive", 0))),
            "reverse": bool(int(node.attrs.get("reverse", 0))), "mul": arith(x.dtype, "*")}


REF.kernel("CumProd", template="ref/along_axis/cumprod.c.j2", static_inputs=(1,), dtypes=NUMERIC,
           input_names=("X", "A"), output_names=("Y",), name="cumprod")(cumprod_params)


def reverse_sequence_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    time_axis = int(node.attrs.get("time_axis", 0))
    steps, batch = (x.shape[0], x.shape[1]) if time_axis == 0 else (x.shape[1], x.shape[0])
    inner = int(np.prod(x.shape[2:], dtype=np.int64))
    # offset of (time t, batch b) in elements
    offset = (lambda t, b: f"(({t}) * {batch} + ({b})) * {inner}") if time_axis == 0 else \
        (lambda t, b: f"(({b}) * {steps} + ({t})) * {inner}")
    return {"steps": steps, "batch": batch, "inner": inner, "offset": offset}


REF.kernel("ReverseSequence", template="ref/along_axis/reverse_sequence.c.j2", dtypes=ALL_DTYPES,
           input_names=("X", "L"), output_names=("Y",), name="reverse_sequence")(reverse_sequence_params)


# -- TensorScatter --------------------------------------------------------------------------------------
def tensor_scatter_params(node: Node, graph: Graph) -> dict:
    cache, update = (graph.tensors[n] for n in node.inputs[:2])
    axis = int(node.attrs.get("axis", -2)) % len(cache.shape)
    return {"B": cache.shape[0], "outer": int(np.prod(cache.shape[1:axis], dtype=np.int64)), "S": cache.shape[axis],
            "seq": update.shape[axis], "inner": int(np.prod(cache.shape[axis + 1:], dtype=np.int64)),
            "total": cache.size, "circular": node.attrs.get("mode", "linear") == "circular",
            "indexed": len(node.inputs) > 2 and bool(node.inputs[2])}


REF.kernel("TensorScatter", template="ref/along_axis/tensor_scatter.c.j2", dtypes=ALL_DTYPES,
           input_names=("X", "U", "I"), output_names=("Y",), name="tensor_scatter")(tensor_scatter_params)
