"""Numpy-style broadcasting as loop nests: per operand strides (0 on broadcast axes), with adjacent
axes merged when every operand steps through them the same way, so most cases become one loop."""
from __future__ import annotations

from ....codegen.cformat import strides as dense_strides


def broadcast_strides(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> list[int]:
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    dense = dense_strides(padded)
    return [0 if d == 1 and o != 1 else s for d, o, s in zip(padded, out_shape, dense)]


def loop_nest(out_shape: tuple[int, ...], operand_shapes: list[tuple[int, ...]]) -> tuple[list[int], list[list[int]]]:
    """(dims, strides per operand) after dropping size-1 axes and merging compatible neighbours."""
    per_op = [broadcast_strides(s, out_shape) for s in operand_shapes]
    dims: list[int] = []
    strides: list[list[int]] = [[] for _ in operand_shapes]
    for axis, size in enumerate(out_shape):
        if size == 1:
            continue
        if dims and all(st[-1] == ops[axis] * size for st, ops in zip(strides, per_op)):
            dims[-1] *= size
            for st, ops in zip(strides, per_op):
                st[-1] = ops[axis]
            continue
        dims.append(size)
        for st, ops in zip(strides, per_op):
            st.append(ops[axis])
    return dims, strides
