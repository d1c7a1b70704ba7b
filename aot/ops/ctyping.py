"""Dtype groups and the C spellings the typed elementwise forms of the op table share.

Integer arithmetic that may overflow is computed in an unsigned type (wrap-around is defined there, as
ONNX Runtime's results are) and converted back; narrow types go through ``uint32_t`` so that the usual
promotion to (signed) int cannot overflow either.
"""
from __future__ import annotations

from ..ir.dtypes import c_type

FLOATS = ("float32", "float64")
SIGNED = ("int8", "int16", "int32", "int64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
INTS = SIGNED + UNSIGNED
NUMERIC = FLOATS + INTS
ALL = NUMERIC + ("bool",)


def bits(dtype: str) -> int:
    return {"int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int32": 32, "uint32": 32, "int64": 64,
            "uint64": 64, "bool": 8, "float32": 32, "float64": 64}[dtype]


def unsigned_of(dtype: str) -> str:
    """The unsigned C type of the same width (for two's-complement wrap-around)."""
    return f"uint{bits(dtype)}_t"


def wide_unsigned(dtype: str) -> str:
    """The unsigned C type integer arithmetic of ``dtype`` runs in without promotion to signed int."""
    return "uint64_t" if bits(dtype) == 64 else "uint32_t"


def suffix(dtype: str) -> str:
    """The runtime helpers' suffix for an integer dtype: s8, u16, ..."""
    return ("u" if dtype.startswith("u") else "s") + str(bits(dtype))


def cmath(name: str, dtype: str) -> str:
    """The <math.h> function ``name`` for a float dtype: expf for float32, exp for float64."""
    return name + ("f" if dtype == "float32" else "")


def c_real(value: float, dtype: str) -> str:
    """A float literal of ``dtype`` (float32: 9 significant digits and f; float64: 17 digits)."""
    from ..codegen.cformat import c_double, c_float
    return c_float(value) if dtype == "float32" else c_double(value)


def wrap(expr: str, dtype: str) -> str:
    """``expr`` (a C expression in wide_unsigned(dtype)) converted back to ``dtype``."""
    return f"({c_type(dtype)})({expr})"


__all__ = ["FLOATS", "SIGNED", "UNSIGNED", "INTS", "NUMERIC", "ALL", "bits", "unsigned_of", "wide_unsigned",
           "suffix", "cmath", "c_real", "wrap", "c_type"]
