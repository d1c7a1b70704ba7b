"""The C spelling of the float types kernels compute in (float32 as float, float64 as double)."""
from __future__ import annotations

from ....codegen.cformat import c_double, c_float

FLOATS = ("float32", "float64")


def float_math(dtype: str) -> dict:
    """``T`` the C type, ``lit(v)`` a literal of it, ``m`` the math.h suffix (sqrtf or sqrt)."""
    if dtype == "float32":
        return {"T": "float", "lit": c_float, "m": "f"}
    return {"T": "double", "lit": c_double, "m": ""}
