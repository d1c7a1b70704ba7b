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

/* ---- float kernels' helpers ---- */

/* MaxPool's running maximum as aot_max_nan_f computes it lane by lane: v when v > acc or v is NaN,
 * else acc, so a NaN, once in acc, stays (MAXPS alone, v > acc ? v : acc, would drop a NaN v). */
static inline __m256 aot_x86_max_nan_ps(__m256 acc, __m256 v) {
    return _mm256_blendv_ps(_mm256_max_ps(v, acc), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

#endif
