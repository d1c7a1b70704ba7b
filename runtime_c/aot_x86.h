/* Helpers of the x86-avx2 backend's kernels (kernels_x86-avx2.c): AVX2 and FMA on x86-64. aot copies
 * this file into a library only when a layer runs on that backend, which aot offers only for host
 * boards whose features list avx2 and fma; the library's build adds -mavx2 -mfma. */
#ifndef AOT_X86_H
#define AOT_X86_H

#if !defined(__AVX2__) || !defined(__FMA__)
#error "kernels of the x86-avx2 backend need AVX2 and FMA (-mavx2 -mfma); compile for a board with those features, or with --backend ref"
#endif
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The sum of the eight int32 lanes of v. */
static inline int32_t aot_x86_hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The sum of the eight float lanes of v. */
static inline float aot_x86_hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* ---- int8 kernels' helpers ---- */

/* The high 32 bits of each lane's 64-bit product a * m (VPMULDQ on the even lanes, then on the odd
 * lanes shifted down): what aot_requantize_hi and the roundings of aot_runtime.h start from. */
static inline __m256i aot_x86_mulhi_epi32(__m256i a, __m256i m) {
    const __m256i even = _mm256_mul_epi32(a, m);
    const __m256i odd = _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(m, 32));
    return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xaa);
}

/* aot_requantize_hi per lane: (high word of acc * m + round) >> rshift (single rounding, shift <= -2). */
static inline __m256i aot_x86_requantize_hi(__m256i acc, __m256i m, __m256i round, __m256i rshift) {
    return _mm256_srav_epi32(_mm256_add_epi32(aot_x86_mulhi_epi32(acc, m), round), rshift);
}

/* aot_requantize_tflite_rs per lane (TFLite's double rounding, rshift >= 1): the rounded doubling high
 * multiply (acc * m + 2^30) >> 31 from the 64-bit products, then the division by 2^rshift rounding half
 * away from zero. */
static inline __m256i aot_x86_requantize_tflite_rs(__m256i acc, __m256i m, __m256i rshift) {
    const __m256i half = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(acc, m), half);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(acc, 32), _mm256_srli_epi64(m, 32)), half);
    const __m256i hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xaa);
    const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(_mm256_set1_epi32(1), rshift), _mm256_set1_epi32(1));
    const __m256i limit = _mm256_add_epi32(_mm256_srli_epi32(mask, 1), _mm256_srli_epi32(hi, 31));
    const __m256i up = _mm256_cmpgt_epi32(_mm256_and_si256(hi, mask), limit); /* -1 where it rounds up */
    return _mm256_sub_epi32(_mm256_srav_epi32(hi, rshift), up);
}

/* Sixteen int32 values as int8 (saturated, as aot_sat8), clamped to [lo, hi]. lo holds values 0-3 and
 * 8-11, hi values 4-7 and 12-15: the lane order of VPUNPCKLWD / VPUNPCKHWD on sixteen int16 values,
 * which VPACKSSDW undoes. */
static inline __m128i aot_x86_pack16_s8(__m256i lo, __m256i hi, __m128i act_min, __m128i act_max) {
    const __m256i w = _mm256_packs_epi32(lo, hi);               /* 0-7 | 8-15 as int16 */
    const __m256i b = _mm256_packs_epi16(w, w);                 /* 0-7 0-7 | 8-15 8-15 as int8 */
    const __m128i v = _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08));
    return _mm_min_epi8(_mm_max_epi8(v, act_min), act_max);
}

/* aot_x86_pack16_s8 for lo holding values 0-7 and hi values 8-15. */
static inline __m128i aot_x86_pack16_s8_in_order(__m256i lo, __m256i hi, __m128i act_min, __m128i act_max) {
    const __m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(lo, hi), 0xd8);  /* 0-7 | 8-15 as int16 */
    const __m256i b = _mm256_packs_epi16(w, w);
    const __m128i v = _mm256_castsi256_si128(_mm256_permute4x64_epi64(b, 0x08));
    return _mm_min_epi8(_mm_max_epi8(v, act_min), act_max);
}

/* Sixteen int8 values of two rows a and b, sign-extended and interleaved as int16 pairs (a[i], b[i]):
 * *lo gets pairs 0-3 and 8-11, *hi pairs 4-7 and 12-15 (aot_x86_pack16_s8's lane order); VPMADDWD of a
 * pair with a broadcast weight pair (wa, wb) is a[i] * wa + b[i] * wb, exactly. */
static inline void aot_x86_pairs16(__m128i a, __m128i b, __m256i* lo, __m256i* hi) {
    const __m256i a16 = _mm256_cvtepi8_epi16(a), b16 = _mm256_cvtepi8_epi16(b);
    *lo = _mm256_unpacklo_epi16(a16, b16);
    *hi = _mm256_unpackhi_epi16(a16, b16);
}

/* Stores the first count (at most sixteen) bytes of v at dst. */
static inline void aot_x86_store_s8(int8_t* dst, __m128i v, int count) {
    if (count >= 16) {
        _mm_storeu_si128((__m128i*)(void*)dst, v);
    } else if (count > 0) {
        int8_t bytes[16];
        _mm_storeu_si128((__m128i*)(void*)bytes, v);
        memcpy(dst, bytes, (size_t)count);
    }
}

/* ---- float kernels' helpers ---- */

/* MaxPool's running maximum as aot_max_nan_f computes it lane by lane: v when v > acc or v is NaN,
 * else acc, so a NaN, once in acc, stays (MAXPS alone, v > acc ? v : acc, would drop a NaN v). */
static inline __m256 aot_x86_max_nan_ps(__m256 acc, __m256 v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, acc), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

#endif
