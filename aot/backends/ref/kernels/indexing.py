"""Ops driven by runtime indices or by the values themselves: Gather with runtime indices,
GatherElements, GatherND, ScatterND, ScatterElements, OneHot, TopK, ArgMax/ArgMin, CumSum, Trilu.

Every runtime index is wrapped once when negative and then clamped into its axis (templates/ref/
indexing/macros.j2): ONNX Runtime rejects such an index with an error, the generated C has no error
path, and clamping keeps every read and write inside its buffer (the clamp is documented in
aot/ops/indexing.py). The data may be float32 or any integer or bool type: values are moved with the
tensors' C types; arithmetic on integers (CumSum, scatter reductions) wraps like ONNX Runtime's.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ....codegen.cformat import c_float, c_int
from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from .. import REF
from .shape_ops import ALL_DTYPES

NUMERIC = tuple(d for d in ALL_DTYPES if d != "bool")
INDEX_DTYPES = ("int32", "int64")
_UNSIGNED_OF = {"int8": "uint32_t", "uint8": "uint32_t", "int16": "uint32_t", "uint16": "uint32_t",
                "int32": "uint32_t", "uint32": "uint32_t", "int64": "uint64_t", "uint64": "uint64_t"}
_C_TYPE = {"float32": "float", "float64": "double", "int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "uint16": "uint16_t",
           "int32": "int32_t", "uint32": "uint32_t", "int64": "int64_t", "uint64": "uint64_t", "bool": "uint8_t"}


def arith(dtype: str, op: str) -> Callable[[str, str], str]:
    """C for ``a op b`` in ``dtype``. Integers compute in the unsigned type of their width, so an
    overflow wraps (what ONNX Runtime's kernels do on every target) instead of being undefined."""
    if dtype in ("float32", "float64"):
        return lambda a, b: f"{a} {op} {b}"
    if dtype == "bool":  # add is or, mul is and (ONNX Runtime's bool arithmetic)
        return lambda a, b: f"({a} {'|' if op == '+' else '&'} {b})"
    u, t = _UNSIGNED_OF[dtype], _C_TYPE[dtype]
    return lambda a, b: f"({t})(({u}){a} {op} ({u}){b})"


def reduction(dtype: str, kind: str) -> Callable[[str, str], str]:
    """C for combining the current output value y with an update u (ScatterND/ScatterElements)."""
    if kind == "add":
        return arith(dtype, "+")
    if kind == "mul":
        return arith(dtype, "*")
    if kind == "max":
        return lambda y, u: f"{u} > {y} ? {u} : {y}"
    if kind == "min":
        return lambda y, u: f"{u} < {y} ? {u} : {y}"
    return lambda y, u: u


def lin(var: str, strides: list[int], skip: int | None = None) -> str:
    """``var0 * s0 + var1 * s1 + ...`` (axis ``skip`` left out), or 0."""
    terms = [f"{var}{a}" + (f" * {s}" if s != 1 else "") for a, s in enumerate(strides) if a != skip and s]
    return " + ".join(terms) or "0"


def _indices_check(node: Node, graph: Graph, idx: int = 1) -> str | None:
    dtype = graph.tensors[node.inputs[idx]].dtype
    return None if dtype in INDEX_DTYPES else f"indices of dtype {dtype}"


def _slices(shape: tuple[int, ...], axis: int) -> dict:
    """A tensor as [outer, dim, inner] around ``axis``."""
    return {"outer": int(np.prod(shape[:axis], dtype=np.int64)), "dim": shape[axis],
            "inner": int(np.prod(shape[axis + 1:], dtype=np.int64))}


# -- Gather with runtime indices ----------------------------------------------------------------------
def gather_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    return {**_slices(x.shape, axis), "count": graph.tensors[node.inputs[1]].size}


# Below the constant-index kernel (slicing.py), which needs no index input at all.
REF.kernel("Gather", template="ref/indexing/gather.c.j2", check=_indices_check, dtypes=ALL_DTYPES, priority=-1,
           input_names=("X", "I"), output_names=("Y",), name="gather_runtime")(gather_params)


# -- GatherElements / ScatterElements -------------------------------------------------------------------
def elements_params(node: Node, graph: Graph) -> dict:
    x, i = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    xs = dense_strides(x.shape)
    scatter = node.op_type in ("ScatterElements", "Scatter")
    return {"dims": list(i.shape), "noff": lin("i", list(dense_strides(i.shape))), "xoff": lin("i", list(xs), axis),
            "axis": axis, "axis_stride": xs[axis], "dim": x.shape[axis], "scatter": scatter,
            "reduce": reduction(x.dtype, node.attrs.get("reduction", "none")) if scatter else None}


def _scatter_check(node: Node, graph: Graph) -> str | None:
    kind = node.attrs.get("reduction", "none")
    if kind in ("max", "min") and graph.tensors[node.inputs[0]].dtype == "bool":
        return f"reduction {kind} on bool"
    return _indices_check(node, graph)


REF.kernel("GatherElements", template="ref/indexing/elements.c.j2", check=_indices_check, dtypes=ALL_DTYPES,
           input_names=("X", "I"), output_names=("Y",), name="gather_elements")(elements_params)
REF.kernel("ScatterElements", "Scatter", template="ref/indexing/elements.c.j2", check=_scatter_check, dtypes=ALL_DTYPES,
           input_names=("X", "I", "U"), output_names=("Y",), name="scatter_elements")(elements_params)


# -- GatherND / ScatterND -----------------------------------------------------------------------------
def nd_params(node: Node, graph: Graph) -> dict:
    x, i = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    b = int(node.attrs.get("batch_dims", 0))
    k = i.shape[-1]
    xs = dense_strides(x.shape)
    scatter = node.op_type == "ScatterND"
    return {"k": k, "dims": list(x.shape[b:b + k]), "strides": list(xs[b:b + k]),
            "batches": int(np.prod(x.shape[:b], dtype=np.int64)), "batch_stride": int(np.prod(x.shape[b:], dtype=np.int64)),
            "tuples": int(np.prod(i.shape[b:-1], dtype=np.int64)), "inner": int(np.prod(x.shape[b + k:], dtype=np.int64)),
            "scatter": scatter, "reduce": reduction(x.dtype, node.attrs.get("reduction", "none")) if scatter else None}


REF.kernel("GatherND", template="ref/indexing/gather_nd.c.j2", check=_indices_check, dtypes=ALL_DTYPES,
           input_names=("X", "I"), output_names=("Y",), name="gather_nd")(nd_params)
REF.kernel("ScatterND", template="ref/indexing/gather_nd.c.j2", check=_scatter_check, dtypes=ALL_DTYPES,
           input_names=("X", "I", "U"), output_names=("Y",), name="scatter_nd")(nd_params)


# -- OneHot -----------------------------------------------------------------------------------------
def onehot_params(node: Node, graph: Graph) -> dict:
    ind = graph.tensors[node.inputs[0]]
    depth = int(float(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0]))
    axis = int(node.attrs.get("axis", -1)) % (len(ind.shape) + 1)
    dtype = ind.dtype
    if dtype in ("float32", "float64"):
        # compared as floats first: the conversion to int64 below is then always defined (NaN fails)
        in_range = f"raw > {c_float(-depth - 1)} && raw < {c_float(depth)}"
    elif dtype.startswith("uint") or dtype == "bool":
        in_range = f"raw < {depth}"
    else:
        in_range = f"raw >= {c_int(-depth)} && raw < {c_int(depth)}"
    return {"depth": depth, "outer": int(np.prod(ind.shape[:axis], dtype=np.int64)),
            "inner": int(np.prod(ind.shape[axis:], dtype=np.int64)), "in_range": in_range,
            "signed": not (dtype.startswith("uint") or dtype == "bool")}


def _onehot_check(node: Node, graph: Graph) -> str | None:
    if graph.tensors[node.inputs[0]].dtype not in NUMERIC:
        return "OneHot indices must be numeric"
    return None


REF.kernel("OneHot", template="ref/indexing/onehot.c.j2", static_inputs=(1,), check=_onehot_check,
           dtypes=ALL_DTYPES, input_names=("I", "D", "V"), output_names=("Y",), name="onehot")(onehot_params)


# -- TopK, ArgMax, ArgMin -------------------------------------------------------------------------------
def topk_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", -1)) % len(x.shape)
    k = int(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0])
    largest = bool(int(node.attrs.get("largest", 1)))
    if x.dtype not in ("float32", "float64"):
        op = ">" if largest else "<"
        better = lambda a, b: f"{a} {op} {b}"  # noqa: E731
    elif largest:  # NaN ranks above every number (ONNX Runtime's order), so it comes first ...
        better = lambda a, b: f"({a} > {b} || ({a} != {a} && {b} == {b}))"  # noqa: E731
    else:  # ... and is the last candidate for the smallest
        better = lambda a, b: f"({a} < {b} || ({b} != {b} && {a} == {a}))"  # noqa: E731
    return {**_slices(x.shape, axis), "k": k, "better": better}


REF.kernel("TopK", template="ref/indexing/topk.c.j2", static_inputs=(1,), dtypes=NUMERIC, input_names=("X", "K"),
           output_names=("Y", "Ind"), name="topk")(topk_params)


def arg_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(node.attrs.get("axis", 0)) % len(x.shape)
    largest = node.op_type == "ArgMax"
    last = bool(int(node.attrs.get("select_last_index", 0)))
    op = (">" if largest else "<") + ("=" if last else "")
    return {**_slices(x.shape, axis), "largest": largest, "last": last, "better": f"v {op} best"}


REF.kernel("ArgMax", "ArgMin", template="ref/indexing/arg.c.j2", dtypes=NUMERIC, input_names=("X",),
           output_names=("Y",), name="arg")(arg_params)


# -- CumSum ---------------------------------------------------------------------------------------------
def cumsum_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    axis = int(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0]) % len(x.shape)
    return {**_slices(x.shape, axis), "exclusive": bool(int(node.attrs.get("exclusive", 0))),
            "reverse": bool(int(node.attrs.get("reverse", 0))), "add": arith(x.dtype, "+")}


REF.kernel("CumSum", template="ref/indexing/cumsum.c.j2", static_inputs=(1,), dtypes=NUMERIC,
           input_names=("X", "A"), output_names=("Y",), name="cumsum")(cumsum_params)


# -- Trilu ----------------------------------------------------------------------------------------------
def trilu_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    rows, cols = x.shape[-2:]
    k = 0
    if len(node.inputs) > 1 and node.inputs[1]:
        k = int(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0])
    # Beyond +-(rows + cols) every diagonal is in (or out): the same mask with a C-sized constant.
    k = max(-(rows + cols), min(rows + cols, k))
    return {"batches": int(np.prod(x.shape[:-2], dtype=np.int64)), "rows": rows, "cols": cols, "k": k,
            "upper": bool(int(node.attrs.get("upper", 1)))}


REF.kernel("Trilu", template="ref/indexing/trilu.c.j2", static_inputs=(1,), dtypes=ALL_DTYPES,
           input_names=("X", "K"), output_names=("Y",), name="trilu")(trilu_params)
