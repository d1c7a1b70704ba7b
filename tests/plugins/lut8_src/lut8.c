#include "lut8.h"

#ifndef LUT8_OFFSET
#error "lut8: the backend's define LUT8_OFFSET did not reach the build"
#endif

void lut8_apply(const int8_t table[256], const int8_t* x, int8_t* y, int32_t n) {
    for (int32_t i = 0; i < n; ++i) {
        y[i] = table[x[i] + LUT8_OFFSET];
    }
}
