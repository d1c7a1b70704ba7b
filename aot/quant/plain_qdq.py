"""QuantizeLinear / DequantizeLinear that are computations, not edges of an integer kernel.

The QDQ lowering (lower_qdq) turns ``DQ -> op -> Q`` into int8 kernels; it needs int8 (or shifted uint8)
activations, constant per-tensor scales and zero points, and tensors the caller does not see as uint8.
Graphs also use Q/DQ as plain arithmetic: a model that outputs uint8 image data, int16 or uint16 codes,
scales computed at run time (DynamicQuantizeLinear, QLinearMatMul with scale inputs), blocked or
per-axis quantization of activations. This pass marks such nodes ``plain``: they compile as elementwise
kernels with ONNX semantics (aot/backends/ref/kernels/quantize_plain.py), the nodes around them stay in
float, and the QDQ passes (uint8_qdq_to_int8, lower_qdq) leave them alone.

Nodes the int8 path handles today are never marked, so quantized CNNs compile exactly as before.
"""
from __future__ import annotations

from ..ir import Graph, Node
from ..passes.context import PassContext, graph_pass

PLAIN = "plain_qdq"  # Node.meta key
QDQ = ("QuantizeLinear", "DequantizeLinear")
LOWERED_DTYPES = ("int8", "uint8")  # what lower_qdq (with uint8_qdq_to_int8) turns into integer kernels


def is_plain(node: Node) -> bool:
    return bool(node.meta.get(PLAIN))


def quantized_side(node: Node) -> str:
    """The integer tensor of a Q (its output) or a DQ (its input)."""
    return node.outputs[0] if node.op_type == "QuantizeLinear" else node.inputs[0]


def _runtime_params(graph: Graph, node: Node) -> bool:
    return any(name and graph.const(name) is None for name in node.inputs[1:3])


def _per_axis_activation(graph: Graph, node: Node) -> bool:
    scale = graph.const(node.inputs[1])
    return scale is not None and scale.size > 1 and not graph.tensors[quantized_side(node)].is_constant


def _core_of_qdq_pattern(graph: Graph, node: Node | None, producers: dict[str, Node]) -> bool:
    """Whether ``node`` is a float op reading a dequantized activation (the core of a DQ -> op -> Q
    pattern), i.e. a layer the lowering would make integer."""
    if node is None or node.op_type in QDQ:
        return False
    return any(p is not None and p.op_type == "DequantizeLinear" and not graph.tensors[p.inputs[0]].is_constant
               for p in (producers.get(i) for i in node.present_inputs))


def _uint8_boundary_is_standalone(graph: Graph, node: Node, producers: dict[str, Node],
                                  consumers: dict[str, list[Node]]) -> bool:
    """A uint8 graph input/output whose Q/DQ is arithmetic of its own (an image output quantized from
    float, a uint8 input dequantized for float math), not the edge of a quantized layer; at a quantized
    layer uint8_qdq converts the codes to int8 for the layer instead."""
    if node.op_type == "DequantizeLinear":
        return not any(_core_of_qdq_pattern(graph, c, producers) for c in consumers.get(node.outputs[0], []))
    producer = producers.get(node.inputs[0])
    for _ in range(3):  # through the fused tail of a layer (Relu, Clip, a bias Add) to its core
        if producer is None or producer.op_type in QDQ or _core_of_qdq_pattern(graph, producer, producers):
            break
        computed = [i for i in producer.present_inputs if not graph.tensors[i].is_constant
                    and not _dequantized_constant(graph, producers.get(i))]
        producer = producers.get(computed[0]) if len(computed) == 1 else None
    return not _core_of_qdq_pattern(graph, producer, producers)


def _dequantized_constant(graph: Graph, node: Node | None) -> bool:
    return node is not None and node.op_type == "DequantizeLinear" and graph.tensors[node.inputs[0]].is_constant


def _needs_plain(graph: Graph, node: Node, producers: dict[str, Node], consumers: dict[str, list[Node]]) -> bool:
    q = graph.tensors[quantized_side(node)]
    if q.is_constant and node.op_type == "DequantizeLinear" and q.dtype not in LOWERED_DTYPES \
            and not _runtime_params(graph, node):
        return False  # a constant int32 bias or int16 weight: the lowering reads it, or constant folding does
    if q.dtype not in LOWERED_DTYPES or _runtime_params(graph, node) or _per_axis_activation(graph, node):
        return True
    if int(node.attrs.get("block_size", 0)):
        return True
    if q.dtype == "uint8" and not q.is_constant:
        if q.name in graph.inputs or q.name in graph.outputs:
            return _uint8_boundary_is_standalone(graph, node, producers, consumers)
        if any(c.op_type != "DequantizeLinear" for c in consumers.get(q.name, [])):
            return True  # uint8 codes read as numbers (a Q feeding Cast, MatMulInteger, ...)
    return False


def _spread(graph: Graph, plain: set[int], nodes: dict[int, Node], producers: dict[str, Node],
            consumers: dict[str, list[Node]]) -> bool:
    """One round of consistency; True when something new became plain.
    - a uint8 (or other non-int8) tensor is written and read by plain Q/DQ only, or by none: uint8_qdq
      would reinterpret it as int8 under a plain kernel that writes uint8;
    - an op reading one plain DQ stays in float, so every activation DQ it reads is plain (the lowering
      cannot make half of a layer integer)."""
    changed = False
    for node in list(nodes.values()):
        if id(node) in plain:
            continue
        q = graph.tensors[quantized_side(node)]
        related = [producers.get(q.name)] + consumers.get(q.name, [])
        related = [n for n in related if n is not None and n.op_type in QDQ and quantized_side(n) == q.name]
        if q.dtype != "int8" and any(id(n) in plain for n in related):
            plain.add(id(node))
            changed = True
            continue
        if node.op_type == "DequantizeLinear" and not q.is_constant:
            # (a constant weight's DQ stays: where its layer stays float, constant folding evaluates it,
            # and another layer sharing it may still lower)
            for user in consumers.get(node.outputs[0], []):
                if user.op_type in QDQ:
                    continue
                dqs = [producers.get(i) for i in user.present_inputs]
                if any(p is not None and id(p) in plain and p.op_type == "DequantizeLinear" for p in dqs):
                    plain.add(id(node))
                    changed = True
                    break
    return changed


@graph_pass("mark_plain_qdq")
def mark_plain_qdq(graph: Graph, ctx: PassContext) -> Graph:
    nodes = {id(n): n for n in graph.nodes if n.op_type in QDQ and not n.domain}
    if not nodes:
        return graph
    producers, consumers = graph.producers(), graph.consumers()
    plain = {key for key, n in nodes.items() if _needs_plain(graph, n, producers, consumers)}
    while plain and _spread(graph, plain, nodes, producers, consumers):
        pass
    for key in plain:
        nodes[key].meta[PLAIN] = True
    return graph
