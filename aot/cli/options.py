"""Command-line flags shared by the subcommands, and their translation into ``CompileOptions`` (the
CLI only parses: everything a compile does is a field of CompileOptions)."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..errors import AotError

if TYPE_CHECKING:
    import numpy as np


def input_shape(text: str) -> tuple[str, tuple[int, ...]]:
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


def fixed_input(text: str) -> tuple[str, np.ndarray]:
    """NAME=V0,V1,... or NAME=@values.npy: a graph input given its value at compile time."""
    import numpy as np  # here, not at import: the CLI's startup imports stay where Ctrl-C is handled
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise argparse.ArgumentTypeError(f"expected NAME=V0,V1,... or NAME=@file.npy (e.g. axis=1), got '{text}'")
    if values.startswith("@"):
        try:
            return name, np.load(values[1:], allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise argparse.ArgumentTypeError(f"--fix-input {name}: cannot read {values[1:]}: {exc}") from None
    try:
        numbers = [float(v) if any(c in v.lower() for c in ".en") else int(v) for v in values.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--fix-input {name}: expected comma-separated numbers, got "
                                         f"'{values}'") from None
    return name, np.asarray(numbers)


def add_compile_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="ONNX model file")
    p.add_argument("--input-shape", type=input_shape, action="append", default=[], metavar="NAME=D0,D1,..",
                   help="static shape for a model input with dynamic dimensions (repeatable)")
    p.add_argument("--fix-input", type=fixed_input, action="append", default=[], metavar="NAME=V0,V1,..",
                   help="give a model input its value at compile time (a size, axis or shape parameter an output "
                        "shape depends on); it leaves the C API. Values inline or NAME=@file.npy (repeatable)")
    p.add_argument("--prefix", default="model", help="C symbol prefix of the library (default: model)")
    p.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend to use, in order of preference (repeatable; default: the board's list, e.g. "
                        "arm-dsp, ref on cortex-m4; ref on the host)")
    p.add_argument("--alignment", type=int, default=16, help="arena buffer alignment in bytes (default 16)")
    p.add_argument("--io-buffers", choices=["arena", "separate"], default="arena",
                   help="where the model's inputs and outputs live: in the arena, reused once dead, written and "
                        "read in place through model_input_<i>(arena)/model_output_<i>(arena) (default), or in "
                        "the caller's own buffers outside the arena")
    p.add_argument("--patches", default="off", metavar="off|auto|LAYER:STRIPS",
                   help="run the first stages strip by strip to lower peak RAM (MCUNetV2's patch-based "
                        "inference): 'auto' picks the cut layer and strip count of least peak within "
                        "--patch-max-overhead extra MACs; LAYER:STRIPS names them (default off)")
    p.add_argument("--patch-max-overhead", type=float, default=25.0, metavar="PERCENT",
                   help="extra MACs --patches auto may spend on recomputed halo rows (default 25)")
    p.add_argument("--weights-file", choices=["header", "c", "bin"], default="header",
                   help="where the weights go: static arrays in <prefix>_weights.h (default), a translation unit "
                        "<prefix>_weights.c, or a binary blob <prefix>_weights.bin (for external flash) read through "
                        "the pointer <prefix>_weights_base the firmware sets (docs/placement.md)")
    p.add_argument("--io", choices=["native", "float"], default="native",
                   help="float: model.h also declares <prefix>_run_float, taking and giving real values and "
                        "quantizing/dequantizing the model's integer inputs and outputs (docs/io.md)")
    p.add_argument("--labels", metavar="FILE",
                   help="class names of the first output, one per line (model.h: <prefix>_labels, "
                        "<PREFIX>_NUM_LABELS; metadata.json; aot run prints the top classes with them)")
    p.add_argument("--no-inplace", dest="in_place", action="store_false",
                   help="never write a layer's output over its dying input (in-place depthwise and 1x1 Conv)")
    p.add_argument("--dump-ir-after", action="append", default=[], metavar="PASS",
                   help="print the IR after this pass ('all' for every pass)")
    p.add_argument("--layout", type=layout_spec, action="append", default=[], metavar="OP=LAYOUT[,WEIGHTS]",
                   help="convert an op type's layers to a layout, e.g. Conv=NHWC,OHWI or MaxPool=NHWC (repeatable)")
    p.add_argument("--layout-skip", type=int, action="append", default=[], metavar="INDEX",
                   help="leave layer INDEX (counted per op type) of the --layout ops in its layout (repeatable)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import a Python module (or .py file) that registers backends, patterns, passes or "
                        "ops first (repeatable; installed packages' 'aot.plugins' entry points load too)")
    p.add_argument("--backend-option", type=backend_option, action="append", default=[],
                   metavar="NAME.KEY=VALUE", help="an option of backend NAME, e.g. cmsis-nn.path=/opt/CMSIS-NN "
                                                 "(repeatable; overrides the option's environment variable)")
    p.add_argument("--allow-float-fallback", action="store_true",
                   help="run quantized (QDQ) patterns that have no integer kernel in float, with a note, "
                        "instead of failing")
    p.add_argument("--rounding", choices=["single", "tflite"], default="single",
                   help="int8 requantization: single rounding (default) or TFLite's double rounding and "
                        "integer recipes (bit-exact with TFLite Micro's reference kernels)")


def backend_option(text: str) -> tuple[str, str, str]:
    from ..backends.build import parse_backend_option
    try:
        return parse_backend_option(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def backend_options_of(given: list[tuple[str, str, str]]) -> dict[str, dict[str, str]]:
    options: dict[str, dict[str, str]] = {}
    for backend, key, value in given:
        options.setdefault(backend, {})[key] = value  # the last one given wins
    return options


def layout_spec(text: str) -> tuple[str, list[str]]:
    op, sep, layouts = text.partition("=")
    if not sep or not op or not layouts:
        raise argparse.ArgumentTypeError(f"expected OP=LAYOUT[,WEIGHT_LAYOUT] (e.g. Conv=NHWC,OHWI), got '{text}'")
    return op, layouts.upper().split(",")  # nhwc is NHWC


def check_dump_passes(names: list[str]) -> None:
    from ..compiler import compile_pipeline
    known = compile_pipeline().names
    unknown = [n for n in names if n != "all" and n not in known]
    if unknown:
        raise AotError(f"--dump-ir-after names unknown pass(es) {', '.join(map(repr, unknown))}; the passes are "
                       f"{', '.join(dict.fromkeys(known))} (or 'all')")


def compile_options(args: argparse.Namespace):
    """The parsed flags as CompileOptions: everything the compile does is a field there."""
    from ..codegen.labels import read_labels
    from ..compiler import CompileOptions, QuantizeOptions, RecastOptions
    from ..plugins import load_plugins
    load_plugins(args.plugin)  # before anything lists passes or backends
    check_dump_passes(args.dump_ir_after)
    quantize = recast = None
    if getattr(args, "quantize", None):
        if args.quantize != "int8":
            raise AotError(f"--quantize {args.quantize}: only int8 is supported")
        if not args.calib:
            raise AotError("--quantize int8 needs calibration data: --calib data.npz (one array per input, keyed "
                           "by the input's ONNX name, samples along the first axis)")
        quantize = QuantizeOptions(args.calib, quant_config(args), progress=sys.stderr.isatty())
    if getattr(args, "recast", None):
        dtype, out_dtype, ops, skip = args.recast
        recast = RecastOptions(dtype, out_dtype, ops, skip)
    return CompileOptions(quantize=quantize, recast=recast, prefix=args.prefix, backends=args.backend or None, alignment=args.alignment,
                          input_shapes=dict(args.input_shape), freeze_inputs=dict(args.fix_input),
                          dump_ir_after=set(args.dump_ir_after),
                          allow_float_fallback=args.allow_float_fallback, plugins=list(args.plugin),
                          desired_layouts=dict(args.layout), layout_skip_layers=list(args.layout_skip),
                          backend_options=backend_options_of(args.backend_option), rounding=args.rounding,
                          io_buffers=args.io_buffers, weights_file=getattr(args, "weights_file", "header"),
                          io_api=getattr(args, "io", "native"),
                          labels=read_labels(args.labels) if getattr(args, "labels", None) else None,
                          in_place=args.in_place, patches=patches_setting(args.patches),
                          patch_max_overhead=args.patch_max_overhead / 100.0)


def patches_setting(text: str) -> str:
    layer, sep, strips = text.rpartition(":")
    if text in ("off", "auto") or (sep and layer and strips.isdigit()):
        return text
    raise AotError(f"--patches '{text}': give off, auto or LAYER:STRIPS (a layer index or name, and a strip "
                   f"count, e.g. 9:8)")


def recast_spec(text: str) -> tuple[str, str, list[str], list[int]]:
    parts = text.split(":")
    try:
        if len(parts) not in (3, 4):
            raise ValueError
        skip = [int(i) for i in parts[3].split(",")] if len(parts) == 4 and parts[3] else []
        return parts[0], parts[1], [op for op in parts[2].split(",") if op], skip
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected DTYPE:OUT_DTYPE:OP[,OP..][:SKIP[,SKIP..]] "
                                         f"(e.g. int8:int32:Conv,MatMul:0), got '{text}'") from None


def quant_config(args: argparse.Namespace):
    from ..quant.config import QuantConfig
    config = QuantConfig.load(args.quant_config) if args.quant_config else QuantConfig()
    if args.observer:
        config.default["observer"] = args.observer
    if args.per_tensor:
        config.default["granularity"] = "per_tensor"
    for name in args.keep_float:
        config.layers.setdefault(name, {})["precision"] = "float"
    return config.validate()


def add_quant_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--calib", metavar="NPZ", help="calibration samples: one array per input keyed by its ONNX "
                                                  "name, samples along the first axis")
    p.add_argument("--quant-config", metavar="FILE", help="per-layer/per-tensor settings (TOML or JSON)")
    p.add_argument("--observer", choices=["minmax", "percentile", "mse"], help="default range observer")
    p.add_argument("--per-tensor", action="store_true", help="per-tensor weight scales (default per channel)")
    p.add_argument("--keep-float", action="append", default=[], metavar="LAYER",
                   help="keep this layer (name or op type) in float: mixed precision (repeatable)")
