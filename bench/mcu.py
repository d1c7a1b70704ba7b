"""Microcontroller benchmark: every model on every emulated board, under QEMU.

    python bench/mcu.py [--boards cortex-m4,riscv32] [--only kws_int8] [--cc gcc|clang] [--models DIR]
                        [--backend cmsis-nn,ref --backend arm-dsp,ref ...] [--rounding tflite]
                        [--backend-option cmsis-nn.path=DIR]

For each model of ../shared/models and each board it compiles the library, links the test firmware,
runs one inference under QEMU with -icount (deterministic) and checks the outputs against the host
build and the reference (int8: bit-identical with the golden model; float: 1e-4 of ONNX Runtime).
It prints a markdown table of instructions per inference (SysTick on Arm, to its resolution of
31-50 instructions; minstret on RISC-V, exact), library text/data/bss, arena, weights and the stack
high-water mark, and writes the figures to bench/results/mcu.json. A model too big for a board
appears as "does not fit".

``--backend LIST`` (repeatable; LIST is backends in order of preference, comma-separated) runs every
model on every board once per list, and the table gains a backends column: aot's own kernels beside
a library backend such as cmsis-nn. A list a board cannot take (arm-dsp on Cortex-M3) shows its error.
With --backend the figures go to bench/results/mcu_backends.json unless --json says otherwise.
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

from aot.backends.build import parse_backend_option
from aot.compiler import CompileOptions
from aot.errors import AotError
from aot.targets.board import list_boards
from aot.flows.board_run import host_baseline, run_on_board

from shared_models import DEFAULT_MODELS, MODELS, REPO, commit  # noqa: E402  (bench/ is the script folder)
RESULTS = REPO / "bench" / "results" / "mcu.json"
BACKEND_RESULTS = REPO / "bench" / "results" / "mcu_backends.json"



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
    backends: str = ""  # the --backend list ("" : the board's own)


def bench(name: str, path: Path, boards: list[str], cc: str, timeout: float, progress: tqdm,
          options: CompileOptions | None = None) -> list[Result]:
    backends = ",".join(options.backends or []) if options else ""
    try:
        # With a backend list the host compiles the same layers as the boards: no shared baseline.
        baseline = None if backends else host_baseline(path, seed=0, options=options)
    except Exception as exc:  # noqa: BLE001 - one broken model must not lose the other figures
        progress.update(len(boards))
        return [Result(name, b, cc, False, error=f"compile/host run failed: {str(exc).splitlines()[0]}",
                       backends=backends) for b in boards]
    results = []
    for board in boards:
        progress.set_postfix_str(f"{name} on {board}" + (f" ({backends})" if backends else ""))
        try:
            r = run_on_board(path, board, baseline=baseline, cc=cc, timeout=timeout, options=options)
            results.append(Result(name, board, cc, r.ok, r.instructions, r.board.counter == "minstret",
                                  r.library.text, r.library.data, r.library.bss, r.firmware.text, r.firmware.bss,
                                  r.arena_bytes, r.weights_bytes, r.stack_used, r.seconds["qemu"], backends=backends))
        except AotError as exc:
            first = str(exc).splitlines()[0]
            results.append(Result(name, board, cc, False, error="does not fit" if "does not fit" in first else first,
                                  backends=backends))
        progress.update()
    return results


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def markdown_table(results: list[Result]) -> str:
    per_backend = any(r.backends for r in results)
    lead = ["model", "board"] + (["backends"] if per_backend else [])
    head = lead + ["instructions", "lib text B", "lib data B", "lib bss B", "arena B", "weights B", "stack B", "matches"]
    rows = ["| " + " | ".join(head) + " |",
            "|" + "|".join("---" if i < len(lead) else "---:" for i in range(len(head))) + "|"]
    for r in results:
        first = [r.model, r.board] + ([r.backends] if per_backend else [])
        if r.error:
            rows.append("| " + " | ".join(first + [r.error]) + " |" + " |" * (len(head) - len(first) - 1))
            continue
        instr = _n(r.instructions)
        rows.append("| " + " | ".join(first + [instr, _n(r.lib_text), _n(r.lib_data), _n(r.lib_bss),
                                               _n(r.arena_bytes), _n(r.weights_bytes), _n(r.stack_bytes),
                                               "yes" if r.ok else "NO"]) + " |")
    return "\n".join(rows)


def instructions_short(n: int) -> str:
    """The README's form: exact below 100,000, else millions to 3-4 significant digits."""
    if n < 100_000:
        return f"{n:,}"
    m = n / 1e6
    digits = 3 if m < 1 else 2 if m < 100 else 1 if m < 1000 else 0
    return f"{m:,.{digits}f} M"


def board_table(results: list[Result], boards: list[str], home: str = "cortex-m4") -> str:
    """The README table: instructions per model and board, with arena, weights and stack on ``home``."""
    short = {"cortex-m3": "M3", "cortex-m4": "M4", "cortex-m7": "M7", "cortex-m33": "M33", "cortex-m55": "M55"}
    head = ["model"] + [short.get(b, b) for b in boards] + \
        [f"arena B ({short.get(home, home)})", "weights B", f"stack B ({short.get(home, home)})"]
    rows = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for model in dict.fromkeys(r.model for r in results):
        by_board = {r.board: r for r in results if r.model == model}
        cells = [instructions_short(by_board[b].instructions) if b in by_board and by_board[b].ok else
                 (by_board[b].error or "failed") if b in by_board else "-" for b in boards]
        at_home = by_board.get(home)
        extra = [_n(at_home.arena_bytes), _n(at_home.weights_bytes), _n(at_home.stack_bytes)] if at_home and \
            at_home.ok else ["-", "-", "-"]
        rows.append("| " + " | ".join([model] + cells + extra) + " |")
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
    p.add_argument("--json", type=Path, default=None, help=f"where to write the results (default {RESULTS}, "
                                                           f"with --backend {BACKEND_RESULTS})")
    p.add_argument("--backend", action="append", default=[], metavar="LIST",
                   help="backends in order of preference, comma-separated (e.g. cmsis-nn,ref); repeatable: one "
                        "run per list and board")
    p.add_argument("--rounding", choices=("single", "tflite"), default="single", help="int8 requantization")
    p.add_argument("--backend-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="an option of a backend, e.g. cmsis-nn.path=DIR (else CMSIS_NN_PATH)")
    args = p.parse_args(argv)
    json_path = args.json or (BACKEND_RESULTS if args.backend else RESULTS)
    backend_options: dict[str, dict[str, str]] = {}
    for text in args.backend_option:
        try:
            name, key, value = parse_backend_option(text)
        except ValueError as exc:
            p.error(str(exc))
        backend_options.setdefault(name, {})[key] = value
    variants = [CompileOptions(backends=[b for b in lst.split(",") if b], rounding=args.rounding,
                               backend_options=backend_options) for lst in args.backend]
    if not variants and (args.rounding != "single" or backend_options):
        variants = [CompileOptions(rounding=args.rounding, backend_options=backend_options)]
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
    with tqdm(total=len(present) * len(boards) * max(1, len(variants)), desc="runs", unit="run",
              file=sys.stderr) as progress:
        for name, path in present:
            for options in variants or [None]:
                results += bench(name, path, boards, args.cc, args.timeout, progress, options)
    head = commit()
    print(markdown_table(results))
    if not variants:  # the boards' own backends: the README's table too
        print("\n" + board_table(results, boards))
    print(f"\nCommit {head}. One inference per run under QEMU -icount, {args.cc} -O2. Instructions: SysTick on Arm (± its "
          f"resolution: 40 per tick on mps2, 50 on an505, 31.25 on an547), minstret on riscv32 (exact). "
          f"lib text includes the weights (const data). stack: high-water mark of the whole firmware. "
          f"{len(results)} runs in {time.perf_counter() - t0:.0f} s.")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps({"commit": head, "cc": args.cc, "rounding": args.rounding, "toolchains": toolchains(boards),
                                     "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"wrote {json_path}")
    # A backend list a board cannot take (instruction-set features) is reported, not a failure.
    return 0 if all(r.ok or r.error == "does not fit" or "instruction-set feature" in (r.error or "")
                    for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
