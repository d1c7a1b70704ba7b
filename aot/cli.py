"""The ``aot`` command."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import onnx

from . import __version__
from .board_cli import add_board_commands, add_board_options, apply_board_options
from .errors import AotError


def _input_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, sep, dims = text.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        shape = tuple(int(d) for d in dims.split(","))
        if any(d <= 0 for d in shape):
            raise ValueError
        return name, shape
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NAME=D0,D1,... with positive sizes (e.g. input_1=1,49,10,1), "
                                         f"got '{text}'") from None


def _add_compile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--input-shape", type=_input_shape, action="append", default=[], metavar="NAME=D0,D1,..",
                   help="static shape for a model input with dynamic dimensions (repeatable)")
    p.add_argument("--prefix", default="model", help="C symbol prefix of the library (default: model)")
    p.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend to use, in order of preference (repeatable; default: the board's list, e.g. "
                        "arm-dsp, ref on cortex-m4; ref on the host)")
    p.add_argument("--alignment", type=int, default=16, help="arena buffer alignment in bytes (default 16)")
    p.add_argument("--dump-ir-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass ('all' for every pass)")
    p.add_argument("--layout", type=_layout_spec, action="append", default=[], metavar="OP=LAYOUT[,WEIGHTS]",
                   help="convert an op type's layers to a layout, e.g. Conv=NHWC,OHWI or MaxPool=NHWC (repeatable)")
    p.add_argument("--layout-skip", type=int, action="append", default=[], metavar="INDEX",
                   help="leave layer INDEX (counted per op type) of the --layout ops in its layout (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module (or .py file) that registers backends, patterns, passes or "
                        "ops first (repeatable; installed packages' 'aot.plugins' entry points load too)")
    p.add_argument("--backend-option", type=_backend_option, action="append", default=[],
                   metavar="NAME.KEY=VALUE", help="an option of backend NAME, e.g. cmsis-nn.path=/opt/CMSIS-NN "
                                                 "(repeatable; overrides the option's environment variable)")
    p.add_argument("--allow-float-fallback", action="store_true",
                   help="run quantized (QDQ) patterns that have no integer kernel in float, with a note, "
                        "instead of failing")
    p.add_argument("--rounding", choices=["single", "tflite"], default="single",
                   help="int8 requantization: single rounding (default) or TFLite's double rounding and "
                        "integer recipes (bit-exact with TFLite Micro's reference kernels)")


def _backend_option(text: str) -> tuple[str, str, str]:
    from .backends.build import parse_backend_option
    try:
        return parse_backend_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _backend_options(given: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for backend, key, value in given:
        options.setdefault(backend, {})[key] = value  # the last one given wins
    return options


def _layout_spec(text: str) -> tuple[str, list[str]]:
    op, sep, layouts = text.partition("=")
    if not sep or not op or not layouts:
        raise argparse.ArgumentTypeError(f"expected OP=LAYOUT[,WEIGHT_LAYOUT] (e.g. Conv=NHWC,OHWI), got '{text}'")
    return op, layouts.split(",")


def _check_dump_passes(names: list[str]) -> None:
    from .compiler import compile_pipeline
    known = compile_pipeline().names
    unknown = [n for n in names if n != "all" and n not in known]
    if unknown:
        raise AotError(f"--dump-ir-after names unknown pass(es) {', '.join(map(repr, unknown))}; the passes are "
                       f"{', '.join(dict.fromkeys(known))} (or 'all')")


def _options(args: argparse.Namespace):
    """The parsed flags as CompileOptions: everything the compile does is a field there."""
    from .compiler import CompileOptions, QuantizeOptions, RecastOptions
    from .plugins import load_plugins
    load_plugins(args.plugin)  # before anything lists passes or backends
    _check_dump_passes(args.dump_ir_after)
    quantize = recast = None
    if getattr(args, "quantize", None):
        if args.quantize != "int8":
            raise AotError(f"--quantize {args.quantize}: only int8 is supported")
        if not args.calib:
            raise AotError("--quantize int8 needs calibration data: --calib data.npz (one array per input, keyed "
                           "by the input's ONNX name, samples along the first axis)")
        quantize = QuantizeOptions(args.calib, _quant_config(args), progress=sys.stderr.isatty())
    if getattr(args, "recast", None):
        dtype, out_dtype, ops, skip = args.recast
        recast = RecastOptions(dtype, out_dtype, ops, skip)
    return CompileOptions(quantize=quantize, recast=recast, prefix=args.prefix, backends=args.backend or None, alignment=args.alignment,
                          input_shapes=dict(args.input_shape), dump_ir_after=set(args.dump_ir_after),
                          allow_float_fallback=args.allow_float_fallback, plugins=list(args.plugin),
                          desired_layouts=dict(args.layout), layout_skip_layers=list(args.layout_skip),
                          backend_options=_backend_options(args.backend_option), rounding=args.rounding)


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
    from .compiler import compile_model, write_library
    from .ir.export import to_onnx
    t0 = time.perf_counter()
    _check_output_folder(Path(args.model), Path(args.output))
    emit = Path(args.emit_onnx) if args.emit_onnx else None
    if emit is not None and not emit.parent.is_dir():
        raise AotError(f"--emit-onnx: folder '{emit.parent}' does not exist")
    compiled = compile_model(args.model, apply_board_options(_options(args), args))
    # Everything that can fail on the model runs before anything is written.
    exported = to_onnx(compiled.graph) if emit is not None else None
    out = write_library(compiled, args.output, force=args.force)
    if exported is not None:
        onnx.save(exported, str(emit))
    for note in compiled.graph.notes:
        print(f"note: {note}")
    m = compiled.metadata["memory"]
    print(f"wrote {out}/ ({len(compiled.calls)} layers, arena {m['arena_bytes']} B, weights {m['weights_bytes']} B) "
          f"in {time.perf_counter() - t0:.2f} s; build with: make -C {out}")
    return 0


def _recast_spec(text: str) -> tuple[str, str, list[str], list[int]]:
    parts = text.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        skip = [int(i) for i in parts[3].split(",")] if len(parts) == 4 and parts[3] else []
        return parts[0], parts[1], [op for op in parts[2].split(",") if op], skip
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DTYPE:OUT_DTYPE:OP[,OP..][:SKIP[,SKIP..]] "
                                         f"(e.g. int8:int32:Conv,MatMul:0), got '{text}'") from None


def _quant_config(args: argparse.Namespace):
    from .quant.config import QuantConfig
    config = QuantConfig.load(args.quant_config) if args.quant_config else QuantConfig()
    if args.observer:
        config.default["observer"] = args.observer
    if args.per_tensor:
        config.default["granularity"] = "per_tensor"
    for name in args.keep_float:
        config.layers.setdefault(name, {})["precision"] = "float"
    return config.validate()


def _quantized_graph(args: argparse.Namespace):
    """The QDQ graph ``aot quantize`` writes (its parser has no compile options)."""
    from .quant.ptq import quantize_model
    if not args.calib:
        raise AotError("aot quantize needs calibration data: --calib data.npz (one array per input, keyed "
                       "by the input's ONNX name, samples along the first axis)")
    return quantize_model(args.model, args.calib, config=_quant_config(args), input_shapes=dict(args.input_shape),
                          progress=sys.stderr.isatty())


def cmd_quantize(args: argparse.Namespace) -> int:
    from .ir.export import to_onnx
    out = Path(args.output)
    if not out.parent.is_dir():
        raise AotError(f"-o: folder '{out.parent}' does not exist")
    if args.sensitivity:
        _print_sensitivity(args)
    graph = _quantized_graph(args)
    onnx.save(to_onnx(graph), str(out))
    layers = [n for n in graph.nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    consumers = graph.consumers()
    int8 = sum(1 for n in layers if n.meta.get("precision") != "float" and
               any(c.op_type == "QuantizeLinear" for c in consumers.get(n.outputs[0], [])))
    print(f"wrote {out} (QDQ, float inputs/outputs; {int8} of {len(layers)} layers int8)")
    return 0


def _print_sensitivity(args: argparse.Namespace) -> None:
    from .quant.calibrate import load_calibration
    from .quant.ptq import float_graph
    from .quant.sensitivity import format_sensitivity, layer_sensitivity
    if not args.calib:
        raise AotError("--sensitivity needs --calib data.npz")
    graph = float_graph(args.model, dict(args.input_shape))
    samples = load_calibration(args.calib, graph)
    print("per-layer sensitivity (one layer int8 at a time, the rest float):")
    print(format_sensitivity(layer_sensitivity(graph, samples, _quant_config(args), progress=sys.stderr.isatty())))


def _add_quant_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib", metavar="NPZ", help="calibration samples: one array per input keyed by its ONNX "
                                                  "name, samples along the first axis")
    p.add_argument("--quant-config", metavar="FILE", help="per-layer/per-tensor settings (TOML or JSON)")
    p.add_argument("--observer", choices=["minmax", "percentile", "mse"], help="default range observer")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales (default per channel)")
    p.add_argument("--keep-float", action="append", default=[], metavar="LAYER",
                   help="keep this layer (name or op type) in float: mixed precision (repeatable)")


def cmd_verify(args: argparse.Namespace) -> int:
    from .verify import verify_model
    report = verify_model(args.model, options=_options(args), inputs=args.input,
                          test_data=Path(args.test_data) if args.test_data else None, seed=args.seed,
                          atol=args.atol, rtol=args.rtol, cc=args.cc, keep_dir=Path(args.keep) if args.keep else None,
                          samples=args.samples, progress=sys.stderr.isatty())
    print(report.table())
    print("verify: PASS" if report.ok else "verify: FAIL (outputs differ beyond tolerance)")
    return 0 if report.ok else 1


def cmd_inspect(args: argparse.Namespace) -> int:
    from .compiler import compile_model
    from .inspect import format_report
    compiled = compile_model(args.model, apply_board_options(_options(args), args))
    for op_type in args.count:
        from .passes.precision import count_layers
        print(f"{op_type}: {count_layers(compiled.graph, op_type)} layers")
    if not args.count:
        print(format_report(compiled))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(Path(args.out) if args.out else None, cc=args.cc)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aot", description="Compile ONNX models into standalone C libraries "
                                     "(no malloc, one static arena) for microcontrollers and hosts.",
                                     epilog="exit status: 0 success, 1 outputs differ beyond tolerance "
                                            "(verify, demo), 2 error (bad model, bad options, build failure).")
    parser.add_argument("--version", action="version", version=f"aot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("compile", help="write the C library folder for a model",
                       description="Compile an ONNX model into a C library folder (model.h, model.c, kernels, "
                                   "weights, Makefile, CMakeLists.txt, metadata.json).")
    _add_compile_options(p)
    p.add_argument("-o", "--output", required=True, help="output folder")
    p.add_argument("--force", action="store_true", help="replace an output folder that holds other files")
    p.add_argument("--emit-onnx", metavar="FILE", help="also save the optimized IR as an ONNX model")
    p.add_argument("--quantize", choices=["int8"], help="quantize a float model first (needs --calib)")
    p.add_argument("--recast", type=_recast_spec, metavar="DTYPE:OUT:OPS[:SKIP]",
                   help="hard-cast the inputs of these ops to DTYPE and their outputs to OUT, skipping layer "
                        "indices SKIP of each op type, e.g. int8:int32:Conv,MatMul:0")
    _add_quant_options(p)
    add_board_options(p)
    p.set_defaults(func=cmd_compile)

    p = sub.add_parser("quantize", help="post-training int8 quantization of a float model into QDQ ONNX",
                       description="Calibrate the float model on sample inputs and write a QDQ ONNX model (float "
                                   "inputs/outputs, Quantize/Dequantize inside) that ONNX Runtime runs and "
                                   "`aot compile` turns into integer C.")
    p.add_argument("model", help="float ONNX model")
    p.add_argument("-o", "--output", required=True, help="QDQ ONNX file to write")
    p.add_argument("--input-shape", type=_input_shape, action="append", default=[], metavar="NAME=D0,D1,..",
                   help="static shape for a model input with dynamic dimensions (repeatable)")
    _add_quant_options(p)
    p.add_argument("--sensitivity", action="store_true",
                   help="first print how much each layer alone, quantized, moves the outputs (most sensitive first)")
    p.set_defaults(func=cmd_quantize)

    p = sub.add_parser("verify", help="compile, build, run on the host and compare with ONNX Runtime",
                       description="Compile the model, build it with the host C compiler, run it and compare "
                                   "every output with ONNX Runtime (and with expected outputs from --test-data). "
                                   "Exits 1 when an output differs beyond tolerance.")
    _add_compile_options(p)
    p.add_argument("--input", action="append", default=[], metavar="FILE",
                   help=".npy per input (in order), one .npz keyed by input name, or ONNX .pb tensors")
    p.add_argument("--test-data", metavar="DIR", help="ONNX test_data_set folder (input_*.pb, output_*.pb)")
    p.add_argument("--seed", type=int, default=0, help="seed for random inputs (default 0)")
    p.add_argument("--samples", type=int, default=20,
                   help="int8 models: random inputs to compare over (default 20); --input files may also "
                        "stack N samples on a leading axis")
    p.add_argument("--atol", type=float, default=1e-4, help="absolute tolerance (default 1e-4)")
    p.add_argument("--rtol", type=float, default=1e-4, help="relative tolerance (default 1e-4)")
    p.add_argument("--cc", default="cc", help="host C compiler (default cc)")
    p.add_argument("--keep", metavar="DIR", help="keep the generated library in DIR")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("inspect", help="per-layer table and memory summary",
                       description="Compile the model in memory and print each layer (op, backend, shapes, "
                                   "dtype, layout, arena offset) and the memory summary.")
    _add_compile_options(p)
    p.add_argument("--count", action="append", default=[], metavar="OP",
                   help="only print how many layers of this op type the compiled model has (repeatable)")
    p.add_argument("--quantize", choices=["int8"], help="show the model as quantized from float (needs --calib)")
    _add_quant_options(p)
    add_board_options(p)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="compile, verify and time the bundled example model",
                       description="Compile the bundled example CNN, build it, check it against ONNX Runtime "
                                   "and print latency, arena and weights figures. Needs no arguments.")
    p.add_argument("--out", metavar="DIR", help="keep the generated library in DIR")
    p.add_argument("--cc", default="cc", help="host C compiler (default cc)")
    p.set_defaults(func=cmd_demo)
    add_board_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
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
    except KeyboardInterrupt:
        print("aot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
