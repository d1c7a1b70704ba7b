"""Integer requantization with a Q31 multiplier and a shift, in one of two roundings chosen per
compile (``graph.rounding``, ``aot compile --rounding``):

- "single" (default; CMSIS-NN's CMSIS_NN_USE_SINGLE_ROUNDING variant), ``requantize``:

      out = (acc * multiplier + 2^(30 - shift)) >> (31 - shift)        (64-bit product)

  Rounding once keeps the result within half an LSB of the exact product, which measurably tracks
  ONNX Runtime's float requantization more closely (see the README).
- "tflite" (TensorFlow Lite's and CMSIS-NN's default), ``requantize_double_rounding``: TFLite's
  MultiplyByQuantizedMultiplier, i.e. SaturatingRoundingDoublingHighMul (rounds acc * multiplier to
  nearest at bit 31, ties up) then RoundingDivideByPOT (to nearest again, ties away from zero): two
  roundings, so a result can be one LSB off the exactly rounded product. In this mode every int8
  kernel also takes TFLite's other integer recipes (multiplier computation, Add's 20-bit headroom,
  AveragePool's rounding division, Mean's multiplier per count, the gemmlowp fixed-point Softmax in
  aot/quant/gemmlowp.py), so its results are bit-exact with TFLite Micro's reference kernels.

``multiplier`` is in [2^30, 2^31) and real_multiplier ~= multiplier * 2^(shift - 31). The C side
(runtime_c/aot_runtime.h: aot_requantize, aot_requantize_tflite) and this numpy golden model implement
exactly the same integer operations, so their results agree bit for bit.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN, INT32_MAX = -(2 ** 31), 2 ** 31 - 1
ROUNDINGS = ("single", "tflite")


def quantize_multiplier(real: float, saturate: bool = True) -> tuple[int, int]:
    """(Q31 multiplier, shift) with real ~= multiplier * 2^(shift - 31); shift > 0 is a left shift.
    TFLite's QuantizeMultiplier exactly (frexp, round half away), except that shifts above 30 saturate
    unless ``saturate`` is False (TFLite saturates them only in its single-rounding build)."""
    if real <= 0.0:
        if real < 0.0:
            raise ValueError(f"negative requantization scale {real}")
        return 0, 0
    mantissa, exponent = math.frexp(real)
    q = int(math.floor(mantissa * (1 << 31) + 0.5))
    if q == 1 << 31:
        q //= 2
        exponent += 1
    if exponent < -31:
        return 0, 0
    if exponent > 30 and saturate:
        return INT32_MAX, 30
    return q, exponent


def quantize_multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], np.int64), np.array([p[1] for p in pairs], np.int64))


def saturating_rounding_doubling_high_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    total = ab + nudge
    # C's int64 division truncates toward zero.
    high = np.where(total >= 0, total >> 31, -((-total) >> 31))
    return np.where(overflow, INT32_MAX, high).astype(np.int64)


def rounding_divide_by_pot(x: np.ndarray, exponent: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.int64)
    exponent = np.asarray(exponent, np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize_double_rounding(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier ("tflite" rounding). TFLite computes acc * 2^left_shift
    in int32 (undefined on overflow); here, as in aot_requantize_tflite, it saturates."""
    acc = np.asarray(acc, np.int64)
    shift = np.asarray(shift, np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = np.clip(acc * (np.int64(1) << left), INT32_MIN, INT32_MAX)
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)


def requantize(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """Single rounding: round(acc * multiplier / 2^(31 - shift)), ties toward +infinity, in 64 bits.
    The result then saturates to int32 like the C (aot_requantize)."""
    acc = np.asarray(acc, np.int64)
    total = 31 - np.asarray(shift, np.int64)
    prod = acc * np.asarray(multiplier, np.int64) + (np.int64(1) << (total - 1))
    return np.clip(prod >> total, INT32_MIN, INT32_MAX)


def rescale(acc: np.ndarray, multiplier: np.ndarray, shift: np.ndarray, rounding: str) -> np.ndarray:
    """acc * multiplier * 2^(shift - 31) in the compile's rounding ("single" or "tflite")."""
    if rounding == "tflite":
        return requantize_double_rounding(acc, multiplier, shift)
    return requantize(acc, multiplier, shift)
