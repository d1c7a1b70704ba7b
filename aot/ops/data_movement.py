"""Ops that move or select values without arithmetic."""
from __future__ import annotations

from ..ir import Graph, Node
from .registry import register_op
from .spec import Int8Form, OpSpec

MOVES_INT8 = Int8Form("data_movement", activation_inputs=(0,))
# Concat: every input is an int8 activation (requantized to the output's scale where it differs).
# PTQ does not choose it (its inputs may come from float layers); QDQ files that quantize it import.
CONCAT_INT8 = Int8Form("data_movement", quantizable=lambda graph, node: False)
# A Pad on int8 takes its pad value quantized with the output's scale; PTQ leaves standalone Pads in
# float (fuse_pad folds the usual ones into the next Conv first).
PAD_INT8 = Int8Form("pad", quantizable=lambda graph, node: False, activation_inputs=(0,))


def _no_macs(graph: Graph, node: Node) -> int:
    return 0


for _op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"):
    register_op(OpSpec(_op, "data_movement", int8=MOVES_INT8, macs=_no_macs))
register_op(OpSpec("Concat", "data_movement", int8=CONCAT_INT8, macs=_no_macs))
register_op(OpSpec("Pad", "data_movement", layout="preserving", int8=PAD_INT8, macs=_no_macs))
for _op in ("Slice", "Split", "Gather"):
    register_op(OpSpec(_op, "data_movement", macs=_no_macs))
