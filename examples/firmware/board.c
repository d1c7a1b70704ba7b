/* board.h for QEMU's mps2-an386 and any other Cortex-M: console and exit over semihosting (QEMU
 * with -semihosting, or a debugger attached to real hardware), cycles from SysTick. */
#include "board.h"

/* ---- console and exit: Arm semihosting ------------------------------------------------------------
 * Without a debugger (or QEMU) attached, the BKPT instruction faults: on a board of your own, write
 * board_print with your UART driver and make board_exit loop forever. */
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static void semihost(uint32_t op, const void* arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void* r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
}

void board_print(const char* text) { semihost(SYS_WRITE0, text); }

void board_exit(int status)
{
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) semihost(SYS_EXIT_EXTENDED, block);
}

/* ---- cycles: SysTick, on every Cortex-M ----------------------------------------------------------
 * A 24-bit down-counter on the core clock; its interrupt counts the wraps. On hardware one tick is
 * one core cycle. QEMU does not model cycles: under -icount shift=0 it runs one instruction per
 * emulated nanosecond and clocks SysTick at 25 MHz, so one tick there is 40 instructions. */
#define SYST_CSR (*(volatile uint32_t*)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t*)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t*)0xE000E018u)
#define SYST_RELOAD 0x00FFFFFFu

static volatile uint32_t systick_wraps;

void SysTick_Handler(void);
void SysTick_Handler(void) { systick_wraps = systick_wraps + 1u; }

void board_cycles_start(void)
{
    SYST_CSR = 0u;
    SYST_RVR = SYST_RELOAD;
    SYST_CVR = 0u;
    systick_wraps = 0u;
    SYST_CSR = 0x7u; /* core clock, interrupt on wrap, enable */
    while (SYST_CVR == 0u) {
        /* the first tick loads the reload value: time zero */
    }
}

uint32_t board_cycles(void)
{
    uint32_t wraps, value;
    do { /* read both without a wrap in between */
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    /* The interrupt fires as the count reaches 0, one tick before the reload. */
    if (value == 0u && wraps != 0u) --wraps;
    return wraps * (SYST_RELOAD + 1u) + (SYST_RELOAD - value);
}
