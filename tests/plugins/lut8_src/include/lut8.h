/* lut8 plug-in runtime: one int8 table lookup per element (its kernels call this). */
#ifndef LUT8_H
#define LUT8_H
#include <stdint.h>

void lut8_apply(const int8_t table[256], const int8_t* x, int8_t* y, int32_t n);

#endif
