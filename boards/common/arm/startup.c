/* Cortex-M startup for the aot test firmware on QEMU's MPS2/MPS3 machines (ARMv7-M and ARMv8-M).
 *
 * Vector table, .data/.bss initialisation, FPU/MVE enable, a stack guard (MSPLIM on ARMv8-M, an MPU
 * no-access region on ARMv7-M), fault handlers that print the fault over semihosting and exit with
 * AOT_EXIT_FAULT or AOT_EXIT_STACK_OVERFLOW, and an instruction counter from SysTick (under QEMU
 * -icount one instruction is one emulated nanosecond, so ticks * ns-per-tick = instructions). */
#include <stdint.h>

#include "aot_board.h"

#define REG(addr) (*(volatile uint32_t*)(addr))
#define SCB_ICSR REG(0xE000ED04u)
#define SCB_VTOR REG(0xE000ED08u)
#define SCB_CCR REG(0xE000ED14u)
#define SCB_SHCSR REG(0xE000ED24u)
#define SCB_CFSR REG(0xE000ED28u)
#define SCB_HFSR REG(0xE000ED2Cu)
#define SCB_MMFAR REG(0xE000ED34u)
#define SCB_BFAR REG(0xE000ED38u)
#define SCB_CPACR REG(0xE000ED88u)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define MPU_CTRL REG(0xE000ED94u)
#define MPU_RNR REG(0xE000ED98u)
#define MPU_RBAR REG(0xE000ED9Cu)
#define MPU_RASR REG(0xE000EDA0u)

#define CFSR_MSTKERR (1u << 4)
#define CFSR_MMARVALID (1u << 7)
#define CFSR_STKERR (1u << 12)
#define CFSR_STKOF (1u << 20) /* ARMv8-M UsageFault: stack limit (MSPLIM) violation */

#if defined(__ARM_ARCH_8M_MAIN__) || defined(__ARM_ARCH_8M_BASE__) || defined(__ARM_ARCH_8_1M_MAIN__)
#define AOT_ARMV8M 1
#else
#define AOT_ARMV8M 0
#endif

extern uint32_t __aot_data_load[];
extern uint32_t __aot_data_start[];
extern uint32_t __aot_data_end[];
extern uint32_t __aot_bss_start[];
extern uint32_t __aot_bss_end[];
extern uint32_t __aot_stack_guard[];
extern uint32_t __aot_stack_bottom[];
extern uint32_t __aot_stack_top[];
extern uint32_t __aot_fault_stack_top[];

int main(void);
void aot_board_paint_stack(uint32_t* below);
void Reset_Handler(void) __attribute__((noreturn));
void aot_fault_entry(void);
void aot_fault_report(const uint32_t* frame, uint32_t exception, uint32_t sp) __attribute__((noreturn, used));
void SysTick_Handler(void);
void Default_Handler(void);

/* ---- semihosting ------------------------------------------------------------------------------ */
#define SYS_WRITE0 0x04
#define SYS_EXIT_EXTENDED 0x20
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost(uint32_t op, const void* arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void* r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void aot_board_write(const char* text) { (void)semihost(SYS_WRITE0, text); }

void aot_board_exit(int status)
{
    /* SYS_EXIT_EXTENDED carries the status; plain SYS_EXIT only tells success from failure. */
    const uint32_t block[2] = {ADP_STOPPED_APPLICATION_EXIT, (uint32_t)status};
    for (;;) (void)semihost(SYS_EXIT_EXTENDED, block);
}

/* ---- instruction counter: SysTick on the processor clock, 24 bits, wraps counted in its IRQ ---- */
static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps = systick_wraps + 1u; }

void aot_board_counter_start(void)
{
    SYST_CSR = 0u;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0u;
    systick_wraps = 0u;
    SYST_CSR = 0x7u; /* processor clock, interrupt on wrap, enable */
    while (SYST_CVR == 0u) {
        /* the first tick loads the reload value: time zero */
    }
}

uint64_t aot_board_counter(void)
{
    uint32_t wraps, value;
    __asm__ volatile("" ::: "memory");
    do {
        wraps = systick_wraps;
        value = SYST_CVR;
    } while (wraps != systick_wraps);
    __asm__ volatile("" ::: "memory");
    /* The wrap interrupt fires as the count reaches 0, one tick before the reload. */
    if (value == 0u && wraps != 0u) --wraps;
    return (uint64_t)wraps * 0x01000000u + (0x00FFFFFFu - value);
}

/* ---- faults ------------------------------------------------------------------------------------- */
static void write_field(const char* label, uint32_t value)
{
    char text[16];
    aot_board_write(label);
    aot_board_hex32(text, value);
    aot_board_write(text);
}

static int in_ram(const uint32_t* p)
{
    return (uintptr_t)p >= (uintptr_t)__aot_stack_guard && (uintptr_t)p + 32u <= (uintptr_t)__aot_stack_top;
}

void aot_fault_report(const uint32_t* frame, uint32_t exception, uint32_t sp)
{
    static const char* const names[] = {"exception 0", "reset", "NMI", "HardFault", "MemManage",
                                        "BusFault", "UsageFault", "SecureFault"};
    const uint32_t cfsr = SCB_CFSR;
    const uintptr_t guard = (uintptr_t)__aot_stack_guard, bottom = (uintptr_t)__aot_stack_bottom;
    const int near_guard = sp < bottom + 64u ||
                           ((cfsr & CFSR_MMARVALID) && SCB_MMFAR >= guard && SCB_MMFAR < bottom);
    const int overflow = (cfsr & CFSR_STKOF) || ((cfsr & (CFSR_MSTKERR | CFSR_STKERR)) && near_guard) ||
                         ((cfsr & CFSR_MMARVALID) && SCB_MMFAR >= guard && SCB_MMFAR < bottom);
    aot_board_write(overflow ? "\n@aot stack_overflow" : "\n@aot fault");
    aot_board_write(" ");
    aot_board_write(exception < 8u ? names[exception] : "interrupt");
    if (!overflow && in_ram(frame)) { /* after a stacking error the frame holds nothing */
        write_field(" pc=", frame[6]);
        write_field(" lr=", frame[5]);
    }
    write_field(" sp=", sp);
    write_field(" cfsr=", cfsr);
    write_field(" hfsr=", SCB_HFSR);
    if (cfsr & CFSR_MMARVALID) write_field(" mmfar=", SCB_MMFAR);
    if (cfsr & (1u << 15)) write_field(" bfar=", SCB_BFAR);
    write_field(" exception=", exception);
    aot_board_write("\n");
    aot_board_exit(overflow ? AOT_EXIT_STACK_OVERFLOW : AOT_EXIT_FAULT);
}

/* The faulting stack may be the problem, so the handler moves to a stack of its own before any C
 * runs, after lifting MSPLIM (the fault stack lies above it anyway). */
__asm__(
    "  .section .text.aot_fault_entry,\"ax\",%progbits\n"
    "  .global aot_fault_entry\n"
    "  .type aot_fault_entry, %function\n"
    "  .thumb_func\n"
    "aot_fault_entry:\n"
    "  mrs r0, msp\n"
    "  mrs r1, ipsr\n"
    "  mov r2, r0\n"
#if AOT_ARMV8M
    "  movs r3, #0\n"
    "  msr msplim, r3\n"
#endif
    "  ldr r3, =__aot_fault_stack_top\n"
    "  mov sp, r3\n"
    "  bl aot_fault_report\n"
    "  .pool\n"
    "  .size aot_fault_entry, .-aot_fault_entry\n"
    "  .text\n");

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    aot_fault_report((const uint32_t*)0, ipsr, 0u);
}

/* ---- reset -------------------------------------------------------------------------------------- */
static void stack_guard(void)
{
#if AOT_ARMV8M
    __asm__ volatile("msr msplim, %0" : : "r"(__aot_stack_bottom) : "memory");
#else
    /* Region 0: the 256-byte guard below the stack, no access. PRIVDEFENA keeps the default map
     * everywhere else; HFNMIENA stays 0 so HardFault (where an overflow ends) ignores the MPU and
     * can stack its frame into the guard. */
    MPU_RNR = 0u;
    MPU_RBAR = (uint32_t)(uintptr_t)__aot_stack_guard;
    MPU_RASR = (1u << 28) | (7u << 1) | 1u; /* XN, AP=000 (no access), size 2^(7+1), enable */
    MPU_CTRL = (1u << 2) | 1u;
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
}

void Reset_Handler(void)
{
    uint32_t* src;
    uint32_t* dst;
    uint32_t* sp;
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
    SCB_CPACR |= 0xFu << 20; /* CP10/CP11 full access, before any floating-point instruction */
    __asm__ volatile("dsb\n isb" ::: "memory");
#endif
    for (src = __aot_data_load, dst = __aot_data_start; dst < __aot_data_end;) *dst++ = *src++;
    for (dst = __aot_bss_start; dst < __aot_bss_end;) *dst++ = 0u;
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    aot_board_paint_stack(sp - 16);
    SCB_SHCSR |= (1u << 17) | (1u << 18); /* own handlers for BusFault, UsageFault */
    SCB_CCR |= 1u << 4;                  /* integer division by zero traps */
    stack_guard();
    aot_board_exit(main());
}

typedef void (*vector_t)(void);

/* 16 system vectors and 16 external interrupts (none are enabled; any that fires is reported). */
__attribute__((section(".vectors"), used)) const vector_t aot_vectors[32] = {
    (vector_t)(uintptr_t)__aot_stack_top,
    Reset_Handler,
    Default_Handler,  /* NMI */
    aot_fault_entry,  /* HardFault */
    aot_fault_entry,  /* MemManage */
    aot_fault_entry,  /* BusFault */
    aot_fault_entry,  /* UsageFault */
    aot_fault_entry,  /* SecureFault (ARMv8-M) */
    0, 0, 0,
    Default_Handler,  /* SVCall */
    Default_Handler,  /* DebugMonitor */
    0,
    Default_Handler,  /* PendSV */
    SysTick_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, Default_Handler,
};
