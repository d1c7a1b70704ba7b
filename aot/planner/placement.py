"""Placement of buffers with known lifetimes into one arena: several algorithms, the smallest arena wins.

Every algorithm here is an order in which buffers go, one by one, to the lowest aligned offset where
they overlap no placed buffer alive at the same time (``first_fit``). The order is what differs:

- ``greedy-by-size``: largest first (TensorFlow Lite Micro's GreedyMemoryPlanner; offsets.py).
- ``greedy-by-conflicts``: the buffers that share their lifetime with the most bytes first (TVM USMP's
  greedy_by_conflicts).
- ``hill-climb``: from the better greedy order, swap two buffers of the order and keep the swap when
  the arena does not grow (TVM USMP's hill climbing), a fixed number of deterministic steps.
- ``exact``: for small problems, every order. Placing the buffers of an optimal placement in the order
  of their offsets gives each one an offset no higher than its optimal one, so the best order's arena
  is the optimum.

Buffers that share no lifetime with any other are left out of the search (each goes to offset 0),
and the search stops at the greedy orders when one reaches the lower bound (the most bytes alive at
one step). The result is deterministic; ties keep the earlier algorithm in the list above.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Sequence

from .offsets import BufferRequest, Overlap, align_up, first_fit, lower_bound

EXACT_MAX = 7  # at most this many conflicting buffers are placed exactly (7! = 5,040 orders)
HILL_CLIMB_STEPS = 400  # swaps tried by the hill climb
# A first fit compares every pair of buffers, so a swap costs n^2: graphs of a few hundred buffers (an
# unrolled Scan) get fewer swaps, models of up to 100 buffers all of them (34 s -> 2 s on 300 buffers).
HILL_CLIMB_PAIRS = 4_000_000
HILL_CLIMB_SEED = 1  # fixed: the same model always gets the same offsets


@dataclass(frozen=True)
class Placement:
    offsets: list[int]
    size: int  # the arena's bytes (aligned)
    algorithm: str  # the one that won
    tried: dict[str, int]  # each algorithm's arena


def _size(requests: Sequence[BufferRequest], offsets: Sequence[int], alignment: int) -> int:
    return align_up(max((o + r.size for o, r in zip(offsets, requests)), default=0), alignment)


def by_size(requests: Sequence[BufferRequest], indices: Sequence[int]) -> list[int]:
    return sorted(indices, key=lambda i: (-requests[i].size, requests[i].first, i))


def by_conflicts(requests: Sequence[BufferRequest], indices: Sequence[int]) -> list[int]:
    shared = {i: sum(requests[j].size for j in indices if j != i and requests[j].overlaps_in_time(requests[i]))
              for i in indices}
    return sorted(indices, key=lambda i: (-(shared[i] + requests[i].size), -requests[i].size, i))


def hill_climb(requests: Sequence[BufferRequest], start: Sequence[int], alignment: int,
               steps: int = HILL_CLIMB_STEPS, overlaps: Sequence[Overlap] = ()) -> list[int]:
    order = list(start)
    best = _size(requests, first_fit(requests, order, alignment, overlaps), alignment)
    rng = random.Random(HILL_CLIMB_SEED)
    steps = min(steps, max(10, HILL_CLIMB_PAIRS // max(len(order), 1) ** 2))
    for _ in range(steps if len(order) > 1 else 0):
        a, b = rng.sample(range(len(order)), 2)
        order[a], order[b] = order[b], order[a]
        size = _size(requests, first_fit(requests, order, alignment, overlaps), alignment)
        if size <= best:
            best = size
        else:
            order[a], order[b] = order[b], order[a]
    return order


def exact(requests: Sequence[BufferRequest], indices: Sequence[int], alignment: int,
          overlaps: Sequence[Overlap] = ()) -> list[int]:
    """The order of the smallest arena over every order of ``indices`` (small problems only)."""
    # with pairs, the whole bound (the buffers left out are lonely, at 0 in every size below)
    floor = lower_bound(requests, alignment, overlaps) if overlaps else lower_bound([requests[i] for i in indices], alignment)
    best_order, best = list(indices), None
    for order in itertools.permutations(indices):
        size = _size(requests, first_fit(requests, order, alignment, overlaps), alignment)
        if best is None or size < best:
            best_order, best = list(order), size
            if size <= floor:
                break  # nothing beats the lower bound
    return best_order


def place(requests: Sequence[BufferRequest], alignment: int = 16, overlaps: Sequence[Overlap] = ()) -> Placement:
    """The smallest arena among the algorithms (see the module docstring); ``overlaps``: in-place
    pairs that may share bytes at their kernels' shifts (offsets.Overlap)."""
    requests = list(requests)
    live = [i for i, r in enumerate(requests) if r.size > 0]
    lonely = [i for i in live if not any(j != i and requests[j].overlaps_in_time(requests[i]) for j in live)]
    searched = [i for i in live if i not in lonely]
    orders = {"greedy-by-size": by_size(requests, searched), "greedy-by-conflicts": by_conflicts(requests, searched)}
    sizes = {name: _size(requests, first_fit(requests, order, alignment, overlaps), alignment)
             for name, order in orders.items()}
    greedy = min(orders, key=lambda name: (sizes[name], list(orders).index(name)))
    if sizes[greedy] > lower_bound(requests, alignment, overlaps):  # else no order can do better
        orders["hill-climb"] = hill_climb(requests, orders[greedy], alignment, overlaps=overlaps)
        if len(searched) <= EXACT_MAX:
            orders["exact"] = exact(requests, searched, alignment, overlaps)
    tried = {name: _size(requests, first_fit(requests, order + lonely, alignment, overlaps), alignment)
             for name, order in orders.items()}
    winner = min(tried, key=lambda name: (tried[name], list(tried).index(name)))
    offsets = first_fit(requests, orders[winner] + lonely, alignment, overlaps)
    return Placement(offsets, tried[winner], winner, tried)
