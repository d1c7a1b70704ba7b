#ifndef AOT_FAKE_STDDEF_H
#define AOT_FAKE_STDDEF_H
typedef unsigned long size_t;
#define NULL ((void*)0)
#endif
