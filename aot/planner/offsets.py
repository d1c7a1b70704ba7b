"""Offset assignment for buffers with known lifetimes: the greedy-by-size heuristic of TFLite
Micro's GreedyMemoryPlanner. Largest buffers first; each goes to the lowest aligned offset where it
overlaps no already-placed buffer whose lifetime intersects its own, except an in-place partner
(``Overlap``: a kernel's output over its dying input) at one of the relative offsets its kernel allows."""
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


@dataclass(frozen=True)
class Overlap:
    """Request ``output`` may share bytes with request ``input``, which dies at the step writing the
    output (an in-place kernel): allowed when the output's offset minus the input's is one of
    ``shifts`` (bytes; the kernel never overwrites an input byte it has still to read there)."""
    input: int
    output: int
    shifts: tuple[int, ...]


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def _partners(overlaps: Sequence[Overlap]) -> dict[int, dict[int, tuple[int, ...]]]:
    """request -> partner -> allowed (request's offset - partner's offset)."""
    out: dict[int, dict[int, tuple[int, ...]]] = {}
    for ov in overlaps:
        out.setdefault(ov.output, {})[ov.input] = tuple(ov.shifts)
        out.setdefault(ov.input, {})[ov.output] = tuple(-d for d in ov.shifts)
    return out


def first_fit(requests: Sequence[BufferRequest], order: Sequence[int], alignment: int,
              overlaps: Sequence[Overlap] = ()) -> list[int]:
    """Offsets placing ``requests`` in ``order``, each at the lowest aligned offset free over its
    lifetime; a buffer may also go over an in-place partner at an allowed shift (``overlaps``)."""
    partners = _partners(overlaps)
    offsets: list[int] = [0] * len(requests)
    placed: list[int] = []
    for i in order:
        req = requests[i]
        near = [j for j in placed if requests[j].size > 0 and requests[j].overlaps_in_time(req)]
        conflicts = sorted((offsets[j], offsets[j] + requests[j].size) for j in near)
        candidate = 0
        for start, end in conflicts:
            if candidate + req.size <= start:
                break
            candidate = max(candidate, align_up(end, alignment))
        # Over a placed partner where that is lower, or where it keeps within the bytes already used:
        # sharing them leaves the lower free bytes to others.
        mine = partners.get(i, {})
        top = max((offsets[j] + requests[j].size for j in placed), default=0)
        over = [offsets[j] + shift for j in near if j in mine for shift in mine[j]]
        over = [at for at in over if at >= 0 and at % alignment == 0 and (at < candidate or at + req.size <= top)
                and _fits(at, req.size, near, offsets, requests, mine)]
        offsets[i] = min(over, default=candidate)
        placed.append(i)
    return offsets


def _fits(at: int, size: int, near: Sequence[int], offsets: Sequence[int], requests: Sequence[BufferRequest],
          mine: dict[int, tuple[int, ...]]) -> bool:
    """Bytes [at, at + size) overlap no buffer of ``near`` except partners at an allowed shift."""
    for j in near:
        if at < offsets[j] + requests[j].size and offsets[j] < at + size and at - offsets[j] not in mine.get(j, ()):
            return False
    return True


def assign_offsets(requests: list[BufferRequest], alignment: int = 16) -> list[int]:
    """An offset per request (same order), largest first; deterministic for the same input."""
    order = sorted(range(len(requests)), key=lambda i: (-requests[i].size, requests[i].first, i))
    return first_fit(requests, order, alignment)


def arena_size(requests: list[BufferRequest], offsets: list[int], alignment: int = 16) -> int:
    end = max((o + r.size for o, r in zip(offsets, requests)), default=0)
    return align_up(end, alignment)


def overlap_saving(a: BufferRequest, b: BufferRequest, shifts: Sequence[int], alignment: int) -> int:
    """The most bytes an in-place pair (input ``a``, output ``b``) can save at its shared step: their
    aligned sizes minus the smallest aligned span they cover together at an allowed shift (one that
    keeps both at aligned offsets)."""
    spans = [align_up(max(a.size, d + b.size) - min(0, d), alignment) for d in shifts if d % alignment == 0]
    return max(0, align_up(a.size, alignment) + align_up(b.size, alignment) - min(spans, default=1 << 62))


def lower_bound(requests: Sequence[BufferRequest], alignment: int = 16, overlaps: Sequence[Overlap] = ()) -> int:
    """Max over steps of the bytes live at that step, an in-place pair counted by the span it covers
    at its best shift: no placement can use less."""
    steps = sorted({r.first for r in requests} | {r.last for r in requests})
    best = 0
    for s in steps:
        live = sum(align_up(r.size, alignment) for r in requests if r.first <= s <= r.last)
        paired: set[int] = set()  # a buffer's bytes are saved once (pairs at one step are disjoint in a plan)
        for o in overlaps:
            a, b = requests[o.input], requests[o.output]
            if a.first <= s <= a.last and b.first <= s <= b.last and not paired & {o.input, o.output}:
                live -= overlap_saving(a, b, o.shifts, alignment)
                paired |= {o.input, o.output}
        best = max(best, live)
    return best
