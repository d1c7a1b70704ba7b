"""Elementwise maps of one input: activations (fusable into their producer's kernel) and other
unary math. Each op's C form and numpy form sit side by side; tests/test_ops_table.py checks that
they agree on the edge values."""
from __future__ import annotations

import math

import numpy as np

from ..codegen.cformat import c_float
from ..ir import Graph, Node
from .common import output_size, scalar_constant
from .registry import register_op
from .spec import Int8Form, OpSpec, UnaryForm


def _clip_attrs(graph: Graph, node: Node) -> dict | None:
    bounds = {}
    for key, name in zip(("min", "max"), node.inputs[1:3]):
        if not name:
            continue
        value = scalar_constant(graph, name)
        if value is None:
            return None  # bounds computed at run time: no fusable form
        bounds[key] = value
    return bounds


def _clip_c(expr: str, at: dict) -> str:
    lo = c_float(at["min"]) if "min" in at else "(-INFINITY)"
    hi = c_float(at["max"]) if "max" in at else "INFINITY"
    return f"aot_clamp_f({expr}, {lo}, {hi})"


def _float_attrs(**defaults: float):
    return lambda graph, node: {k: float(node.attrs.get(k, v)) for k, v in defaults.items()}


def _f32(fn):
    """numpy form computed in the input's dtype (float32 stays float32)."""
    return lambda y, at: np.asarray(fn(y, at)).astype(y.dtype)


ACTIVATION_FORMS: dict[str, UnaryForm] = {
    "Relu": UnaryForm(c=lambda e, at: f"aot_relu_f({e})", numpy=_f32(lambda y, at: np.maximum(y, 0)),
                      fusable=True, int8_range=lambda at: (0.0, math.inf)),
    "Clip": UnaryForm(c=_clip_c, numpy=_f32(lambda y, at: np.clip(y, at.get("min", -np.inf), at.get("max", np.inf))),
                      attrs=_clip_attrs, fusable=True,
                      int8_range=lambda at: (at.get("min", -math.inf), at.get("max", math.inf))),
    "LeakyRelu": UnaryForm(c=lambda e, at: f"aot_leaky_relu_f({e}, {c_float(at['alpha'])})",
                           numpy=_f32(lambda y, at: np.where(y >= 0, y, y * np.float32(at["alpha"]))),
                           attrs=_float_attrs(alpha=0.01), fusable=True),
    "Sigmoid": UnaryForm(c=lambda e, at: f"aot_sigmoid_f({e})", numpy=_f32(lambda y, at: 1 / (1 + np.exp(-y))),
                         fusable=True),
    "Tanh": UnaryForm(c=lambda e, at: f"tanhf({e})", numpy=_f32(lambda y, at: np.tanh(y)), fusable=True),
    "HardSigmoid": UnaryForm(c=lambda e, at: f"aot_hard_sigmoid_f({e}, {c_float(at['alpha'])}, {c_float(at['beta'])})",
                             numpy=_f32(lambda y, at: np.clip(y * at["alpha"] + at["beta"], 0, 1)),
                             attrs=_float_attrs(alpha=0.2, beta=0.5), fusable=True),
    "HardSwish": UnaryForm(c=lambda e, at: f"aot_hard_swish_f({e})",
                           numpy=_f32(lambda y, at: y * np.clip(y / 6 + 0.5, 0, 1)), fusable=True),
    "Exp": UnaryForm(c=lambda e, at: f"expf({e})", numpy=_f32(lambda y, at: np.exp(y))),
    "Sqrt": UnaryForm(c=lambda e, at: f"sqrtf({e})", numpy=_f32(lambda y, at: np.sqrt(y))),
    "Abs": UnaryForm(c=lambda e, at: f"fabsf({e})", numpy=_f32(lambda y, at: np.abs(y))),
    "Neg": UnaryForm(c=lambda e, at: f"(-({e}))", numpy=_f32(lambda y, at: -y)),
    "Floor": UnaryForm(c=lambda e, at: f"floorf({e})", numpy=_f32(lambda y, at: np.floor(y))),
    "Ceil": UnaryForm(c=lambda e, at: f"ceilf({e})", numpy=_f32(lambda y, at: np.ceil(y))),
    "Reciprocal": UnaryForm(c=lambda e, at: f"(1.0f / ({e}))", numpy=_f32(lambda y, at: np.float32(1) / y)),
    "Softsign": UnaryForm(c=lambda e, at: f"aot_softsign_f({e})", numpy=_f32(lambda y, at: y / (1 + np.abs(y)))),
    # log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
    "Softplus": UnaryForm(c=lambda e, at: f"aot_softplus_f({e})",
                          numpy=_f32(lambda y, at: np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y))))),
}
IDENTITY = UnaryForm(c=lambda e, at: e, numpy=lambda y, at: y)

# In int8, the maps that clamp (Relu, Clip) become the clamp bounds of a Requantize; every other map
# becomes a lookup table of its 256 possible inputs.
CLAMPING = Int8Form("activation", activation_inputs=(0,), lowers_to="Requantize")
LOOKUP = Int8Form("lookup", activation_inputs=(0,))

for _op, _form in ACTIVATION_FORMS.items():
    register_op(OpSpec(_op, "activations", layout="agnostic", unary=_form, macs=output_size,
                       int8=CLAMPING if _form.int8_range else LOOKUP, min_opset=14 if _op == "HardSwish" else None))
# A quantized Identity moves int8 values (a Requantize follows where the file's scales differ).
register_op(OpSpec("Identity", "activations", layout="agnostic", unary=IDENTITY, pass_through=True,
                   int8=Int8Form("data_movement", activation_inputs=(0,))))
# Dropout is the identity at inference (its training mode is refused by the kernel's check).
register_op(OpSpec("Dropout", "activations", layout="agnostic", unary=IDENTITY, pass_through=True))
