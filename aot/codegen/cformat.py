"""C literals and small formatting helpers, deterministic to the byte."""
from __future__ import annotations

import math

import numpy as np

from ..ir.formats import FORMATS, to_storage


def _c_literal(v: float, digits: int, suffix: str, specials: tuple[str, str, str]) -> str:
    """A C floating literal of ``v`` with ``digits`` significant digits (enough to round-trip);
    ``specials``: the spellings of NaN, +inf and -inf."""
    nan, pos_inf, neg_inf = specials
    if math.isnan(v):
        return nan
    if math.isinf(v):
        return pos_inf if v > 0 else neg_inf
    text = f"{v:.{digits}g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + suffix


def c_float(value: float) -> str:
    """A float32 literal that round-trips exactly (9 significant digits)."""
    return _c_literal(float(np.float32(value)), 9, "f", ("NAN", "INFINITY", "(-INFINITY)"))


def c_double(value: float) -> str:
    """A double literal that round-trips exactly (17 significant digits)."""
    return _c_literal(float(value), 17, "", ("((double)NAN)", "((double)INFINITY)", "(-(double)INFINITY)"))


def c_int(value: int) -> str:
    value = int(value)
    if value >= 2 ** 63:  # uint64 beyond INT64_MAX: an unsigned constant, or compilers warn
        return f"{value}ULL"
    if value == -(2 ** 31):
        return "(-2147483647 - 1)"
    if value == -(2 ** 63):
        return "(-9223372036854775807LL - 1)"
    if abs(value) >= 2 ** 31:
        return f"{value}LL"
    return str(value)


def c_array_body(data: np.ndarray, per_line: int = 8) -> str:
    """Elements of ``data`` (flattened, row-major) as the inside of a C initializer."""
    flat = np.asarray(data).reshape(-1)
    if flat.dtype.name in FORMATS:  # a narrow format (a constant graph output): its storage bits
        flat = to_storage(flat)
    fmt = (c_double if flat.dtype == np.float64 else c_float) if flat.dtype.kind == "f" else c_int
    items = [fmt(x) for x in flat.tolist()] or ["0"]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n  ".join(lines)


def strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out, acc = [], 1
    for d in reversed(shape):
        out.append(acc)
        acc *= d
    return tuple(reversed(out))
