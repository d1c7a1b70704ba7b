"""uint8 QDQ models (ONNX Runtime's default QUInt8 activations, older QUInt8 weights) as int8 ones.

Shifting a uint8 code and its zero point down by 128 changes no value: for QuantizeLinear,
clip(round(x / s) + zp, 0, 255) - 128 == clip(round(x / s) + (zp - 128), -128, 127), and
DequantizeLinear computes (q - zp) * s, the same for both. So every uint8 QuantizeLinear output and
every uint8 DequantizeLinear input (a constant weight, or the output of such a QuantizeLinear)
becomes int8 with its zero point shifted, and the int8 lowering and kernels serve them unchanged.

uint8 tensors the caller sees (a uint8 graph input or output) would change the library's API: where
one is the edge of a quantized layer it is refused with a message (float fallback runs that layer in
float instead); a uint8 input or output quantized on its own runs as a plain Q/DQ kernel
(plain_qdq.py), which this pass leaves alone. A uint8 tensor read by anything but DequantizeLinear is
refused too.
"""
from __future__ import annotations

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from ..passes.context import PassContext, graph_pass
from .plain_qdq import is_plain


def _shifted(values: np.ndarray) -> np.ndarray:
    return (np.asarray(values).astype(np.int16) - 128).astype(np.int8)


def _refuse(graph: Graph, node: Node | None, why: str, at_edge: bool = False) -> AotError:
    # At a graph input/output, float fallback runs the quantized layer there in float (plain_qdq.py).
    fallback = "; or pass --allow-float-fallback to run the layer at that edge in float" if at_edge else ""
    return AotError(f"{why}; aot's integer kernels take int8 (quantize the model with int8 activations, "
                    f"e.g. onnxruntime quantize_static(activation_type=QuantType.QInt8), or keep float "
                    f"inputs and outputs{fallback})", model=graph.source or graph.name,
                    node=node.name if node else None)


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
    for name in uint8:
        if name in graph.inputs or name in graph.outputs:
            kind = "input" if name in graph.inputs else "output"
            raise _refuse(graph, None, f"graph {kind} '{name}' is uint8 quantized", at_edge=True)
    consumers = graph.consumers()
    for name in uint8:
        for user in consumers.get(name, []):
            if user.op_type != "DequantizeLinear":
                raise _refuse(graph, user, f"{user.op_type} reads the uint8 tensor '{name}'")
    shifted: dict[str, str] = {}  # uint8 constant -> its int8 copy
    for node in graph.nodes:
        if node.op_type == "QuantizeLinear" and node.outputs[0] in uint8:
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


def _shift_zero_point(graph: Graph, node: Node, shifted: dict[str, str]) -> None:
    zp = _zero_point(graph, node, 2)
    if zp is None:  # none given: ONNX's default for uint8 data is a uint8 0
        zp = graph.add_constant(node.name + "_zero_point", np.uint8(0)).name
    node.inputs = node.inputs[:2] + [_shift_constant(graph, zp, shifted)] + node.inputs[3:]
