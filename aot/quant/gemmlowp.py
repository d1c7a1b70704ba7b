"""TFLite's int8 Softmax recipe (tensorflow/lite/kernels/internal/reference/softmax.h with the gemmlowp
fixed-point helpers it calls), in exact integer arithmetic on Python ints, for the "tflite" rounding.

For int8 input, ``x - max(x)`` takes at most 256 values, so the exp of every difference is computed
here once at compile time (``softmax_tables``); only the sum's reciprocal (``reciprocal``, TFLite's
GetReciprocal) depends on the data and is also written in C (runtime_c/aot_runtime.h:
aot_tflite_reciprocal). Names follow gemmlowp's so the code can be read side by side with it.
"""
from __future__ import annotations

from .fixed_point import INT32_MAX, INT32_MIN, quantize_multiplier

SCALED_DIFF_INTEGER_BITS = 5  # exp's input is Q5.26
ACCUMULATION_INTEGER_BITS = 12  # the sum of exps is Q12.19


def srdhm(a: int, b: int) -> int:
    """SaturatingRoundingDoublingHighMul: a * b / 2^31 rounded to nearest (ties up), saturated."""
    if a == INT32_MIN and b == INT32_MIN:
        return INT32_MAX
    ab = a * b
    total = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return total >> 31 if total >= 0 else -((-total) >> 31)  # C's division truncates toward zero


def rdbpot(x: int, exponent: int) -> int:
    """RoundingDivideByPOT: x / 2^exponent, ties away from zero."""
    mask = (1 << exponent) - 1
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if (x & mask) > threshold else 0)


def saturating_rounding_multiply_by_pot(x: int, exponent: int) -> int:
    if exponent <= 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return INT32_MAX if x > threshold else INT32_MIN if x < -threshold else x << exponent


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a: int) -> int:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    constant_term, one_third = 1895147668, 715827883  # exp(-1/8), 1/3
    x = a + (1 << 28)  # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(srdhm(x4_over_4 + x3, one_third) + x2, -1)
    return constant_term + srdhm(constant_term, x + poly)


# exp(-2^e) in Q0.31 for the barrel shifter over the integer and upper fraction bits of -a
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535),
               (3, 720401), (4, 242))


def exp_on_negative_values(a: int, integer_bits: int = SCALED_DIFF_INTEGER_BITS) -> int:
    """gemmlowp's exp_on_negative_values: a (Q<integer_bits>.<31 - integer_bits>, <= 0) to Q0.31."""
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_one_quarter, integer_bits))
    remainder = a_mod_quarter_minus_one_quarter - a
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent and remainder & (1 << (fractional_bits + exponent)):
            result = srdhm(result, multiplier)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return INT32_MAX if a == 0 else result


def one_over_one_plus_x_for_x_in_0_1(a: int) -> int:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out: three Newton-Raphson steps in Q2.29."""
    total = a + INT32_MAX  # RoundingHalfSum(a, 1): (sum + sign) / 2 truncated, sum >= 0 here
    half_denominator = (total + 1) // 2
    x = 1515870810 + srdhm(half_denominator, -1010580540)  # 48/17 - 32/17 * d
    for _ in range(3):
        one_minus_half_denominator_times_x = (1 << 29) - srdhm(half_denominator, x)
        x = x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus_half_denominator_times_x), 2)
    return saturating_rounding_multiply_by_pot(x, 1)


def reciprocal(x: int, integer_digits: int = ACCUMULATION_INTEGER_BITS) -> tuple[int, int]:
    """TFLite's GetReciprocal: (1 / x as Q0.31 after normalising x to [1, 2), num_bits_over_unit)."""
    headroom_plus_one = 32 - x.bit_length()  # CountLeadingZeros of a positive int32
    shifted_sum_minus_one = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), integer_digits - headroom_plus_one


def softmax_scaling(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """TFLite's PreprocessSoftmaxScaling and CalculateInputRadius: (input_multiplier, input_left_shift,
    diff_min) for Q5.26 differences."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_INTEGER_BITS)), (1 << 31) - 1.0)
    multiplier, left_shift = quantize_multiplier(real, saturate=False)
    radius = ((1 << SCALED_DIFF_INTEGER_BITS) - 1) * (1 << (31 - SCALED_DIFF_INTEGER_BITS)) / (1 << left_shift)
    return multiplier, left_shift, -int(radius // 1)


def softmax_tables(input_scale: float, beta: float = 1.0) -> tuple[list[int], list[int]]:
    """For every difference d = max(x) - x in [0, 255]: exp(-d * beta * input_scale) as TFLite computes
    it (Q0.31), and the same rescaled to Q12.19 as it is summed. Differences below diff_min are skipped
    by TFLite (output -128, nothing added to the sum): 0 in both tables gives exactly that."""
    multiplier, left_shift, diff_min = softmax_scaling(input_scale, beta)
    exp0, acc = [], []
    for d in range(256):
        if -d < diff_min:
            e = 0
        else:
            e = exp_on_negative_values(srdhm(-d * (1 << left_shift), multiplier))
        exp0.append(e)
        acc.append(rdbpot(e, ACCUMULATION_INTEGER_BITS))
    return exp0, acc


def softmax_row(x: list[int], exp0: list[int], acc: list[int]) -> list[int]:
    """One row of TFLite's int8 Softmax (output scale 1/256, zero point -128) from the tables."""
    mx = max(x)
    scale, bits_over_unit = reciprocal(sum(acc[mx - v] for v in x))
    exponent = bits_over_unit + 31 - 8
    return [max(-128, min(127, rdbpot(srdhm(scale, exp0[mx - v]), exponent) - 128)) for v in x]
