/* aot runtime: the small set of helpers every generated library shares.
 * Header-only (static inline) so a library stays one folder with no link-time dependencies. */
#ifndef AOT_RUNTIME_H
#define AOT_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Status codes returned by <prefix>_run(). */
#define AOT_OK 0
#define AOT_ERROR_NULL_ARENA 1
#define AOT_ERROR_MISALIGNED_ARENA 2
/* --weights-file bin: <prefix>_weights_base is NULL or not aligned to <PREFIX>_WEIGHTS_ALIGN. */
#define AOT_ERROR_WEIGHTS_BASE 3

#if defined(__GNUC__) || defined(__clang__)
#define AOT_ALIGNED(n) __attribute__((aligned(n)))
#else
#define AOT_ALIGNED(n)
#endif

/* Per-layer profiling hooks (aot_layer.h): compiled out unless the build defines AOT_PROFILE and
 * the application provides them. The argument is the layer's entry of <prefix>_layers. */
#ifdef AOT_PROFILE
#include "aot_layer.h"
#define AOT_PROFILE_BEGIN(layer) aot_profile_begin(layer)
#define AOT_PROFILE_END(layer) aot_profile_end(layer)
#else
#define AOT_PROFILE_BEGIN(layer) ((void)0)
#define AOT_PROFILE_END(layer) ((void)0)
#endif

/* NaN propagates, as in ONNX Runtime (a comparison with NaN is false). */
static inline float aot_relu_f(float x) { return x < 0.0f ? 0.0f : x; }
/* ONNX Clip order: the lower bound first, then the upper, so lo > hi gives hi everywhere. */
static inline float aot_clamp_f(float x, float lo, float hi) {
    const float y = x < lo ? lo : x;
    return y > hi ? hi : y;
}
static inline float aot_leaky_relu_f(float x, float alpha) { return x >= 0.0f ? x : alpha * x; }
static inline float aot_sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float aot_hard_sigmoid_f(float x, float alpha, float beta) {
    return aot_clamp_f(alpha * x + beta, 0.0f, 1.0f);
}
static inline float aot_hard_swish_f(float x) { return x * aot_clamp_f(x / 6.0f + 0.5f, 0.0f, 1.0f); }
static inline float aot_softsign_f(float x) { return x / (1.0f + fabsf(x)); }
/* log(1 + e^x) without overflow; NaN stays NaN (through fabsf/expf). */
static inline float aot_softplus_f(float x) { return (x > 0.0f ? x : 0.0f) + logf(1.0f + expf(-fabsf(x))); }
static inline float aot_max_f(float a, float b) { return a > b ? a : b; }
/* The ONNX activations of float32, as ONNX Runtime computes them (NaN in, NaN out, except where ORT's
 * comparison sends NaN to the zero branch: ThresholdedRelu, Shrink). */
static inline float aot_elu_f(float x, float alpha) { return x >= 0.0f ? x : alpha * (expf(x) - 1.0f); }
static inline float aot_selu_f(float x, float alpha, float gamma) {
    return x > 0.0f ? gamma * x : gamma * (alpha * expf(x) - alpha);
}
/* max(0, x) + min(0, alpha * (exp(x / alpha) - 1)): for x > 0 the second term is 0, otherwise the first. */
static inline float aot_celu_f(float x, float alpha) { return x > 0.0f ? x : alpha * (expf(x / alpha) - 1.0f); }
static inline float aot_thresholded_relu_f(float x, float alpha) { return x > alpha ? x : 0.0f; }
static inline float aot_shrink_f(float x, float lambd, float bias) {
    return x < -lambd ? x + bias : (x > lambd ? x - bias : 0.0f);
}
/* x * tanh(softplus(x)); -inf gives -inf * 0 = NaN, as in ONNX Runtime. */
static inline float aot_mish_f(float x) { return x * tanhf(aot_softplus_f(x)); }
static inline float aot_gelu_tanh_f(float x) {
    return 0.5f * x * (1.0f + tanhf(0.797884561f * (x + 0.044715f * x * x * x)));
}

/* ---- integer arithmetic with ONNX Runtime's results where they are defined ----------------------
 * Division truncates toward zero. C leaves x / 0 and INT_MIN / -1 undefined (ORT raises SIGFPE on x86):
 * here x / 0 and x % 0 give 0, and INT_MIN / -1 wraps to INT_MIN (computed in the unsigned type).
 * aot_fmod_* is C's remainder (the sign of the dividend: Mod fmod=1), aot_mod_* takes the sign of the
 * divisor (Mod fmod=0, Python's %). */
#define AOT_SIGNED_DIVISION(T, U, S)                                                                  \
    static inline T aot_div_##S(T a, T b) {                                                           \
        return b == 0 ? (T)0 : (b == -1 ? (T)((U)0 - (U)a) : (T)(a / b));                             \
    }                                                                                                 \
    static inline T aot_fmod_##S(T a, T b) { return (b == 0 || b == -1) ? (T)0 : (T)(a % b); }        \
    static inline T aot_mod_##S(T a, T b) {                                                           \
        const T r = aot_fmod_##S(a, b);                                                               \
        return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;                                     \
    }
#define AOT_UNSIGNED_DIVISION(T, S)                                                                   \
    static inline T aot_div_##S(T a, T b) { return b == 0 ? (T)0 : (T)(a / b); }                      \
    static inline T aot_fmod_##S(T a, T b) { return b == 0 ? (T)0 : (T)(a % b); }                     \
    static inline T aot_mod_##S(T a, T b) { return aot_fmod_##S(a, b); }
AOT_SIGNED_DIVISION(int8_t, uint8_t, s8)
AOT_SIGNED_DIVISION(int16_t, uint16_t, s16)
AOT_SIGNED_DIVISION(int32_t, uint32_t, s32)
AOT_SIGNED_DIVISION(int64_t, uint64_t, s64)
AOT_UNSIGNED_DIVISION(uint8_t, u8)
AOT_UNSIGNED_DIVISION(uint16_t, u16)
AOT_UNSIGNED_DIVISION(uint32_t, u32)
AOT_UNSIGNED_DIVISION(uint64_t, u64)
/* Pow of an integer base is pow in double truncated to the type, as ONNX Runtime computes it; these
 * finish it: NaN gives 0 and results out of the type's range saturate (a C conversion is undefined there).
 * (pow itself stays in the kernel: boards without a libm declare only the float functions.) */
static inline int32_t aot_double_to_s32(double r) {
    return r != r ? 0 : (r >= 2147483648.0 ? INT32_MAX : (r <= -2147483649.0 ? INT32_MIN : (int32_t)r));
}
static inline int64_t aot_double_to_s64(double r) {
    return r != r ? 0 : (r >= 9223372036854775808.0 ? INT64_MAX : (r < -9223372036854775808.0 ? INT64_MIN : (int64_t)r));
}

/* MaxPool's step: a NaN value makes the result NaN for good (the window started at -FLT_MAX, as ONNX
 * Runtime's does, so a window of -inf gives -FLT_MAX). ONNX Runtime's own NaN handling depends on its
 * vector path (shape and CPU); it has NaN only where this does. Ordinary values: the larger, the first on a tie. */
static inline float aot_max_nan_f(float acc, float v) { return (v > acc || v != v) ? v : acc; }

/* ---- int8 fixed-point requantization: "single rounding" -----------------------------------------
 * out = round(acc * multiplier / 2^(31 - shift)) with ties toward +infinity, in 64-bit arithmetic;
 * multiplier is a Q31 value in [2^30, 2^31), shift in [-31, 30]. aot/quant/fixed_point.py
 * (requantize) is the bit-exact Python twin. */
static inline int32_t aot_requantize(int32_t acc, int32_t multiplier, int shift) {
    const int total = 31 - shift;
    const int64_t prod = ((int64_t)acc * (int64_t)multiplier + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(prod > INT32_MAX ? INT32_MAX : (prod < INT32_MIN ? INT32_MIN : prod));
}
/* ---- int8 fixed-point requantization: TFLite's "double rounding" (aot compile --rounding tflite) ------
 * TFLite's MultiplyByQuantizedMultiplier: SaturatingRoundingDoublingHighMul (rounds at bit 31, ties up),
 * then RoundingDivideByPOT (ties away from zero). TFLite computes acc * 2^left_shift in int32 (undefined on
 * overflow); it saturates here. aot/quant/fixed_point.py (requantize_double_rounding) is the twin. */
static inline int32_t aot_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    const int64_t ab = (int64_t)a * (int64_t)b;
    const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : 1 - ((int64_t)1 << 30);
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates, as gemmlowp's */
}
static inline int32_t aot_rdbpot(int32_t x, int exponent) {
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + ((x & mask) > threshold ? 1 : 0);
}
/* The same for the non-negative multipliers QuantizeMultiplier gives, in fewer instructions:
 * SaturatingRoundingDoublingHighMul then cannot saturate, and its nudge-then-truncate equals
 * floor((x * multiplier + 2^30) / 2^31) for either sign of the product. */
static inline int32_t aot_requantize_tflite(int32_t acc, int32_t multiplier, int shift) {
    int32_t x = acc;
    int right = -shift;
    if (shift > 0) { /* rare: a real multiplier above 1 */
        const int64_t y = (int64_t)acc * ((int64_t)1 << shift);
        x = (int32_t)(y > INT32_MAX ? INT32_MAX : (y < INT32_MIN ? INT32_MIN : y));
        right = 0;
    }
    {
        const int32_t hi = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
        const int32_t mask = (int32_t)(((uint32_t)1 << right) - 1u);
        return (hi >> right) + ((hi & mask) > (mask >> 1) + (hi < 0) ? 1 : 0);
    }
}
/* aot_requantize_tflite's result for shift = -rshift <= -1 (every convolution and fully connected layer
 * in practice) and multiplier >= 0: |result| <= 2^30, so the zero point can be added before an 8-bit
 * saturation (aot/backends/ref/kernels/int8.py requant_spec: tfast). */
static inline int32_t aot_requantize_tflite_rs(int32_t acc, int32_t multiplier, int rshift) {
    const int32_t hi = (int32_t)(((int64_t)acc * multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t mask = (int32_t)(((uint32_t)1 << rshift) - 1u);
    return (hi >> rshift) + ((hi & mask) > (mask >> 1) + (hi < 0) ? 1 : 0);
}
/* TFLite's int8 AveragePool: the raw sum over the window divided by its count, ties away from zero. */
static inline int32_t aot_rounding_average(int32_t sum, int32_t count) {
    return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}
/* TFLite's GetReciprocal for its int8 Softmax (gemmlowp's one_over_one_plus_x_for_x_in_0_1: three
 * Newton-Raphson steps in Q2.29); x > 0 in Q(integer_digits). aot/quant/gemmlowp.py is the twin. */
static inline int32_t aot_sat_shl(int32_t x, int exponent) { /* SaturatingRoundingMultiplyByPOT, > 0 */
    const int32_t threshold = (int32_t)(((uint32_t)1 << (31 - exponent)) - 1);
    return x > threshold ? INT32_MAX : (x < -threshold ? INT32_MIN : (int32_t)((uint32_t)x << exponent));
}
static inline int aot_clz32(uint32_t x) {
    int n = 0;
    while (n < 32 && !(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}
static inline int32_t aot_tflite_reciprocal(int32_t x, int integer_digits, int* bits_over_unit) {
    const int headroom_plus_one = aot_clz32((uint32_t)x);
    const int32_t a = (int32_t)(((uint32_t)x << headroom_plus_one) - ((uint32_t)1 << 31));
    const int32_t half_denominator = (int32_t)(((int64_t)a + INT32_MAX + 1) / 2);
    int32_t r = 1515870810 + aot_srdhm(half_denominator, -1010580540); /* 48/17 - 32/17 * d */
    int i;
    for (i = 0; i < 3; ++i)
        r += aot_sat_shl(aot_srdhm(r, (1 << 29) - aot_srdhm(half_denominator, r)), 2);
    *bits_over_unit = integer_digits - headroom_plus_one;
    return aot_sat_shl(r, 1);
}

static inline int8_t aot_sat_s8(int32_t x, int32_t lo, int32_t hi) {
    return (int8_t)(x < lo ? lo : (x > hi ? hi : x));
}

/* ---- int8 fast paths: the same integers as above, in fewer instructions ---------------------------
 * Kernels written for an instruction set (Arm DSP extension, Helium) belong to backends of their own
 * (arm-dsp, helium) with their own helper headers (aot_arm_dsp.h, aot_helium.h). The helpers below
 * serve every backend: aot_requantize_hi and aot_sat8 are one instruction where the core has it (SMMLA,
 * SSAT) and the same integers in portable C elsewhere. */
#if defined(__ARM_FEATURE_DSP) || defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif

/* aot_requantize's result for a multiplier whose 31 - shift is at least 33 (shift <= -2: every
 * convolution and fully connected layer in practice), with rshift = 31 - shift - 32 and
 * round = 2^(rshift - 1): the rounding constant 2^(30 - shift) has a zero low word, so adding it to
 * the 64-bit product and shifting by 31 - shift equals adding round to the product's high word and
 * shifting that by rshift. |result| < 2^30: aot_requantize's int32 saturation never applies.
 * round may also hold 2^(rshift - 1) + zero_point * 2^rshift (exactly adds the zero point after the
 * shift) when that cannot overflow: aot/backends/ref/kernels/int8.py requant_spec decides. */
static inline int32_t aot_requantize_hi(int32_t acc, int32_t multiplier, int32_t round, int rshift) {
#if defined(__ARM_FEATURE_DSP)
    int32_t hi; /* SMMLA: round + the high word of acc * multiplier, one instruction */
    __asm__("smmla %0, %1, %2, %3" : "=r"(hi) : "r"(acc), "r"(multiplier), "r"(round));
    return hi >> rshift;
#else
    return ((int32_t)(((int64_t)acc * (int64_t)multiplier) >> 32) + round) >> rshift;
#endif
}

/* x saturated to [-128, 127] (one SSAT where the core has it). */
static inline int32_t aot_sat8(int32_t x) {
#if defined(__ARM_FEATURE_SAT)
    /* gcc's arm_acle.h stores __builtin_arm_ssat's unsigned result in an int32_t inside its macro. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-conversion"
#endif
    return __ssat(x, 8);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#else
    return x < -128 ? -128 : (x > 127 ? 127 : x);
#endif
}
static inline int32_t aot_max_i32(int32_t a, int32_t b) { return a > b ? a : b; }
static inline int32_t aot_min_i32(int32_t a, int32_t b) { return a < b ? a : b; }

/* A compiler-only barrier (no instruction) that loads are not moved across: without it gcc -O2 for
 * RV32 hoists a whole unrolled block's loads ahead of its multiplies and spills the accumulators. */
#if defined(__riscv) && (defined(__GNUC__) || defined(__clang__))
#define AOT_SCHED_FENCE() __asm__ volatile("" ::: "memory")
#else
#define AOT_SCHED_FENCE() ((void)0)
#endif

/* Four int8 values at any address as one little-endian word (one LDR where unaligned loads exist). */
static inline int32_t aot_load_s8x4(const int8_t* p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

#endif /* AOT_RUNTIME_H */
