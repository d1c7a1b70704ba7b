"""Ops that only move elements: Reshape-like aliases, Transpose and Concat, all rendered by one
strided-copy template (a list of rectangular moves with per-operand strides). Slice and Split
(slicing.py) use the same moves."""
from __future__ import annotations

from dataclasses import dataclass

from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from ....ops.ctyping import ALL as ALL_DTYPES
from .. import REF

ANY_DTYPE = ALL_DTYPES  # moving values works the same for every element type


@dataclass
class Move:
    src: str  # C parameter to read
    dims: list[int]
    src_off: int
    src_strides: list[int]  # may be negative (reversed Slice)
    dst_off: int
    dst_strides: list[int]
    dst: str = "Y"  # C parameter to write

    @property
    def empty(self) -> bool:
        return 0 in self.dims


def merged(dims: list[int], *stride_lists: list[int]) -> tuple[list[int], list[list[int]]]:
    """Drop size-1 axes and merge neighbours that every operand walks contiguously."""
    out_dims: list[int] = []
    out_strides: list[list[int]] = [[] for _ in stride_lists]
    for axis, size in enumerate(dims):
        if size == 1:
            continue
        if out_dims and all(st[-1] == s[axis] * size for st, s in zip(out_strides, stride_lists)):
            out_dims[-1] *= size
            for st, s in zip(out_strides, stride_lists):
                st[-1] = s[axis]
            continue
        out_dims.append(size)
        for st, s in zip(out_strides, stride_lists):
            st.append(s[axis])
    return out_dims, out_strides


def move(src: str, dims, src_off, src_strides, dst_off, dst_strides, dst: str = "Y") -> Move:
    d, (ss, ds) = merged(list(dims), list(src_strides), list(dst_strides))
    return Move(src, d, src_off, ss, dst_off, ds, dst)


def nonempty(moves: list[Move]) -> list[Move]:
    """The moves that copy at least one element (zero-sized tensors need no code)."""
    return [m for m in moves if not m.empty]


def copy_params(node: Node, graph: Graph) -> dict:
    y = graph.tensors[node.outputs[0]]
    return {"moves": nonempty([move("X", [y.size], 0, [1], 0, [1])])}


# Reshape-like ops never run code: the planner makes the output share the input's buffer and
# falls back to a copy only where the output must be its own buffer (a graph output).
for op, static in (("Reshape", (1,)), ("Flatten", ()), ("Squeeze", (1,)), ("Unsqueeze", (1,))):
    REF.kernel(op, template=None, alias_template="ref/copy.c.j2", static_inputs=static, dtypes=ANY_DTYPE,
               input_names=("X",), output_names=("Y",))(copy_params)


def transpose_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    perm = list(node.attrs.get("perm") or reversed(range(len(x.shape))))
    xs = dense_strides(x.shape)
    return {"moves": nonempty([move("X", y.shape, 0, [xs[p] for p in perm], 0, dense_strides(y.shape))])}


REF.kernel("Transpose", template="ref/copy.c.j2", dtypes=ANY_DTYPE, input_names=("X",),
           output_names=("Y",))(transpose_params)


def concat_params(node: Node, graph: Graph) -> dict:
    y = graph.tensors[node.outputs[0]]
    axis = int(node.attrs["axis"]) % len(y.shape)
    ys = dense_strides(y.shape)
    moves, offset = [], 0
    for idx, name in enumerate(node.inputs):
        if not name:
            continue
        x = graph.tensors[name]
        moves.append(move(f"in{idx}", x.shape, 0, dense_strides(x.shape), offset * ys[axis], ys))
        offset += x.shape[axis]
    return {"moves": nonempty(moves)}


REF.kernel("Concat", template="ref/copy.c.j2", dtypes=ANY_DTYPE, output_names=("Y",))(concat_params)
