"""Offset assignment for buffers with known lifetimes: the greedy-by-size heuristic of TFLite
Micro's GreedyMemoryPlanner. Largest buffers first; each goes to the lowest aligned offset where it
overlaps no already-placed buffer whose lifetime intersects its own."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class BufferRequest:
    size: int
    first: int  # first step that writes it
    last: int  # last step that reads it (inclusive)

    def overlaps_in_time(self, other: "BufferRequest") -> bool:
        return self.first <= other.last and other.first <= self.last


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def first_fit(requests: Sequence[BufferRequest], order: Sequence[int], alignment: int) -> list[int]:
    """Offsets placing ``requests`` in ``order``, each at the lowest aligned offset free over its lifetime."""
    offsets: list[int] = [0] * len(requests)
    placed: list[int] = []
    for i in order:
        req = requests[i]
        conflicts = sorted((offsets[j], offsets[j] + requests[j].size) for j in placed
                           if requests[j].size > 0 and requests[j].overlaps_in_time(req))
        candidate = 0
        for start, end in conflicts:
            if candidate + req.size <= start:
                break
            candidate = max(candidate, align_up(end, alignment))
        offsets[i] = candidate
        placed.append(i)
    return offsets


def assign_offsets(requests: list[BufferRequest], alignment: int = 16) -> list[int]:
    """An offset per request (same order), largest first; deterministic for the same input."""
    order = sorted(range(len(requests)), key=lambda i: (-requests[i].size, requests[i].first, i))
    return first_fit(requests, order, alignment)


def arena_size(requests: list[BufferRequest], offsets: list[int], alignment: int = 16) -> int:
    end = max((o + r.size for o, r in zip(offsets, requests)), default=0)
    return align_up(end, alignment)


def lower_bound(requests: list[BufferRequest], alignment: int = 16) -> int:
    """Max over steps of the bytes live at that step: no placement can use less."""
    steps = sorted({r.first for r in requests} | {r.last for r in requests})
    best = 0
    for s in steps:
        best = max(best, sum(align_up(r.size, alignment) for r in requests if r.first <= s <= r.last))
    return best
