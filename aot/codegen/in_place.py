"""Which layers may run in place: their kernel declares it (Kernel.in_place, aot/backends/in_place.py)
and the input it names dies at that layer, in arena bytes the generated code may overwrite."""
from __future__ import annotations

from ..ir import Graph
from .lower import Call


def mark_in_place(graph: Graph, calls: list[Call], aliases: dict[str, str], io_in_arena: bool) -> list[str]:
    """Give each such call's step its ``in_place`` (the planner may then overlap its output with that
    input) and its node ``meta["in_place"]``, with the scratch the in-place form needs. ``aliases``
    maps a tensor to the one whose bytes it shares (Reshape-like outputs, Concat slices): an output
    that is part of another buffer is not marked. Returns the names of the layers marked."""
    def root(name: str) -> str:
        while name in aliases:
            name = aliases[name]
        return name

    last: dict[str, int] = {}
    for idx, call in enumerate(calls):
        for name in call.step.reads:
            last[root(name)] = idx
    kept = {root(o) for o in graph.outputs}  # the caller reads them after the run
    marked = []
    for idx, call in enumerate(calls):
        spec = call.kernel.in_place(call.node, graph) if call.kernel.in_place else None
        if spec is None or not call.step.writes:
            continue
        src, out = root(spec.input), call.step.writes[0]
        if last.get(src) != idx or src in kept or graph.tensors[src].is_constant or out in aliases:
            continue
        if not io_in_arena and (src in graph.inputs or out in graph.outputs):
            continue  # the caller's own buffers
        call.node.meta["in_place"] = True
        call.step.in_place = spec
        call.step.scratch_bytes = call.kernel.scratch_bytes(call.node, graph) if call.kernel.scratch_bytes else 0
        marked.append(call.node.name)
    return marked
