/* aot board port: what the test firmware (templates/firmware/main.c.j2) needs from a board's startup
 * code. Each architecture folder under boards/common implements it once; a board folder picks one
 * in its board.toml ([firmware] sources). */
#ifndef AOT_BOARD_H
#define AOT_BOARD_H

#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the firmware; QEMU exits with them (semihosting SYS_EXIT_EXTENDED).
 * 1 and 2 are left to aot itself (outputs differ, error), so a firmware status never reads as one. */
#define AOT_EXIT_OK 0
#define AOT_EXIT_RUN_ERROR 3      /* <prefix>_run returned a non-zero status */
#define AOT_EXIT_FAULT 4          /* a CPU fault or unexpected trap */
#define AOT_EXIT_STACK_OVERFLOW 5 /* the stack ran into its guard */

/* Write a NUL-terminated line fragment to the host (semihosting console). */
void aot_board_write(const char* text);
/* Leave the emulator with this exit status. */
void aot_board_exit(int status) __attribute__((noreturn));
/* Start the instruction counter. */
void aot_board_counter_start(void);
/* Raw counter value: instructions = value * instructions_per_tick of the board.toml. */
uint64_t aot_board_counter(void);
/* Bytes of stack below the initial stack pointer, and the most of them ever used (stack painting). */
size_t aot_board_stack_size(void);
size_t aot_board_stack_used(void);

/* Shared by the startup files: decimal and hex text without printf. */
char* aot_board_utoa(char* out, uint64_t value);
char* aot_board_hex32(char* out, uint32_t value);

#endif /* AOT_BOARD_H */
