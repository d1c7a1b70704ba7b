/* Helpers of the helium backend's kernels (kernels_helium.c): Helium, the M-profile Vector Extension
 * (MVE) of Cortex-M55, through the ACLE intrinsics of arm_mve.h. aot copies this file into a library
 * only when a layer runs on that backend, which aot offers only for boards whose board.toml lists the
 * "mve" feature. The kernels compute the ref backend's integers, bit for bit. */
#ifndef AOT_HELIUM_H
#define AOT_HELIUM_H

#if !defined(__ARM_FEATURE_MVE)
#error "kernels of the helium backend need Helium (MVE, e.g. -mcpu=cortex-m55); compile for a board with the mve feature, or with --backend arm-dsp or ref"
#endif
#include <arm_mve.h>

#endif /* AOT_HELIUM_H */
