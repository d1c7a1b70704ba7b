/* Helpers of the x86-sse4 backend's kernels (kernels_x86-sse4.c): SSE4.1 on x86-64 (x86-64-v2). aot
 * copies this file into a library only when a layer runs on that backend, which aot offers only for
 * host boards whose features list sse4.1; the library's build adds -msse4.1. The int8 helpers compute
 * what aot_x86.h's compute on 256-bit vectors, four int32 lanes at a time, with outputs in lane order. */
#ifndef AOT_X86_SSE4_H
#define AOT_X86_SSE4_H

#if !defined(__SSE4_1__)
#error "kernels of the x86-sse4 backend need SSE4.1 (-msse4.1); compile for a board with that feature, or with --backend ref"
#endif
#include <smmintrin.h>
#include <stdint.h>
#include <string.h>

/* ---- int8 kernels' helpers ---- */

/* The high 32 bits of each lane's 64-bit product a * m (PMULDQ on the even lanes, then on the odd
 * lanes shifted down): what aot_requantize_hi and the roundings of aot_runtime.h start from. */
static inline __m128i aot_sse4_mulhi_epi32(__m128i a, __m128i m) {
    const __m128i even = _mm_mul_epi32(a, m);
    const __m128i odd = _mm_mul_epi32(_mm_srli_epi64(a, 32), _mm_srli_epi64(m, 32));
    return _mm_blend_epi16(_mm_srli_epi64(even, 32), odd, 0xcc);
}

/* Arithmetic right shift of each lane by its own count (0..31): SSE has no variable shift, so four
 * shifts by one count each, blended. */
static inline __m128i aot_sse4_srav_epi32(__m128i v, __m128i count) {
    const __m128i c0 = _mm_cvtsi32_si128(_mm_extract_epi32(count, 0)), c1 = _mm_cvtsi32_si128(_mm_extract_epi32(count, 1));
    const __m128i c2 = _mm_cvtsi32_si128(_mm_extract_epi32(count, 2)), c3 = _mm_cvtsi32_si128(_mm_extract_epi32(count, 3));
    const __m128i r01 = _mm_blend_epi16(_mm_sra_epi32(v, c0), _mm_sra_epi32(v, c1), 0x0c);
    const __m128i r23 = _mm_blend_epi16(_mm_sra_epi32(v, c2), _mm_sra_epi32(v, c3), 0xc0);
    return _mm_blend_epi16(r01, r23, 0xf0);
}

/* aot_requantize_hi per lane, one shift for all lanes (a channel's; count in the low 64 bits of
 * rshift, as _mm_cvtsi32_si128 makes it): (high word of acc * m + round) >> rshift. */
static inline __m128i aot_sse4_requantize_hi(__m128i acc, __m128i m, __m128i round, __m128i rshift) {
    return _mm_sra_epi32(_mm_add_epi32(aot_sse4_mulhi_epi32(acc, m), round), rshift);
}

/* aot_requantize_hi per lane, a shift per lane (the fully connected layer's per-output tables). */
static inline __m128i aot_sse4_requantize_hi_v(__m128i acc, __m128i m, __m128i round, __m128i rshift) {
    return aot_sse4_srav_epi32(_mm_add_epi32(aot_sse4_mulhi_epi32(acc, m), round), rshift);
}

/* The rounded doubling high multiply of TFLite, (acc * m + 2^30) >> 31 per lane, from 64-bit products. */
static inline __m128i aot_sse4_doubling_hi(__m128i acc, __m128i m) {
    const __m128i half = _mm_set1_epi64x((int64_t)1 << 30);
    const __m128i even = _mm_add_epi64(_mm_mul_epi32(acc, m), half);
    const __m128i odd = _mm_add_epi64(_mm_mul_epi32(_mm_srli_epi64(acc, 32), _mm_srli_epi64(m, 32)), half);
    return _mm_blend_epi16(_mm_srli_epi64(even, 31), _mm_slli_epi64(odd, 1), 0xcc);
}

/* The division of hi by 2^rshift rounding half away from zero (TFLite's RoundingDivideByPOT), given
 * mask = 2^rshift - 1 per lane and the shifted value. */
static inline __m128i aot_sse4_round_shifted(__m128i hi, __m128i mask, __m128i shifted) {
    const __m128i limit = _mm_add_epi32(_mm_srli_epi32(mask, 1), _mm_srli_epi32(hi, 31));
    const __m128i up = _mm_cmpgt_epi32(_mm_and_si128(hi, mask), limit); /* -1 where it rounds up */
    return _mm_sub_epi32(shifted, up);
}

/* aot_requantize_tflite_rs per lane (TFLite's double rounding, rshift >= 1), one shift for all lanes
 * (count in the low 64 bits of rshift). */
static inline __m128i aot_sse4_requantize_tflite_rs(__m128i acc, __m128i m, __m128i rshift) {
    const __m128i hi = aot_sse4_doubling_hi(acc, m);
    const __m128i mask = _mm_sub_epi32(_mm_sll_epi32(_mm_set1_epi32(1), rshift), _mm_set1_epi32(1));
    return aot_sse4_round_shifted(hi, mask, _mm_sra_epi32(hi, rshift));
}

/* aot_requantize_tflite_rs per lane, a shift per lane. */
static inline __m128i aot_sse4_requantize_tflite_rs_v(__m128i acc, __m128i m, __m128i rshift) {
    const __m128i hi = aot_sse4_doubling_hi(acc, m);
    /* 2^rshift as a float's exponent field, converted back: a per-lane 1 << rshift (rshift <= 31) */
    const __m128i pow2 = _mm_cvttps_epi32(_mm_castsi128_ps(_mm_slli_epi32(_mm_add_epi32(rshift, _mm_set1_epi32(127)), 23)));
    const __m128i mask = _mm_sub_epi32(pow2, _mm_set1_epi32(1));
    return aot_sse4_round_shifted(hi, mask, aot_sse4_srav_epi32(hi, rshift));
}

/* Sixteen int32 values in order (v0 holds 0-3, v1 4-7, v2 8-11, v3 12-15) as int8 (saturated, as
 * aot_sat8), clamped to [lo, hi]. */
static inline __m128i aot_sse4_pack16_s8(__m128i v0, __m128i v1, __m128i v2, __m128i v3, __m128i act_min,
                                         __m128i act_max) {
    const __m128i b = _mm_packs_epi16(_mm_packs_epi32(v0, v1), _mm_packs_epi32(v2, v3));
    return _mm_min_epi8(_mm_max_epi8(b, act_min), act_max);
}

/* Sixteen int8 values of two rows a and b, sign-extended and interleaved as int16 pairs (a[i], b[i]),
 * in order: p[0] pairs 0-3, p[1] 4-7, p[2] 8-11, p[3] 12-15. PMADDWD of a pair with a broadcast weight
 * pair (wa, wb) is a[i] * wa + b[i] * wb, exactly. */
static inline void aot_sse4_pairs16(__m128i a, __m128i b, __m128i p[4]) {
    const __m128i a0 = _mm_cvtepi8_epi16(a), b0 = _mm_cvtepi8_epi16(b);
    const __m128i a1 = _mm_cvtepi8_epi16(_mm_srli_si128(a, 8)), b1 = _mm_cvtepi8_epi16(_mm_srli_si128(b, 8));
    p[0] = _mm_unpacklo_epi16(a0, b0);
    p[1] = _mm_unpackhi_epi16(a0, b0);
    p[2] = _mm_unpacklo_epi16(a1, b1);
    p[3] = _mm_unpackhi_epi16(a1, b1);
}

/* Stores the first count (at most sixteen) bytes of v at dst. */
static inline void aot_sse4_store_s8(int8_t* dst, __m128i v, int count) {
    if (count >= 16) {
        _mm_storeu_si128((__m128i*)(void*)dst, v);
    } else if (count > 0) {
        int8_t bytes[16];
        _mm_storeu_si128((__m128i*)(void*)bytes, v);
        memcpy(dst, bytes, (size_t)count);
    }
}

/* ---- float kernels' helpers ---- */

/* The first n (1..3) floats at p, the other lanes zero: a load that reads no byte past them. */
static inline __m128 aot_sse4_loadn_ps(const float* p, int n) {
    float v[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    memcpy(v, p, (size_t)n * sizeof(float));
    return _mm_loadu_ps(v);
}

/* Stores the first n (1..3) lanes of v at p. */
static inline void aot_sse4_storen_ps(float* p, __m128 v, int n) {
    float t[4];
    _mm_storeu_ps(t, v);
    memcpy(p, t, (size_t)n * sizeof(float));
}

/* MaxPool's running maximum as aot_max_nan_f computes it lane by lane: v when v > acc or v is NaN,
 * else acc, so a NaN, once in acc, stays (MAXPS alone, v > acc ? v : acc, would drop a NaN v). */
static inline __m128 aot_sse4_max_nan_ps(__m128 acc, __m128 v) {
    return _mm_blendv_ps(_mm_max_ps(v, acc), v, _mm_cmpunord_ps(v, v));
}

#endif
