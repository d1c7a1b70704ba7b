/* The <math.h> subset generated libraries use, for boards without a C library (see aot_libc.c).
 * Float functions only; a kernel needing another one needs a real libm (e.g. picolibc). */
#ifndef AOT_FREESTANDING_MATH_H
#define AOT_FREESTANDING_MATH_H

#define INFINITY (__builtin_inff())
#define NAN (__builtin_nanf(""))
#define HUGE_VALF INFINITY
#define isnan(x) __builtin_isnan(x)
#define isinf(x) __builtin_isinf(x)
#define isfinite(x) __builtin_isfinite(x)
#define signbit(x) __builtin_signbit(x)

float expf(float x);
float expm1f(float x);
float logf(float x);
float sqrtf(float x);
float tanhf(float x);
float fabsf(float x);
float rintf(float x);
float nearbyintf(float x);
long lrintf(float x);
float floorf(float x);
float ceilf(float x);
float truncf(float x);
float roundf(float x);
float fmaxf(float a, float b);
float fminf(float a, float b);

#endif /* AOT_FREESTANDING_MATH_H */
