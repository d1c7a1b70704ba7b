"""Elementwise ops of two inputs with broadcasting."""
from __future__ import annotations

from .common import output_size
from .registry import register_op
from .spec import Int8Form, OpSpec

# Both operands are int8 activations with their own scales; the output has its own.
TWO_ACTIVATIONS = Int8Form("rescale", activation_inputs=(0, 1))

register_op(OpSpec("Add", "elementwise", layout="agnostic", data_inputs=2, fuses_activation=True,
                   int8=TWO_ACTIVATIONS, macs=output_size))
register_op(OpSpec("Mul", "elementwise", layout="agnostic", data_inputs=2, int8=TWO_ACTIVATIONS, macs=output_size))
register_op(OpSpec("Sub", "elementwise", layout="agnostic", data_inputs=2, macs=output_size))
register_op(OpSpec("Div", "elementwise", layout="agnostic", data_inputs=2, macs=output_size))
# PRelu's slope broadcasts along named axes: its output keeps the layout, Transposes are not pushed through.
register_op(OpSpec("PRelu", "elementwise", layout="preserving", macs=output_size))
