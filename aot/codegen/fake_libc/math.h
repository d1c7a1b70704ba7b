#ifndef AOT_FAKE_MATH_H
#define AOT_FAKE_MATH_H
#define INFINITY (1e300 * 1e300)
#define NAN (0.0f / 0.0f)
#define HUGE_VALF INFINITY
float expf(float); float logf(float); float sqrtf(float); float tanhf(float); float fabsf(float);
float floorf(float); float ceilf(float); float roundf(float); float powf(float, float); float erff(float);
float fmaxf(float, float); float fminf(float, float); float nearbyintf(float); float rintf(float);
float sinf(float); float cosf(float); float tanf(float); float atanf(float); float asinf(float); float acosf(float);
float sinhf(float); float coshf(float); float log1pf(float); float expm1f(float); float fmodf(float, float);
double exp(double); double log(double); double sqrt(double); double floor(double); double round(double);
long lroundf(float); long lrintf(float);
float asinhf(float); float acoshf(float); float atanhf(float);
double sin(double); double cos(double); double tan(double); double asin(double); double acos(double);
double atan(double); double sinh(double); double cosh(double); double tanh(double); double asinh(double);
double acosh(double); double atanh(double); double erf(double); double ceil(double); double fabs(double);
double nearbyint(double); double fmod(double, double); double pow(double, double);
#endif
