"""C literals and small formatting helpers, deterministic to the byte."""
from __future__ import annotations

import math

import numpy as np


def c_float(value: float) -> str:
    """A float32 literal that round-trips exactly (9 significant digits)."""
    v = float(np.float32(value))
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "(-INFINITY)"
    text = f"{v:.9g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + "f"


def c_double(value: float) -> str:
    """A double literal that round-trips exactly (17 significant digits)."""
    v = float(value)
    if math.isnan(v):
        return "((double)NAN)"
    if math.isinf(v):
        return "((double)INFINITY)" if v > 0 else "(-(double)INFINITY)"
    text = f"{v:.17g}"
    if not any(c in text for c in ".e"):
        text += ".0"
    return text


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
