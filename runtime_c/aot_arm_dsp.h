/* Helpers of the arm-dsp backend's kernels (kernels_arm-dsp.c): the Arm DSP extension of Cortex-M4,
 * M7, M33 and M55 (SIMD on two int16 or four int8 lanes of a register). aot copies this file into a
 * library only when a layer runs on that backend, which aot offers only for boards whose board.toml
 * lists the "dsp" feature. The kernels compute the ref backend's integers, bit for bit. */
#ifndef AOT_ARM_DSP_H
#define AOT_ARM_DSP_H

#if !defined(__ARM_FEATURE_DSP)
#error "kernels of the arm-dsp backend need the Arm DSP extension (e.g. -mcpu=cortex-m4); compile for a board with the dsp feature, or with --backend ref"
#endif
#include <arm_acle.h>
#include <stdint.h>
#include <string.h>

/* int8 lanes 1 and 3 of x, sign-extended into two int16 lanes (SXTB16 with its built-in rotation;
 * __sxtb16(x) gives lanes 0 and 2). */
static inline int32_t aot_sxtb16_ror8(int32_t x) {
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* a + int8 lanes 1 and 3 of x, sign-extended, per int16 lane (SXTAB16 with its rotation). */
static inline int32_t aot_sxtab16_ror8(int32_t a, int32_t x) {
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(x));
    return r;
}
/* Two int16 lanes: lo's low half and hi's low half (PKHBT), lo's high half and hi's high half (PKHTB). */
static inline int32_t aot_pack16(int32_t lo, int32_t hi) {
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
static inline int32_t aot_pack16_top(int32_t lo, int32_t hi) {
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
/* A type through which any object may be read or written (no strict-aliasing assumptions). */
typedef int32_t __attribute__((may_alias)) aot_alias_i32;
/* lo, hi = the two words at p (word aligned); p += 8: one LDRD with post-increment. */
#define AOT_LDRD_POST(lo, hi, p)                                                                  \
    __asm__("ldrd %0, %1, [%2], #8" : "=r"(lo), "=r"(hi), "+r"(p) : "m"(*(const aot_alias_i32(*)[2])(const void*)(p)))

/* The four bytes at p + off, any alignment: an expression. Every core with the DSP extension loads
 * a word from any address with LDR; gcc knows it (__ARM_FEATURE_UNALIGNED) and aot_load_s8x4's
 * memcpy is one LDR, but clang's bare-metal targets assume strict alignment and make four LDRBs and
 * three ORRs of it. For them one volatile asm LDR (off: a constant, -255 .. 4095): volatile, so it
 * is neither hoisted nor merged; a kernel reading memory it wrote itself puts AOT_TILE_FENCE()
 * between the writes and these reads, on both sides. */
#if defined(__ARM_FEATURE_UNALIGNED) || !(defined(__GNUC__) || defined(__clang__))
#define AOT_LOAD4(p, off) aot_load_s8x4((p) + (off))
#else
#define AOT_LOAD4(p, off)                                                                         \
    __extension__({ int32_t v_; __asm__ volatile("ldr %0, [%1, #%c2]" : "=r"(v_) : "r"(p), "n"(off)); v_; })
#endif

/* The four bytes at s + soff copied to d + doff, any alignment (soff, doff: constants 0 .. 4095):
 * one LDR and one STR, also with clang (see AOT_LOAD4). */
#if defined(__ARM_FEATURE_UNALIGNED) || !(defined(__GNUC__) || defined(__clang__))
#define AOT_COPY4(d, doff, s, soff) memcpy((d) + (doff), (s) + (soff), 4)
#else
#define AOT_COPY4(d, doff, s, soff)                                                               \
    do {                                                                                          \
        int32_t t_;                                                                               \
        __asm__ volatile("ldr %0, [%1, #%c2]\n\tstr %0, [%3, #%c4]"                                 \
                         : "=&r"(t_) : "r"(s), "n"(soff), "r"(d), "n"(doff) : "memory");          \
    } while (0)
#endif

/* The tiled Conv's inner step as whole instruction sequences (templates/arm-dsp/int8/conv_gemm.c.j2).
 * Each is one volatile asm: the compilers keep them in program order, so a group's weight word is
 * unpacked just before the pixels that use it and every LDRD is consumed at once. With the loads as
 * separate statements clang hoisted all of a channel's loads ahead of the multiplies and spilled
 * them (1.75x gcc's instructions). They read the tile and the weights without telling the compiler:
 * the kernel puts a memory fence (AOT_TILE_FENCE) between the tile's writes and these reads, on
 * both sides. */
#define AOT_TILE_FENCE() __asm__ volatile("" ::: "memory")
/* we, wo = the two words at w (word aligned): a group of four k already unpacked to int16 lanes
 * (k0 k2, k1 k3) at compile time; w += 2 words: one LDRD. */
#define AOT_W16_POST(we, wo, w)                                                                   \
    __asm__ volatile("ldrd %0, %1, [%2], #8" : "=&r"(we), "=&r"(wo), "+r"(w))
/* we, wo = the int8 word at w (four k, k0 in the low byte, word aligned) unpacked to int16 lanes
 * (k0 k2 by SXTB16, k1 k3 by SXTB16 ROR 8); w += 1 word: LDR and two SXTB16 (the default
 * arm-dsp.weights=int8: the weights keep the model's bytes in flash). */
#define AOT_W8_POST(we, wo, w)                                                                    \
    __asm__ volatile("ldr %1, [%2], #4\n\tsxtb16 %0, %1, ror #8\n\tsxtb16 %1, %1"                \
                     : "=&r"(wo), "=&r"(we), "+r"(w))
/* acc = bias + the dot product of the tile's two words at c with we, wo; c += 8 (AOT_MAC4_POST's
 * first group: the accumulator starts from the bias without a MOV). */
#define AOT_MAC4_FIRST(acc, bias, we, wo, c, lo, hi)                                              \
    __asm__ volatile("ldrd %1, %2, [%3], #8\n\tsmlad %0, %1, %4, %6\n\tsmlad %0, %2, %5, %0"       \
                     : "=&r"(acc), "=&r"(lo), "=&r"(hi), "+r"(c) : "r"(we), "r"(wo), "r"(bias))
/* acc += the dot product of the tile's two words at c (int16 lanes k0 k2, k1 k3) with we, wo;
 * c += 8: LDRD with post-increment and two SMLADs. lo and hi are scratch registers. */
#define AOT_MAC4_POST(acc, we, wo, c, lo, hi)                                                     \
    __asm__ volatile("ldrd %1, %2, [%3], #8\n\tsmlad %0, %1, %4, %0\n\tsmlad %0, %2, %5, %0"       \
                     : "+r"(acc), "=&r"(lo), "=&r"(hi), "+r"(c) : "r"(we), "r"(wo))

#endif /* AOT_ARM_DSP_H */
