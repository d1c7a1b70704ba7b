/* RV32 machine-mode startup for the aot test firmware on QEMU virt (-bios none).
 *
 * _start sets gp, sp and the trap vector, then C copies .data, clears .bss, paints the stack and
 * locks a PMP no-access region over the 256-byte guard below it. The trap handler moves to a stack
 * of its own, prints the cause over semihosting and exits with AOT_EXIT_FAULT, or with
 * AOT_EXIT_STACK_OVERFLOW when the faulting address is in the guard. The instruction counter is
 * minstret, exact under QEMU -icount. */
#include <stdint.h>

#include "aot_board.h"

extern uint32_t __aot_data_load[];
extern uint32_t __aot_data_start[];
extern uint32_t __aot_data_end[];
extern uint32_t __aot_bss_start[];
extern uint32_t __aot_bss_end[];
extern uint32_t __aot_stack_guard[];
extern uint32_t __aot_stack_bottom[];
extern uint32_t __aot_stack_top[];

int main(void);
void aot_board_paint_stack(uint32_t* below);
void aot_riscv_reset(void) __attribute__((noreturn, used));
void aot_trap_report(uint32_t cause, uint32_t pc, uint32_t tval, uint32_t sp) __attribute__((noreturn, used));

__asm__(
    "  .section .text.aot_start,\"ax\",@progbits\n"
    "  .global _start\n"
    "_start:\n"
    "  .option push\n"
    "  .option norelax\n"
    "  la gp, __global_pointer$\n"
    "  .option pop\n"
    "  la sp, __aot_stack_top\n"
    "  la t0, aot_trap_entry\n"
    "  csrw mtvec, t0\n"
    "  j aot_riscv_reset\n"
    "  .balign 4\n"
    "aot_trap_entry:\n"
    "  csrw mscratch, sp\n"
    "  la sp, __aot_fault_stack_top\n"
    "  csrr a0, mcause\n"
    "  csrr a1, mepc\n"
    "  csrr a2, mtval\n"
    "  csrr a3, mscratch\n"
    "  j aot_trap_report\n"
    "  .text\n");

/* ---- semihosting: the uncompressed slli/ebreak/srai sequence, kept within one page ------------ */
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost(uint32_t op, const void* arg)
{
    register uint32_t a0 __asm__("a0") = op;
    register const void* a1 __asm__("a1") = arg;
    __asm__ volatile(
        ".option push\n"
        ".balign 16\n"
        ".option norvc\n"
        "slli x0, x0, 0x1f\n"
        "ebreak\n"
        "srai x0, x0, 7\n"
        ".option pop\n"
        : "+r"(a0)
        : "r"(a1)
        : "memory");
    return a0;
}

void aot_board_write(const char* text) { (void)semihost(SYS_WRITE0, text); }

void aot_board_exit(int status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) (void)semihost(SYS_EXIT_EXTENDED, block);
}

/* ---- instruction counter -------------------------------------------------------------------- */
void aot_board_counter_start(void) {}

uint64_t aot_board_counter(void)
{
    uint32_t hi, lo, again;
    do {
        __asm__ volatile("csrr %0, minstreth" : "=r"(hi));
        __asm__ volatile("csrr %0, minstret" : "=r"(lo));
        __asm__ volatile("csrr %0, minstreth" : "=r"(again));
    } while (hi != again);
    return ((uint64_t)hi << 32) | lo;
}

/* ---- traps ------------------------------------------------------------------------------------ */
static void write_field(const char* label, uint32_t value)
{
    char text[16];
    aot_board_write(label);
    aot_board_hex32(text, value);
    aot_board_write(text);
}

void aot_trap_report(uint32_t cause, uint32_t pc, uint32_t tval, uint32_t sp)
{
    static const char* const names[] = {
        "instruction address misaligned", "instruction access fault", "illegal instruction", "breakpoint",
        "load address misaligned", "load access fault", "store address misaligned", "store access fault",
        "environment call from U-mode", "environment call from S-mode", "reserved", "environment call from M-mode"};
    const uintptr_t guard = (uintptr_t)__aot_stack_guard, bottom = (uintptr_t)__aot_stack_bottom;
    const int access = cause == 5u || cause == 7u;
    const int overflow = access && tval >= guard && tval < bottom;
    aot_board_write(overflow ? "\n@aot stack_overflow " : "\n@aot fault ");
    aot_board_write((cause & 0x80000000u) ? "interrupt" : (cause < 12u ? names[cause] : "exception"));
    write_field(" pc=", pc);
    write_field(" mtval=", tval);
    write_field(" sp=", sp);
    write_field(" mcause=", cause);
    aot_board_write("\n");
    aot_board_exit(overflow ? AOT_EXIT_STACK_OVERFLOW : AOT_EXIT_FAULT);
}

/* ---- reset ------------------------------------------------------------------------------------ */
static void stack_guard(void)
{
    /* PMP entry 0, NAPOT over the 256-byte guard, no permissions, locked (so it binds M-mode too).
     * Addresses no entry matches stay accessible to M-mode. */
    const uint32_t napot = ((uint32_t)(uintptr_t)__aot_stack_guard >> 2) | ((256u >> 3) - 1u);
    __asm__ volatile("csrw pmpaddr0, %0" : : "r"(napot));
    __asm__ volatile("csrw pmpcfg0, %0" : : "r"(0x98u)); /* L | A=NAPOT */
}

void aot_riscv_reset(void)
{
    uint32_t* src;
    uint32_t* dst;
    uint32_t* sp;
    for (src = __aot_data_load, dst = __aot_data_start; dst < __aot_data_end;) *dst++ = *src++;
    for (dst = __aot_bss_start; dst < __aot_bss_end;) *dst++ = 0u;
    __asm__ volatile("mv %0, sp" : "=r"(sp));
    aot_board_paint_stack(sp - 16);
    stack_guard();
    aot_board_exit(main());
}
