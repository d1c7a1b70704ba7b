"""Integer layers exported as QDQ (``--emit-onnx`` of an int8 graph): ONNX Runtime has no int8 Conv,
Gemm, Softmax... and Netron would show such a node without its scales. Each layer reading or writing
quantized integers becomes DequantizeLinear on its quantized inputs (activations, int8 weights,
int32 biases, with their scales, zero points and channel axis), the float op, and QuantizeLinear on
its quantized outputs back to the integer tensor of the IR's name. ONNX Runtime then runs the model
(requantizing in float, so within one quantization step of aot's integer kernels) and Netron shows
every tensor's scale and zero point."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .graph import Graph, Node, Tensor

QUANTIZED_DTYPES = ("int8", "uint8", "int32")  # what DequantizeLinear reads at opset 13
NATIVE = ("QuantizeLinear", "DequantizeLinear")  # already QDQ nodes: exported as they are


def is_quantized(t: Tensor) -> bool:
    return t.quant is not None and t.dtype in QUANTIZED_DTYPES


def needs_qdq(graph: Graph, node: Node) -> bool:
    """Whether ``node`` computes on quantized integers (so it exports as DQ -> float op -> Q)."""
    if node.op_type in NATIVE or node.domain not in ("", "ai.onnx"):
        return False
    first = graph.tensors[node.inputs[0]] if node.inputs and node.inputs[0] else None
    if first is not None and first.quant is None and first.dtype in ("int8", "uint8"):
        # Raw integers given their scale here (an int8 graph input through Reshape): the op moves the
        # integers as they are, which ONNX runs on int8 too.
        return False
    if any(o and is_quantized(graph.tensors[o]) and graph.tensors[o].dtype == "int32" for o in node.outputs):
        return False  # QuantizeLinear cannot write int32 (a --recast accumulator output): the op as it is
    return any(name and is_quantized(graph.tensors[name]) for name in [*node.inputs, *node.outputs])


class QdqNodes:
    """DequantizeLinear/QuantizeLinear nodes of an export; each quantized tensor is dequantized once.
    ``fresh(base)`` gives a free tensor name, ``nodes``/``initializers`` collect the output."""

    def __init__(self, graph: Graph, fresh, nodes: list[onnx.NodeProto], initializers: list[onnx.TensorProto]):
        self.graph = graph
        self.fresh = fresh
        self.nodes = nodes
        self.initializers = initializers
        self.float_of: dict[str, str] = {}  # quantized tensor's ONNX name -> its dequantized twin
        self.params_of: dict[str, tuple[list[str], dict]] = {}  # IR name -> its scale/zero point names, axis

    def _params(self, t: Tensor, base: str) -> tuple[list[str], dict]:
        """Names of the scale and zero-point initializers of ``t`` (written once), and the ``axis`` attribute."""
        if t.name in self.params_of:
            return self.params_of[t.name]
        scale = np.asarray(t.quant.scale, np.float32).reshape(-1)
        zero = np.asarray(t.quant.zero_point).reshape(-1).astype(t.dtype)
        attrs: dict = {}
        if scale.size > 1 or zero.size > 1:
            axis = t.quant.axis if t.quant.axis is not None else 0
            attrs["axis"] = int(axis)
            size = t.shape[axis]
            scale, zero = np.broadcast_to(scale, (size,)).copy(), np.broadcast_to(zero, (size,)).copy()
        else:
            scale, zero = scale[0], zero[0]
        names = [self.fresh(f"{base}__scale"), self.fresh(f"{base}__zero_point")]
        self.initializers += [numpy_helper.from_array(np.asarray(scale), names[0]),
                              numpy_helper.from_array(np.asarray(zero), names[1])]
        self.params_of[t.name] = names, attrs
        return names, attrs

    def dequantized(self, ir_name: str, onnx_name: str) -> str:
        """The float twin of a quantized tensor (the name itself for any other tensor)."""
        if not ir_name or not is_quantized(self.graph.tensors[ir_name]):
            return onnx_name
        if onnx_name not in self.float_of:
            out = self.fresh(f"{ir_name}__dequantized")
            params, attrs = self._params(self.graph.tensors[ir_name], ir_name)
            self.nodes.append(helper.make_node("DequantizeLinear", [onnx_name, *params], [out],
                                               name=self.fresh(f"{ir_name}__dequantize"), **attrs))
            self.float_of[onnx_name] = out
        return self.float_of[onnx_name]

    def float_output(self, ir_name: str, onnx_name: str) -> str:
        """The name the float op writes for output ``ir_name`` (quantize() turns it into ``onnx_name``)."""
        if not ir_name or not is_quantized(self.graph.tensors[ir_name]):
            return onnx_name
        return self.fresh(f"{ir_name}__float")

    def quantize(self, ir_name: str, float_name: str, onnx_name: str) -> None:
        if float_name == onnx_name:
            return
        params, attrs = self._params(self.graph.tensors[ir_name], ir_name)
        self.nodes.append(helper.make_node("QuantizeLinear", [float_name, *params], [onnx_name],
                                           name=self.fresh(f"{ir_name}__quantize"), **attrs))
        # Readers dequantize the integer tensor (dequantized()), not this float: they see the rounded values.
