"""uint8 QDQ models (ONNX Runtime's default QUInt8 activations, older QUInt8 weights) as int8 ones.

Shifting a uint8 code and its zero point down by 128 changes no value: for QuantizeLinear,
clip(round(x / s) + zp, 0, 255) - 128 == clip(round(x / s) + (zp - 128), -128, 127), and
DequantizeLinear computes (q - zp) * s, the same for both. So every uint8 QuantizeLinear output and
every uint8 DequantizeLinear input (a constant weight, or the output of such a QuantizeLinear)
becomes int8 with its zero point shifted, and the int8 lowering and kernels serve them unchanged.

uint8 tensors the caller sees (a uint8 graph input or output at the edge of a quantized layer) keep
their type: plain Q/DQ kernels (plain_qdq.py) convert them exactly to and from the int8 codes the
layers use. A uint8 input or output quantized on its own is a plain Q/DQ already, which this pass
leaves alone. A uint8 tensor read by anything but DequantizeLinear is refused.
"""
from __future__ import annotations

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from ..passes.context import PassContext, graph_pass
from .plain_qdq import PLAIN, is_plain


def _shifted(values: np.ndarray) -> np.ndarray:
    return (np.asarray(values).astype(np.int16) - 128).astype(np.int8)


def _refuse(graph: Graph, node: Node | None, why: str) -> AotError:
    return AotError(f"{why}; aot's integer kernels take int8 (quantize the model with int8 activations, "
                    f"e.g. onnxruntime quantize_static(activation_type=QuantType.QInt8), or keep float "
                    f"inputs and outputs)", model=graph.source or graph.name, node=node.name if node else None)


def _zero_point(graph: Graph, node: Node, index: int) -> str | None:
    """The node's uint8 zero-point constant (None when it has none or it is not uint8)."""
    if len(node.inputs) <= index or not node.inputs[index]:
        return None
    zp = graph.tensors[node.inputs[index]]
    return zp.name if zp.dtype == "uint8" else None


def _shift_constant(graph: Graph, name: str, shifted: dict[str, str]) -> str:
    """An int8 copy of the uint8 constant ``name`` (made once, shared by every reader)."""
    if name not in shifted:
        data = graph.const(name)
        if data is None:
            raise _refuse(graph, None, f"uint8 zero point '{name}' is computed at run time")
        shifted[name] = graph.add_constant(name + "_s8", _shifted(data)).name
    return shifted[name]


@graph_pass("uint8_qdq_to_int8")
def uint8_qdq_to_int8(graph: Graph, ctx: PassContext) -> Graph:
    # The uint8 codes of QDQ: QuantizeLinear outputs and DequantizeLinear inputs (integer-only ops such
    # as ConvInteger read uint8 themselves and are left alone).
    # Plain Q/DQ (plain_qdq.py) compute on the uint8 codes themselves and keep them.
    uint8 = sorted({name for n in graph.nodes if n.op_type in ("QuantizeLinear", "DequantizeLinear") and not is_plain(n)
                    for name in (n.outputs[0] if n.op_type == "QuantizeLinear" else n.inputs[0],)
                    if graph.tensors[name].dtype == "uint8" and not graph.tensors[name].is_constant})
    # The caller's uint8 tensors keep their type: plain kernels convert them to and from the int8 codes.
    uint8 = [_int8_twin(graph, name) if name in graph.inputs or name in graph.outputs else name for name in uint8]
    consumers = graph.consumers()
    for name in uint8:
        for user in consumers.get(name, []):
            if user.op_type != "DequantizeLinear":
                raise _refuse(graph, user, f"{user.op_type} reads the uint8 tensor '{name}'")
    shifted: dict[str, str] = {}  # uint8 constant -> its int8 copy
    for node in graph.nodes:
        if node.op_type == "QuantizeLinear" and node.outputs[0] in uint8 and not is_plain(node):
            _shift_zero_point(graph, node, shifted)
            graph.tensors[node.outputs[0]].dtype = "int8"
        elif node.op_type == "DequantizeLinear" and not is_plain(node):
            source = graph.tensors[node.inputs[0]]
            if source.is_constant and source.dtype == "uint8":
                node.inputs[0] = _shift_constant(graph, source.name, shifted)
            elif source.name not in uint8:
                continue  # an int8 (or int32, int16) DequantizeLinear: nothing to shift
            _shift_zero_point(graph, node, shifted)
    return graph


def _plain(graph: Graph, op_type: str, inputs: list[str], output: str, name: str) -> Node:
    node = graph.make_node(op_type, inputs, [output], name=name)
    node.meta[PLAIN] = True
    return node


def _read_twin(graph: Graph, name: str, twin: str) -> None:
    """The (non-plain) DequantizeLinear nodes of ``name`` read its int8 twin instead (plain kernels read
    the codes as they are)."""
    for node in graph.nodes:
        if node.op_type == "DequantizeLinear" and not is_plain(node) and node.inputs[0] == name:
            node.inputs[0] = twin


def _int8_twin(graph: Graph, name: str) -> str:
    """For the uint8 graph input or output ``name``, the int8 tensor (codes - 128) the integer layers use
    instead, converted exactly by a plain DequantizeLinear -> QuantizeLinear pair with scale 1:
    input: x - 128 as float, then quantized to int8; output: the int8 code as float, quantized to uint8
    with zero point 128. Returns the twin, to be shifted like any uint8 code of the graph."""
    t = graph.tensors[name]
    one = graph.add_constant(name + "_unit_scale", np.float32(1.0)).name
    u8_128 = graph.add_constant(name + "_u8_128", np.uint8(128)).name
    s8_0 = graph.add_constant(name + "_s8_0", np.int8(0)).name
    twin = graph.add_tensor(name + "_s8", t.shape, "int8")
    real = graph.add_tensor(name + "_codes", t.shape, "float32")
    _read_twin(graph, name, twin.name)
    if name in graph.inputs:
        graph.nodes[0:0] = [_plain(graph, "DequantizeLinear", [name, one, u8_128], real.name, name + "_to_codes"),
                            _plain(graph, "QuantizeLinear", [real.name, one, s8_0], twin.name, name + "_to_int8")]
        return twin.name
    producer = next(n for n in graph.nodes if name in n.outputs)
    producer.outputs = [twin.name if o == name else o for o in producer.outputs]
    at = graph.nodes.index(producer) + 1
    graph.nodes[at:at] = [_plain(graph, "DequantizeLinear", [twin.name, one, s8_0], real.name, name + "_codes"),
                          _plain(graph, "QuantizeLinear", [real.name, one, u8_128], name, name + "_to_uint8")]
    return twin.name


def _shift_zero_point(graph: Graph, node: Node, shifted: dict[str, str]) -> None:
    zp = _zero_point(graph, node, 2)
    if zp is None:  # none given: ONNX's default for uint8 data is a uint8 0
        zp = graph.add_constant(node.name + "_zero_point", np.uint8(0)).name
    node.inputs = node.inputs[:2] + [_shift_constant(graph, zp, shifted)] + node.inputs[3:]
