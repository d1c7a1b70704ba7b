"""Quantization edges and integer ops of the IR: QuantizeLinear, DequantizeLinear, Requantize (aot's
own op: int8 -> int8 with another scale and a clamp), Cast. The elementwise ones keep any layout."""
from __future__ import annotations

from .common import output_size
from .registry import register_op
from .spec import OpSpec

for _op in ("QuantizeLinear", "DequantizeLinear", "Requantize"):
    register_op(OpSpec(_op, "quantization", layout="agnostic", macs=output_size))
register_op(OpSpec("Cast", "quantization", macs=output_size))
# CastLike: Cast to the dtype of its second input (whose values are not read).
register_op(OpSpec("CastLike", "quantization", macs=output_size, min_opset=15))
