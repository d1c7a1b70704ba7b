/* The few C library functions a generated library and the test firmware call, for boards whose
 * toolchain has no C library (riscv32 with Debian's gcc-riscv64-unknown-elf). Built with the library
 * (board.mk adds it), so lib<prefix>.a links on its own with -nostdlib -lgcc.
 *
 * The float functions are accurate to a few ulp (sqrtf, rintf and the rounding functions exactly),
 * well inside the 1e-4 tolerance float models are checked with; tests/test_boards.py measures them
 * against numpy on the host. */
#include <stdint.h>

#include "math.h"
#include "string.h"

/* ---- memory ------------------------------------------------------------------------------------ */
/* Byte loops through volatile-free pointers: compilers may turn loops into calls to these very
 * functions, which board.mk prevents for this file (-fno-tree-loop-distribute-patterns, -fno-builtin). */
void* memcpy(void* restrict dst, const void* restrict src, size_t n)
{
    unsigned char* d = (unsigned char*)dst;
    const unsigned char* s = (const unsigned char*)src;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0u) {
        for (; n >= 4u; n -= 4u, d += 4, s += 4) *(uint32_t*)(void*)d = *(const uint32_t*)(const void*)s;
    }
    while (n--) *d++ = *s++;
    return dst;
}

void* memmove(void* dst, const void* src, size_t n)
{
    unsigned char* d = (unsigned char*)dst;
    const unsigned char* s = (const unsigned char*)src;
    if (d == s || n == 0u) return dst;
    if ((uintptr_t)d < (uintptr_t)s || (uintptr_t)d >= (uintptr_t)s + n) {
        while (n--) *d++ = *s++;
    } else {
        d += n;
        s += n;
        while (n--) *--d = *--s;
    }
    return dst;
}

void* memset(void* dst, int value, size_t n)
{
    unsigned char* d = (unsigned char*)dst;
    const unsigned char v = (unsigned char)value;
    if (((uintptr_t)d & 3u) == 0u) {
        const uint32_t word = v * 0x01010101u;
        for (; n >= 4u; n -= 4u, d += 4) *(uint32_t*)(void*)d = word;
    }
    while (n--) *d++ = v;
    return dst;
}

int memcmp(const void* a, const void* b, size_t n)
{
    const unsigned char* x = (const unsigned char*)a;
    const unsigned char* y = (const unsigned char*)b;
    for (; n != 0u; --n, ++x, ++y) {
        if (*x != *y) return *x < *y ? -1 : 1;
    }
    return 0;
}

size_t strlen(const char* s)
{
    const char* p = s;
    while (*p) ++p;
    return (size_t)(p - s);
}

/* ---- float helpers ----------------------------------------------------------------------------- */
typedef union {
    float f;
    uint32_t u;
} aot_bits;

static uint32_t to_bits(float x)
{
    aot_bits b;
    b.f = x;
    return b.u;
}

static float from_bits(uint32_t u)
{
    aot_bits b;
    b.u = u;
    return b.f;
}

/* x * 2^k for any k a float result can need (k in [-300, 300]). */
static float scale2(float x, int k)
{
    while (k > 127) {
        x *= 1.7014118346e38f; /* 2^127 */
        k -= 127;
    }
    while (k < -126) {
        x *= 1.1754943508e-38f; /* 2^-126 */
        k += 126;
    }
    return x * from_bits((uint32_t)(k + 127) << 23);
}

float fabsf(float x) { return from_bits(to_bits(x) & 0x7FFFFFFFu); }

float rintf(float x)
{
    /* Adding and removing 2^23 rounds to an integer in the current (nearest-even) mode. */
    const uint32_t u = to_bits(x);
    const float a = from_bits(u & 0x7FFFFFFFu);
    volatile float big = 8388608.0f;
    float r;
    if (!(a < 8388608.0f)) return x; /* already integral, or NaN */
    r = (a + big) - big;
    return from_bits(to_bits(r) | (u & 0x80000000u));
}

float nearbyintf(float x) { return rintf(x); }

long lrintf(float x) { return (long)rintf(x); }

float floorf(float x)
{
    const float r = rintf(x);
    return r > x ? r - 1.0f : r;
}

float ceilf(float x)
{
    const float r = rintf(x);
    return r < x ? r + 1.0f : r;
}

float truncf(float x) { return x < 0.0f ? ceilf(x) : floorf(x); }

float roundf(float x)
{
    const float t = truncf(x);
    if (fabsf(x - t) >= 0.5f) return x < 0.0f ? t - 1.0f : t + 1.0f;
    return t;
}

float fmaxf(float a, float b)
{
    if (isnan(a)) return b;
    if (isnan(b)) return a;
    return a > b ? a : b;
}

float fminf(float a, float b)
{
    if (isnan(a)) return b;
    if (isnan(b)) return a;
    return a < b ? a : b;
}

/* ---- exp, expm1, log, tanh ------------------------------------------------------------------------ */
static const float LN2_HI = 6.93145751953125e-1f; /* few mantissa bits: k * LN2_HI is exact */
static const float LN2_LO = 1.42860682030941723212e-6f;
static const float LOG2E = 1.44269504088896341f;

/* e^r - 1 for |r| <= 0.35, Taylor to r^8 (truncation below 3e-10 relative). */
static float expm1_small(float r)
{
    const float p = 1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 + r * (1.0f / 120 + r * (1.0f / 720 +
                    r * (1.0f / 5040 + r * (1.0f / 40320))))));
    return r + r * r * p;
}

float expf(float x)
{
    float k, r;
    if (isnan(x)) return x + x;
    if (x > 88.7228394f) return INFINITY;
    if (x < -103.972084f) return 0.0f;
    k = rintf(x * LOG2E);
    r = (x - k * LN2_HI) - k * LN2_LO;
    return scale2(1.0f + expm1_small(r), (int)k);
}

float expm1f(float x)
{
    if (fabsf(x) <= 0.35f) return expm1_small(x);
    if (x < -20.0f) return -1.0f;
    return expf(x) - 1.0f;
}

float logf(float x)
{
    uint32_t u = to_bits(x);
    int e;
    float m, f, s, z;
    if (isnan(x) || x == INFINITY) return x;
    if (x < 0.0f) return NAN;
    if (x == 0.0f) return -INFINITY;
    e = 0;
    if (u < 0x00800000u) { /* subnormal: normalise first */
        x *= 8388608.0f;
        u = to_bits(x);
        e = -23;
    }
    e += (int)(u >> 23) - 127;
    m = from_bits((u & 0x007FFFFFu) | 0x3F800000u); /* [1, 2) */
    if (m > 1.41421356f) {
        m *= 0.5f;
        ++e;
    }
    /* log(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172 */
    f = m - 1.0f;
    s = f / (2.0f + f);
    z = s * s;
    return (float)e * LN2_HI + (s * (2.0f + z * (2.0f / 3 + z * (2.0f / 5 + z * (2.0f / 7 + z * (2.0f / 9))))) +
                                (float)e * LN2_LO);
}

float tanhf(float x)
{
    const float a = fabsf(x);
    float t, y;
    if (isnan(x)) return x;
    if (a >= 9.0f) {
        y = 1.0f;
    } else {
        t = expm1f(2.0f * a); /* accurate for small a, where tanh(a) ~ a */
        y = t / (t + 2.0f);
    }
    return x < 0.0f ? -y : y;
}

/* ---- sqrt: integer square root of the mantissa, correctly rounded ----------------------------- */
float sqrtf(float x)
{
    uint32_t u = to_bits(x);
    uint32_t m;
    uint64_t n, r, bit;
    int e, k;
    if (isnan(x) || x == 0.0f || x == INFINITY) return x;
    if (x < 0.0f) return NAN;
    e = 0;
    if (u < 0x00800000u) {
        x *= 16777216.0f; /* 2^24: normalise a subnormal */
        u = to_bits(x);
        e = -24;
    }
    e += (int)(u >> 23) - 150; /* x = m * 2^e, m the 24-bit integer mantissa */
    m = (u & 0x007FFFFFu) | 0x00800000u;
    if (e & 1) { /* an even exponent halves exactly */
        m <<= 1;
        --e;
    }
    /* n = m * 2^k in [2^46, 2^48) with k even, so floor(sqrt(n)) has exactly 24 bits. */
    k = m < (1u << 24) ? 24 : 22;
    n = (uint64_t)m << k;
    e -= k;
    r = 0;
    bit = (uint64_t)1 << 46;
    while (bit > n) bit >>= 2;
    while (bit != 0u) { /* digit by digit: r = floor(sqrt(n)), n the remainder */
        if (n >= r + bit) {
            n -= r + bit;
            r = (r >> 1) + bit;
        } else {
            r >>= 1;
        }
        bit >>= 2;
    }
    if (n > r) ++r; /* remainder above r: the root is past r + 1/2 */
    return scale2((float)r, e / 2);
}
