"""The ``aot run`` and ``aot boards`` subcommands, and the ``--board``/``--board-dir`` options of
``aot compile``. ``aot/cli/__init__.py`` calls ``add_board_commands(subparsers)`` and, for compile,
``add_board_options(parser)`` and ``apply_board_options(options, args)``."""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..errors import AotError
from .build_options import add_cc_option, add_opt_option, check_board_cc
from .options import add_compile_options, compile_options

EXIT_STATUSES = ("exit status: 0 outputs match; 1 outputs differ; 2 error before the run (bad model, "
                 "model does not fit, build failure, missing toolchain); otherwise the firmware's status "
                 "as QEMU reports it: 3 the model's run function failed, 4 CPU fault, 5 stack overflow, "
                 "124 time-out.")


def add_board_options(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument("--board", required=required, default=None if required else "host",
                        help="target board (see 'aot boards'; default host)" if not required else
                        "target board (see 'aot boards')")
    parser.add_argument("--board-dir", action="append", default=[], metavar="DIR",
                        help="a folder with a board.toml, or a folder of such folders (repeatable)")


def apply_board_options(options, args: argparse.Namespace):
    """CompileOptions with the board chosen on the command line."""
    options.board = args.board
    options.board_dirs = list(args.board_dir)
    return options


def cmd_boards(args: argparse.Namespace) -> int:
    from ..targets.board import INSTALL_HINT, format_bytes, list_boards
    boards = list_boards(args.board_dir)
    rows = [("board", "core", "QEMU machine", "flash", "RAM", "toolchain", "description")]
    missing_any = False
    for b in boards:
        if b.is_host:
            rows.append((b.name, "host", "-", "-", "-", _tool_state(b.cc), b.description))
            continue
        flash = format_bytes(b.flash.size) + (f" + {format_bytes(b.code.size)} code" if b.code else "")
        if b.weights_region is not None:
            flash += f" + {format_bytes(b.weights_region.size)} {b.weights_region_name} (weights)"
        missing = b.missing_tools()
        missing_any |= bool(missing)
        rows.append((b.name, b.cpu, b.machine or "-", flash, format_bytes(b.ram.size),
                     "ok" if not missing else "missing " + ", ".join(missing), b.description))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    for r in rows:
        print("  ".join(f"{c:<{w}}" for c, w in zip(r, widths)) + "  " + r[-1])
    if missing_any:
        print(f"\nsome tools are missing: {INSTALL_HINT}")
    return 0


def _tool_state(tool: str) -> str:
    return "ok" if shutil.which(tool) else f"missing {tool}"


def cmd_run(args: argparse.Namespace) -> int:
    from ..flows.board_run import BoardRunError, run_on_board
    from ..flows.output_summary import describe_outputs, format_outputs
    options = compile_options(args)
    if args.profile_json and not args.profile:
        raise AotError("--profile-json writes the per-layer counts of --profile, so it needs --profile too")
    if args.profile_json and not Path(args.profile_json).parent.is_dir():
        raise AotError(f"--profile-json: folder '{Path(args.profile_json).parent}' does not exist")
    check_board_cc(args.cc, args.board, args.board_dir, args.model)
    try:
        report = run_on_board(args.model, args.board, board_dirs=args.board_dir, inputs=args.input, seed=args.seed,
                              profile=args.profile, cc=args.cc, opt=args.opt, timeout=args.timeout,
                              atol=args.atol, rtol=args.rtol, stack_bytes=args.stack, options=options,
                              keep_dir=Path(args.keep) if args.keep else None)
    except BoardRunError as exc:
        print(f"aot: error: {exc}", file=sys.stderr)
        return exc.status
    if args.json:
        print_run_json(report)
        return 0 if report.ok else 1
    print(f"{Path(args.model).name} on {report.board.name} ({report.board.description}), {report.cc} {report.opt}")
    print(report.table())
    print(format_outputs(describe_outputs(report.output_specs, report.outputs)))
    print("run: PASS" if report.ok else "run: FAIL (outputs differ)")
    if args.profile_json:
        from ..flows.profile_file import write_profile
        write_profile(report, Path(args.profile_json))
        print(f"wrote {args.profile_json} (instructions per layer; aot inspect --html FILE --profile-json draws it)")
    return 0 if report.ok else 1


def print_run_json(report) -> None:
    import json
    from ..flows.run_document import run_document
    print(json.dumps(run_document(report), indent=2))


def add_board_commands(subparsers) -> None:
    """Register ``aot run`` and ``aot boards`` on the CLI's subparsers."""

    p = subparsers.add_parser(
        "run", help="compile, build for a board, run under QEMU and compare with the host",
        description="Compile the model for the board, link it with a test firmware holding the inputs, run it "
                    "under QEMU (deterministic: -icount) and compare its outputs with the host build and the "
                    "reference (int8: bit-identical to the host and the golden model; float: within tolerance "
                    "of the host and ONNX Runtime). Prints the instructions of one inference, text/data/bss, "
                    "arena, weights and the stack high-water mark.",
        epilog=EXIT_STATUSES)
    add_compile_options(p)
    add_board_options(p, required=True)
    p.add_argument("--input", action="append", default=[], metavar="FILE",
                   help=".npy per input (in order), one .npz keyed by input name, or ONNX .pb tensors "
                        "(the first sample is used; default: random inputs from --seed)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--profile", action="store_true",
                   help="also count instructions per layer (builds with -DAOT_PROFILE)")
    p.add_argument("--profile-json", metavar="FILE",
                   help="with --profile: also write the per-layer counts as JSON (for aot inspect --html)")
    add_cc_option(p, "gcc")
    add_opt_option(p)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before QEMU is killed (default 120)")
    p.add_argument("--stack", type=int, metavar="BYTES", help="stack size of the firmware (default: the board's)")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance for float outputs (default 1e-4)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance for float outputs (default 1e-4)")
    p.add_argument("--keep", metavar="DIR", help="keep the library, firmware sources and ELF in DIR")
    p.add_argument("--json", action="store_true",
                   help="print one JSON document (checks, outputs with dequantized values and top classes, "
                        "instructions, per-layer profile, memory) instead of the text report")
    p.set_defaults(func=cmd_run)

    p = subparsers.add_parser("boards", help="list the boards and their memory",
                              description="List the boards aot can build for (built-in and --board-dir ones) "
                                          "with their core, QEMU machine, flash and RAM, and whether their "
                                          "toolchain is installed.")
    p.add_argument("--board-dir", action="append", default=[], metavar="DIR",
                   help="a folder with a board.toml, or a folder of such folders (repeatable)")
    p.set_defaults(func=cmd_boards)
