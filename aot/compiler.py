"""The compile flow end to end: import -> passes -> partition -> lower -> plan -> render -> write."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from . import backends  # noqa: F401  (registers the built-in backends)
from .backends.partition import annotate_backends, partition_backends
from .backends.registry import REGISTRY
from .codegen.emit import render_library
from .codegen.lower import Call, lower
from .errors import AotError
from .frontend import import_onnx
from .ir import Graph, c_identifier
from .passes import PassContext, Sequential, default_pipeline, eliminate_dead_code
from .passes.layout_convert import convert_layout_pass
from .planner import MemoryPlan, plan_memory
from .quant.expand_qlinear import expand_qlinear
from .quant.lower_qdq import lower_qdq
from .targets.board import Board, resolve_board
from .targets.cross import board_files
from .targets.fit import check_fit


@dataclass
class CompileOptions:
    prefix: str = "model"
    backends: list[str] | None = None  # in order of preference; None: the board's (resolve_backends)
    alignment: int = 16
    input_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    freeze_inputs: dict[str, np.ndarray] = field(default_factory=dict)
    dump_ir_after: set[str] = field(default_factory=set)
    debug: bool = True
    layer_backend: dict[str, str] = field(default_factory=dict)
    allow_float_fallback: bool = False
    # convert_layout: {"Conv": ["NHWC", "OHWI"], ...} and layer indices (per op type) to leave alone
    desired_layouts: dict[str, list[str]] = field(default_factory=dict)
    layout_skip_layers: list[int] = field(default_factory=list)
    board: str = "host"
    board_dirs: list[str] = field(default_factory=list)  # user board folders (--board-dir)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompiledModel:
    graph: Graph
    calls: list[Call]
    plan: MemoryPlan
    files: dict[str, str]
    options: CompileOptions

    @property
    def metadata(self) -> dict:
        return json.loads(self.files["metadata.json"])


def compile_pipeline() -> Sequential:
    # Dead-code elimination right after QDQ lowering drops the DequantizeLinear nodes it consumed.
    return Sequential([expand_qlinear, lower_qdq, eliminate_dead_code] + default_pipeline().passes +
                      [convert_layout_pass, annotate_backends, partition_backends])


def optimize(source: str | Path | onnx.ModelProto | Graph, options: CompileOptions | None = None) -> Graph:
    """Import (unless given a Graph) and run the pass pipeline up to partitioning."""
    options = options or CompileOptions()
    graph = source.copy() if isinstance(source, Graph) else import_onnx(
        source, input_shapes=options.input_shapes, freeze_inputs=options.freeze_inputs)
    backends = resolve_backends(resolve_board(options.board, options.board_dirs), options.backends,
                                options.layer_backend)
    ctx = PassContext(options={"backends": backends, "layer_backend": options.layer_backend,
                               "allow_float_fallback": options.allow_float_fallback,
                               "desired_layouts": options.desired_layouts,
                               "layout_skip_layers": options.layout_skip_layers, **options.extra},
                      debug=options.debug, dump_ir_after=set(options.dump_ir_after))
    return compile_pipeline()(graph, ctx)


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
    board = resolve_board(options.board, options.board_dirs)
    graph = optimize(source, options)
    calls, aliases = lower(graph, options.prefix)
    plan = plan_memory(graph, [c.step for c in calls], aliases, options.alignment)
    check_fit(board, graph, calls, plan)  # before rendering: a model too big fails fast
    files = render_library(graph, calls, plan, options.prefix, options.board)
    files.update(board_files(board, options.prefix))
    return CompiledModel(graph, calls, plan, files, options)


def _owned_by_aot(folder: Path) -> bool:
    meta = folder / "metadata.json"
    try:
        return json.loads(meta.read_text()).get("generator") == "aot"
    except (OSError, ValueError):
        return False


def write_library(compiled: CompiledModel, out_dir: str | Path, *, force: bool = False) -> Path:
    """Write the library folder atomically: a temporary sibling folder renamed into place, so a
    failure never leaves a half-written folder; a folder holding other files is refused unless forced."""
    out = Path(out_dir)
    if out.exists():
        if not out.is_dir():
            raise AotError(f"output path '{out}' exists and is not a folder")
        if any(out.iterdir()) and not _owned_by_aot(out) and not force:
            raise AotError(f"output folder '{out}' holds files that aot did not write; choose an empty or "
                           f"new folder, or pass --force to replace its contents")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for name, text in sorted(compiled.files.items()):
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)  # board files may sit in libc/
            (tmp / name).write_text(text)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
