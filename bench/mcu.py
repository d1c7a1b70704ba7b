"""Microcontroller benchmark: every model on every emulated board, under QEMU.

    python bench/mcu.py [--boards cortex-m4,riscv32] [--only kws_int8] [--cc gcc|clang] [--models DIR]

For each model of ../shared/models and each board it compiles the library, links the test firmware,
runs one inference under QEMU with -icount (deterministic) and checks the outputs against the host
build and the reference (int8: bit-identical with the golden model; float: 1e-4 of ONNX Runtime).
It prints a markdown table of instructions per inference (SysTick on Arm, to its resolution of
31-50 instructions; minstret on RISC-V, exact), library text/data/bss, arena, weights and the stack
high-water mark, and writes the figures to bench/results/mcu.json. A model too big for a board
appears as "does not fit".
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from aot.errors import AotError
from aot.targets.board import list_boards
from aot.flows.board_run import host_baseline, run_on_board

from shared_models import DEFAULT_MODELS, MODELS, REPO  # noqa: E402  (bench/ is the script folder)
RESULTS = REPO / "bench" / "results" / "mcu.json"



@dataclass
class Result:
    model: str
    board: str
    cc: str
    ok: bool
    instructions: int | None = None
    exact: bool = False
    lib_text: int | None = None
    lib_data: int | None = None
    lib_bss: int | None = None
    fw_text: int | None = None
    fw_bss: int | None = None
    arena_bytes: int | None = None
    weights_bytes: int | None = None
    stack_bytes: int | None = None
    qemu_seconds: float | None = None
    error: str | None = None


def bench(name: str, path: Path, boards: list[str], cc: str, timeout: float, progress: tqdm) -> list[Result]:
    try:
        baseline = host_baseline(path, seed=0)
    except Exception as exc:  # noqa: BLE001 - one broken model must not lose the other figures
        progress.update(len(boards))
        return [Result(name, b, cc, False, error=f"compile/host run failed: {str(exc).splitlines()[0]}") for b in boards]
    results = []
    for board in boards:
        progress.set_postfix_str(f"{name} on {board}")
        try:
            r = run_on_board(path, board, baseline=baseline, cc=cc, timeout=timeout)
            results.append(Result(name, board, cc, r.ok, r.instructions, r.board.counter == "minstret",
                                  r.library.text, r.library.data, r.library.bss, r.firmware.text, r.firmware.bss,
                                  r.arena_bytes, r.weights_bytes, r.stack_used, r.seconds["qemu"]))
        except AotError as exc:
            first = str(exc).splitlines()[0]
            results.append(Result(name, board, cc, False, error="does not fit" if "does not fit" in first else first))
        progress.update()
    return results


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def markdown_table(results: list[Result]) -> str:
    head = ["model", "board", "instructions", "lib text B", "lib data B", "lib bss B", "arena B", "weights B",
            "stack B", "matches"]
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for r in results:
        if r.error:
            rows.append(f"| {r.model} | {r.board} | {r.error} |" + " |" * (len(head) - 3))
            continue
        instr = _n(r.instructions)
        rows.append("| " + " | ".join([r.model, r.board, instr, _n(r.lib_text), _n(r.lib_data), _n(r.lib_bss),
                                        _n(r.arena_bytes), _n(r.weights_bytes), _n(r.stack_bytes),
                                        "yes" if r.ok else "NO"]) + " |")
    return "\n".join(rows)


def toolchains(boards: list[str]) -> dict[str, str]:
    out = {}
    for b in list_boards():
        if b.name in boards:
            for tool in (b.cc, b.qemu_command[0]):
                if tool not in out:
                    try:
                        out[tool] = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
                    except (OSError, IndexError):
                        out[tool] = "unknown"
    return out


def main(argv: list[str] | None = None) -> int:
    all_boards = [b.name for b in list_boards() if not b.is_host]
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the shared models folder")
    p.add_argument("--boards", default=",".join(all_boards), help=f"comma-separated boards (default all: {','.join(all_boards)})")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this model (repeatable)")
    p.add_argument("--cc", choices=("gcc", "clang"), default="gcc", help="compiler for the boards (default gcc)")
    p.add_argument("--timeout", type=float, default=600.0, help="QEMU time-out per run in seconds (default 600)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = p.parse_args(argv)
    boards = [b for b in args.boards.split(",") if b]
    unknown = [b for b in boards if b not in all_boards]
    if unknown:
        p.error(f"unknown board(s) {', '.join(unknown)}; the boards are {', '.join(all_boards)}")

    chosen = [(n, args.models / rel) for n, rel in MODELS if not args.only or n in args.only]
    present = [(n, path) for n, path in chosen if path.exists()]
    for n, path in chosen:
        if not path.exists():
            print(f"skipping {n}: {path} is absent", file=sys.stderr)
    if not present:
        print(f"no model of the benchmark was found under {args.models}", file=sys.stderr)
        return 1
    t0 = time.perf_counter()
    results: list[Result] = []
    with tqdm(total=len(present) * len(boards), desc="runs", unit="run", file=sys.stderr) as progress:
        for name, path in present:
            results += bench(name, path, boards, args.cc, args.timeout, progress)
    print(markdown_table(results))
    print(f"\nOne inference per run under QEMU -icount, {args.cc} -O2. Instructions: SysTick on Arm (± its "
          f"resolution: 40 per tick on mps2, 50 on an505, 31.25 on an547), minstret on riscv32 (exact). "
          f"lib text includes the weights (const data). stack: high-water mark of the whole firmware. "
          f"{len(results)} runs in {time.perf_counter() - t0:.0f} s.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cc": args.cc, "toolchains": toolchains(boards),
                                     "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(r.ok or r.error == "does not fit" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
