"""Small helpers shared by the rewriting passes."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..ir import Graph, Node
from ..ir.pattern import find_matches

if TYPE_CHECKING:
    from ..ir.pattern import Pattern
    from .context import PassContext


def sole_consumer(graph: Graph, tensor: str, consumers: dict[str, list[Node]]) -> Node | None:
    """The only node reading ``tensor``, if it is read once and is not a graph output."""
    users = consumers.get(tensor, [])
    if len(users) != 1 or tensor in graph.outputs:
        return None
    user = users[0]
    if sum(1 for i in user.inputs if i == tensor) != 1:
        return None
    return user


def absorb(graph: Graph, producer: Node, follower: Node) -> None:
    """``producer`` now writes ``follower``'s output; ``follower`` and the tensor between them go."""
    between = producer.outputs[0]
    producer.outputs[0] = follower.outputs[0]
    graph.nodes.remove(follower)
    graph.remove_tensor(between)


def apply_fusion(graph: Graph, ctx: "PassContext", pattern: "Pattern") -> Graph:
    """Apply a fusion pattern's in-place rewrite to every match whose check passes and whose layers the
    user does not keep apart (``ctx.skip_layers``)."""
    for m in find_matches(graph, pattern):
        if any(ctx.skips(n.name) for n in m.nodes):
            continue
        if pattern.check is None or pattern.check(m, graph) is None:
            pattern.rewrite(m, graph)
    return graph
