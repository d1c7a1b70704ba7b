"""Elementwise ops of several inputs with numpy broadcasting: arithmetic (Add, Sub, Mul, Div, Pow, Mod,
PRelu) and the variadic Max, Min, Sum, Mean. Each op's C form (per operand dtype) and numpy form sit
side by side in its ``BroadcastForm``.

Integers follow ONNX Runtime: Add, Sub and Mul wrap around (computed in an unsigned type, where C
defines overflow), Div truncates toward zero; what ONNX Runtime leaves to a hardware trap (x / 0,
INT_MIN / -1) has a defined result here (see the runtime's aot_div_*).
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import output_size
from .ctyping import FLOATS, NUMERIC, c_real, cmath, suffix, wide_unsigned, wrap
from .registry import register_op
from .spec import Attrs, BroadcastForm, Int8Form, OpSpec

# Both operands are int8 activations with their own scales; the output has its own.
TWO_ACTIVATIONS = Int8Form("rescale", activation_inputs=(0, 1))


def _arith(symbol: str, numpy_fn) -> BroadcastForm:
    """a <symbol> b: plain in float, modulo 2^bits in integers."""
    def c(ops: list[str], at: Attrs, dts: list[str]) -> str:
        a, b = ops
        if dts[0] in FLOATS:
            return f"{a} {symbol} {b}"
        w = wide_unsigned(dts[0])
        return wrap(f"({w}){a} {symbol} ({w}){b}", dts[0])

    def numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
        with np.errstate(over="ignore"):
            return numpy_fn(*arrays).astype(arrays[0].dtype)
    return BroadcastForm(c=c, numpy=numpy, dtypes=NUMERIC)


def _div(ops: list[str], at: Attrs, dts: list[str]) -> str:
    a, b = ops
    return f"{a} / {b}" if dts[0] in FLOATS else f"aot_div_{suffix(dts[0])}({a}, {b})"


def _div_numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
    a, b = arrays
    if a.dtype.kind == "f":
        return a / b
    # exact in Python integers (|INT64_MIN| does not fit int64), truncated toward zero, then wrapped
    x, y = np.broadcast_arrays(a.astype(object), b.astype(object))
    q = [0 if d == 0 else (abs(n) // abs(d)) * (1 if (n < 0) == (d < 0) else -1) for n, d in zip(x.ravel(), y.ravel())]
    return _wrapped(q, a.dtype).reshape(x.shape)


def _wrapped(values: list[int], dtype: np.dtype) -> np.ndarray:
    """Python integers modulo 2^bits as ``dtype`` (two's complement)."""
    bits = np.dtype(dtype).itemsize * 8
    unsigned = np.array([v % (1 << bits) for v in values], dtype=f"uint{bits}")
    return unsigned.view(dtype)


# -- Pow: a float or integer base, an exponent of any numeric type ---------------------------------
POW_BASES = ("float32", "float64", "int32", "int64")


def _pow(ops: list[str], at: Attrs, dts: list[str]) -> str:
    a, b = ops
    if dts[0] == "float32":
        return f"powf({a}, (float){b})"
    if dts[0] == "float64":
        return f"pow({a}, (double){b})"
    return f"aot_double_to_{suffix(dts[0])}(pow((double){a}, (double){b}))"


def _pow_operands(dts: list[str]) -> str | None:
    if dts[0] not in POW_BASES or dts[1] not in NUMERIC:
        return f"Pow of a {dts[0]} base with a {dts[1]} exponent"
    return None


def _pow_numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
    a, b = arrays
    with np.errstate(all="ignore"):
        return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)


# -- Mod: fmod=0 takes the divisor's sign (integers only), fmod=1 the dividend's (C's fmod and %) --------
def _mod(ops: list[str], at: Attrs, dts: list[str]) -> str:
    a, b = ops
    if dts[0] in FLOATS:
        return f"{cmath('fmod', dts[0])}({a}, {b})"
    return f"aot_{'fmod' if at['fmod'] else 'mod'}_{suffix(dts[0])}({a}, {b})"


def _mod_numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
    a, b = arrays
    if a.dtype.kind == "f":
        with np.errstate(all="ignore"):
            return np.fmod(a, b)
    safe = np.where(b == 0, 1, b)
    r = np.fmod(a, safe) if at["fmod"] else np.mod(a, safe)
    return np.where(b == 0, 0, r).astype(a.dtype)


def _validate_mod(graph: Graph, node: Node) -> str | None:
    fmod = int(node.attrs.get("fmod", 0))
    if fmod not in (0, 1):
        return f"fmod {fmod} is not 0 or 1"
    if fmod == 0 and graph.tensors[node.inputs[0]].dtype.startswith("float"):
        return "fmod=0 on floating-point operands (ONNX requires fmod=1 for them)"
    return None


# -- variadic Max, Min (NaN wins, as in ONNX Runtime; on a tie the first operand), Sum, Mean --------
def _pick(greater: bool):
    def c(ops: list[str], at: Attrs, dts: list[str]) -> str:
        a, b = ops
        cmp = f"{b} {'>' if greater else '<'} {a}"
        return f"({cmp} || {b} != {b} ? {b} : {a})" if dts[0] in FLOATS else f"({cmp} ? {b} : {a})"
    return c


def _fold(fn):
    def numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
        out = arrays[0]
        for x in arrays[1:]:
            out = fn(out, x)
        return np.asarray(out).astype(arrays[0].dtype)
    return numpy


def _mean_finish(expr: str, count: int, dtype: str) -> str:
    return f"{expr} / {c_real(float(count), dtype)}"


BROADCAST_FORMS: dict[str, BroadcastForm] = {
    "Add": _arith("+", np.add),
    "Sub": _arith("-", np.subtract),
    "Mul": _arith("*", np.multiply),
    "Div": BroadcastForm(c=_div, numpy=_div_numpy, dtypes=NUMERIC),
    "PRelu": BroadcastForm(c=lambda ops, at, dts: f"({ops[0]} < 0.0f ? {ops[0]} * {ops[1]} : {ops[0]})",
                           numpy=lambda arrays, at: np.where(arrays[0] < 0, arrays[0] * arrays[1], arrays[0])),
    "Pow": BroadcastForm(c=_pow, numpy=_pow_numpy, dtypes=POW_BASES, operand_dtypes=_pow_operands),
    "Mod": BroadcastForm(c=_mod, numpy=_mod_numpy, dtypes=NUMERIC, attrs=lambda g, n: {"fmod": int(n.attrs.get("fmod", 0))}),
    "Max": BroadcastForm(c=_pick(True), numpy=_fold(np.maximum), dtypes=NUMERIC, variadic=True),
    "Min": BroadcastForm(c=_pick(False), numpy=_fold(np.minimum), dtypes=NUMERIC, variadic=True),
    "Sum": BroadcastForm(c=lambda ops, at, dts: f"{ops[0]} + {ops[1]}", numpy=_fold(np.add), dtypes=FLOATS,
                         variadic=True),
    "Mean": BroadcastForm(c=lambda ops, at, dts: f"{ops[0]} + {ops[1]}", dtypes=FLOATS, variadic=True,
                          numpy=lambda arrays, at: (_fold(np.add)(arrays, at) / len(arrays)).astype(arrays[0].dtype),
                          finish=_mean_finish),
}

register_op(OpSpec("Add", "elementwise", layout="agnostic", data_inputs=2, fuses_activation=True,
                   broadcast=BROADCAST_FORMS["Add"], int8=TWO_ACTIVATIONS, macs=output_size))
register_op(OpSpec("Mul", "elementwise", layout="agnostic", data_inputs=2, broadcast=BROADCAST_FORMS["Mul"],
                   int8=TWO_ACTIVATIONS, macs=output_size))
for _op in ("Sub", "Div", "Pow"):
    register_op(OpSpec(_op, "elementwise", layout="agnostic", data_inputs=2, broadcast=BROADCAST_FORMS[_op],
                       macs=output_size))
register_op(OpSpec("Mod", "elementwise", layout="agnostic", data_inputs=2, broadcast=BROADCAST_FORMS["Mod"],
                   macs=output_size, validate=_validate_mod))
# PRelu's slope broadcasts along named axes: its output keeps the layout, Transposes are not pushed through.
register_op(OpSpec("PRelu", "elementwise", layout="preserving", broadcast=BROADCAST_FORMS["PRelu"], macs=output_size,
                   int8=Int8Form("rescale", quantizable=lambda g, n: g.const(n.inputs[1]) is not None,
                                 activation_inputs=(0,))))
# Variadic: any number of data operands, so Transposes are not pushed through them.
for _op in ("Max", "Min", "Sum", "Mean"):
    register_op(OpSpec(_op, "elementwise", broadcast=BROADCAST_FORMS[_op], macs=output_size))
