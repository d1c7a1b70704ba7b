"""Multi-node patterns: what a backend kernel or a fusion matches, and the composite nodes they become.

A pattern is a small tree written like the dataflow it matches (TVM's dataflow patterns are the
model)::

    op("Mul", wildcard("x"), op("Sigmoid", wildcard("x")), commutative=True)   # x * sigmoid(x)

``op`` matches a node by op type (and optionally output dtype or a predicate) whose inputs match the
sub-patterns in order; ``wildcard`` matches any tensor (named ones must be the same tensor wherever
the name occurs); ``const`` a compile-time constant. Every tensor between matched nodes must be read
only inside the match, so a match is always a convex piece of the graph that one kernel can replace.

``merge_composites`` (MergeComposite in TVM's chain) wraps each accepted match into one composite
node (domain ``aot.composite``) whose body is the matched subgraph; the backend that declared the
pattern then renders it as one kernel, the golden model runs the body (or the kernel's own golden).
A pattern may instead carry a ``rewrite`` that fuses in place (the ref backend's activation epilogue).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .composite import COMPOSITE_DOMAIN
from .graph import Graph, Node


class Pat:
    """A pattern over one tensor: the producer's op and operands, or a leaf."""


@dataclass(frozen=True)
class OpPat(Pat):
    op_types: tuple[str, ...] | None  # None: any op (``where`` decides)
    inputs: tuple[Pat | None, ...]  # None: any tensor, not captured
    dtype: str | None = None  # of the node's first output
    where: Callable[[Node, Graph], bool] | None = None
    commutative: bool = False  # two inputs that may come in either order (Add, Mul)


@dataclass(frozen=True)
class Wildcard(Pat):
    name: str | None = None


@dataclass(frozen=True)
class Const(Pat):
    name: str | None = None


def op(op_types: str | tuple[str, ...] | list[str] | None, *inputs: Pat | None, dtype: str | None = None,
       where: Callable[[Node, Graph], bool] | None = None, commutative: bool = False) -> OpPat:
    types = (op_types,) if isinstance(op_types, str) else (None if op_types is None else tuple(op_types))
    return OpPat(types, tuple(inputs), dtype, where, commutative)


def wildcard(name: str | None = None) -> Wildcard:
    return Wildcard(name)


def const(name: str | None = None) -> Const:
    return Const(name)


CheckFn = Callable[["PatternMatch", Graph], "str | None"]
RewriteFn = Callable[["PatternMatch", Graph], None]


@dataclass
class Pattern:
    """A named pattern with a check returning why a match does not apply (None when it does)."""

    name: str
    root: OpPat
    check: CheckFn | None = None
    priority: int = 0  # larger patterns first: among a backend's patterns, higher priority matches first
    rewrite: RewriteFn | None = None  # fuse in place instead of wrapping into a composite


@dataclass
class PatternMatch:
    pattern: Pattern
    root: Node
    nodes: list[Node]  # in schedule order
    captures: dict[str, str] = field(default_factory=dict)  # wildcard/const name -> tensor

    def node(self, op_type: str) -> Node:
        return next(n for n in self.nodes if n.op_type == op_type)

    @property
    def inputs(self) -> list[str]:
        """Tensors entering the match from outside, in order of first use."""
        produced = {o for n in self.nodes for o in n.outputs if o}
        seen: list[str] = []
        for n in self.nodes:
            for i in n.inputs:
                if i and i not in produced and i not in seen:
                    seen.append(i)
        return seen


class _Matcher:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.producers = graph.producers()
        self.consumers = graph.consumers()

    def match_root(self, pattern: Pattern, node: Node) -> PatternMatch | None:
        nodes: list[Node] = []
        captures: dict[str, str] = {}
        if not self._node(pattern.root, node, nodes, captures):
            return None
        inside = {id(n) for n in nodes}
        for n in nodes:  # no value computed inside may leave the match except through the root
            if n is not node and any(o in self.graph.outputs or any(id(u) not in inside for u in self.consumers.get(o, []))
                                     for o in n.outputs if o):
                return None
        order = {id(n): i for i, n in enumerate(self.graph.nodes)}
        return PatternMatch(pattern, node, sorted(nodes, key=lambda n: order[id(n)]), captures)

    def _node(self, pat: OpPat, node: Node, nodes: list[Node], captures: dict[str, str]) -> bool:
        if (pat.op_types is not None and node.op_type not in pat.op_types) or \
                (node.domain and node.domain != COMPOSITE_DOMAIN):
            return False
        if pat.dtype is not None and self.graph.tensors[node.outputs[0]].dtype != pat.dtype:
            return False
        if pat.where is not None and not pat.where(node, self.graph):
            return False
        if len(pat.inputs) > len(node.inputs):
            return False
        orders = [list(range(len(pat.inputs)))]
        if pat.commutative and len(pat.inputs) == 2:
            orders.append([1, 0])
        for order in orders:
            trial_nodes, trial_captures = nodes + [node], dict(captures)
            if all(self._tensor(sub, node.inputs[idx], trial_nodes, trial_captures)
                   for sub, idx in zip(pat.inputs, order)):
                nodes[:] = trial_nodes
                captures.update(trial_captures)
                return True
        return False

    def _tensor(self, pat: Pat | None, name: str, nodes: list[Node], captures: dict[str, str]) -> bool:
        if pat is None:
            return True
        if isinstance(pat, (Wildcard, Const)):
            if isinstance(pat, Const) and (not name or not self.graph.tensors[name].is_constant):
                return False
            if pat.name is not None:
                if captures.setdefault(pat.name, name) != name:
                    return False
            return True
        if not name:
            return False
        producer = self.producers.get(name)
        if producer is None or any(producer is n for n in nodes):
            return False
        # The tensor between two matched nodes is read only by the match (once) and is no graph output.
        users = self.consumers.get(name, [])
        if name in self.graph.outputs or len(users) != 1 or sum(i == name for i in users[0].inputs) != 1:
            return False
        return self._node(pat, producer, nodes, captures)


def find_matches(graph: Graph, pattern: Pattern) -> list[PatternMatch]:
    """Non-overlapping matches of ``pattern``, roots visited in schedule order."""
    matcher = _Matcher(graph)
    taken: set[int] = set()
    found = []
    for node in graph.nodes:
        m = matcher.match_root(pattern, node)
        if m is None or any(id(n) in taken for n in m.nodes):
            continue
        taken.update(id(n) for n in m.nodes)
        found.append(m)
    return found
