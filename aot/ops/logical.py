"""Comparisons, logic, bit operations and selection: Equal, Less(OrEqual), Greater(OrEqual) (bool
outputs), And, Or, Xor, Not (bool), BitwiseAnd/Or/Xor/Not, BitShift (integers), Where (a bool condition
choosing between two broadcast operands), and the float predicates IsNaN and IsInf. bool is uint8_t
holding 0 or 1 in C."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .common import output_size
from .ctyping import ALL, FLOATS, INTS, NUMERIC, UNSIGNED, bits, c_type, wide_unsigned
from .registry import register_op
from .spec import Attrs, BroadcastForm, OpSpec, UnaryForm


def _compare(symbol: str, numpy_fn, dtypes: tuple[str, ...] = NUMERIC) -> BroadcastForm:
    # A comparison with NaN is false in C and in ONNX Runtime (NaN == NaN too).
    return BroadcastForm(c=lambda ops, at, dts: f"({ops[0]} {symbol} {ops[1]})",
                         numpy=lambda arrays, at: numpy_fn(*arrays), dtypes=dtypes, output="bool")


def _logic(c_expr: str, numpy_fn) -> BroadcastForm:
    return BroadcastForm(c=lambda ops, at, dts: c_expr.format(a=ops[0], b=ops[1]),
                         numpy=lambda arrays, at: numpy_fn(*arrays), dtypes=("bool",), output="bool")


def _bitwise(symbol: str, numpy_fn) -> BroadcastForm:
    return BroadcastForm(c=lambda ops, at, dts: f"({c_type(dts[0])})({ops[0]} {symbol} {ops[1]})",
                         numpy=lambda arrays, at: numpy_fn(*arrays), dtypes=INTS)


def _shift(ops: list[str], at: Attrs, dts: list[str]) -> str:
    # A count of the type's width or more is undefined in C; ONNX Runtime gives 0 there (x86 and numpy
    # would not agree with each other), and so does this.
    a, b = ops
    t, n = c_type(dts[0]), bits(dts[0])
    moved = f"({wide_unsigned(dts[0])}){a} << {b}" if at["left"] else f"{a} >> {b}"
    return f"({b} >= {n} ? ({t})0 : ({t})({moved}))"


def _shift_numpy(arrays: list[np.ndarray], at: Attrs) -> np.ndarray:
    a, b = arrays
    n = a.dtype.itemsize * 8
    safe = np.where(b >= n, 0, b).astype(a.dtype)
    moved = np.left_shift(a, safe) if at["left"] else np.right_shift(a, safe)
    return np.where(b >= n, 0, moved).astype(a.dtype)


def _validate_shift(graph: Graph, node: Node) -> str | None:
    direction = node.attrs.get("direction")
    return None if direction in ("LEFT", "RIGHT") else f"direction {direction!r} is not 'LEFT' or 'RIGHT'"


def _where_operands(dts: list[str]) -> str | None:
    if dts[0] != "bool" or dts[1] != dts[2] or dts[1] not in ALL:
        return f"Where with operands {', '.join(dts)}"
    return None


BROADCAST_FORMS: dict[str, BroadcastForm] = {
    "Equal": _compare("==", np.equal, ALL),
    "Less": _compare("<", np.less),
    "LessOrEqual": _compare("<=", np.less_equal),
    "Greater": _compare(">", np.greater),
    "GreaterOrEqual": _compare(">=", np.greater_equal),
    "And": _logic("({a} && {b})", np.logical_and),
    "Or": _logic("({a} || {b})", np.logical_or),
    "Xor": _logic("(!{a} != !{b})", np.logical_xor),
    "BitwiseAnd": _bitwise("&", np.bitwise_and),
    "BitwiseOr": _bitwise("|", np.bitwise_or),
    "BitwiseXor": _bitwise("^", np.bitwise_xor),
    "BitShift": BroadcastForm(c=_shift, numpy=_shift_numpy, dtypes=UNSIGNED,
                              attrs=lambda g, n: {"left": n.attrs.get("direction") == "LEFT"}),
    "Where": BroadcastForm(c=lambda ops, at, dts: f"({ops[0]} ? {ops[1]} : {ops[2]})", dtypes=("bool",),
                           numpy=lambda arrays, at: np.where(*arrays), operand_dtypes=_where_operands),
}


def _is_inf(e: str, at: Attrs, dt: str) -> str:
    tests = ([f"{e} == INFINITY"] if at["detect_positive"] else []) + \
        ([f"{e} == -INFINITY"] if at["detect_negative"] else [])
    return f"({' || '.join(tests)})" if tests else f"((void)({e}), 0)"


def _is_inf_numpy(y: np.ndarray, at: Attrs) -> np.ndarray:
    return (np.isposinf(y) & bool(at["detect_positive"])) | (np.isneginf(y) & bool(at["detect_negative"]))


UNARY_FORMS: dict[str, UnaryForm] = {
    "Not": UnaryForm(c=lambda e, at: f"(!{e})", numpy=lambda y, at: np.logical_not(y), dtypes=("bool",),
                     typed=lambda e, at, dt: f"(!{e})"),
    "BitwiseNot": UnaryForm(c=lambda e, at: f"(~{e})", numpy=lambda y, at: np.invert(y), dtypes=INTS,
                            typed=lambda e, at, dt: f"({c_type(dt)})~{e}"),
    "IsNaN": UnaryForm(c=lambda e, at: f"({e} != {e})", numpy=lambda y, at: np.isnan(y), dtypes=FLOATS,
                       typed=lambda e, at, dt: f"({e} != {e})", output="bool"),
    "IsInf": UnaryForm(c=lambda e, at: _is_inf(e, at, "float32"), numpy=_is_inf_numpy, dtypes=FLOATS, typed=_is_inf,
                       attrs=lambda g, n: {"detect_positive": int(n.attrs.get("detect_positive", 1)),
                                           "detect_negative": int(n.attrs.get("detect_negative", 1))},
                       output="bool"),
}

MIN_OPSET = {"BitwiseAnd": 18, "BitwiseOr": 18, "BitwiseXor": 18, "BitwiseNot": 18}

for _op, _form in BROADCAST_FORMS.items():
    register_op(OpSpec(_op, "logical", layout="agnostic", data_inputs=3 if _op == "Where" else 2, broadcast=_form,
                       macs=output_size, min_opset=MIN_OPSET.get(_op),
                       validate=_validate_shift if _op == "BitShift" else None))
for _op, _uform in UNARY_FORMS.items():
    register_op(OpSpec(_op, "logical", layout="agnostic", unary=_uform, macs=output_size, min_opset=MIN_OPSET.get(_op)))
