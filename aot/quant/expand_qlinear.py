"""Rewrite QLinearConv / QLinearMatMul into DequantizeLinear -> Conv/MatMul -> QuantizeLinear, so
one lowering (lower_qdq) serves every quantized format; the result lowers to the same int8 kernels.
ConvInteger / MatMulInteger become the integer-accumulating Conv/MatMul (int32 outputs)."""
from __future__ import annotations

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from ..passes.context import PassContext, graph_pass


def _dq(graph: Graph, base: str, q: str, scale: str, zp: str, axis: int | None) -> tuple[Node, str]:
    t = graph.tensors[q]
    out = graph.add_tensor(base + "_dq", t.shape, "float32")
    attrs = {"axis": axis} if axis is not None else {}
    return graph.make_node("DequantizeLinear", [q, scale, zp], [out.name], attrs, name=base + "_dq"), out.name


def _axis_for(graph: Graph, scale: str, axis: int) -> int | None:
    value = graph.const(scale)
    if value is None:  # computed at run time: its static shape says whether it is per channel
        return axis if graph.tensors[scale].size > 1 else None
    return axis if np.asarray(value).size > 1 else None


def _expand_conv(graph: Graph, node: Node) -> list[Node]:
    x, xs, xzp, w, ws, wzp, ys, yzp = node.inputs[:8]
    bias = node.inputs[8] if len(node.inputs) > 8 else ""
    y = node.outputs[0]
    new, (dx, x_f) = [], _dq(graph, node.name + "_x", x, xs, xzp, None)
    dw, w_f = _dq(graph, node.name + "_w", w, ws, wzp, _axis_for(graph, ws, 0))
    new += [dx, dw]
    conv_inputs = [x_f, w_f]
    if bias:
        sx, sw = graph.const(xs), graph.const(ws)
        channels = graph.tensors[w].shape[0]
        if sx is None or sw is None:
            # Scales computed at run time: so is the bias scale x_scale * w_scale (a Mul before a plain DQ).
            shape = np.broadcast_shapes(graph.tensors[xs].shape, graph.tensors[ws].shape)
            b_scale = graph.add_tensor(node.name + "_bias_scale", shape, "float32")
            new.append(graph.make_node("Mul", [xs, ws], [b_scale.name], name=node.name + "_bias_scale"))
            b_zp = graph.add_constant(node.name + "_bias_zp", np.zeros(shape, np.int32))
        else:
            b_scale = graph.add_constant(node.name + "_bias_scale",
                                         (np.float32(sx.reshape(-1)[0]) * np.broadcast_to(sw.reshape(-1), (channels,))).astype(np.float32))
            b_zp = graph.add_constant(node.name + "_bias_zp", np.zeros(channels, np.int32))
        db, b_f = _dq(graph, node.name + "_b", bias, b_scale.name, b_zp.name,
                      0 if b_scale.is_constant or b_scale.size > 1 else None)
        new.append(db)
        conv_inputs.append(b_f)
    out = graph.tensors[y]
    mid = graph.add_tensor(y + "_real", out.shape, "float32")
    new.append(graph.make_node("Conv", conv_inputs, [mid.name], dict(node.attrs), name=node.name))
    new.append(graph.make_node("QuantizeLinear", [mid.name, ys, yzp], [y], name=node.name + "_q"))
    return new


def _expand_matmul(graph: Graph, node: Node) -> list[Node]:
    a, a_s, azp, b, bs, bzp, ys, yzp = node.inputs[:8]
    y = node.outputs[0]
    da, a_f = _dq(graph, node.name + "_a", a, a_s, azp, None)
    db, b_f = _dq(graph, node.name + "_b", b, bs, bzp, _axis_for(graph, bs, len(graph.tensors[b].shape) - 1))
    out = graph.tensors[y]
    mid = graph.add_tensor(y + "_real", out.shape, "float32")
    return [da, db, graph.make_node("MatMul", [a_f, b_f], [mid.name], name=node.name),
            graph.make_node("QuantizeLinear", [mid.name, ys, yzp], [y], name=node.name + "_q")]


def _zero_point(graph: Graph, node: Node, idx: int) -> np.ndarray:
    name = node.inputs[idx] if len(node.inputs) > idx else ""
    if not name:
        return np.zeros((), np.int64)
    value = graph.const(name)
    if value is None:
        raise AotError(f"{node.op_type} takes zero point '{name}' at run time; aot needs it constant",
                       model=graph.source, node=node.name)
    return np.asarray(value).astype(np.int64)


def _rewritable(graph: Graph, node: Node) -> bool:
    """Whether the zero points are constants this rewrite folds (one input zero point; a non-zero weight
    zero point only for constant weights). Otherwise the node stays and its own kernel reads the zero
    points (aot/backends/ref/kernels/integer_zero_point.py)."""
    names = [node.inputs[i] if len(node.inputs) > i else "" for i in (2, 3)]
    if any(name and graph.const(name) is None for name in names):
        return False
    if names[0] and graph.const(names[0]).size != 1:
        return False
    return not (names[1] and np.any(graph.const(names[1]) != 0) and graph.const(node.inputs[1]) is None)


def _integer(graph: Graph, node: Node, op_type: str, channel_axis: int) -> list[Node]:
    """ConvInteger/MatMulInteger -> the integer-accumulating Conv/MatMul: the input zero point becomes
    an input offset, a weight zero point is subtracted from the (constant) weights at compile time."""
    if not _rewritable(graph, node):
        return [node]
    x_zp = _zero_point(graph, node, 2)
    w_zp = _zero_point(graph, node, 3)
    w_name = node.inputs[1]
    if np.any(w_zp != 0):
        w = graph.const(w_name)
        shape = [1] * w.ndim
        if w_zp.size > 1:
            shape[channel_axis % w.ndim] = -1
        shifted = w.astype(np.int64) - w_zp.reshape(shape)
        w_name = graph.add_constant(w_name + "_centered", shifted.astype(np.int16)).name
    attrs = {k: v for k, v in node.attrs.items()}
    attrs["_input_offset"] = -int(x_zp.reshape(()))
    return [graph.make_node(op_type, [node.inputs[0], w_name], list(node.outputs), attrs, name=node.name)]


EXPANSIONS = {
    "QLinearConv": _expand_conv,
    "QLinearMatMul": _expand_matmul,
    "ConvInteger": lambda g, n: _integer(g, n, "Conv", 0),
    "MatMulInteger": lambda g, n: _integer(g, n, "MatMul", -1),
}


@graph_pass("expand_qlinear")
def expand_qlinear(graph: Graph, ctx: PassContext) -> Graph:
    nodes: list[Node] = []
    for node in graph.nodes:
        expand = EXPANSIONS.get(node.op_type) if not node.domain else None
        nodes.extend(expand(graph, node) if expand else [node])
    graph.nodes = nodes
    return graph
