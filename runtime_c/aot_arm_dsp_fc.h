/* Helpers of the arm-dsp backend's fully connected kernels on packed weights (fc_packed.c.j2,
 * aot/backends/arm_dsp/fc_packing.py). Each step is one asm statement: its loads stay next to their
 * multiplies (clang otherwise hoists every load of a block first and spills the accumulators), and the
 * pointers advance by post-increment. Included after aot_arm_dsp.h (aot_alias_i32, arm_acle.h). */
#ifndef AOT_ARM_DSP_FC_H
#define AOT_ARM_DSP_FC_H

#include <stdint.h>

/* The four int8 at p as one word (LDR: any alignment on cores with the DSP extension); p += 4.
 * memcpy would do, but clang for bare-metal Arm assumes strict alignment and loads bytes. */
#define AOT_FC_LOAD_X(V, P) \
    __asm__("ldr %0, [%1], #4" : "=r"(V), "+r"(P) : "m"(*(const aot_alias_i32*)(const void*)(P)))

/* The four int8 at p, x0 x1 x2 x3, as the int16 lanes XE = (x0, x2) and XO = (x1, x3); p += 4. */
#define AOT_FC_LOAD_X16(XE, XO, P)                                                                \
    __asm__("ldr %[o], [%[p]], #4\n\t"                                                          \
            "sxtb16 %[e], %[o]\n\t"                                                             \
            "sxtb16 %[o], %[o], ror #8"                                                          \
            : [e] "=&r"(XE), [o] "=&r"(XO), [p] "+r"(P) : "m"(*(const aot_alias_i32*)(const void*)(P)))

/* Two output rows, int8 weights paired per word (lane = 256 * w_hi + w_lo + 128, lanes k0 k2 then
 * k1 k3): h += raw lanes . x, l += low bytes . x, for the input lanes xe = (x0, x2), xo = (x1, x3);
 * w += 8. */
#define AOT_FC_PAIR(H, L, W, XE, XO) \
    do {                                                                                          \
        int32_t lo_, hi_;                                                                         \
        __asm__("ldrd %[lo], %[hi], [%[w]], #8\n\t"                                               \
                "smlad %[h], %[lo], %[xe], %[h]\n\t"                                              \
                "uxtb16 %[lo], %[lo]\n\t"                                                         \
                "smlad %[l], %[lo], %[xe], %[l]\n\t"                                              \
                "smlad %[h], %[hi], %[xo], %[h]\n\t"                                              \
                "uxtb16 %[hi], %[hi]\n\t"                                                         \
                "smlad %[l], %[hi], %[xo], %[l]"                                                  \
                : [h] "+r"(H), [l] "+r"(L), [w] "+r"(W), [lo] "=&r"(lo_), [hi] "=&r"(hi_)         \
                : [xe] "r"(XE), [xo] "r"(XO), "m"(*(const aot_alias_i32(*)[2])(const void*)(W)));              \
    } while (0)

/* One output row, int16 weights (lanes k0 k2 then k1 k3): a += w . x; w += 8. */
#define AOT_FC_WIDE(A, W, XE, XO) \
    do {                                                                                          \
        int32_t lo_, hi_;                                                                         \
        __asm__("ldrd %[lo], %[hi], [%[w]], #8\n\t"                                               \
                "smlad %[a], %[lo], %[xe], %[a]\n\t"                                              \
                "smlad %[a], %[hi], %[xo], %[a]"                                                  \
                : [a] "+r"(A), [w] "+r"(W), [lo] "=&r"(lo_), [hi] "=&r"(hi_)                      \
                : [xe] "r"(XE), [xo] "r"(XO), "m"(*(const aot_alias_i32(*)[2])(const void*)(W)));              \
    } while (0)

/* One output row, four int8 weights in their order: a += w . x; w += 4. */
#define AOT_FC_SINGLE(A, W, XE, XO) \
    do {                                                                                          \
        int32_t v_, t_;                                                                           \
        __asm__("ldr %[v], [%[w]], #4\n\t"                                                        \
                "sxtb16 %[t], %[v]\n\t"                                                           \
                "smlad %[a], %[t], %[xe], %[a]\n\t"                                               \
                "sxtb16 %[t], %[v], ror #8\n\t"                                                   \
                "smlad %[a], %[t], %[xo], %[a]"                                                   \
                : [a] "+r"(A), [w] "+r"(W), [v] "=&r"(v_), [t] "=&r"(t_)                          \
                : [xe] "r"(XE), [xo] "r"(XO), "m"(*(const aot_alias_i32*)(const void*)(W)));                   \
    } while (0)

#endif /* AOT_ARM_DSP_FC_H */
