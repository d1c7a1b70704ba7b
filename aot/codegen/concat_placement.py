"""Concat by placement: the inputs of a Concat become slices of its output, so their producers write
straight into their part of it and the Concat itself runs no code (issue 13, in-place kernels).

Only where each input is a contiguous run of the output's bytes (every axis before the concat axis
has size 1) starting at an aligned offset, and is its own buffer written by one layer here: not a
graph input or output, a constant, an alias (Reshape-like) output or one with aliases, another
Concat's slice, nor given twice. The planner then treats the Concat's output as one buffer alive
from the first producer to its last reader (aot/planner/plan.py ``slices``)."""
from __future__ import annotations

import numpy as np

from ..ir import Graph
from .lower import Call


def place_concats(graph: Graph, calls: list[Call], aliases: dict[str, str],
                  alignment: int) -> tuple[list[Call], dict[str, tuple[str, int]]]:
    """The calls left (placed Concats removed) and the slices: input -> (Concat output, byte offset).
    Every slice starts at a multiple of ``alignment``, as any arena buffer does (kernels may rely on it)."""
    producer = {w: i for i, c in enumerate(calls) for w in c.step.writes}
    io = set(graph.inputs) | set(graph.outputs)
    slices: dict[str, tuple[str, int]] = {}
    dropped: set[int] = set()
    for idx, call in enumerate(calls):
        node = call.node
        if node.op_type != "Concat" or call.kernel.name != "copy" or node.outputs[0] in io:
            continue
        y = graph.tensors[node.outputs[0]]
        axis = int(node.attrs["axis"]) % len(y.shape)
        names = [n for n in node.inputs if n]
        if int(np.prod(y.shape[:axis], dtype=np.int64)) != 1 or len(set(names)) != len(names):
            continue
        if any(n in io or n in aliases or n in slices or n in aliases.values() or n not in producer
               or graph.tensors[n].is_constant or graph.tensors[n].dtype != y.dtype
               or graph.tensors[n].nbytes == 0 or producer[n] >= idx for n in names):
            continue
        starts = np.cumsum([0] + [graph.tensors[n].nbytes for n in names[:-1]])
        if any(int(o) % alignment for o in starts):
            continue
        offset = 0
        for n in names:
            slices[n] = (node.outputs[0], offset)
            offset += graph.tensors[n].nbytes
        dropped.add(idx)
    return [c for i, c in enumerate(calls) if i not in dropped], slices
