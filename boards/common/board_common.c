/* Parts of the board port every architecture shares: stack high-water mark and number formatting. */
#include "aot_board.h"

/* Set by the linker script: the stack occupies [__aot_stack_bottom, __aot_stack_top). */
extern uint32_t __aot_stack_bottom[];
extern uint32_t __aot_stack_top[];

#define AOT_STACK_PAINT 0xA07C0DE5u

/* The 256 bytes below the stack that the MPU, MSPLIM or PMP guard (the linker script places them).
 * An object rather than a gap, so every linker marks the stack's section writable, no-load data. */
uint32_t aot_stack_guard[64] __attribute__((section(".bss.aot_stack_guard"), used));

/* Called by the startup code before main: fill the unused stack below the caller's frame with a
 * pattern, so the lowest overwritten word later tells how deep the stack went. */
void aot_board_paint_stack(uint32_t* below)
{
    volatile uint32_t* p = __aot_stack_bottom;
    while (p < below) *p++ = AOT_STACK_PAINT;
}

size_t aot_board_stack_size(void)
{
    return (size_t)((uintptr_t)__aot_stack_top - (uintptr_t)__aot_stack_bottom);
}

size_t aot_board_stack_used(void)
{
    const volatile uint32_t* p = __aot_stack_bottom;
    while (p < __aot_stack_top && *p == AOT_STACK_PAINT) ++p;
    return (size_t)((uintptr_t)__aot_stack_top - (uintptr_t)p);
}

char* aot_board_utoa(char* out, uint64_t value)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(value % 10u));
        value /= 10u;
    } while (value != 0u);
    while (n > 0) *out++ = digits[--n];
    *out = '\0';
    return out;
}

char* aot_board_hex32(char* out, uint32_t value)
{
    static const char hex[] = "0123456789abcdef";
    int shift;
    *out++ = '0';
    *out++ = 'x';
    for (shift = 28; shift >= 0; shift -= 4) *out++ = hex[(value >> shift) & 0xFu];
    *out = '\0';
    return out;
}
