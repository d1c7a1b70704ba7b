"""The ``aot`` command."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from .. import __version__
from ..errors import AotError
from ..flows.criteria import FLOAT_SAMPLES, INT8_SAMPLES, Criteria
from .board import add_board_commands, add_board_options, apply_board_options
from .build_options import add_cc_option, add_opt_option
from .examples import add_examples
from .inspect_reports import add_report_options
from .parser import AotArgumentParser, parse_arguments
from .tune import add_tune_command, add_tuning_option, apply_tuning
from .options import (add_compile_options, add_quant_options, compile_options, input_shape, quant_config,
                      recast_spec)


def _check_output_folder(model: Path, output: Path) -> None:
    """Refuse output folders whose replacement would delete the model or the working directory."""
    out = output.resolve()
    if Path.cwd().resolve().is_relative_to(out):
        raise AotError(f"output folder '{output}' is the current directory or one of its parents; "
                       f"choose a new folder such as -o out/{model.stem}")
    if model.exists() and model.resolve().is_relative_to(out):
        raise AotError(f"output folder '{output}' holds the model file '{model}' itself; choose another folder, "
                       f"such as -o out/{model.stem}")


def cmd_compile(args: argparse.Namespace) -> int:
    from ..codegen.writer import FileOutput, FolderOutput, write_outputs
    from ..compiler import compile_model
    t0 = time.perf_counter()
    _check_output_folder(Path(args.model), Path(args.output))
    emit = Path(args.emit_onnx) if args.emit_onnx else None
    if emit is not None and not emit.parent.is_dir():
        raise AotError(f"--emit-onnx: folder '{emit.parent}' does not exist")
    if args.clean and not args.force:
        raise AotError("--clean deletes files aot did not write from the output folder, so it needs --force too")
    options = apply_tuning(apply_board_options(compile_options(args), args), args)
    options.packages = list(args.package)
    compiled = compile_model(args.model, options)
    # Everything that can fail on the model runs before anything is written; then all outputs are
    # written as one transaction (aot/codegen/writer.py).
    outputs: list = [FolderOutput(compiled.files, args.output, force=args.force, clean=args.clean)]
    if emit is not None:
        outputs.append(FileOutput(emit, _onnx_bytes(compiled.graph), what="--emit-onnx"))
    write_outputs(outputs)
    out = Path(args.output)
    for note in compiled.graph.notes:
        print(f"note: {note}")
    m = compiled.metadata["memory"]
    print(f"wrote {out}/ ({len(compiled.calls)} layers, arena {m['arena_bytes']} B, weights {m['weights_bytes']} B) "
          f"in {time.perf_counter() - t0:.2f} s; build with: make -C {out}")
    return 0


def _onnx_bytes(graph) -> bytes:
    """The optimized IR as a serialized ONNX model (for --emit-onnx), before anything is written."""
    from ..ir.export import to_onnx
    try:
        return to_onnx(graph).SerializeToString()
    except ValueError as exc:  # protobuf refuses models over 2 GB
        raise AotError(f"--emit-onnx: the optimized model cannot be saved as one ONNX file ({exc})") from None


def _quantized_graph(args: argparse.Namespace):
    """The QDQ graph ``aot quantize`` writes (its parser has no compile options)."""
    from ..quant.ptq import quantize_model
    if not args.calib:
        raise AotError("aot quantize needs calibration data: --calib data.npz (one array per input, keyed "
                       "by the input's ONNX name, samples along the first axis)")
    return quantize_model(args.model, args.calib, config=quant_config(args), input_shapes=dict(args.input_shape),
                          progress=sys.stderr.isatty())


def cmd_quantize(args: argparse.Namespace) -> int:
    import onnx  # not at the top: `aot --help` and Ctrl-C at startup stay fast

    from ..ir.export import to_onnx
    out = Path(args.output)
    if args.sensitivity:
        _print_sensitivity(args)
    graph = _quantized_graph(args)
    model = to_onnx(graph)
    out.parent.mkdir(parents=True, exist_ok=True)  # as compile's -o: only once the model quantized
    onnx.save(model, str(out))
    layers = [n for n in graph.nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    consumers = graph.consumers()
    int8 = sum(1 for n in layers if n.meta.get("precision") != "float" and
               any(c.op_type == "QuantizeLinear" for c in consumers.get(n.outputs[0], [])))
    print(f"wrote {out} (QDQ, float inputs/outputs; {int8} of {len(layers)} layers int8)")
    return 0


def _print_sensitivity(args: argparse.Namespace) -> None:
    from ..quant.calibrate import load_calibration
    from ..quant.ptq import float_graph
    from ..quant.sensitivity import format_sensitivity, layer_sensitivity
    if not args.calib:
        raise AotError("--sensitivity needs --calib data.npz")
    graph = float_graph(args.model, dict(args.input_shape))
    samples = load_calibration(args.calib, graph)
    print("per-layer sensitivity (one layer int8 at a time, the rest float):")
    print(format_sensitivity(layer_sensitivity(graph, samples, quant_config(args), progress=sys.stderr.isatty())))


def cmd_verify(args: argparse.Namespace) -> int:
    from ..flows.verify import verify_model
    from ..targets.board import resolve_board
    criteria = Criteria(max_lsb=args.max_lsb, min_within_1lsb=args.min_within_1lsb, min_argmax=args.min_argmax)
    if not resolve_board(args.board, args.board_dir).is_host:
        raise AotError(f"aot verify runs the library on this machine, so --board must be a host board (host, "
                       f"host-avx2, host-sse4, native); to run on '{args.board}' use: "
                       f"aot run {args.model} --board {args.board}")
    report = verify_model(args.model, options=apply_board_options(compile_options(args), args), inputs=args.input,
                          test_data=Path(args.test_data) if args.test_data else None, seed=args.seed,
                          atol=args.atol, rtol=args.rtol, cc=args.cc, cflags=args.opt,
                          keep_dir=Path(args.keep) if args.keep else None,
                          samples=args.samples, progress=sys.stderr.isatty(), criteria=criteria)
    print(report.table())
    print("verify: PASS" if report.ok else f"verify: FAIL ({'; '.join(report.failures())})")
    return 0 if report.ok else 1


def share(text: str) -> float:
    """A share between 0 and 1, given as a fraction (0.8) or a percentage (80%)."""
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1 (e.g. 0.8) or a percentage (80%), "
                                         f"got '{text}'")
    return value


def non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got '{text}'")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got '{text}'")
    return value


def cmd_inspect(args: argparse.Namespace) -> int:
    from ..compiler import compile_model
    from .inspect_reports import check_report_options, print_reports
    check_report_options(args)
    compiled = compile_model(args.model, apply_tuning(apply_board_options(compile_options(args), args), args))
    for op_type in args.count:
        from ..passes.precision import count_layers
        print(f"{op_type}: {count_layers(compiled.graph, op_type)} layers")
    if not args.count:
        print_reports(compiled, args)
    return 0


def _kernel_dtypes(kernel, op: str) -> tuple[str, ...]:
    """The dtypes a kernel runs ``op`` on: a generic elementwise kernel only those of the op's form."""
    from ..ops import op_spec
    spec = op_spec(op)
    form = spec and (spec.unary or spec.broadcast)
    if kernel.plain and form is not None:
        return tuple(d for d in kernel.dtypes if d in form.dtypes)
    return kernel.dtypes


def cmd_ops(args: argparse.Namespace) -> int:
    from ..backends.registry import REGISTRY
    from ..plugins import load_plugins
    load_plugins(args.plugin)
    names = args.backend or REGISTRY.names()
    unknown = [n for n in names if n not in REGISTRY.names()]
    if unknown:
        raise AotError(f"unknown backend(s) {', '.join(unknown)}; registered: {', '.join(REGISTRY.names())}")
    table: dict[str, dict[str, set[str]]] = {}  # op -> backend -> dtypes
    for name in names:
        backend = REGISTRY.get(name)
        kernels = getattr(backend, "kernels", None)
        for op in backend.supported_ops():
            dtypes = {d for k in kernels or [] if op in k.op_names for d in _kernel_dtypes(k, op)}
            table.setdefault(op, {})[name] = dtypes
    width = max((len(op) for op in table), default=2)
    for op in sorted(table):
        cells = [f"{b} ({', '.join(sorted(d))})" if d else b for b, d in table[op].items()]
        print(f"{op:<{width}}  {'; '.join(cells)}")
    print(f"{len(table)} ops on {len(names)} backend(s)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..flows.demo import run_demo
    return run_demo(Path(args.out) if args.out else None, cc=args.cc)


def build_parser() -> argparse.ArgumentParser:
    parser = AotArgumentParser(prog="aot", description="Compile ONNX models into standalone C libraries "
                               "(no malloc, one static arena) for microcontrollers and hosts.",
                               epilog="exit status: 0 success, 1 outputs differ beyond tolerance "
                                      "(verify, demo), 2 error (bad model, bad options, build failure).")
    parser.add_argument("--version", action="version", version=f"aot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("compile", help="write the C library folder for a model",
                       description="Compile an ONNX model into a C library folder (model.h, model.c, kernels, "
                                   "weights, Makefile, CMakeLists.txt, metadata.json).")
    add_compile_options(p)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--force", action="store_true",
                   help="write into an output folder that holds files aot did not write (they are kept)")
    p.add_argument("--clean", action="store_true",
                   help="with --force: delete the files in the output folder that aot did not write")
    p.add_argument("--emit-onnx", metavar="FILE", help="also save the optimized IR as an ONNX model")
    p.add_argument("--package", action="append", default=[], choices=["cmake", "zephyr", "arduino", "platformio"],
                   help="also make the folder a package of this build system (repeatable; docs/packaging.md)")
    p.add_argument("--quantize", choices=["int8"], help="quantize a float model first (needs --calib)")
    p.add_argument("--recast", type=recast_spec, metavar="DTYPE:OUT:OPS[:SKIP]",
                   help="hard-cast the inputs of these ops to DTYPE and their outputs to OUT, skipping layer "
                        "indices SKIP of each op type, e.g. int8:int32:Conv,MatMul:0")
    add_quant_options(p)
    add_board_options(p)
    add_tuning_option(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("quantize", help="post-training int8 quantization of a float model into QDQ ONNX",
                       description="Calibrate the float model on sample inputs and write a QDQ ONNX model (float "
                                   "inputs/outputs, Quantize/Dequantize inside) that ONNX Runtime runs and "
                                   "`aot compile` turns into integer C.")
    p.add_argument("model", help="float ONNX model")
    p.add_argument("-o", "--output", required=True, help="QDQ ONNX file to write")
    p.add_argument("--input-shape", type=input_shape, action="append", default=[], metavar="NAME=D0,D1,..",
                   help="static shape for a model input with dynamic dimensions (repeatable)")
    add_quant_options(p)
    p.add_argument("--sensitivity", action="store_true",
                   help="first print how much each layer alone, quantized, moves the outputs (most sensitive first)")
    p.set_defaults(func=cmd_quantize)

    d = Criteria()
    p = sub.add_parser("verify", help="compile, build, run on the host and compare with ONNX Runtime",
                       description="Compile the model, build it with the host C compiler, run it and compare\n"
                                   "every output with ONNX Runtime (and with expected outputs from --test-data).\n"
                                   "Exits 1 when a criterion is not met.\n\ncriteria:\n"
                                   "  float models: every element |c - ref| <= atol + rtol * |ref| on every sample\n"
                                   "  int8 models: C == golden model bit for bit (always), and against ONNX Runtime\n"
                                   "    (which requantizes in float, so correct models differ by a few LSB) on the\n"
                                   "    last output, before a final Softmax: max difference <= --max-lsb LSB,\n"
                                   "    >= --min-within-1lsb of elements within 1 LSB, >= --min-argmax argmax\n"
                                   f"    agreement; defaults {d.max_lsb:g} LSB, {d.min_within_1lsb:g}, {d.min_argmax:g}")
    add_compile_options(p)
    p.add_argument("--input", action="append", default=[], metavar="FILE",
                   help=".npy per input (in order), one .npz keyed by input name, or ONNX .pb tensors")
    p.add_argument("--test-data", metavar="DIR", help="ONNX test_data_set folder (input_*.pb, output_*.pb)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--samples", type=positive_int, default=None, metavar="N",
                   help=f"random inputs to compare on (default {INT8_SAMPLES} for int8 models, {FLOAT_SAMPLES} for "
                        f"float ones); --input files may also stack N samples on a leading axis")
    p.add_argument("--max-lsb", type=non_negative, default=d.max_lsb, metavar="N",
                   help=f"int8: largest difference from ONNX Runtime allowed, in LSB (default {d.max_lsb:g})")
    p.add_argument("--min-within-1lsb", type=share, default=d.min_within_1lsb, metavar="F",
                   help=f"int8: least share of elements within 1 LSB of ONNX Runtime (default {d.min_within_1lsb:g})")
    p.add_argument("--min-argmax", type=share, default=d.min_argmax, metavar="F",
                   help=f"int8: least share of samples whose argmax agrees with ONNX Runtime (default {d.min_argmax:g})")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    add_cc_option(p, "cc")
    add_opt_option(p)
    p.add_argument("--keep", metavar="DIR", help="keep the generated library in DIR")
    add_board_options(p)
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("inspect", help="per-layer table and memory summary",
                       description="Compile the model in memory and print each layer (op, backend, shapes, "
                                   "dtype, layout, arena offset) and the memory summary.")
    add_compile_options(p)
    p.add_argument("--count", action="append", default=[], metavar="OP",
                   help="only print how many layers of this op type the compiled model has (repeatable)")
    p.add_argument("--quantize", choices=["int8"], help="show the model as quantized from float (needs --calib)")
    add_quant_options(p)
    add_board_options(p)
    add_tuning_option(p)
    add_report_options(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="compile, verify and time the bundled example model",
                       description="Compile the bundled example CNN, build it, check it against ONNX Runtime "
                                   "and print latency, arena and weights figures. Needs no arguments.")
    p.add_argument("--out", metavar="DIR", help="keep the generated library in DIR")
    add_cc_option(p, "cc")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("ops", help="the ops each backend supports, with their dtypes",
                       description="List every op a registered backend has a kernel for, per backend, with the "
                                   "dtypes of the kernels (first input and outputs).")
    p.add_argument("--backend", action="append", metavar="NAME", help="only this backend (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="load a plug-in first (a module or .py file registering backends or ops)")
    p.set_defaults(func=cmd_ops)
    add_board_commands(sub)
    add_tune_command(sub)
    add_examples(sub)
    return parser


class _Interrupt:
    """Whether Ctrl-C was pressed: a library may turn the KeyboardInterrupt raised inside its import
    into another error (numpy: an ImportError), which must still end quietly with 130."""

    seen = False

    @classmethod
    def handler(cls, signum: int, frame: object) -> None:
        cls.seen = True
        raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        previous = signal.signal(signal.SIGINT, _Interrupt.handler)
    except ValueError:  # not the main thread: leave signals alone
        previous = None
    try:
        return _run(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _run(argv: list[str] | None) -> int:
    _Interrupt.seen = False
    try:  # parsing too: Ctrl-C there is as quiet as during a command
        args = parse_arguments(build_parser(), argv)
        return args.func(args)
    except KeyboardInterrupt:
        return _interrupted()
    except AotError as exc:
        print(f"aot: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `aot inspect m.onnx | head`: the reader left, nothing more to say
        sys.stdout = open(os.devnull, "w")
        return 0
    except OSError as exc:  # unwritable output folder, full disk, ...: no traceback for those
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"aot: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except Exception:
        if _Interrupt.seen:  # the interrupt, re-raised by a library as another error
            return _interrupted()
        raise


def _interrupted() -> int:
    print("aot: interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
