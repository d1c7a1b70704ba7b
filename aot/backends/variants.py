"""Instruction-set variants of the reference kernels.

A variant computes exactly its base kernel's integers in fewer instructions, with a template of its
own that extends the base's (templates/<backend>/ replaces scoped blocks of templates/ref/). It takes
the base's ops, dtypes, layout, inputs and scratch, and accepts a node only where the ref backend
itself would run that node with the base kernel (so a depthwise layer never falls to a variant of
the general Conv kernel merely because the depthwise variant rejects it), and ``check`` passes.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ..ir import Graph, Node
from .ref import REF
from .registry import CheckFn, InPlaceFn, Kernel, ParamsFn, ScratchFn


def ref_kernel(template: str, *, channels_last: bool = False) -> Kernel:
    """The ref backend's kernel rendered by ``template`` for that data layout."""
    found = [k for k in REF.kernels if k.template == template and k.channels_last == channels_last]
    if len(found) != 1:
        raise LookupError(f"ref has {len(found)} kernels with template {template} (channels_last={channels_last})")
    return found[0]


def variant(base: Kernel, template: str, name: str, *, priority: int, roundings: tuple[str, ...],
            check: CheckFn | None = None, params: ParamsFn | None = None,
            scratch_bytes: ScratchFn | None = None, in_place: InPlaceFn | None = None) -> Kernel:
    """A kernel like ``base`` rendered by ``template``, implementing the requantization ``roundings``
    (aot/quant/fixed_point.py); ``params`` adds template parameters to the base's, ``scratch_bytes``
    replaces the base's scratch size. ``in_place``: only a variant whose own code keeps the base's
    in-place order says so; others never run in place."""
    def accepts(node: Node, graph: Graph) -> str | None:
        reason = base.check(node, graph) if base.check else None
        if reason is None:
            chosen = REF.kernel_for(node, graph)
            if chosen is not base:
                return f"ref runs this layer with {chosen.name if chosen else 'no kernel'}, not {base.name}"
        return reason or (check(node, graph) if check else None)

    def all_params(node: Node, graph: Graph) -> dict[str, Any]:
        return {**base.params(node, graph), **(params(node, graph) if params else {})}

    return dataclasses.replace(base, template=template, name=name, priority=priority, check=accepts,
                               params=all_params, roundings=roundings,
                               scratch_bytes=scratch_bytes or base.scratch_bytes, in_place=in_place)


def average_pool_runs(min_run: int, refusal: str) -> CheckFn:
    """A check accepting the average pools whose windows lie inside the input and where ref's
    pool.c.j2 sums runs of at least ``min_run`` contiguous bytes (its block row_sum): the runs an
    instruction set sums several bytes at a time. ``refusal`` names what the backend does not help."""
    def check(node: Node, graph: Graph) -> str | None:
        if node.op_type != "AveragePool":
            return refusal
        p = ref_kernel("ref/int8/pool.c.j2").params(node, graph)
        k, d, i = p["win"].kernel, p["win"].dilations, p["win"].in_sp
        run = k[1] * k[2] if k[2] == i[2] and d[1] == 1 and d[2] == 1 else k[2]  # whole rows merge into one run
        if not p["inside"] or d[2] != 1 or run < min_run:
            return f"average pool without windows inside the input made of runs of {min_run} or more bytes"
        return None
    return check
