"""Narrow number formats: float16, bfloat16, float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0), float4 (E2M1)
and int4/uint4/int2/uint2.

They are *storage* formats. Inside a compiled graph a tensor of such a format is computed in its wide
twin (float32 for the floats, int8/uint8 for the small integers): every value of the format is exact
there. A Cast to a narrow format rounds the wide value to the format and back, so a model reads exactly
what it would read from a tensor stored in the format. Only graph inputs and outputs keep the format's
bits (the C type ``storage``), decoded and encoded at the graph boundary by runtime_c/aot_formats.h.

This module is the numpy twin of that header (built on ml_dtypes and onnx's reference cast, the oracle
of the ONNX node tests): the importer, the reference paths, the conformance harness and the tests
share it.
"""
from __future__ import annotations

from dataclasses import dataclass

import ml_dtypes
import numpy as np
from onnx import TensorProto


@dataclass(frozen=True)
class Format:
    name: str  # numpy (ml_dtypes) dtype name, the IR dtype of a graph input/output in this format
    elem_type: int  # ONNX TensorProto element type
    wide: str  # dtype the graph computes the format in
    storage: str  # numpy dtype of the C buffer at the graph boundary (one value per element)
    c_suffix: str  # aot_formats.h function suffix: aot_encode_<suffix>, aot_decode_<suffix>

    @property
    def is_float(self) -> bool:
        return self.wide == "float32"

    @property
    def is_float8(self) -> bool:
        """The formats Cast's ``saturate`` attribute applies to."""
        return self.c_suffix in ("e4m3fn", "e4m3fnuz", "e5m2", "e5m2fnuz", "e8m0")


FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("float16", TensorProto.FLOAT16, "float32", "uint16", "f16"),
    Format("bfloat16", TensorProto.BFLOAT16, "float32", "uint16", "bf16"),
    Format("float8_e4m3fn", TensorProto.FLOAT8E4M3FN, "float32", "uint8", "e4m3fn"),
    Format("float8_e4m3fnuz", TensorProto.FLOAT8E4M3FNUZ, "float32", "uint8", "e4m3fnuz"),
    Format("float8_e5m2", TensorProto.FLOAT8E5M2, "float32", "uint8", "e5m2"),
    Format("float8_e5m2fnuz", TensorProto.FLOAT8E5M2FNUZ, "float32", "uint8", "e5m2fnuz"),
    Format("float8_e8m0fnu", TensorProto.FLOAT8E8M0, "float32", "uint8", "e8m0"),
    Format("float4_e2m1fn", TensorProto.FLOAT4E2M1, "float32", "uint8", "e2m1"),
    Format("int4", TensorProto.INT4, "int8", "int8", "s4"),
    Format("uint4", TensorProto.UINT4, "uint8", "uint8", "u4"),
    Format("int2", TensorProto.INT2, "int8", "int8", "s2"),
    Format("uint2", TensorProto.UINT2, "uint8", "uint8", "u2"),
)}
BY_ELEM_TYPE: dict[int, Format] = {f.elem_type: f for f in FORMATS.values()}
ROUND_MODES = ("up", "down", "nearest")  # Cast's round_mode (float8 E8M0 only)


def narrow_format(dtype: str) -> Format | None:
    """The Format of ``dtype`` when it is a narrow format, else None."""
    return FORMATS.get(str(dtype))


def widen(dtype: str) -> str:
    """The dtype a tensor of ``dtype`` is computed in (itself unless it is a narrow format)."""
    fmt = FORMATS.get(str(dtype))
    return fmt.wide if fmt else str(dtype)


def widen_array(values: np.ndarray) -> np.ndarray:
    """An array of a narrow format as its wide twin, exactly; other arrays unchanged."""
    fmt = FORMATS.get(values.dtype.name)
    return values.astype(fmt.wide) if fmt else values


def cast(values: np.ndarray, fmt: Format, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """``values`` converted to ``fmt`` as ONNX Cast does: the onnx reference implementation, except float ->
    int4/int2 out of range (below); an array of the format's numpy dtype."""
    from onnx.reference.ops.op_cast import cast_to
    values = np.asarray(values)
    if not fmt.is_float and values.dtype.kind not in "iub":
        # Float -> int4/int2 is undefined out of range in ONNX, and ml_dtypes changed its answer (0.7 gives
        # 0); the node tests' expected outputs truncate and keep the low bits, as integer casts do.
        wide = values.astype(np.float64)
        finite = np.isfinite(wide) & (np.abs(wide) < 2.0 ** 31)
        values = np.where(finite, np.trunc(np.where(finite, wide, 0)), 0).astype(np.int64)
    with np.errstate(invalid="ignore", over="ignore"):
        return cast_to(values, fmt.elem_type, saturate, round_mode)


def encode(values: np.ndarray, fmt: Format, *, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """The storage bits (``fmt.storage`` dtype) of ``values`` cast to ``fmt``."""
    return to_storage(cast(values, fmt, saturate, round_mode))


def decode(bits: np.ndarray, fmt: Format) -> np.ndarray:
    """Storage bits of ``fmt`` as values of the wide dtype (exact)."""
    return from_storage(bits, fmt).astype(fmt.wide)


def round_to(values: np.ndarray, fmt: Format, *, saturate: bool = True, round_mode: str = "up") -> np.ndarray:
    """What an in-graph Cast to ``fmt`` computes: ``values`` rounded to the format, in its wide dtype."""
    return cast(values, fmt, saturate, round_mode).astype(fmt.wide)


def to_storage(values: np.ndarray) -> np.ndarray:
    """An array of a narrow format (ml_dtypes/numpy dtype) as the C buffer the graph boundary exchanges."""
    fmt = FORMATS[values.dtype.name]
    if not fmt.is_float:  # one integer value per byte, sign-extended
        return values.astype(fmt.storage)
    return np.ascontiguousarray(values).view(fmt.storage)


def from_storage(bits: np.ndarray, fmt: Format) -> np.ndarray:
    """The C buffer of a graph input/output in ``fmt`` as an array of the format's numpy dtype."""
    bits = np.ascontiguousarray(bits)
    dtype = np.dtype(getattr(ml_dtypes, fmt.name, fmt.name))  # float16 is numpy's own
    if not fmt.is_float:
        return bits.astype(fmt.storage).astype(dtype)
    return bits.astype(fmt.storage).view(dtype)


def storage_note(dtype: str) -> str | None:
    """How a graph input/output of ``dtype`` lays out its values in C (model.h), None for plain dtypes."""
    fmt = FORMATS.get(str(dtype))
    if fmt is None:
        return None
    ctype = {"uint16": "uint16_t", "uint8": "uint8_t", "int8": "int8_t"}[fmt.storage]
    if not fmt.is_float:
        return f"{fmt.name} values, one per {ctype}"
    if fmt.c_suffix == "e2m1":
        return f"{fmt.name} codes in the low 4 bits of each {ctype}"
    return f"{fmt.name} bits, one value per {ctype}; aot_formats.h converts"


__all__ = ["Format", "FORMATS", "BY_ELEM_TYPE", "ROUND_MODES", "narrow_format", "widen", "widen_array", "cast", "encode",
           "decode", "round_to", "to_storage", "from_storage", "storage_note"]
