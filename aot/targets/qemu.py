"""Run a firmware ELF under QEMU: the board's command line with the ELF filled in, a wall-clock
time-out, and the "@aot ..." lines the firmware prints over semihosting (QEMU writes them to its
stderr). Deterministic: the board commands use -icount, so instruction counts repeat exactly."""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import AotError
from .board import Board

TIMEOUT_STATUS = 124  # as timeout(1) reports a time-out
RECORD = "@aot "

# Firmware exit statuses (boards/common/aot_board.h).
EXIT_RUN_ERROR = 3
EXIT_FAULT = 4
EXIT_STACK_OVERFLOW = 5


@dataclass
class QemuRun:
    command: list[str]
    status: int
    output: str  # stdout and stderr, in that order
    seconds: float
    timed_out: bool = False
    records: list[list[str]] = field(default_factory=list)

    def values(self, key: str) -> list[list[str]]:
        return [r[1:] for r in self.records if r and r[0] == key]

    def value(self, key: str) -> str | None:
        found = self.values(key)
        return " ".join(found[-1]) if found else None


def qemu_command(board: Board, elf: Path) -> list[str]:
    if not board.qemu_command:
        raise AotError(f"board '{board.name}' has no [qemu] command; it cannot run firmware")
    return [a.replace("{elf}", str(elf)) for a in board.qemu_command]


def parse_records(text: str) -> list[list[str]]:
    """Fields of every line holding "@aot " (faults start a fresh line; tolerate a prefix anyway)."""
    records = []
    for line in text.splitlines():
        at = line.find(RECORD)
        if at >= 0:
            records.append(line[at + len(RECORD):].split())
    return records


def run_qemu(board: Board, elf: Path, timeout: float = 60.0) -> QemuRun:
    """Run ``elf`` on the board's QEMU machine; a run past ``timeout`` seconds is killed and
    reported with status 124."""
    cmd = qemu_command(board, elf)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except FileNotFoundError:
        board.require_tools()
        raise
    except subprocess.TimeoutExpired as exc:
        out = (_text(exc.stdout) + _text(exc.stderr))
        return QemuRun(cmd, TIMEOUT_STATUS, out, time.perf_counter() - t0, True, parse_records(out))
    out = proc.stdout + proc.stderr
    return QemuRun(cmd, proc.returncode, out, time.perf_counter() - t0, False, parse_records(out))


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode(errors="replace")
