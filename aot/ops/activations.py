"""Elementwise maps of one input: activations (fusable into their producer's kernel) and other
unary math. Each op's C form and numpy form sit side by side; tests/test_ops_table.py checks that
they agree on the edge values."""
from __future__ import annotations

import math

import numpy as np

from ..codegen.cformat import c_float, c_int
from ..ir import Graph, Node
from .common import output_size, scalar_constant
from .ctyping import ALL, FLOATS, NUMERIC, SIGNED, UNSIGNED, c_real, c_type, cmath, unsigned_of
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


def _clip_typed(expr: str, at: dict, dt: str) -> str:
    """Clip of any numeric dtype as ONNX Runtime computes it, min(max(x, lo), hi): with lo > hi every
    element becomes hi; a NaN passes through (both comparisons are false)."""
    if dt == "float32":
        return _clip_c(expr, at)
    if dt in FLOATS:
        lo, hi = (c_real(at[k], dt) if k in at else None for k in ("min", "max"))
    else:
        info = np.iinfo(dt)  # float bounds beyond the dtype's range clamp nothing there
        lo, hi = (f"({c_type(dt)}){c_int(min(max(at[k], info.min), info.max))}" if k in at else None
                  for k in ("min", "max"))
    low = f"({expr} < {lo} ? {lo} : {expr})" if lo is not None else f"({expr})"
    return f"({low} > {hi} ? {hi} : {low})" if hi is not None else low


def _float_attrs(**defaults: float):
    return lambda graph, node: {k: float(node.attrs.get(k, v)) for k, v in defaults.items()}


def _f32(fn):
    """numpy form computed in the input's dtype (float32 stays float32)."""
    return lambda y, at: np.asarray(fn(y, at)).astype(y.dtype)


def _typed(typed, numpy, dtypes: tuple[str, ...] = FLOATS, **options) -> UnaryForm:
    """A map with a C form per dtype; its float32 form is the one fused into producers."""
    return UnaryForm(c=lambda e, at: typed(e, at, "float32"), numpy=numpy, dtypes=dtypes, typed=typed, **options)


def _libm(name: str, fn) -> UnaryForm:
    """A <math.h> function of float32 (expf) or float64 (exp)."""
    return _typed(lambda e, at, dt: f"{cmath(name, dt)}({e})", _f32(lambda y, at: fn(y)))


def _abs(e: str, at: dict, dt: str) -> str:
    if dt in FLOATS:
        return f"{cmath('fabs', dt)}({e})"
    if dt in UNSIGNED:
        return e
    u = unsigned_of(dt)  # |INT_MIN| wraps to INT_MIN, as in ONNX Runtime: negate in the unsigned type
    return f"({c_type(dt)})({e} < 0 ? ({u})0 - ({u}){e} : ({u}){e})"


def _neg(e: str, at: dict, dt: str) -> str:
    if dt in FLOATS:
        return f"(-({e}))"
    u = unsigned_of(dt)
    return f"({c_type(dt)})(({u})0 - ({u}){e})"


def _sign(e: str, at: dict, dt: str) -> str:
    if dt in FLOATS:  # 0 and -0 give +0, NaN stays NaN (ONNX Runtime)
        one, zero = c_real(1.0, dt), c_real(0.0, dt)
        return f"({e} > 0 ? {one} : ({e} < 0 ? -{one} : ({e} == 0 ? {zero} : {e})))"
    if dt in UNSIGNED:
        return f"({c_type(dt)})({e} > 0)"
    return f"({c_type(dt)})(({e} > 0) - ({e} < 0))"


def _gelu(e: str, at: dict, dt: str) -> str:
    if at["approximate"] == "tanh":
        return f"aot_gelu_tanh_f({e})"
    # erff is not a runtime helper: boards without a libm declare only the functions kernels use
    return f"(0.5f * ({e}) * (1.0f + erff(({e}) * 0.707106781f)))"


def _gelu_numpy(y: np.ndarray, at: dict) -> np.ndarray:
    x = y.astype(np.float64)
    if at["approximate"] == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    from math import erf
    return 0.5 * x * (1 + np.vectorize(erf, otypes=[np.float64])(x / np.sqrt(2)))


def _gelu_attrs(graph: Graph, node: Node) -> dict:
    return {"approximate": node.attrs.get("approximate", "none")}


def _softplus_numpy(y: np.ndarray) -> np.ndarray:
    return np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y)))


def _f(fn):
    """A float32 runtime helper aot_<fn>_f(x, attrs...) with the attributes in declaration order."""
    return lambda e, at: f"aot_{fn}_f({', '.join([e] + [c_float(v) for v in at.values()])})"


ACTIVATION_FORMS: dict[str, UnaryForm] = {
    "Relu": UnaryForm(c=lambda e, at: f"aot_relu_f({e})", numpy=_f32(lambda y, at: np.maximum(y, 0)),
                      fusable=True, int8_range=lambda at: (0.0, math.inf)),
    "Clip": UnaryForm(c=_clip_c, numpy=_f32(lambda y, at: np.minimum(np.maximum(y, at.get("min", -np.inf)),
                                                                         at.get("max", np.inf))),
                      attrs=_clip_attrs, fusable=True, dtypes=NUMERIC, typed=_clip_typed,
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
    # -- unary math: float32 and float64 (the libm function of each); Abs, Neg and Sign also on integers,
    # which wrap around as in ONNX Runtime (-INT_MIN == INT_MIN)
    "Exp": _libm("exp", np.exp),
    "Log": _libm("log", np.log),
    "Sqrt": _libm("sqrt", np.sqrt),
    "Sin": _libm("sin", np.sin),
    "Cos": _libm("cos", np.cos),
    "Tan": _libm("tan", np.tan),
    "Asin": _libm("asin", np.arcsin),
    "Acos": _libm("acos", np.arccos),
    "Atan": _libm("atan", np.arctan),
    "Sinh": _libm("sinh", np.sinh),
    "Cosh": _libm("cosh", np.cosh),
    "Asinh": _libm("asinh", np.arcsinh),
    "Acosh": _libm("acosh", np.arccosh),
    "Atanh": _libm("atanh", np.arctanh),
    "Erf": _libm("erf", lambda y: np.vectorize(math.erf, otypes=[np.float64])(y.astype(np.float64))),
    "Floor": _libm("floor", np.floor),
    "Ceil": _libm("ceil", np.ceil),
    # half to even: nearbyint rounds in the default (to nearest, ties to even) mode without raising inexact
    "Round": _libm("nearbyint", np.round),
    "Reciprocal": _typed(lambda e, at, dt: f"({c_real(1.0, dt)} / ({e}))", _f32(lambda y, at: y.dtype.type(1) / y)),
    "Abs": _typed(_abs, _f32(lambda y, at: np.abs(y)), NUMERIC),
    "Neg": _typed(_neg, _f32(lambda y, at: -y), FLOATS + SIGNED),
    "Sign": _typed(_sign, _f32(lambda y, at: np.sign(y)), NUMERIC),
    # -- float32 activations of ONNX (fusable into the producing kernel)
    "Elu": UnaryForm(c=_f("elu"), numpy=_f32(lambda y, at: np.where(y >= 0, y, at["alpha"] * np.expm1(y))),
                     attrs=_float_attrs(alpha=1.0), fusable=True),
    "Selu": UnaryForm(c=_f("selu"),
                      numpy=_f32(lambda y, at: np.where(y > 0, at["gamma"] * y, at["gamma"] * at["alpha"] * np.expm1(y))),
                      attrs=_float_attrs(alpha=1.67326319217681884765625, gamma=1.05070102214813232421875),
                      fusable=True),
    "Celu": UnaryForm(c=_f("celu"), numpy=_f32(lambda y, at: np.where(y > 0, y, at["alpha"] * np.expm1(y / at["alpha"]))),
                      attrs=_float_attrs(alpha=1.0), fusable=True),
    "ThresholdedRelu": UnaryForm(c=_f("thresholded_relu"), numpy=_f32(lambda y, at: np.where(y > at["alpha"], y, 0)),
                                 attrs=_float_attrs(alpha=1.0), fusable=True),
    "Shrink": UnaryForm(c=_f("shrink"),
                        numpy=_f32(lambda y, at: np.where(y < -at["lambd"], y + at["bias"],
                                                          np.where(y > at["lambd"], y - at["bias"], 0))),
                        attrs=_float_attrs(lambd=0.5, bias=0.0)),
    "Mish": UnaryForm(c=lambda e, at: f"aot_mish_f({e})", numpy=_f32(lambda y, at: y * np.tanh(_softplus_numpy(y))),
                      fusable=True),
    "Gelu": _typed(_gelu, _f32(_gelu_numpy), ("float32",), attrs=_gelu_attrs, fusable=True),
    "Softsign": UnaryForm(c=lambda e, at: f"aot_softsign_f({e})", numpy=_f32(lambda y, at: y / (1 + np.abs(y)))),
    # log(1 + e^x) without overflow: max(x, 0) + log(1 + e^-|x|).
    "Softplus": UnaryForm(c=lambda e, at: f"aot_softplus_f({e})",
                          numpy=_f32(lambda y, at: np.maximum(y, 0) + np.log1p(np.exp(-np.abs(y))))),
}
IDENTITY = UnaryForm(c=lambda e, at: e, numpy=lambda y, at: y, dtypes=ALL, typed=lambda e, at, dt: e)

# In int8, the maps that clamp (Relu, Clip) become the clamp bounds of a Requantize; every other map
# becomes a lookup table of its 256 possible inputs.
CLAMPING = Int8Form("activation", activation_inputs=(0,), lowers_to="Requantize")
LOOKUP = Int8Form("lookup", activation_inputs=(0,))

# The ops newer than opset 13 (the ONNX export declares at least this opset where they appear).
MIN_OPSET = {"HardSwish": 14, "Mish": 18, "Gelu": 20}


def _validate_gelu(graph: Graph, node: Node) -> str | None:
    approximate = node.attrs.get("approximate", "none")
    return None if approximate in ("none", "tanh") else f"approximate '{approximate}' is not 'none' or 'tanh'"


for _op, _form in ACTIVATION_FORMS.items():
    register_op(OpSpec(_op, "activations", layout="agnostic", unary=_form, macs=output_size,
                       int8=CLAMPING if _form.int8_range else LOOKUP, min_opset=MIN_OPSET.get(_op),
                       validate=_validate_gelu if _op == "Gelu" else None))
# A quantized Identity moves int8 values (a Requantize follows where the file's scales differ).
register_op(OpSpec("Identity", "activations", layout="agnostic", unary=IDENTITY, pass_through=True,
                   int8=Int8Form("data_movement", activation_inputs=(0,))))
# Dropout is the identity at inference (its training mode is refused by the kernel's check).
register_op(OpSpec("Dropout", "activations", layout="agnostic", unary=IDENTITY, pass_through=True))
