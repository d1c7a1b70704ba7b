"""Compile a generated library's own C files under the strict warning flags (no tests here).

Used by tests/test_strict_warnings.py and by the hand-run sweep tests/strict_sweep.py. One compiler
process per library, front end only (-fsyntax-only: these warnings all come from the front end, and
the code generation of a large kernels file costs ten times its parsing; the normal builds compile the
same files at -O2 with -Werror): every top-level generated .c file of the folder, with the
include folders, defines and per-target flags its backends declare (metadata.json "build") and the
board's CPU flags. External sources (CMSIS-NN's own files) are not ours and are not compiled; their
include folders are passed as -isystem so that their headers' warnings are not counted either.
"""
from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path

from aot.backends.build import target_keys
from aot.targets.board import resolve_board

# -Wcast-align=strict: gcc warns on the host too (plain -Wcast-align only where the target needs
# alignment, e.g. Cortex-M); clang's -Wcast-align is already the strict form.
GCC_FLAGS = ["-Wall", "-Wextra", "-Wcast-align=strict", "-Wsign-conversion", "-Wconversion", "-Wshadow"]
CLANG_FLAGS = ["-Wall", "-Wextra", "-Wcast-align", "-Wsign-conversion", "-Wconversion", "-Wshadow"]
# "[-Wshadow]"; under -Werror gcc says "[-Werror=shadow]", clang "[-Werror,-Wshadow]".
_WARNING = re.compile(r"^(\S+?):(\d+):\d+: (?:warning|error): .*\[(?:-Werror[=,])?-?W?([\w-]+)[^\]]*\]$", re.M)


def strict_command(lib: Path, board_name: str, cc_kind: str, werror: bool = True) -> list[str]:
    """The compiler command that builds ``lib``'s generated .c files for ``board_name`` (-c)."""
    board = resolve_board(board_name)
    meta = json.loads((lib / "metadata.json").read_text())
    keys = target_keys(board)
    flags: list[str] = []
    for entry in meta.get("build", {}).values():
        flags += [f"-I{lib / d}" for d in entry.get("include_dirs", [])]
        flags += [f"-isystem{d}" for d in entry.get("external_include_dirs", [])]
        flags += [f"-D{d}" for d in entry.get("defines", [])] + list(entry.get("cflags", []))
        for key, extra in entry.get("target_cflags", {}).items():
            if key in keys:
                flags += extra
    if board.is_host:
        cc, cpu = ("clang" if cc_kind == "clang" else "gcc"), []
    else:
        cc, cpu = board.compiler(cc_kind), board.compile_flags(cc_kind)
        if board.libc == "none":
            cpu += ["-ffreestanding", f"-isystem{lib / 'libc'}"]
    warn = CLANG_FLAGS if cc_kind == "clang" else GCC_FLAGS
    sources = sorted(str(p) for p in lib.glob("*.c"))
    return [cc, "-std=c99", *warn, *(["-Werror"] if werror else []), "-ffp-contract=off", *cpu,
            f"-I{lib}", *flags, "-fsyntax-only", *sources]


def compile_strict(lib: Path, board_name: str, cc_kind: str, werror: bool = True) -> subprocess.CompletedProcess:
    """Run strict_command (it writes no files)."""
    return subprocess.run(strict_command(lib, board_name, cc_kind, werror), capture_output=True, text=True)


def warnings_by_flag(output: str) -> Counter:
    """Distinct diagnostics (file, line, flag) counted per warning flag."""
    seen = {(Path(f).name, line, f"-W{flag}") for f, line, flag in _WARNING.findall(output)}
    return Counter(flag for _, _, flag in seen)
