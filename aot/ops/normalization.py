"""Normalisations: BatchNormalization (folded into the producer where possible), Softmax, and the
statistics normalisations (Layer, RMS, Group, Instance) and LRN, which run as their own kernels."""
from __future__ import annotations

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import Int8Form, OpSpec

# TFLite's and ONNX Runtime's int8 Softmax output: [0, 1) in 256 steps.
SOFTMAX_OUTPUT_QUANT = (1.0 / 256.0, -128)


def _last_axis(graph: Graph, node: Node) -> bool:
    rank = len(graph.tensors[node.inputs[0]].shape)
    return int(node.attrs.get("axis", -1)) % rank == rank - 1


def _softmax_macs(graph: Graph, node: Node) -> int:
    return 3 * output_size(graph, node)  # max, exp and sum, divide


register_op(OpSpec("BatchNormalization", "normalization", layout="sensitive",
                   macs=lambda g, n: 2 * output_size(g, n)))
register_op(OpSpec("Softmax", "normalization", macs=_softmax_macs,
                   int8=Int8Form("rescale", quantizable=_last_axis, activation_inputs=(0,),
                                 output_quant=SOFTMAX_OUTPUT_QUANT)))
register_op(OpSpec("LogSoftmax", "normalization", macs=_softmax_macs))


# -- statistics normalisations: LayerNormalization, RMSNormalization, GroupNormalization, InstanceNormalization, LRN
def _broadcastable(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Unidirectional (numpy) broadcasting of ``shape`` to ``target``."""
    if len(shape) > len(target):
        return False
    return all(s in (1, t) for s, t in zip(reversed(shape), reversed(target)))


def _axis_problem(graph: Graph, node: Node, with_bias: bool) -> str | None:
    """LayerNormalization / RMSNormalization: axis in range, scale (and bias) broadcastable to the
    normalised shape X.shape[axis:]."""
    shape = graph.tensors[node.inputs[0]].shape
    rank = len(shape)
    if rank < 1:
        return "the input must have rank 1 or more"
    axis = int(node.attrs.get("axis", -1))
    if not -rank <= axis < rank:
        return f"axis {axis} is out of range for an input of rank {rank} (allowed {-rank} to {rank - 1})"
    normalized = tuple(shape[axis % rank:])
    operands = [("Scale", 1)] + ([("B", 2)] if with_bias else [])
    for label, idx in operands:
        if idx < len(node.inputs) and node.inputs[idx]:
            s = graph.tensors[node.inputs[idx]].shape
            if not _broadcastable(tuple(s), normalized):
                return (f"{label} shape {list(s)} does not broadcast to the normalised shape {list(normalized)} "
                        f"(input {list(shape)}, axis {axis})")
    return None


def _per_channel_problem(graph: Graph, node: Node, names: tuple[str, ...], size: int, what: str) -> str | None:
    for label, name in zip(names, node.inputs[1:]):
        if name and tuple(graph.tensors[name].shape) != (size,):
            return f"{label} shape {list(graph.tensors[name].shape)} must be [{size}] ({what})"
    return None


def validate_group_norm(graph: Graph, node: Node) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    if len(shape) < 2:
        return f"the input must be (N, C, ...), it has rank {len(shape)}"
    if "num_groups" not in node.attrs:
        return "num_groups is required"
    groups, channels = int(node.attrs["num_groups"]), shape[1]
    if groups < 1 or channels % groups:
        return f"num_groups {groups} must be at least 1 and divide the channels ({channels})"
    # Opset 18 gave one scale and bias per group, opset 21 one per channel.
    if group_norm_per_group(graph):
        return _per_channel_problem(graph, node, ("scale", "bias"), groups, "one value per group before opset 21")
    return _per_channel_problem(graph, node, ("scale", "bias"), channels, "one value per channel from opset 21")


def group_norm_per_group(graph: Graph) -> bool:
    """GroupNormalization-18: scale and bias per group (opset 21 made them per channel)."""
    return graph.opset < 21


def validate_instance_norm(graph: Graph, node: Node) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    if len(shape) < 3:
        return f"the input must be (N, C, D1, ...), it has rank {len(shape)}"
    return _per_channel_problem(graph, node, ("scale", "B"), shape[1], "one value per channel")


def validate_lrn(graph: Graph, node: Node) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    if len(shape) < 3:
        return f"the input must be (N, C, D1, ...), it has rank {len(shape)}"
    size = node.attrs.get("size")
    if size is None or int(size) < 1:
        return f"size {size} must be given and at least 1"
    return None


def _stats_macs(graph: Graph, node: Node) -> int:
    return 4 * graph.tensors[node.inputs[0]].size  # sum, squared deviations, normalise, scale


register_op(OpSpec("LayerNormalization", "normalization", min_opset=17, macs=_stats_macs,
                   validate=lambda g, n: _axis_problem(g, n, with_bias=True)))
register_op(OpSpec("RMSNormalization", "normalization", min_opset=23, macs=_stats_macs,
                   validate=lambda g, n: _axis_problem(g, n, with_bias=False)))
register_op(OpSpec("GroupNormalization", "normalization", min_opset=18, macs=_stats_macs,
                   validate=validate_group_norm))
register_op(OpSpec("InstanceNormalization", "normalization", macs=_stats_macs, validate=validate_instance_norm))
register_op(OpSpec("LRN", "normalization", validate=validate_lrn,
                   macs=lambda g, n: output_size(g, n) * (int(n.attrs.get("size", 1)) + 2)))
