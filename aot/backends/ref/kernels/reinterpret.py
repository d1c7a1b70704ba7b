"""BitCast: a byte copy between tensors of the same width (little-endian targets, as ONNX defines the
bytes; every board aot targets is little-endian)."""
from __future__ import annotations

from ....ops.ctyping import ALL
from .. import REF

REF.kernel("BitCast", template="ref/misc/bitcast.c.j2", dtypes=ALL, plain=True, input_names=("X",),
           output_names=("Y",))(lambda node, graph: {})
