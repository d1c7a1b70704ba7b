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

#if defined(__GNUC__) || defined(__clang__)
#define AOT_ALIGNED(n) __attribute__((aligned(n)))
#else
#define AOT_ALIGNED(n)
#endif

/* Per-layer profiling hooks: compiled out unless the build defines AOT_PROFILE and provides them. */
#ifdef AOT_PROFILE
void aot_profile_begin(int layer, const char* name);
void aot_profile_end(int layer, const char* name);
#define AOT_PROFILE_BEGIN(i, name) aot_profile_begin((i), (name))
#define AOT_PROFILE_END(i, name) aot_profile_end((i), (name))
#else
#define AOT_PROFILE_BEGIN(i, name) ((void)0)
#define AOT_PROFILE_END(i, name) ((void)0)
#endif

static inline float aot_relu_f(float x) { return x > 0.0f ? x : 0.0f; }
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
static inline float aot_max_f(float a, float b) { return a > b ? a : b; }

/* ---- int8 fixed-point requantization: "single rounding" -----------------------------------------
 * out = round(acc * multiplier / 2^(31 - shift)) with ties toward +infinity, in 64-bit arithmetic;
 * multiplier is a Q31 value in [2^30, 2^31), shift in [-31, 30]. aot/quant/fixed_point.py
 * (requantize) is the bit-exact Python twin. */
static inline int32_t aot_requantize(int32_t acc, int32_t multiplier, int shift) {
    const int total = 31 - shift;
    const int64_t prod = ((int64_t)acc * (int64_t)multiplier + ((int64_t)1 << (total - 1))) >> total;
    return (int32_t)(prod > INT32_MAX ? INT32_MAX : (prod < INT32_MIN ? INT32_MIN : prod));
}
static inline int8_t aot_sat_s8(int32_t x, int32_t lo, int32_t hi) {
    return (int8_t)(x < lo ? lo : (x > hi ? hi : x));
}

#endif /* AOT_RUNTIME_H */
