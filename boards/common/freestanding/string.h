/* The <string.h> subset generated libraries use, for boards without a C library (see aot_libc.c). */
#ifndef AOT_FREESTANDING_STRING_H
#define AOT_FREESTANDING_STRING_H

#include <stddef.h>

void* memcpy(void* restrict dst, const void* restrict src, size_t n);
void* memmove(void* dst, const void* src, size_t n);
void* memset(void* dst, int value, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);

#endif /* AOT_FREESTANDING_STRING_H */
