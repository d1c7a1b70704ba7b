"""Float reductions over constant axes (ReduceMean, ReduceSum, ReduceMax, ...): the kept axes are
the outer loops, the reduced axes the inner loops, each merged where the input is contiguous."""
from __future__ import annotations

import re

import numpy as np

from ....codegen.cformat import c_float
from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from .. import REF
from .data_movement import merged

# op: (initial value, update of acc with element v, result from acc and the element count n)
REDUCTIONS = {
    "ReduceMean": ("0.0f", "acc += v", "acc / {n}"),
    "ReduceSum": ("0.0f", "acc += v", "acc"),
    # From the first element, as ONNX Runtime: a NaN there stays, a NaN later is passed over.
    "ReduceMax": ("x[0]", "acc = v > acc ? v : acc", "acc"),
    "ReduceMin": ("x[0]", "acc = v < acc ? v : acc", "acc"),
    "ReduceProd": ("1.0f", "acc *= v", "acc"),
    "ReduceSumSquare": ("0.0f", "acc += v * v", "acc"),
    "ReduceL1": ("0.0f", "acc += fabsf(v)", "acc"),
    "ReduceL2": ("0.0f", "acc += v * v", "sqrtf(acc)"),
    "ReduceLogSum": ("0.0f", "acc += v", "logf(acc)"),
    # The maximum is subtracted first (a separate pass), so large inputs do not overflow expf; an infinite
    # maximum is not (ONNX Runtime: +inf in the set gives +inf, all -inf gives -inf).
    "ReduceLogSumExp": ("0.0f", "acc += expf(v - mx)", "mx + logf(acc)"),
}


def reduced_axes(node: Node, graph: Graph) -> list[int]:
    """Sorted axes to reduce: the attribute (older opsets) or the constant input; none given means
    all axes unless noop_with_empty_axes, which makes the op a copy."""
    rank = len(graph.tensors[node.inputs[0]].shape)
    axes = node.attrs.get("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        axes = np.asarray(graph.const(node.inputs[1])).reshape(-1).tolist()
    if not axes:
        return [] if node.attrs.get("noop_with_empty_axes", 0) else list(range(rank))
    return sorted({int(a) % rank for a in axes})


def reduce_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axes = reduced_axes(node, graph)
    xs = dense_strides(x.shape)
    kept = [a for a in range(len(x.shape)) if a not in axes]
    kdims, (kx, ky) = merged([x.shape[a] for a in kept], [xs[a] for a in kept],
                             list(dense_strides(tuple(x.shape[a] for a in kept))))
    rdims, (rx,) = merged([x.shape[a] for a in axes], [xs[a] for a in axes])
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    init, update, result = REDUCTIONS[node.op_type] if axes else ("0.0f", "acc = v", "acc")
    if count == 0:  # the empty set: the reduction's identity (NaN for a mean, log(0) = -inf)
        result = {"ReduceMean": "NAN", "ReduceLogSum": "(-INFINITY)", "ReduceLogSumExp": "(-INFINITY)",
                  "ReduceL2": "0.0f", "ReduceMax": "(-INFINITY)", "ReduceMin": "INFINITY"}.get(node.op_type, init)
    result = result.format(n=c_float(count))
    if x.dtype == "float64":  # the double forms of the float32 math functions
        init, update, result = (_double_math(e) for e in (init, update, result))
    return {"kdims": kdims, "kx": kx, "ky": ky, "rdims": rdims, "rx": rx, "init": init, "update": update,
            "result": result, "two_pass": node.op_type == "ReduceLogSumExp" and count > 0,
            "empty": count == 0, "out_size": graph.tensors[node.outputs[0]].size}


def _double_math(expr: str) -> str:
    return re.sub(r"\b(expf|logf|sqrtf|fabsf)\(", lambda m: m.group(1)[:-1] + "(", expr)


REF.kernel(*REDUCTIONS, template="ref/reduce.c.j2", static_inputs=(1,), dtypes=("float32", "float64"),
           input_names=("X",), output_names=("Y",))(reduce_params)
