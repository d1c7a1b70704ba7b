"""From a partitioned graph to the list of calls the generated ``run`` function makes."""
from __future__ import annotations

from dataclasses import dataclass

from ..backends.registry import REGISTRY, Kernel
from ..ir import Graph, Node
from ..planner import Step


@dataclass
class Call:
    node: Node
    backend: str
    kernel: Kernel
    fn: str  # C function name
    template: str
    step: Step


def lower(graph: Graph, prefix: str) -> tuple[list[Call], dict[str, str]]:
    """Calls in schedule order, and the alias map (alias-op output -> its input) for the planner."""
    calls: list[Call] = []
    aliases: dict[str, str] = {}
    for node in graph.nodes:
        backend = REGISTRY.get(node.meta["backend"])
        kernel = backend.kernel_for(node, graph)
        assert kernel is not None, "partition_backends assigned a backend that rejects the node"
        template = kernel.template
        if kernel.is_alias:
            if node.outputs[0] not in graph.outputs:
                aliases[node.outputs[0]] = node.inputs[0]
                continue
            template = kernel.alias_template  # a graph output needs its own bytes: copy
        reads = [i for idx, i in enumerate(node.inputs) if i and idx not in kernel.static_inputs]
        scratch = kernel.scratch_bytes(node, graph) if kernel.scratch_bytes else 0
        fn = f"{prefix}_{node.name}"
        calls.append(Call(node, backend.name, kernel, fn, template,
                          Step(node.name, reads, [o for o in node.outputs if o], scratch)))
    return calls, aliases
