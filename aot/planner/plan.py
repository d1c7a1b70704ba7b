"""Static memory plan: where every tensor lives when the generated code runs.

A tensor is a graph input or output (the caller's pointer), a constant (flash), or a slice of one
arena at a compile-time offset. Outputs of alias ops (Reshape, Flatten, Squeeze, Unsqueeze) share
their input's storage, so they cost no bytes and no copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph
from .offsets import BufferRequest, arena_size, assign_offsets, lower_bound


@dataclass
class Step:
    """One call in the generated ``run`` function (what the planner needs to know about it)."""

    name: str
    reads: list[str]
    writes: list[str]
    scratch_bytes: int = 0


@dataclass
class Storage:
    kind: str  # "input" | "output" | "const" | "arena"
    root: str  # the tensor whose storage this is (itself unless aliased)
    offset: int = 0  # arena offset (kind == "arena")


@dataclass
class MemoryPlan:
    alignment: int
    arena_bytes: int
    lower_bound: int
    no_reuse_bytes: int
    storage: dict[str, Storage]
    scratch_offsets: dict[int, int] = field(default_factory=dict)  # step index -> arena offset
    buffers: list[tuple[str, BufferRequest, int]] = field(default_factory=list)  # (name, lifetime, offset)

    def summary(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "lower_bound_bytes": self.lower_bound,
                "no_reuse_bytes": self.no_reuse_bytes, "alignment": self.alignment}


def plan_memory(graph: Graph, steps: list[Step], aliases: dict[str, str], alignment: int = 16) -> MemoryPlan:
    """``aliases`` maps an alias op's output to its input (the output shares the input's storage)."""
    def root(name: str) -> str:
        while name in aliases:
            name = aliases[name]
        return name

    storage: dict[str, Storage] = {}
    for name, t in graph.tensors.items():
        r = root(name)
        if r in graph.inputs:
            kind = "input"
        elif r in graph.outputs:
            kind = "output"
        elif graph.tensors[r].is_constant:
            kind = "const"
        else:
            kind = "arena"
        storage[name] = Storage(kind, r)

    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for idx, step in enumerate(steps):
        for w in step.writes:
            r = storage[w].root
            first.setdefault(r, idx)
            last[r] = max(last.get(r, idx), idx)
        for rd in step.reads:
            r = storage[rd].root
            if storage[rd].kind == "arena":
                last[r] = max(last.get(r, idx), idx)
    names = [r for r in first if storage[r].kind == "arena"]
    # An empty tensor still gets a byte of its own: kernels take their operands as restrict pointers,
    # and two operands at one address (gcc -Werror=restrict) would be undefined behaviour.
    requests = [BufferRequest(max(graph.tensors[r].nbytes, 1), first[r], last[r]) for r in names]
    scratch_steps = [i for i, s in enumerate(steps) if s.scratch_bytes > 0]
    requests += [BufferRequest(steps[i].scratch_bytes, i, i) for i in scratch_steps]
    offsets = assign_offsets(requests, alignment)
    by_root = dict(zip(names, offsets))
    for name, st in storage.items():
        if st.kind == "arena" and st.root in by_root:
            st.offset = by_root[st.root]
    labels = names + [f"scratch:{steps[i].name}" for i in scratch_steps]
    return MemoryPlan(
        alignment=alignment,
        arena_bytes=arena_size(requests, offsets, alignment),
        lower_bound=lower_bound(requests, alignment),
        no_reuse_bytes=sum((r.size + alignment - 1) // alignment * alignment for r in requests),
        storage=storage,
        scratch_offsets=dict(zip(scratch_steps, offsets[len(names):])),
        buffers=list(zip(labels, requests, offsets)),
    )
