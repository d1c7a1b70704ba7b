/* Startup for any Cortex-M core: the vector table, the reset handler (FPU on, .data copied, .bss
 * cleared, then main) and a fault handler. Nothing here is specific to a vendor; a chip's own
 * startup file (from its SDK) can replace it, as long as it calls main and routes SysTick to
 * SysTick_Handler (board.c). */
#include <stdint.h>

#include "board.h"

extern uint32_t _sidata[], _sdata[], _edata[], _sbss[], _ebss[], _estack[];

int main(void);
void Reset_Handler(void);
void Fault_Handler(void);
void SysTick_Handler(void);

#define SCB_CPACR (*(volatile uint32_t*)0xE000ED88u)

void Reset_Handler(void)
{
    uint32_t* src = _sidata;
    uint32_t* dst;
#if defined(__ARM_FP)
    /* Floating-point code (the library is built with -mfloat-abi=hard) needs CP10/CP11 enabled. */
    SCB_CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    for (dst = _sdata; dst < _edata;) *dst++ = *src++;
    for (dst = _sbss; dst < _ebss;) *dst++ = 0u;
    board_exit(main());
}

/* Any fault or unexpected interrupt: report it and stop. */
void Fault_Handler(void)
{
    board_print("fault\n");
    board_exit(99);
}

typedef void (*vector_t)(void);

/* The 16 system vectors; a chip adds its interrupts after them (none are used here). */
__attribute__((section(".vectors"), used)) const vector_t vectors[16] = {
    (vector_t)(uintptr_t)_estack, /* initial stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0, 0, 0, 0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};
