"""Execution order for the smallest peak memory (issue 13; SERENITY's dynamic programming).

On graphs with branches (residual blocks, inception and squeeze-excite branches, concatenations) the
order the layers run in decides which tensors are alive together. The pass finds, among every order
the graph allows, one whose peak of live bytes is the least, and keeps it when it is below the file
order's peak (else the file order stays, so the result is never worse than it).

The memory model is the planner's, per step: every activation alive (produced, with a consumer still
to run, or a graph output), the step's output and its kernel's scratch; outputs of alias ops
(Reshape, Flatten, ...) share their input's bytes; graph inputs count from the start (they are arena
buffers by default). Its peak is the planner's lower bound for that order; the arena's placement
then works within it.

The search is exact: a state is the set of layers already run (the live bytes depend on nothing
else), and the least peak to reach each state is found level by level (one more layer per level).
A chain has one state per level. When the states exceed ``MAX_STATES`` (very wide graphs) the file
order is kept and the metadata says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from .context import PassContext, graph_pass

MAX_STATES = 10_000  # states searched at most: under a second on a 90-layer graph of 30 parallel branches


@dataclass
class Schedule:
    """What the pass decided, for metadata.json (``memory.schedule``)."""
    order: str  # "file", "reordered" or "file (search too large)"
    peak_bytes: int  # of the order kept, in the pass's model
    file_peak_bytes: int

    def summary(self) -> dict:
        return {"order": self.order, "peak_bytes": self.peak_bytes, "file_order_peak_bytes": self.file_peak_bytes}


class _Model:
    """The graph's layers as bit sets, with the bytes each makes live and its scratch."""

    def __init__(self, graph: Graph, nodes: list[Node]):
        from ..backends.registry import REGISTRY  # the backends import the passes
        self.nodes = nodes
        producer = {o: i for i, n in enumerate(nodes) for o in n.outputs if o}
        self.root: dict[str, str] = {}
        for n in nodes:  # an alias op's output is its input's bytes
            kernel = REGISTRY.get(n.meta["backend"]).kernel_for(n, graph) if "backend" in n.meta else None
            if kernel is not None and kernel.is_alias and n.outputs[0] not in graph.outputs:
                self.root[n.outputs[0]] = self.root.get(n.inputs[0], n.inputs[0])
        self.scratch = []
        for n in nodes:
            kernel = REGISTRY.get(n.meta["backend"]).kernel_for(n, graph) if "backend" in n.meta else None
            self.scratch.append(kernel.scratch_bytes(n, graph) if kernel is not None and kernel.scratch_bytes else 0)
        # every activation (a root): its bytes, the layer making it (-1: a graph input), the layers reading it
        self.size: dict[str, int] = {}
        self.made_by: dict[str, int] = {}
        self.readers: dict[str, int] = {}
        for name in graph.inputs:
            self.size[name], self.made_by[name], self.readers[name] = graph.tensors[name].nbytes, -1, 0
        for i, n in enumerate(nodes):
            for o in n.outputs:
                if o and o not in self.root:
                    self.size[o], self.made_by[o], self.readers[o] = graph.tensors[o].nbytes, i, 0
        for i, n in enumerate(nodes):
            for t in n.inputs:
                r = self.root.get(t, t)
                if r in self.size:
                    self.readers[r] |= 1 << i
        self.outputs = {self.root.get(o, o) for o in graph.outputs}
        self.needs = [0] * len(nodes)  # the layers each must run after
        for i, n in enumerate(nodes):
            for t in n.inputs:
                p = producer.get(t)
                if p is not None:
                    self.needs[i] |= 1 << p
        self.new_bytes = [sum(self.size[o] for o in n.outputs if o in self.size) for n in nodes]

    def live(self, done: int) -> int:
        """Bytes alive once the layers in ``done`` have run."""
        total = 0
        for r, size in self.size.items():
            made = self.made_by[r]
            if made >= 0 and not done >> made & 1:
                continue
            if r in self.outputs or self.readers[r] & ~done:
                total += size
        return total

    def step_peak(self, done: int, i: int) -> int:
        return self.live(done) + self.new_bytes[i] + self.scratch[i]

    def peak(self, order: list[int]) -> int:
        done, peak = 0, 0
        for i in order:
            peak = max(peak, self.step_peak(done, i))
            done |= 1 << i
        return peak


def least_peak_order(model: _Model, max_states: int = MAX_STATES) -> list[int] | None:
    """An order of the least peak (None when the states exceed ``max_states``); ties keep the earlier
    layers first, so the file order wins when it is among the best."""
    n = len(model.nodes)
    level: dict[int, tuple[int, list[int]]] = {0: (0, [])}
    states = 1
    for _ in range(n):
        nxt: dict[int, tuple[int, list[int]]] = {}
        for done, (peak, order) in level.items():
            live = model.live(done)
            for i in range(n):
                if done >> i & 1 or model.needs[i] & ~done:
                    continue
                cand = (max(peak, live + model.new_bytes[i] + model.scratch[i]), order + [i])
                key = done | 1 << i
                if key not in nxt or cand < nxt[key]:
                    nxt[key] = cand
        states += len(nxt)
        if states > max_states:
            return None
        level = nxt
    return next(iter(level.values()))[1] if level else []


@graph_pass("reorder_for_memory")
def reorder_for_memory(graph: Graph, ctx: PassContext) -> Graph:
    model = _Model(graph, list(graph.nodes))
    file_order = list(range(len(graph.nodes)))
    file_peak = model.peak(file_order)
    best = least_peak_order(model)
    if best is None:
        graph.schedule = Schedule("file (search too large)", file_peak, file_peak)
        return graph
    peak = model.peak(best)
    if peak < file_peak:
        graph.nodes = [graph.nodes[i] for i in best]
        graph.schedule = Schedule("reordered", peak, file_peak)
    else:
        graph.schedule = Schedule("file", file_peak, file_peak)
    return graph
