"""The cheapest cover of a graph by measured candidates (issue 12's search, after TVM's Collage).

A candidate runs a set of nodes (one node, a fused pattern or a larger region) on one backend, with
one kernel variant, in one data layout, for a measured cost. A cover places candidates until every
node is covered exactly once, each after all of its nodes' producers outside it (so the candidates
can run in that order). Where a tensor crosses from a candidate in one layout to a candidate (or a
graph output) in another, a conversion is paid: ``transition(tensor, from_layout, to_layout)``, once
per crossing edge.

The search is Dijkstra's shortest path over states. A state is the set of covered nodes plus the
layout of each covered node whose output still has an uncovered consumer: the cost of placing a
candidate depends only on that (its own cost, and the conversions on the edges into it), so the
shortest path is the cheapest cover. Graphs of TinyML models are mostly chains, whose frontier
holds one or two tensors, so the states stay few; ``max_states`` bounds the work on wide graphs.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

from ..errors import AotError

INPUT = "<input>"  # the producer of a graph input, in the producers map
OUTPUT = "<output>"  # the consumer of a graph output, in the consumers map

Transition = Callable[[str, str, str], float]  # (producing node or INPUT, from layout, to layout) -> cost


@dataclass(frozen=True)
class Candidate:
    nodes: frozenset[str]
    backend: str
    variant: str
    layout: str
    cost: float
    note: str = ""


@dataclass(frozen=True)
class Problem:
    """``order``: node names in a topological order; ``producers[n]``: the nodes (or INPUT) whose
    outputs ``n`` reads; ``outputs``: nodes producing graph outputs; ``io_layout``: the layout of the
    graph's inputs and outputs."""
    order: tuple[str, ...]
    producers: Mapping[str, tuple[str, ...]]
    outputs: frozenset[str]
    io_layout: str


@dataclass
class Cover:
    candidates: list[Candidate]  # in a valid execution order
    cost: float
    transitions: float  # the part of cost paid for layout conversions
    states: int = 0  # explored, for reports


def _consumers(problem: Problem) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {n: [] for n in problem.order}
    for node in problem.order:
        for producer in problem.producers.get(node, ()):
            if producer != INPUT:
                users[producer].append(node)
    for node in problem.outputs:
        users[node].append(OUTPUT)
    return users


def _entry_cost(problem: Problem, cand: Candidate, layouts: Mapping[str, str], transition: Transition) -> float:
    """Conversions on the edges into ``cand`` from covered nodes (their layouts in ``layouts``) and graph inputs."""
    cost = 0.0
    for node in cand.nodes:
        for producer in problem.producers.get(node, ()):
            if producer in cand.nodes:
                continue
            source = problem.io_layout if producer == INPUT else layouts[producer]
            if source != cand.layout:
                cost += transition(producer, source, cand.layout)
    return cost


def _exit_cost(problem: Problem, cand: Candidate, transition: Transition) -> float:
    return sum(transition(n, cand.layout, problem.io_layout) for n in cand.nodes
               if n in problem.outputs and cand.layout != problem.io_layout)


def check_candidates(problem: Problem, candidates: Iterable[Candidate]) -> dict[str, list[Candidate]]:
    """Candidates by the nodes they contain; every node needs at least one."""
    by_node: dict[str, list[Candidate]] = {n: [] for n in problem.order}
    for cand in candidates:
        unknown = sorted(cand.nodes - set(by_node))
        if unknown or not cand.nodes:
            raise AotError(f"candidate {cand.backend}/{cand.variant} covers unknown nodes {unknown}")
        for node in cand.nodes:
            by_node[node].append(cand)
    missing = [n for n, cs in by_node.items() if not cs]
    if missing:
        raise AotError(f"no candidate runs node(s) {', '.join(missing)}")
    return by_node


def best_cover(problem: Problem, candidates: Sequence[Candidate], transition: Transition,
               max_states: int = 1_000_000) -> Cover:
    """The cheapest cover (ties: the first found, in a deterministic order)."""
    by_node = check_candidates(problem, candidates)
    users = _consumers(problem)
    position = {n: i for i, n in enumerate(problem.order)}
    start = (frozenset(), frozenset())
    tie = itertools.count()
    queue: list = [(0.0, next(tie), start)]
    best: dict = {start: 0.0}
    back: dict = {}
    explored = 0
    while queue:
        cost, _, state = heapq.heappop(queue)
        if cost > best.get(state, float("inf")):
            continue
        covered, frontier = state
        if len(covered) == len(problem.order):
            return _unwind(back, state, cost, explored, problem, transition)
        explored += 1
        if explored > max_states:
            raise AotError(f"the cover search exceeded {max_states} states; measure fewer candidates "
                           f"(e.g. no maximal regions) for this graph")
        layouts = dict(frontier)
        # A placeable candidate's first node (in topological order) has all its producers covered: trying
        # the candidates of the ready nodes tries every placeable one, so the search stays exact.
        for node in sorted((n for n in problem.order if n not in covered), key=position.__getitem__):
            if any(p != INPUT and p not in covered for p in problem.producers.get(node, ())):
                continue
            for cand in by_node[node]:
                if cand.nodes & covered or not _ready(problem, cand, covered):
                    continue
                step = (cand.cost + _entry_cost(problem, cand, layouts, transition)
                        + _exit_cost(problem, cand, transition))
                nxt = _advance(state, cand, users)
                total = cost + step
                if total < best.get(nxt, float("inf")):
                    best[nxt] = total
                    back[nxt] = (state, cand)
                    heapq.heappush(queue, (total, next(tie), nxt))
    raise AotError("no cover of the graph by the candidates runs every node in a valid order")


def _ready(problem: Problem, cand: Candidate, covered: frozenset[str]) -> bool:
    """All producers outside the candidate are covered (so it runs after them, and no cycle forms)."""
    return all(p == INPUT or p in covered or p in cand.nodes
               for n in cand.nodes for p in problem.producers.get(n, ()))


def _advance(state, cand: Candidate, users: Mapping[str, list[str]]):
    covered, frontier = state
    covered = covered | cand.nodes
    live = {(n, layout) for n, layout in frontier} | {(n, cand.layout) for n in cand.nodes}
    frontier = frozenset((n, layout) for n, layout in live
                         if any(u != OUTPUT and u not in covered for u in users[n]))
    return covered, frontier


def _unwind(back, state, cost: float, explored: int, problem: Problem, transition: Transition) -> Cover:
    chosen: list[Candidate] = []
    while state in back:
        state, cand = back[state]
        chosen.append(cand)
    chosen.reverse()
    return Cover(chosen, cost, cover_cost(problem, chosen, transition)[1], explored)


def cover_cost(problem: Problem, chosen: Sequence[Candidate], transition: Transition) -> tuple[float, float]:
    """(total, conversions) of placing ``chosen`` (a cover), as ``best_cover`` counts them."""
    layout = {n: c.layout for c in chosen for n in c.nodes}
    conversions = 0.0
    for cand in chosen:
        conversions += _entry_cost(problem, cand, layout, transition) + _exit_cost(problem, cand, transition)
    return sum(c.cost for c in chosen) + conversions, conversions
