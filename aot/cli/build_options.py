"""``--cc`` and ``--opt``, the same on every subcommand that builds C (verify, run, tune, demo)."""
from __future__ import annotations

import argparse
import shlex

from ..errors import AotError

BOARD_COMPILERS = ("gcc", "clang")


def add_cc_option(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--cc", default=default, metavar="CC",
                   help=f"C compiler: gcc or clang (for a board: the board's gcc, e.g. arm-none-eabi-gcc, or clang "
                        f"for its target); for the host also any compiler command, e.g. cc or clang-18 "
                        f"(default {default})")


def compiler_flags(text: str) -> str:
    """Flags as a shell would split them ("-O2 -g"); checked here so a stray quote is a usage error."""
    try:
        shlex.split(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"cannot split '{text}' into compiler flags: {exc}") from None
    return text


def add_opt_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--opt", type=compiler_flags, default="-O2", metavar="FLAGS",
                   help="optimisation and debug flags of the build, split like a shell does, e.g. \"-O2 -g\" "
                        "(default -O2)")


def check_board_cc(cc: str, board: str, board_dirs: list[str], model: str) -> None:
    """A board builds with its own gcc or with clang: any other --cc is refused before anything runs."""
    from ..targets.board import resolve_board
    target = resolve_board(board, board_dirs)
    if target.is_host or cc in BOARD_COMPILERS:
        return
    raise AotError(f"--cc {cc}: board '{target.name}' builds with its gcc ({target.cc}) or with clang, chosen as "
                   f"--cc gcc or --cc clang; a compiler command is only taken for the host", model=model)
