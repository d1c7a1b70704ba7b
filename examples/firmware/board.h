/* The board port of the example: the three things main.c needs from the hardware. board.c
 * implements them for QEMU (semihosting) and any Cortex-M (SysTick); on your board, send
 * board_print's text to a UART instead and keep the rest. */
#ifndef BOARD_H
#define BOARD_H

#include <stdint.h>

/* Write a NUL-terminated string to the console. */
void board_print(const char* text);
/* Stop: under QEMU, leave the emulator with this exit status. */
void board_exit(int status) __attribute__((noreturn));
/* Start the cycle counter (SysTick on the core clock), then read it: wraps after 2^32 cycles. */
void board_cycles_start(void);
uint32_t board_cycles(void);

#endif /* BOARD_H */
