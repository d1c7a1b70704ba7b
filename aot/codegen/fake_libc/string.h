#ifndef AOT_FAKE_STRING_H
#define AOT_FAKE_STRING_H
#include <stddef.h>
void* memcpy(void* dst, const void* src, size_t n);
void* memset(void* dst, int c, size_t n);
void* memmove(void* dst, const void* src, size_t n);
#endif
