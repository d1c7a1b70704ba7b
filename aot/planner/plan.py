"""Static memory plan: where every tensor lives when the generated code runs.

A tensor is a graph input or output, a constant (flash), or a slice of one arena at a compile-time
offset. Graph inputs and outputs are either the caller's own buffers (``io_in_arena=False``: passed
as pointers, live for the whole run as far as the caller is concerned) or ordinary arena buffers
(``io_in_arena=True``: an input lives from the start to its last reader, an output from its
producer to the end, and their bytes are reused around those lifetimes like any other). Outputs of
alias ops (Reshape, Flatten, Squeeze, Unsqueeze) share their input's storage, so they cost no bytes
and no copy. A step whose kernel runs in place (``Step.in_place``) may have its output placed over
the input it names when that input dies at the step, at one of the shifts the kernel allows; the
placement decides whether it does (``MemoryPlan.in_place``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..ir import Graph
from .offsets import BufferRequest, Overlap, lower_bound
from .placement import place


@dataclass(frozen=True)
class InPlace:
    """The step's first output may overlap its input ``input`` when placed at one of ``shifts`` bytes
    from it (output offset - input offset): the kernel never overwrites an input byte it still reads."""

    input: str
    shifts: tuple[int, ...] = (0,)


@dataclass
class Step:
    """One call in the generated ``run`` function (what the planner needs to know about it)."""

    name: str
    reads: list[str]
    writes: list[str]
    scratch_bytes: int = 0
    in_place: InPlace | None = None


@dataclass
class Storage:
    kind: str  # "input" | "output" | "const" | "arena"
    root: str  # the tensor whose storage this is (itself unless aliased)
    offset: int = 0  # arena offset (kind == "arena", or an input/output placed in the arena)
    in_arena: bool = False  # an input/output placed in the arena (MemoryPlan.io_in_arena)
    delta: int = 0  # bytes from the root's start (a slice of a Concat's output; 0 otherwise)


@dataclass
class MemoryPlan:
    alignment: int
    arena_bytes: int
    lower_bound: int
    no_reuse_bytes: int
    storage: dict[str, Storage]
    scratch_offsets: dict[int, int] = field(default_factory=dict)  # step index -> arena offset
    buffers: list[tuple[str, BufferRequest, int]] = field(default_factory=list)  # (name, lifetime, offset)
    io_in_arena: bool = False  # graph inputs/outputs are arena buffers (else the caller's)
    input_bytes: int = 0  # bytes of the graph inputs' buffers, wherever they live
    output_bytes: int = 0  # bytes of the graph outputs' buffers, wherever they live
    placement: str = "greedy-by-size"  # the placement algorithm that won (planner/placement.py)
    placement_tried: dict[str, int] = field(default_factory=dict)  # each algorithm's arena bytes
    in_place: dict[int, str] = field(default_factory=dict)  # step index -> the input its output overlaps
    in_place_names: list[str] = field(default_factory=list)  # those steps' names

    @property
    def caller_io_bytes(self) -> int:
        """Bytes of input/output buffers the caller holds outside the arena (0 when they are in it)."""
        return 0 if self.io_in_arena else self.input_bytes + self.output_bytes

    @property
    def total_bytes(self) -> int:
        """RAM the model needs besides the stack: the arena plus the caller's input/output buffers."""
        return self.arena_bytes + self.caller_io_bytes

    @property
    def total_lower_bound(self) -> int:
        """No placement of this schedule needs less RAM (stack aside): separate I/O buffers are live
        throughout, so they add to the arena's bound; in the arena they are counted in it."""
        return self.lower_bound + self.caller_io_bytes

    def io_offset(self, name: str) -> int:
        """Arena offset of a graph input/output placed in the arena."""
        st = self.storage[name]
        assert st.in_arena, f"{name} is not in the arena"
        return st.offset

    def summary(self) -> dict:
        return {"arena_bytes": self.arena_bytes, "lower_bound_bytes": self.lower_bound,
                "no_reuse_bytes": self.no_reuse_bytes, "alignment": self.alignment,
                "io_buffers": "arena" if self.io_in_arena else "separate",
                "input_bytes": self.input_bytes, "output_bytes": self.output_bytes,
                "caller_io_bytes": self.caller_io_bytes, "total_bytes": self.total_bytes,
                "total_lower_bound_bytes": self.total_lower_bound, "placement": self.placement,
                "placement_tried": dict(self.placement_tried), "in_place_layers": list(self.in_place_names)}


def plan_memory(graph: Graph, steps: list[Step], aliases: dict[str, str], alignment: int = 16,
                io_in_arena: bool = False, slices: dict[str, tuple[str, int]] | None = None) -> MemoryPlan:
    """``aliases`` maps an alias op's output to its input (the output shares the input's storage);
    ``io_in_arena`` places the graph inputs and outputs in the arena (module docstring); ``slices``
    maps a tensor to (the tensor it is a part of, byte offset in it): a Concat's inputs placed in its
    output (their producers write straight into their slice)."""
    slices = slices or {}

    def root(name: str) -> tuple[str, int]:
        delta = 0
        while name in aliases or name in slices:
            if name in aliases:
                name = aliases[name]
            else:
                name, off = slices[name]
                delta += off
        return name, delta

    storage: dict[str, Storage] = {}
    for name, t in graph.tensors.items():
        r, delta = root(name)
        if r in graph.inputs:
            kind = "input"
        elif r in graph.outputs:
            kind = "output"
        elif graph.tensors[r].is_constant:
            kind = "const"
        else:
            kind = "arena"
        storage[name] = Storage(kind, r, delta=delta)

    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for idx, step in enumerate(steps):
        for w in step.writes:
            r = storage[w].root
            first.setdefault(r, idx)
            last[r] = max(last.get(r, idx), idx)
        for rd in step.reads:
            r = storage[rd].root
            if storage[rd].kind == "arena" or (io_in_arena and storage[rd].kind == "input"):
                last[r] = max(last.get(r, idx), idx)
    names = [r for r in first if storage[r].kind == "arena"]
    io = list(dict.fromkeys([*graph.inputs, *graph.outputs]))
    if io_in_arena:
        end = max(len(steps) - 1, 0)
        for name in graph.inputs:  # written by the caller before step 0; an unread input still gets bytes
            first[name] = 0
            last.setdefault(name, 0)
        for name in graph.outputs:  # read by the caller after the last step
            first.setdefault(name, end)
            last[name] = end
        names += [n for n in io if storage[n].kind in ("input", "output") and storage[n].root == n]
    # An empty tensor still gets a byte of its own: kernels take their operands as restrict pointers,
    # and two operands at one address (gcc -Werror=restrict) would be undefined behaviour.
    requests = [BufferRequest(max(graph.tensors[r].nbytes, 1), first[r], last[r]) for r in names]
    scratch_steps = [i for i, s in enumerate(steps) if s.scratch_bytes > 0]
    requests += [BufferRequest(steps[i].scratch_bytes, i, i) for i in scratch_steps]
    overlaps = in_place_pairs(steps, storage, names, first, last)
    placement = place(requests, alignment, overlaps)
    offsets = placement.offsets
    by_root = dict(zip(names, offsets))
    for name, st in storage.items():
        if st.kind == "arena" and st.root in by_root:
            st.offset = by_root[st.root] + st.delta
        elif io_in_arena and st.kind in ("input", "output") and st.root in by_root:
            st.offset, st.in_arena = by_root[st.root] + st.delta, True
    labels = names + [f"scratch:{steps[i].name}" for i in scratch_steps]
    shared = {first[names[o.output]]: names[o.input] for o in overlaps
              if offsets[o.input] < offsets[o.output] + requests[o.output].size
              and offsets[o.output] < offsets[o.input] + requests[o.input].size}
    return MemoryPlan(
        alignment=alignment,
        arena_bytes=placement.size,
        lower_bound=lower_bound(requests, alignment, overlaps),
        no_reuse_bytes=sum((r.size + alignment - 1) // alignment * alignment for r in requests),
        storage=storage,
        scratch_offsets=dict(zip(scratch_steps, offsets[len(names):])),
        buffers=list(zip(labels, requests, offsets)),
        io_in_arena=io_in_arena,
        input_bytes=sum(graph.tensors[n].nbytes for n in dict.fromkeys(graph.inputs)),
        output_bytes=sum(graph.tensors[n].nbytes for n in dict.fromkeys(graph.outputs)),
        placement=placement.algorithm,
        placement_tried=placement.tried,
        in_place=dict(sorted(shared.items())),
        in_place_names=[steps[i].name for i in sorted(shared)],
    )


def in_place_pairs(steps: list[Step], storage: dict[str, Storage], names: list[str], first: dict[str, int],
                   last: dict[str, int]) -> list[Overlap]:
    """The in-place pairs the placement may use: a step's output (an arena buffer of its own, first
    written there) over the input its kernel names, when that input's bytes die at the step."""
    index = {n: i for i, n in enumerate(names)}
    pairs = []
    for idx, step in enumerate(steps):
        if step.in_place is None or not step.writes:
            continue
        src, out = storage[step.in_place.input].root, step.writes[0]
        if src not in index or out not in index or src == out or storage[out].root != out:
            continue  # a constant, a caller's buffer or an alias
        if last[src] != idx or first[out] != idx or src in step.writes:
            continue  # the input is read later (or by an alias of it), or written here too
        pairs.append(Overlap(index[src], index[out], tuple(step.in_place.shifts)))
    return pairs
