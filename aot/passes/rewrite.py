"""Small helpers shared by the rewriting passes."""
from __future__ import annotations

from ..ir import Graph, Node


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
