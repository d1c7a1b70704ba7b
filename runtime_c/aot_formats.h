/* aot narrow number formats: float16, bfloat16, float8 (E4M3FN, E4M3FNUZ, E5M2, E5M2FNUZ, E8M0),
 * float4 (E2M1), int4/uint4/int2/uint2.
 *
 * A compiled graph computes these formats in float32 (int8/uint8 for the small integers), where every
 * value of them is exact; these functions convert at the graph boundary (decode an input, encode an
 * output) and implement Cast to a format (encode, then decode). Exact, integer arithmetic on the
 * float32 bits (no <math.h>, no floating-point rounding mode), round to nearest even, with the
 * saturate / NaN / infinity rules of the ONNX Cast specification. The numpy twin is aot/ir/formats.py.
 * Storage: float16/bfloat16 in uint16_t, float8/float4 in uint8_t (float4 in the low 4 bits),
 * int4/int2 in int8_t and uint4/uint2 in uint8_t, one value per element. */
#ifndef AOT_FORMATS_H
#define AOT_FORMATS_H

#include <stdint.h>
#include <string.h>

/* How a minifloat spends its top codes. */
#define AOT_MF_IEEE 0   /* all-ones exponent: infinity (mantissa 0) or NaN, like float32 */
#define AOT_MF_FN 1     /* no infinity; only S.1111.111 is NaN (E4M3FN) */
#define AOT_MF_FNUZ 2   /* no infinity, no -0: 0x80 is the one NaN (E4M3FNUZ, E5M2FNUZ) */
#define AOT_MF_FINITE 3 /* neither infinity nor NaN (E2M1) */

static inline float aot_f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static inline uint32_t aot_bits_of_f32(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }

/* ``value >> n`` rounded to nearest, ties to even (1 <= n <= 31). */
static inline uint32_t aot_shift_rne(uint32_t value, int n) {
    const uint32_t q = value >> n, rem = value & ((1u << n) - 1u), half = 1u << (n - 1);
    return q + (uint32_t)((rem > half) | ((rem == half) & (q & 1u)));
}

/* A minifloat code (sign bit above ebits exponent bits above mbits mantissa bits) as float32. The
 * constant arguments fold away in the per-format wrappers below. */
static inline float aot_minifloat_decode(uint32_t code, int ebits, int mbits, int bias, int kind) {
    const uint32_t sign = ((code >> (ebits + mbits)) & 1u) << 31;
    const uint32_t e = (code >> mbits) & ((1u << ebits) - 1u), m = code & ((1u << mbits) - 1u);
    const uint32_t all_e = (1u << ebits) - 1u;
    uint32_t mag;
    if (kind == AOT_MF_FNUZ && code == (1u << (ebits + mbits))) return aot_f32_from_bits(0x7fc00000u);
    if ((kind == AOT_MF_IEEE && e == all_e) || (kind == AOT_MF_FN && e == all_e && m == (1u << mbits) - 1u))
        mag = 0x7f800000u | (m << (23 - mbits)) | (kind == AOT_MF_FN ? 0x400000u : 0u); /* inf, NaN (payload kept) */
    else if (e != 0)
        mag = ((e + 127u - (uint32_t)bias) << 23) | (m << (23 - mbits));
    else if (m == 0)
        mag = 0;
    else { /* subnormal m * 2^(1 - bias - mbits): normalize m (at most mbits steps) */
        int exp = 1 - bias + 127;
        uint32_t frac = m;
        while (!(frac & (1u << mbits))) { frac <<= 1; --exp; }
        mag = ((uint32_t)exp << 23) | ((frac & ((1u << mbits) - 1u)) << (23 - mbits));
    }
    return aot_f32_from_bits(sign | mag);
}

/* float32 -> minifloat code, round to nearest even. Overflow (and infinity) gives the largest finite
 * value when ``saturate``, else infinity (IEEE kinds) or NaN; E2M1 always saturates. */
static inline uint32_t aot_minifloat_encode(float x, int ebits, int mbits, int bias, int kind, int saturate) {
    const uint32_t u = aot_bits_of_f32(x), a = u & 0x7fffffffu;
    const int top = ebits + mbits;
    const uint32_t sign = (u >> 31) << top, all_e = (1u << ebits) - 1u;
    const uint32_t max_finite = kind == AOT_MF_IEEE ? (all_e << mbits) - 1u
                              : kind == AOT_MF_FN ? (1u << top) - 2u : (1u << top) - 1u;
    const uint32_t nan = kind == AOT_MF_FNUZ ? (1u << top)
                       : kind == AOT_MF_FN ? sign | ((1u << top) - 1u)
                       : sign | (all_e << mbits) | (1u << (mbits - 1)) | ((a >> (23 - mbits)) & ((1u << mbits) - 1u));
    const int emin = 1 - bias; /* unbiased exponent of the smallest normal */
    const int ea = (int)(a >> 23);
    const int e_unb = (ea ? ea : 1) - 127;
    uint32_t r;
    if (a > 0x7f800000u) return kind == AOT_MF_FINITE ? sign ^ (1u << top) : nan; /* E2M1 has no NaN: ml_dtypes gives a zero of the other sign */
    if (a == 0x7f800000u) r = max_finite + 1u; /* overflows below */
    else if (e_unb >= emin) /* normal in the format: round the float32 bits, then re-bias the exponent */
        r = aot_shift_rne(a, 23 - mbits) - ((uint32_t)(127 - bias) << mbits);
    else { /* subnormal in the format */
        const int n = 23 - mbits + (emin - e_unb);
        const uint32_t sig = (a & 0x7fffffu) | (ea ? 0x800000u : 0u);
        r = n > 25 ? 0u : aot_shift_rne(sig, n);
    }
    if (r > max_finite) {
        if (saturate || kind == AOT_MF_FINITE) r = max_finite;
        else if (kind == AOT_MF_IEEE) r = all_e << mbits;
        else return nan;
    }
    if (kind == AOT_MF_FNUZ && r == 0) return 0; /* no -0 */
    return sign | r;
}

/* double -> float32 rounded to odd: rounding that once more to a format at least 2 bits narrower gives
 * the correctly rounded result, as if the double were rounded directly (no double rounding). */
static inline float aot_f32_round_odd(double d) {
    const float f = (float)d;
    uint32_t u = aot_bits_of_f32(f);
    if (d == d && (double)f != d) {
        if (d > 0.0 ? (double)f > d : (double)f < d) u -= 1u; /* truncate toward zero */
        u |= 1u;
    }
    return aot_f32_from_bits(u);
}

/* float16 / bfloat16 (never saturate: overflow gives infinity) */
static inline float aot_decode_f16(uint16_t h) { return aot_minifloat_decode(h, 5, 10, 15, AOT_MF_IEEE); }
static inline uint16_t aot_encode_f16(float x, int saturate) {
    (void)saturate;
    return (uint16_t)aot_minifloat_encode(x, 5, 10, 15, AOT_MF_IEEE, 0);
}
static inline float aot_decode_bf16(uint16_t h) { return aot_f32_from_bits((uint32_t)h << 16); }
static inline uint16_t aot_encode_bf16(float x, int saturate) {
    (void)saturate;
    return (uint16_t)aot_minifloat_encode(x, 8, 7, 127, AOT_MF_IEEE, 0);
}

/* float8 */
static inline float aot_decode_e4m3fn(uint8_t c) { return aot_minifloat_decode(c, 4, 3, 7, AOT_MF_FN); }
static inline uint8_t aot_encode_e4m3fn(float x, int saturate) {
    return (uint8_t)aot_minifloat_encode(x, 4, 3, 7, AOT_MF_FN, saturate);
}
static inline float aot_decode_e4m3fnuz(uint8_t c) { return aot_minifloat_decode(c, 4, 3, 8, AOT_MF_FNUZ); }
static inline uint8_t aot_encode_e4m3fnuz(float x, int saturate) {
    return (uint8_t)aot_minifloat_encode(x, 4, 3, 8, AOT_MF_FNUZ, saturate);
}
static inline float aot_decode_e5m2(uint8_t c) { return aot_minifloat_decode(c, 5, 2, 15, AOT_MF_IEEE); }
static inline uint8_t aot_encode_e5m2(float x, int saturate) {
    return (uint8_t)aot_minifloat_encode(x, 5, 2, 15, AOT_MF_IEEE, saturate);
}
static inline float aot_decode_e5m2fnuz(uint8_t c) { return aot_minifloat_decode(c, 5, 2, 16, AOT_MF_FNUZ); }
static inline uint8_t aot_encode_e5m2fnuz(float x, int saturate) {
    return (uint8_t)aot_minifloat_encode(x, 5, 2, 16, AOT_MF_FNUZ, saturate);
}

/* float4 E2M1 (low 4 bits of the byte) */
static inline float aot_decode_e2m1(uint8_t c) { return aot_minifloat_decode(c & 0xfu, 2, 1, 1, AOT_MF_FINITE); }
static inline uint8_t aot_encode_e2m1(float x, int saturate) {
    (void)saturate;
    return (uint8_t)aot_minifloat_encode(x, 2, 1, 1, AOT_MF_FINITE, 1);
}

/* float8 E8M0: a power of two 2^(c - 127), 0xff NaN; the sign of x is ignored (negative values are
 * undefined in ONNX). round_mode: 0 up (the default), 1 down, 2 nearest (onnx.numpy_helper.to_float8e8m0). */
static inline float aot_decode_e8m0(uint8_t c) {
    return aot_f32_from_bits(c == 0xffu ? 0x7fc00000u : c ? (uint32_t)c << 23 : 0x400000u);
}
static inline uint8_t aot_encode_e8m0_mode(float x, int saturate, int round_mode) {
    const uint32_t u = aot_bits_of_f32(x), e = (u >> 23) & 0xffu;
    uint32_t up = 0;
    if (e == 0xffu) return 0xffu;
    if (round_mode == 0) up = (u & 0x7fffffu) != 0;
    else if (round_mode == 2) {
        const uint32_t g = (u >> 22) & 1u, r = (u >> 21) & 1u, s = (u & 0x1fffffu) != 0, lsb = e > 0;
        up = g & (r | s | lsb);
    }
    if (saturate && e == 0xfeu) up = 0;
    return (uint8_t)(e + up);
}
static inline uint8_t aot_encode_e8m0(float x, int saturate) { return aot_encode_e8m0_mode(x, saturate, 0); }

/* int4 / uint4 / int2 / uint2, one value per byte. From an integer: keep the low bits (two's complement
 * wrap-around, the spec's rule for integer casts). From a float (undefined out of range in ONNX): truncate
 * toward zero, then keep the low bits, as the node tests' expected outputs do; NaN, infinities and
 * magnitudes of 2^31 or more give 0. */
static inline int8_t aot_wrap_s4(uint64_t v) { return (int8_t)((int)(((uint32_t)v & 0xfu) ^ 0x8u) - 8); }
static inline uint8_t aot_wrap_u4(uint64_t v) { return (uint8_t)((uint32_t)v & 0xfu); }
static inline int8_t aot_wrap_s2(uint64_t v) { return (int8_t)((int)(((uint32_t)v & 0x3u) ^ 0x2u) - 2); }
static inline uint8_t aot_wrap_u2(uint64_t v) { return (uint8_t)((uint32_t)v & 0x3u); }
/* float and double versions: a double converted to float first could round to another integer */
#define AOT_TRUNC_INT(name, T) \
    static inline T aot_trunc_##name(float x) { \
        return (x > -2147483648.0f && x < 2147483648.0f) ? aot_wrap_##name((uint64_t)(int64_t)x) : (T)0; } \
    static inline T aot_trunc_##name##_d(double x) { \
        return (x > -2147483648.0 && x < 2147483648.0) ? aot_wrap_##name((uint64_t)(int64_t)x) : (T)0; }
AOT_TRUNC_INT(s4, int8_t)
AOT_TRUNC_INT(u4, uint8_t)
AOT_TRUNC_INT(s2, int8_t)
AOT_TRUNC_INT(u2, uint8_t)
#undef AOT_TRUNC_INT

#endif /* AOT_FORMATS_H */
