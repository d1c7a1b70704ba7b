"""The compile flow end to end: import -> passes -> partition -> lower -> plan -> render -> write."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from . import backends  # noqa: F401  (registers the built-in backends)
from .backends.build import check_layer_options, library_build, resolve_all_options
from .backends.partition import annotate_backends, merge_composites, partition_backends
from .backends.registry import REGISTRY
from .codegen.emit import render_library
from .codegen.library_files import WEIGHTS_FILES
from .codegen.labels import check_labels
from .codegen.lower import Call, lower
from .codegen.packaging import check_packages, package_files
from .codegen.provenance import add_provenance
from .codegen.writer import write_folder
from .errors import AotError
from .frontend import import_onnx
from .ir import Graph, c_identifier
from .passes import PassContext, Sequential, default_pipeline, eliminate_dead_code
from .passes.context import place_user_passes
from .passes.layout_convert import convert_layout_pass
from .passes.narrow_transpose import narrow_transposes
from .passes.patches import patch_stages
from .passes.reorder import reorder_for_memory
from .plugins import load_plugins
from .passes.precision import recast
from .codegen.concat_placement import place_concats
from .codegen.in_place import mark_in_place
from .planner import MemoryPlan, plan_memory
from .quant.config import QuantConfig
from .quant.ptq import quantize_model
from .quant.expand_qlinear import expand_qlinear
from .quant.fixed_point import ROUNDINGS
from .quant.lower_qdq import lower_qdq
from .quant.plain_qdq import mark_plain_qdq
from .quant.uint8_qdq import uint8_qdq_to_int8
from .targets.board import Board, resolve_board
from .targets.cross import board_files
from .targets.fit import check_fit


IO_BUFFERS = ("arena", "separate")  # CompileOptions.io_buffers
IO_APIS = ("native", "float")  # CompileOptions.io_api


@dataclass
class QuantizeOptions:
    """Post-training int8 quantization before compiling (``aot compile --quantize int8 --calib``)."""

    calibration: str | Path  # .npz: one array per input keyed by its ONNX name, samples along the first axis
    config: QuantConfig = field(default_factory=QuantConfig)  # per-layer/per-tensor settings, observers
    progress: bool = False  # a progress bar while calibrating


@dataclass
class RecastOptions:
    """Hard-cast chosen ops' inputs to ``dtype`` and outputs to ``out_dtype`` (``--recast``)."""

    dtype: str
    out_dtype: str
    ops: list[str]
    skip_layers: list[int] = field(default_factory=list)  # layer indices per op type left alone


@dataclass
class CompileOptions:
    """Everything ``aot compile`` can do; the CLI only parses its flags into these fields."""

    prefix: str = "model"
    backends: list[str] | None = None  # in order of preference; None: the board's (resolve_backends)
    alignment: int = 16
    # "arena": graph inputs/outputs are arena buffers (reused once dead, exposed by model_input_<i>(arena));
    # "separate": the caller's own buffers outside the arena (docs/memory.md)
    io_buffers: str = "arena"
    # Patch-based execution of the first stages (aot/passes/patches.py): "off", "auto" (the cut and strip
    # count of least peak within patch_max_overhead extra MACs) or "LAYER:STRIPS" (LAYER an index or name).
    patches: str = "off"
    patch_max_overhead: float = 0.25
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    freeze_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    dump_ir_after: set[str] = field(default_factory=set)
    debug: bool = True
    layer_backend: dict[str, str] = field(default_factory=dict)
    allow_float_fallback: bool = False
    # convert_layout: {"Conv": ["NHWC", "OHWI"], ...} and layer indices (per op type) to leave alone
    desired_layouts: dict[str, list[str]] = field(default_factory=dict)
    layout_skip_layers: list[int] = field(default_factory=list)
    # layer name -> layouts, as a tuning database chose them; when given, only these layers convert
    layer_layouts: dict[str, list[str]] = field(default_factory=dict)
    # False: the backends' own layouts (Backend.layouts) do not apply, only desired_layouts (a tuned cover)
    layouts_from_backends: bool = True
    board: str = "host"
    board_dirs: list[str] = field(default_factory=list)  # user board folders (--board-dir)
    plugins: list[str] = field(default_factory=list)  # modules (or .py files) imported before compiling
    skip_layers: list[str] = field(default_factory=list)  # layers that fusions and patterns leave alone
    quantize: QuantizeOptions | None = None
    recast: RecastOptions | None = None
    rounding: str = "single"  # int8 requantization: "single" or "tflite" (aot/quant/fixed_point.py)
    extra: dict[str, Any] = field(default_factory=dict)
    # {"cmsis-nn": {"path": "/opt/CMSIS-NN"}}: --backend-option cmsis-nn.path=/opt/CMSIS-NN
    backend_options: dict[str, dict[str, str]] = field(default_factory=dict)
    # per layer: backend -> key -> value replacing backend_options for that layer (a kernel variant)
    layer_backend_options: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    # firmware build-system packages added to the folder: cmake, zephyr, arduino, platformio (aot/codegen/packaging.py)
    packages: list[str] = field(default_factory=list)
    # where the weights go: "header" (static arrays in <prefix>_weights.h), "c" (<prefix>_weights.c) or
    # "bin" (<prefix>_weights.bin read through <prefix>_weights_base; aot/codegen/library_files.py)
    weights_file: str = "header"
    # "float": model.h also declares <prefix>_run_float over quantized inputs/outputs (docs/io.md)
    io_api: str = "native"
    labels: list[str] | None = None  # class names of output 0, one per element of a sample (--labels)
    # layers whose kernels allow it write their output over a dying input (aot/codegen/in_place.py)
    in_place: bool = True


@dataclass
class CompiledModel:
    graph: Graph
    calls: list[Call]
    plan: MemoryPlan
    files: dict[str, str | bytes]  # bytes: --weights-file bin's blob
    options: CompileOptions

    @property
    def metadata(self) -> dict:
        return json.loads(self.files["metadata.json"])


def compile_pipeline() -> Sequential:
    """The passes of ``aot compile``, with the passes users registered (aot.passes.register_pass) in place."""
    # Dead-code elimination right after QDQ lowering drops the DequantizeLinear nodes it consumed.
    return Sequential(place_user_passes(
        [expand_qlinear, mark_plain_qdq, uint8_qdq_to_int8, lower_qdq, eliminate_dead_code, narrow_transposes] +
        default_pipeline().passes +
        [convert_layout_pass, patch_stages, merge_composites, annotate_backends, partition_backends, reorder_for_memory]))


def optimize(source: str | Path | onnx.ModelProto | Graph, options: CompileOptions | None = None) -> Graph:
    """Import (unless given a Graph) and run the pass pipeline up to partitioning."""
    options = options or CompileOptions()
    load_plugins(options.plugins)
    if options.rounding not in ROUNDINGS:
        raise AotError(f"unknown rounding '{options.rounding}'; choose one of {', '.join(ROUNDINGS)}")
    backends = resolve_backends(resolve_board(options.board, options.board_dirs), options.backends,
                                options.layer_backend)
    graph = source_graph(source, options, backends)
    graph.rounding = options.rounding
    graph.backend_options = {b: dict(v) for b, v in options.backend_options.items()}
    graph.layer_backend_options = {layer: {b: dict(kv) for b, kv in per.items()}
                                   for layer, per in options.layer_backend_options.items()}
    ctx = PassContext(options={"backends": backends, "layer_backend": options.layer_backend,
                               "allow_float_fallback": options.allow_float_fallback,
                               "desired_layouts": options.desired_layouts,
                               "layout_skip_layers": options.layout_skip_layers,
                               "layer_layouts": options.layer_layouts,
                               "layouts_from_backends": options.layouts_from_backends,
                               "patches": options.patches, "patch_max_overhead": options.patch_max_overhead,
                               **options.extra},
                      skip_layers=set(options.skip_layers), debug=options.debug,
                      dump_ir_after=set(options.dump_ir_after))
    return compile_pipeline()(graph, ctx)


def source_graph(source: str | Path | onnx.ModelProto | Graph, options: CompileOptions,
                 backends: list[str]) -> Graph:
    """The model as IR before the compile passes: imported, quantized from float (options.quantize),
    recast (options.recast)."""
    if options.quantize is not None:
        if isinstance(source, Graph):
            raise AotError("quantization starts from an ONNX model (a file or a ModelProto), not an IR graph")
        graph = quantize_model(source, options.quantize.calibration, config=options.quantize.config,
                               input_shapes=options.input_shapes, progress=options.quantize.progress,
                               backends=[REGISTRY.get(b) for b in backends])
    elif isinstance(source, Graph):
        graph = source.copy()
    else:
        graph = import_onnx(source, input_shapes=options.input_shapes, freeze_inputs=options.freeze_inputs)
    if options.recast is not None:
        r = options.recast
        graph = recast(graph, r.dtype, r.out_dtype, r.ops, r.skip_layers)
    return graph


def resolve_backends(board: Board, requested: list[str] | None = None,
                     layer_backend: dict[str, str] | None = None) -> list[str]:
    """The backends of a compile for ``board``, in order of preference: ``requested``, else the board's
    ``backends`` list, else every backend whose instruction-set features the board has (those needing
    more first, then by name) followed by ref. A backend (also one chosen per layer) that needs a
    feature the board lacks is an error: its C uses instructions that core does not have."""
    if requested:
        names = list(requested)
    elif board.backends is not None:
        names = list(board.backends)
    else:
        isa = [REGISTRY.get(n) for n in REGISTRY.names() if REGISTRY.get(n).features]
        isa = [b for b in isa if set(b.features) <= set(board.features)]
        names = [b.name for b in sorted(isa, key=lambda b: (-len(b.features), b.name))] + ["ref"]
    for name in dict.fromkeys([*names, *(layer_backend or {}).values()]):
        missing = [f for f in REGISTRY.get(name).features if f not in board.features]
        if missing:
            have = ", ".join(board.features) or "none"
            raise AotError(f"backend '{name}' needs the instruction-set feature(s) {', '.join(missing)}, which "
                           f"board '{board.name}' does not have (its features: {have}); choose another "
                           f"--backend, or a board whose board.toml lists {', '.join(missing)} in 'features'")
    return names


def compile_model(source: str | Path | onnx.ModelProto | Graph, options: CompileOptions | None = None) -> CompiledModel:
    options = options or CompileOptions()
    if c_identifier(options.prefix) != options.prefix:
        raise AotError(f"prefix '{options.prefix}' is not a C identifier")
    if options.alignment <= 0 or options.alignment & (options.alignment - 1):
        raise AotError(f"alignment {options.alignment} is not a power of two")
    if options.io_buffers not in IO_BUFFERS:
        raise AotError(f"unknown io_buffers '{options.io_buffers}'; choose one of {', '.join(IO_BUFFERS)}")
    if options.io_api not in IO_APIS:
        raise AotError(f"unknown io_api '{options.io_api}'; choose one of {', '.join(IO_APIS)}")
    check_packages(options.packages)
    if options.weights_file not in WEIGHTS_FILES:
        raise AotError(f"unknown weights_file '{options.weights_file}'; choose one of {', '.join(WEIGHTS_FILES)}")
    board = resolve_board(options.board, options.board_dirs)
    load_plugins(options.plugins)  # a plug-in may register the backends named below
    # Checked before any work: a missing --backend-option fails the same way for every model.
    backends = resolve_backends(board, options.backends, options.layer_backend)
    backend_options = resolve_all_options([*backends, *options.layer_backend.values()], options.backend_options)
    graph = optimize(source, options)
    check_layer_options(graph)
    if options.labels is not None:
        check_labels(graph, options.labels)
    calls, aliases = lower(graph, options.prefix)
    slices: dict[str, tuple[str, int]] = {}
    if options.in_place:
        calls, slices = place_concats(graph, calls, aliases, options.alignment)
        mark_in_place(graph, calls, {**aliases, **{k: v for k, (v, _) in slices.items()}},
                      io_in_arena=options.io_buffers == "arena")
    plan = plan_memory(graph, [c.step for c in calls], aliases, options.alignment,
                       io_in_arena=options.io_buffers == "arena", slices=slices)
    check_fit(board, graph, calls, plan)  # before rendering: a model too big fails fast
    used = dict.fromkeys(c.backend for c in calls)  # only backends that run layers add to the build
    build = library_build({b: REGISTRY.get(b).model_build_contribution(
        dict(backend_options.get(b, {})), graph, [c.kernel for c in calls if c.backend == b]) for b in used}, board)
    files = render_library(graph, calls, plan, options.prefix, options.board, build=build,
                           stack_bytes=None if board.is_host else board.stack_bytes, weights_file=options.weights_file,
                           io_api=options.io_api, labels=options.labels)
    edges = json.loads(files["metadata.json"])
    if options.io_api == "float" and all(e["scale"] is None for e in edges["inputs"] + edges["outputs"]):
        graph.notes.append("--io float: no input or output of this model is quantized, so "
                           f"{options.prefix}_run_float passes every value through as {options.prefix}_run does")
    files.update(board_files(board, options.prefix))
    add_provenance(files, source, options, board.name)
    files.update(package_files(files, options.prefix, options.packages, build, graph.name))
    return CompiledModel(graph, calls, plan, files, options)


def write_library(compiled: CompiledModel, out_dir: str | Path, *, force: bool = False, clean: bool = False) -> Path:
    """Write the library folder (aot/codegen/writer.py): only aot's own files are replaced, a failure
    leaves the previous library whole; a folder holding other files is refused unless ``force``, and
    other files are deleted only with ``force`` and ``clean``."""
    return write_folder(compiled.files, out_dir, force=force, clean=clean)
