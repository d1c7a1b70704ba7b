"""Transpose the narrow side of a (de)quantization: a Transpose is a copy, and copying int8 costs a
quarter of the RAM that copying float does.

* ``QuantizeLinear(Transpose(x))`` becomes ``Transpose(QuantizeLinear(x))``: a float NHWC input of a
  channels-first int8 model is quantized first, then its int8 copy is transposed (before, the float
  input and its float transposed copy were live together).
* ``Transpose(DequantizeLinear(q))`` becomes ``DequantizeLinear(Transpose(q))`` at a float output.

Both are exact: a per-tensor (de)quantization acts on each element alone, so it commutes with any
permutation. Per-axis ones would need their axis permuted; they are left alone.
"""
from __future__ import annotations

from ..ir import Graph, Node
from .context import PassContext, graph_pass
from .rewrite import sole_consumer


def _per_tensor(graph: Graph, node: Node) -> bool:
    params = [i for i in node.inputs[1:] if i]
    return node.attrs.get("axis") in (None, 1) and all(graph.tensors[p].size == 1 for p in params)


def _narrows(graph: Graph, node: Node) -> bool:
    src, dst = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    return dst.nbytes < src.nbytes


def _swap(graph: Graph, first: Node, second: Node, transpose_first: bool) -> None:
    """``second(first(x))`` becomes ``first'(second'(x))`` with the same final tensor; the tensor
    between them takes the element type of the (de)quantization and the shape of its new input."""
    transpose, convert = (first, second) if transpose_first else (second, first)
    source = graph.tensors[first.inputs[0]]
    final = graph.tensors[second.outputs[0]]
    between_shape = source.shape if transpose_first else final.shape
    between_layout = source.layout if transpose_first else final.layout
    between_dtype = final.dtype if transpose_first else source.dtype
    old_between = first.outputs[0]
    between = graph.add_tensor(f"{final.name}_{'narrow' if transpose_first else 'wide'}",
                               between_shape, between_dtype, layout=between_layout)
    between.quant = final.quant if transpose_first else source.quant
    convert.inputs[0], transpose.inputs[0] = (source.name, between.name) if transpose_first else (between.name, source.name)
    if transpose_first:  # x -> convert -> between -> transpose -> final
        convert.outputs[0], transpose.outputs[0] = between.name, final.name
    else:  # q -> transpose -> between -> convert -> final
        transpose.outputs[0], convert.outputs[0] = between.name, final.name
    order = graph.nodes
    at = min(order.index(first), order.index(second))
    order.remove(first)
    order.remove(second)
    order[at:at] = [convert, transpose] if transpose_first else [transpose, convert]
    graph.remove_tensor(old_between)


@graph_pass("narrow_transposes")
def narrow_transposes(graph: Graph, ctx: PassContext) -> Graph:
    changed = True
    while changed:
        changed = False
        consumers = graph.consumers()
        for node in list(graph.nodes):
            if node.op_type != "Transpose" or node.domain:
                continue
            user = sole_consumer(graph, node.outputs[0], consumers)
            if (user is not None and user.op_type == "QuantizeLinear" and not user.domain
                    and _per_tensor(graph, user) and _narrows(graph, user)):
                _swap(graph, node, user, transpose_first=True)
                changed = True
                break
            producer = graph.producers().get(node.inputs[0])
            if (producer is not None and producer.op_type == "DequantizeLinear" and not producer.domain
                    and _per_tensor(graph, producer) and not _narrows(graph, producer)
                    and sole_consumer(graph, producer.outputs[0], consumers) is node):
                _swap(graph, producer, node, transpose_first=False)
                changed = True
                break
    return graph
