"""Quantization edges and integer ops of the IR: QuantizeLinear, DequantizeLinear, Requantize (aot's
own op: int8 -> int8 with another scale and a clamp), Cast. The elementwise ones keep any layout."""
from __future__ import annotations

from dataclasses import replace

from .common import output_size
from .conv import conv_macs, validate_conv
from .gemm import matmul_macs
from .registry import register_op
from .spec import OpSpec

for _op in ("QuantizeLinear", "DequantizeLinear", "Requantize"):
    register_op(OpSpec(_op, "quantization", layout="agnostic", macs=output_size))
register_op(OpSpec("Cast", "quantization", macs=output_size))
# CastLike: Cast to the dtype of its second input (whose values are not read).
register_op(OpSpec("CastLike", "quantization", macs=output_size, min_opset=15))

# Integer products with zero points (ONNX Runtime's dynamic quantization). With constant zero points
# aot/quant/expand_qlinear.py rewrites them into the integer-accumulating Conv/MatMul; otherwise (zero
# points computed at run time, per-row input zero points) they run as themselves.
register_op(OpSpec("MatMulInteger", "quantization", macs=matmul_macs))
register_op(OpSpec("ConvInteger", "quantization", macs=conv_macs,
                   validate=lambda graph, node: validate_conv(graph, replace(node, inputs=node.inputs[:2]))))
# x -> uint8 codes with the scale and zero point of its own range (ONNX Runtime's dynamic quantization).
register_op(OpSpec("DynamicQuantizeLinear", "quantization", macs=output_size, min_opset=11))
# aot's own op: DequantizeLinear -> QuantizeLinear with unit scales as one kernel (the composite of the
# ref backend's pattern), which converts the codes of uint8 graph inputs/outputs to and from int8.
register_op(OpSpec("RecodeIntegers", "quantization", macs=output_size))
