"""Partitioning, as TVM's BYOC chain: MergeComposite -> AnnotateTarget -> MergeCompilerRegions ->
PartitionGraph.

1. ``merge_composites``: each selected backend's patterns (aot/backends/patterns.py), in preference
   order, wrap their accepted matches into composite nodes that only that backend runs;
2. ``annotate_backends``: every node records the backends with a kernel that accepts it;
3. ``partition_backends``: each node is assigned one (a per-layer choice, else the first in preference
   order), and ``regions`` groups maximal runs of consecutive nodes on the same backend.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import AotError, Blocker, unsupported_models_error
from ..ir import Graph, Node
from ..passes import PassContext, graph_pass
from .patterns import dissolve_composite, find_matches, make_composite
from .registry import REGISTRY, Backend


@dataclass
class Region:
    backend: str
    nodes: list[Node]


def selected_backends(ctx: PassContext) -> list[Backend]:
    return [REGISTRY.get(name) for name in ctx.options.get("backends") or ["ref"]]


@graph_pass("merge_composites")
def merge_composites(graph: Graph, ctx: PassContext) -> Graph:
    forced = ctx.options.get("layer_backend") or {}
    for backend in selected_backends(ctx):
        for pattern in backend.patterns():
            for m in find_matches(graph, pattern):
                if any(ctx.skips(n.name) or forced.get(n.name, backend.name) != backend.name for n in m.nodes):
                    continue  # the user keeps one of these layers apart, or on another backend
                reason = pattern.check(m, graph) if pattern.check else None
                if reason is not None:
                    m.root.meta.setdefault("pattern_rejections", []).append(f"{backend.name}/{pattern.name}: {reason}")
                elif pattern.rewrite is not None:
                    pattern.rewrite(m, graph)
                else:
                    composite = make_composite(graph, m, backend.name)
                    if backend.kernel_for(composite, graph) is None:  # the kernel's own check says no
                        why = backend.reject_reason(composite, graph)
                        dissolve_composite(graph, composite)
                        m.root.meta.setdefault("pattern_rejections", []).append(f"{backend.name}/{pattern.name}: {why}")
    return graph


@graph_pass("annotate_backends")
def annotate_backends(graph: Graph, ctx: PassContext) -> Graph:
    backends = selected_backends(ctx)
    blockers = []
    for node in graph.nodes:
        node.meta["backends"] = [b.name for b in backends if b.kernel_for(node, graph) is not None]
        if not node.meta["backends"]:
            blockers.append(_blocker(graph, node, backends))
    if blockers:  # all of them at once: one run tells the user everything that is missing
        raise unsupported_models_error(blockers, graph.source or graph.name)
    return graph


@graph_pass("partition_backends")
def partition_backends(graph: Graph, ctx: PassContext) -> Graph:
    forced = ctx.options.get("layer_backend") or {}  # per-layer override: {"conv1": "ref"}
    unknown = sorted(set(forced) - {n.name for n in graph.nodes})
    if unknown:  # a typo, or a layer the passes fused into its producer
        raise AotError(f"per-layer backend choice names unknown layer(s) {unknown}; the layers are "
                       f"{[n.name for n in graph.nodes]}", model=graph.source or graph.name)
    for node in graph.nodes:
        accepted = node.meta["backends"]
        wanted = forced.get(node.name)
        if wanted is not None and wanted not in accepted:
            reason = REGISTRY.get(wanted).reject_reason(node, graph) or "not among the selected backends"
            raise AotError(f"layer cannot run on backend '{wanted}' ({reason}); backends that accept it: "
                           f"{', '.join(accepted)}", model=graph.source or graph.name, node=node.name)
        node.meta["backend"] = wanted or accepted[0]
    return graph


def regions(graph: Graph) -> list[Region]:
    out: list[Region] = []
    for node in graph.nodes:
        if out and out[-1].backend == node.meta["backend"]:
            out[-1].nodes.append(node)
        else:
            out.append(Region(node.meta["backend"], [node]))
    return out


def _blocker(graph: Graph, node: Node, backends: list[Backend]) -> Blocker:
    why = {b.name: b.reject_reason(node, graph) for b in backends}
    reasons = "no backend implements this op" if all(r == "op not implemented" for r in why.values()) else \
        "; ".join(f"{name}: {reason}" for name, reason in why.items())
    dtypes = sorted({graph.tensors[i].dtype for i in node.present_inputs})
    op = f"{node.domain}.{node.op_type}" if node.domain else node.op_type
    opset = graph.opset if not node.domain else node.meta.get("domain_opset", "?")
    return Blocker(op, opset, node.meta.get("onnx_name") or node.name, reasons, ", ".join(dtypes))
