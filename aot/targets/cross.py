"""Cross builds for a board: the build files a library folder gets (board.mk, and the freestanding
libc subset for toolchains without one), ``make`` of the static library with the board's gcc or
with clang, the firmware link, and section sizes."""
from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..codegen.env import make_environment
from ..errors import AotError
from ..resources import boards_dir
from .board import Board

FREESTANDING_FILES = ("math.h", "string.h", "aot_libc.c")
CC_KINDS = ("gcc", "clang")


def board_files(board: Board, prefix: str) -> dict[str, str]:
    """Files a library folder compiled for ``board`` gets besides the generic ones."""
    if board.is_host:
        return {}
    env = make_environment()
    files = {"board.mk": env.get_template("model/board.mk.j2").render(board=board, prefix=prefix, version=__version__)}
    if board.libc == "none":
        for name in FREESTANDING_FILES:
            files[f"libc/{name}"] = (boards_dir() / "common" / "freestanding" / name).read_text()
    return files


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise AotError(f"{what} failed (exit {proc.returncode}):\n$ {' '.join(cmd)}\n{proc.stdout}{proc.stderr}".rstrip())
    return proc


def check_cc_kind(cc_kind: str) -> None:
    if cc_kind not in CC_KINDS:
        raise AotError(f"compiler '{cc_kind}' is not one of {', '.join(CC_KINDS)}")


def make_command(lib_dir: Path, board: Board, cc_kind: str, cflags: str) -> list[str]:
    """``make`` of lib<prefix>.a exactly as a user runs it; board.mk is named explicitly when the
    Makefile does not include it already (it guards against a second reading)."""
    makefile = (lib_dir / "Makefile").read_text()
    files = [] if re.search(r"^-?include\s+board\.mk", makefile, re.M) else ["-f", "Makefile", "-f", "board.mk"]
    jobs = f"-j{min(4, os.cpu_count() or 1)}"  # model.c (weights) and the kernels compile side by side
    # AOT_WERROR=1: aot's own builds hold the generated C to -Werror (users get warnings only).
    cmd = ["make", "-s", jobs, "-C", str(lib_dir), *files, f"CFLAGS={cflags}", "AOT_WERROR=1"]
    if cc_kind == "clang":
        cmd.append("CC=clang")
    return cmd


def build_library(lib_dir: Path, board: Board, cc_kind: str = "gcc", cflags: str = "-O2") -> Path:
    """Build lib<prefix>.a for ``board`` in the library folder."""
    check_cc_kind(cc_kind)
    lib_dir = Path(lib_dir)
    prefix = json.loads((lib_dir / "metadata.json").read_text())["prefix"]
    if not (lib_dir / "board.mk").exists():
        raise AotError(f"{lib_dir} has no board.mk: compile the model with --board {board.name}")
    target = lib_dir / f"lib{prefix}.a"
    target.unlink(missing_ok=True)
    _run(make_command(lib_dir, board, cc_kind, cflags) + [target.name], f"building {target.name} for {board.name} with {cc_kind}")
    return target


@lru_cache(maxsize=None)
def _gcc_print(cc: str, flags: tuple[str, ...], what: str) -> str:
    return _run([cc, *flags, what], f"{cc} {what}").stdout.strip()


def library_dirs(board: Board) -> list[str]:
    """-L folders of the C library and libgcc for the board's CPU (what clang needs to link, found
    through the board's gcc, which knows its multilib layout)."""
    flags = tuple(board.compile_flags("gcc"))
    dirs = [str(Path(_gcc_print(board.cc, flags, "-print-libgcc-file-name")).parent)]
    if board.libc == "newlib":
        dirs.insert(0, str(Path(_gcc_print(board.cc, flags, "-print-file-name=libc.a")).parent))
    return dirs


def link_flags(board: Board, cc_kind: str, search_dirs: list[Path], stack_bytes: int) -> list[str]:
    flags = ["-T", str(board.linker_script), *[f"-L{d}" for d in search_dirs], "-Wl,--gc-sections",
             f"-Wl,--defsym=__aot_stack_size={stack_bytes}"]
    if cc_kind == "clang":
        return flags + ["-fuse-ld=lld", "-nostdlib", *[f"-L{d}" for d in library_dirs(board)],
                        *(["-lm", "-lc"] if board.libc == "newlib" else []), "-lgcc"]
    if board.libc == "newlib":
        return flags + ["-nostartfiles", "-lm"]
    return flags + ["-nostdlib", "-lgcc"]


def link_firmware(board: Board, cc_kind: str, sources: list[Path], library: Path | None, include_dirs: list[Path],
                  out: Path, cflags: list[str], stack_bytes: int, libraries: list[str] | None = None) -> Path:
    """Compile the firmware sources and link them with the library (if any) into ``out`` (an ELF);
    ``libraries``: link arguments the library needs (its backends' libraries), after it."""
    check_cc_kind(cc_kind)
    search = list(dict.fromkeys([board.folder.resolve(), *(s.parent for s in board.sources)]))
    sources = list(sources)
    freestanding = []
    if board.libc == "none":
        # A library folder carries the libc subset; firmware without one takes it from aot itself.
        libc = library.parent / "libc" if library is not None else boards_dir() / "common" / "freestanding"
        freestanding = [f"-isystem{libc}", "-ffreestanding"]
        if library is None:
            sources.append(libc / "aot_libc.c")
    cmd = [board.compiler(cc_kind), *board.compile_flags(cc_kind), *freestanding, *cflags,
           *[f"-I{d}" for d in include_dirs], *map(str, sources), *([str(library)] if library else []),
           *(libraries or []), *link_flags(board, cc_kind, search, stack_bytes), "-o", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        # GNU ld: "region `RAM' overflowed by N bytes"; ld.lld: "... will not fit in region 'RAM':
        # overflowed by N bytes" (repeated per section): one line per region, the largest figure.
        overflow: dict[str, int] = {}
        for region, by in re.findall(r"region [`']?(\w+)'?:? overflowed by (\d+) bytes", proc.stderr):
            overflow[region] = max(overflow.get(region, 0), int(by))
        errors = "\n".join(dict.fromkeys(proc.stderr.splitlines()))  # lld repeats itself
        hint = "".join(f"\nthe firmware does not fit the board's {region}: {by:,} B too many"
                       for region, by in overflow.items())
        raise AotError(f"linking the {board.name} firmware with {cc_kind} failed:\n$ {' '.join(cmd)}\n"
                       f"{proc.stdout}{errors}{hint}".rstrip())
    return out


@dataclass(frozen=True)
class Size:
    text: int
    data: int
    bss: int

    def __add__(self, other: "Size") -> "Size":
        return Size(self.text + other.text, self.data + other.data, self.bss + other.bss)


def section_sizes(board: Board, path: Path) -> Size:
    """text/data/bss of an ELF file, or summed over the members of a static library (Berkeley ``size``)."""
    out = _run([board.size_tool, "-B", str(path)], f"{board.size_tool} {path.name}").stdout
    total = Size(0, 0, 0)
    for line in out.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and all(f.isdigit() for f in fields[:3]):
            total = total + Size(int(fields[0]), int(fields[1]), int(fields[2]))
    return total
