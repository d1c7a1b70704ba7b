"""``aot run``: compile a model for a board, link it with a generated test firmware (inputs baked in
as const arrays), run it under QEMU, read the outputs back and compare them with the host build and
the reference (the golden model for int8 models, ONNX Runtime for float ones). Reports the
instructions of one inference, per layer with ``profile``, section sizes, arena, weights and the
stack high-water mark."""
from __future__ import annotations

import dataclasses
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from .. import __version__
from ..backends.build import link_arguments
from ..codegen.cformat import c_array_body
from ..codegen.env import make_environment
from ..codegen.library_files import api_header
from ..backends.registry import REGISTRY
from ..compiler import CompiledModel, CompileOptions, compile_model, resolve_backends, write_library
from ..errors import AotError
from .input_files import input_samples
from .quant_check import is_quantized, sample_inputs
from ..quant.golden_runner import run_golden
from ..ir.formats import FORMATS, from_storage
from ..reference import reference_name, run_reference
from .verify import OutputCheck, compare, random_inputs
from ..targets.board import Board, format_bytes, resolve_board
from ..targets.cross import Size, board_files, build_library, check_cc_kind, link_firmware, section_sizes
from ..targets.fit import check_fit
from ..targets.host import HostModel, load
from ..targets.qemu import (EXIT_FAULT, EXIT_RUN_ERROR, EXIT_STACK_OVERFLOW, TIMEOUT_STATUS, QemuRun, run_qemu)

FIRMWARE_CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-ffunction-sections",
                   "-fdata-sections"]


class BoardRunError(AotError):
    """The firmware failed on the board (fault, stack overflow, time-out, error status); ``status``
    is QEMU's exit status, which ``aot run`` exits with."""

    def __init__(self, message: str, status: int, output: str = ""):
        super().__init__(message)
        self.status = status
        self.output = output


@dataclass
class LayerCost:
    index: int
    name: str
    op_type: str
    instructions: int


@dataclass
class BoardReport:
    model: str
    board: Board
    cc: str
    opt: str
    quantized: bool
    checks: list[OutputCheck]
    outputs: list[np.ndarray]
    ticks: int
    instructions: int
    library: Size
    firmware: Size
    arena_bytes: int
    weights_bytes: int
    stack_used: int
    stack_size: int
    layers: list[LayerCost] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    atol: float = 1e-4
    rtol: float = 1e-4
    work_dir: Path | None = None
    io_bytes: int = 0  # input/output buffers the caller holds outside the arena (0 when in it)
    output_specs: list[dict] = field(default_factory=list)  # metadata.json's outputs (scales, labels)

    @property
    def ram_needed(self) -> int:
        """What the model costs a user in RAM: arena + I/O buffers outside it + measured stack."""
        return self.arena_bytes + self.io_bytes + self.stack_used

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def flash_used(self) -> int:
        return self.firmware.text + self.firmware.data

    @property
    def ram_used(self) -> int:
        return self.firmware.data + self.firmware.bss

    def counter_note(self) -> str:
        b = self.board
        if b.counter == "systick":
            return (f"SysTick {self.ticks:,} ticks x {b.instructions_per_tick:g} instructions; "
                    f"resolution {b.instructions_per_tick:g}")
        return f"{b.counter or 'counter'}, exact"

    def table(self) -> str:
        b = self.board
        rows = [f"{'output':<24} {'against':<14} {'shape':<14} {'max abs err':>12} {'bad':>6}  result"]
        for c in self.checks:
            rows.append(f"{c.name[:24]:<24} {c.against:<14} {'x'.join(map(str, c.shape)) or 'scalar':<14} "
                        f"{c.max_abs:>12.3g} {c.mismatches:>6}  {'ok' if c.ok else 'FAIL'}")
        rows.append("int8: bit-identical required" if self.quantized else
                    f"float: |board - ref| <= {self.atol:g} + {self.rtol:g} * |ref|")
        rows.append(f"instructions  {self.instructions:,} per inference ({self.counter_note()})")
        rows.append(f"library       text {self.library.text:,} B, data {self.library.data:,} B, "
                    f"bss {self.library.bss:,} B")
        flash = b.flash.size + (b.code.size if b.code else 0)
        rows.append(f"firmware      text {self.firmware.text:,} B, data {self.firmware.data:,} B, "
                    f"bss {self.firmware.bss:,} B (flash {self.flash_used:,} of {format_bytes(flash)}, "
                    f"RAM {self.ram_used:,} of {format_bytes(b.ram.size)})")
        rows.append(f"memory        arena {self.arena_bytes:,} B, weights {self.weights_bytes:,} B, "
                    f"stack {self.stack_used:,} of {self.stack_size:,} B used")
        rows.append(f"RAM needed    {self.ram_needed:,} B = arena {self.arena_bytes:,} + I/O outside the arena "
                    f"{self.io_bytes:,} + stack used {self.stack_used:,}")
        if self.layers:
            total = max(sum(layer.instructions for layer in self.layers), 1)
            # Full layer names, last: names cut to a column's width read alike.
            ow = max([2, *(len(x.op_type) for x in self.layers)])
            rows.append(f"\n{'#':>3} {'op':<{ow}} {'instructions':>14} {'share':>7}  layer")
            for layer in self.layers:
                rows.append(f"{layer.index:>3} {layer.op_type:<{ow}} {layer.instructions:>14,} "
                            f"{100 * layer.instructions / total:>6.1f}%  {layer.name}")
            rows.append(f"    {'sum of layers':<{ow}} {sum(x.instructions for x in self.layers):>14,}")
        rows.append("time          " + ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))
        return "\n".join(rows)


def render_main(compiled: CompiledModel, board: Board, feeds: list[np.ndarray]) -> str:
    meta = compiled.metadata
    inputs = []
    for spec, value in zip(meta["inputs"], feeds):
        inputs.append({**spec, "body": c_array_body(np.asarray(value, dtype=spec["dtype"]))})
    env = make_environment()
    return env.get_template("firmware/main.c.j2").render(
        prefix=meta["prefix"], header=api_header(meta), board=board.name, version=__version__, inputs=inputs, outputs=meta["outputs"],
        layers=max(len(meta["layers"]), 1), io_in_arena=meta["memory"].get("io_buffers") == "arena")


def make_feeds(compiled: CompiledModel, host: HostModel, inputs: list[str] | None, seed: int) -> list[np.ndarray]:
    """One input sample: from files (the first sample if a file holds several), else random over each
    input's range (int8 models: their quantized range)."""
    graph = compiled.graph
    if inputs:
        samples = input_samples(inputs, graph, graph.source or graph.name)
        if len(samples) > 1:
            print(f"note: the --input files hold {len(samples)} samples; the board runs the first",
                  file=sys.stderr)
        return host.prepare(samples[0])
    if is_quantized(graph):
        return sample_inputs(graph, np.random.default_rng(seed))
    return host.prepare(list(random_inputs(host, seed).values()))


def reference_outputs(source: str | Path | onnx.ModelProto, compiled: CompiledModel, host: HostModel,
                      feeds: list[np.ndarray]) -> tuple[str, list[np.ndarray]]:
    if is_quantized(compiled.graph):
        return "golden model", run_golden(compiled.graph, feeds)
    named = {spec["onnx_name"]: value for spec, value in zip(host.inputs, feeds)}
    return reference_name(source), run_reference(source, {**compiled.graph.fixed_inputs, **named})


def read_outputs(run: QemuRun, specs: list[dict]) -> list[np.ndarray]:
    chunks: dict[int, dict[int, bytes]] = {}
    for fields in run.values("out"):
        index, offset, data = int(fields[0]), int(fields[1]), bytes.fromhex(fields[2] if len(fields) > 2 else "")
        chunks.setdefault(index, {})[offset] = data
    outputs = []
    for index, spec in enumerate(specs):
        parts = chunks.get(index, {})
        raw = b"".join(parts[k] for k in sorted(parts))
        nbytes = spec["size"] * np.dtype(spec["dtype"]).itemsize
        if len(raw) != nbytes:
            raise BoardRunError(f"the firmware printed {len(raw)} of the {nbytes} bytes of output "
                                f"'{spec['onnx_name']}'", 1, run.output)
        fmt = FORMATS.get(spec["dtype"])  # a narrow format: the firmware prints its C buffer's bits
        values = from_storage(np.frombuffer(raw, fmt.storage), fmt) if fmt else np.frombuffer(raw, dtype=spec["dtype"])
        outputs.append(values.reshape(spec["shape"]).copy())
    return outputs


def check_run(run: QemuRun, board: Board, timeout: float) -> None:
    """Turn a failed firmware run into a BoardRunError that says what happened."""
    tail = "\n".join(run.output.strip().splitlines()[-12:])
    if run.timed_out:
        raise BoardRunError(f"the firmware on {board.name} did not finish within {timeout:g} s (killed; "
                            f"a hang, a lock-up or a model too slow for --timeout)\n{tail}", TIMEOUT_STATUS, run.output)
    overflow = run.value("stack_overflow")
    if overflow is not None:
        raise BoardRunError(f"stack overflow on {board.name}: the stack ran into its guard ({overflow}); "
                            f"give the firmware more stack (--stack)", run.status or EXIT_STACK_OVERFLOW, run.output)
    fault = run.value("fault")
    if fault is not None:
        raise BoardRunError(f"the firmware faulted on {board.name}: {fault}", run.status or EXIT_FAULT, run.output)
    status = run.value("status")
    if status not in (None, "0"):
        raise BoardRunError(f"{board.name}: the model's run function returned status {status}",
                            run.status or EXIT_RUN_ERROR, run.output)
    if run.status != 0 or not run.values("end"):
        raise BoardRunError(f"QEMU exited with status {run.status} on {board.name} before the firmware "
                            f"finished:\n{tail}", run.status or 1, run.output)


def _int(run: QemuRun, key: str) -> int:
    value = run.value(key)
    if value is None:
        raise BoardRunError(f"the firmware printed no '{key}' record", 1, run.output)
    return int(value.split()[0])


@dataclass
class HostBaseline:
    """What every board's run of one model is compared with: the compiled model, the input sample,
    the host build's outputs and the reference's. Computed once per model (``host_baseline``)."""
    source: str | Path | onnx.ModelProto
    compiled: CompiledModel
    feeds: list[np.ndarray]
    host_outputs: list[np.ndarray]
    reference_name: str
    reference_outputs: list[np.ndarray]
    seconds: dict[str, float]
    options: CompileOptions | None = None  # the caller's, for boards that compile the model again


def host_baseline(source: str | Path | onnx.ModelProto, *, options: CompileOptions | None = None,
                  inputs: list[str] | None = None, feeds: list[np.ndarray] | None = None, seed: int = 0,
                  host_cc: str = "gcc", opt: str = "-O2", compiled: CompiledModel | None = None) -> HostBaseline:
    """``compiled`` (for any board) saves compiling the model again."""
    t0 = time.perf_counter()
    if compiled is None:
        compiled = compile_model(source, _host_options(options))
    seconds = {"compile": time.perf_counter() - t0}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aot-host-") as tmp:
        host = load(write_library(compiled, Path(tmp) / "lib"), cc=host_cc, cflags=opt)
        feeds = host.prepare(feeds) if feeds is not None else make_feeds(compiled, host, inputs, seed)
        host_out = host.run(feeds)
        ref_name, ref_out = reference_outputs(source, compiled, host, feeds)
    seconds["host"] = time.perf_counter() - t0
    return HostBaseline(source, compiled, feeds, host_out, ref_name, ref_out, seconds, options)


def _host_options(options: CompileOptions | None) -> CompileOptions:
    """``options`` for the host baseline: without the backends the host cannot compile (instruction-set
    backends of the board under test), so the baseline is the portable C the board's run must equal."""
    options = dataclasses.replace(options or CompileOptions(), board="host")
    host = resolve_board("host", options.board_dirs)

    def runs(name: str) -> bool:
        return set(REGISTRY.get(name).features) <= set(host.features)
    options.backends = [b for b in options.backends or [] if runs(b)] or None
    options.layer_backend = {k: v for k, v in options.layer_backend.items() if runs(v)}
    return options


def _same_code(compiled: CompiledModel, options: CompileOptions, a: Board, b: Board) -> bool:
    """Whether ``compiled`` (made for board ``a``) is also what a compile for board ``b`` gives: both
    boards offer the same backends in the same order, apart from backends of one board only that
    accept none of the layers (a float model on a board with int8-only instruction-set backends)."""
    try:
        have = resolve_backends(a, options.backends, options.layer_backend)
        want = resolve_backends(b, options.backends, options.layer_backend)
    except AotError:
        return False
    one_side = [REGISTRY.get(n) for n in have + want if (n in have) != (n in want)]
    if any(k.kernel_for(node, compiled.graph) for k in one_side for node in compiled.graph.nodes):
        return False
    return [n for n in have if n in want] == [n for n in want if n in have]


def for_board(compiled: CompiledModel, board: Board, source: str | Path | onnx.ModelProto | None = None,
              options: CompileOptions | None = None) -> CompiledModel:
    """The same generated C with the board's build files, after the board's fit check; when the board
    offers other backends than the board ``compiled`` was made for (instruction sets), ``source``
    compiled for the board with ``options`` (default: ``compiled``'s) instead."""
    made_for = resolve_board(compiled.options.board, compiled.options.board_dirs)
    options = options or compiled.options
    if not _same_code(compiled, options, made_for, board):
        if source is None:
            raise AotError(f"the model was compiled for board '{made_for.name}', which offers other backends "
                           f"than board '{board.name}'; compile it for '{board.name}'")
        return compile_model(source, dataclasses.replace(options, board=str(board.folder)))
    check_fit(board, compiled.graph, compiled.calls, compiled.plan)
    prefix = compiled.options.prefix
    files = {k: v for k, v in compiled.files.items() if k != "board.mk" and not k.startswith("libc/")}
    files.update(board_files(board, prefix))
    options = dataclasses.replace(compiled.options, board=str(board.folder))
    return dataclasses.replace(compiled, files=files, options=options)


def run_on_board(source: str | Path | onnx.ModelProto, board: str | Board, *, board_dirs: list[str] | None = None,
                 inputs: list[str] | None = None, feeds: list[np.ndarray] | None = None, seed: int = 0,
                 profile: bool = False, cc: str = "gcc", host_cc: str = "gcc", opt: str = "-O2",
                 timeout: float = 60.0, atol: float = 1e-4, rtol: float = 1e-4, stack_bytes: int | None = None,
                 options: CompileOptions | None = None, keep_dir: Path | None = None,
                 baseline: HostBaseline | None = None) -> BoardReport:
    """Compile, build for the board and the host, run under QEMU and compare. ``baseline`` (from
    ``host_baseline``) skips the compile and host run when several boards run one model. Raises
    BoardRunError when the firmware fails on the board, AotError for anything failing before."""
    check_cc_kind(cc)
    board = board if isinstance(board, Board) else resolve_board(board, board_dirs or [])
    if board.is_host:
        raise AotError("'aot run' runs on an emulated board; for the host use 'aot verify'")
    board.require_tools(cc)
    chosen = baseline.compiled.options if baseline is not None else options
    if chosen is not None and chosen.weights_file == "bin":
        raise AotError("aot run links the weights into its test firmware and cannot place a --weights-file bin "
                       "blob in the board's memory; run with --weights-file c or header (aot verify runs a bin "
                       "library on the host)")
    if baseline is None:
        # Compiled for the board: a model too big for it fails here, before anything is built.
        t0 = time.perf_counter()
        compiled = compile_model(source, dataclasses.replace(options or CompileOptions(), board=str(board.folder)))
        # The host builds the same C unless the board has instruction-set backends of its own.
        same = _same_code(compiled, compiled.options, board, resolve_board("host", compiled.options.board_dirs))
        baseline = host_baseline(source, options=options, inputs=inputs, feeds=feeds, seed=seed, host_cc=host_cc,
                                 opt=opt, compiled=compiled if same else None)
        baseline.seconds["compile"] = time.perf_counter() - t0 - baseline.seconds["host"]
    else:
        compiled = baseline.compiled
    seconds = dict(baseline.seconds)
    compiled = for_board(compiled, board, baseline.source, baseline.options)
    with tempfile.TemporaryDirectory(prefix="aot-run-") as tmp:
        work = Path(keep_dir) if keep_dir else Path(tmp)
        lib_dir = write_library(compiled, work / "lib", force=True)
        t0 = time.perf_counter()
        flags = f"{opt} -DAOT_PROFILE" if profile else opt
        library = build_library(lib_dir, board, cc, flags)
        fw_dir = work / "firmware"
        fw_dir.mkdir(parents=True, exist_ok=True)
        main_c = fw_dir / "main.c"
        main_c.write_text(render_main(compiled, board, baseline.feeds))
        elf = link_firmware(board, cc, [main_c, *board.sources], library, [*board.include_dirs, lib_dir],
                            fw_dir / "firmware.elf",
                            # --opt "-O2 -g": separate compiler arguments, as make splits CFLAGS
                            [*shlex.split(opt), *FIRMWARE_CFLAGS, *(["-DAOT_PROFILE"] if profile else [])],
                            stack_bytes if stack_bytes is not None else board.stack_bytes,
                            link_arguments(compiled.metadata.get("build", {})))
        seconds["build"] = time.perf_counter() - t0
        run = run_qemu(board, elf, timeout)
        seconds["qemu"] = run.seconds
        check_run(run, board, timeout)

        meta = compiled.metadata
        outputs = read_outputs(run, meta["outputs"])
        quantized = is_quantized(compiled.graph)
        # int8 models: bit-identical, also where an output is a float behind a DequantizeLinear.
        tol = dict(atol=0.0, rtol=0.0) if quantized else dict(atol=atol, rtol=rtol)
        checks = []
        for spec, got, h, r in zip(meta["outputs"], outputs, baseline.host_outputs, baseline.reference_outputs):
            checks.append(compare(spec["onnx_name"], got, h, against="host", **tol))
            checks.append(compare(spec["onnx_name"], got, r, against=baseline.reference_name, **tol))

        ipt = board.instructions_per_tick
        cal = _int(run, "cal")
        ticks = max(_int(run, "ticks") - cal, 0)
        layers = []
        if profile:
            per_layer = {int(f[0]): int(f[1]) for f in run.values("layer")}
            for i, layer in enumerate(meta["layers"]):
                layers.append(LayerCost(i, layer["name"], layer["op_type"],
                                        round(max(per_layer.get(i, 0) - cal, 0) * ipt)))
        return BoardReport(
            model=source.graph.name if isinstance(source, onnx.ModelProto) else str(source),
            board=board, cc=cc, opt=opt, quantized=quantized, checks=checks, outputs=outputs, ticks=ticks,
            instructions=round(ticks * ipt), library=section_sizes(board, library),
            firmware=section_sizes(board, elf), arena_bytes=meta["memory"]["arena_bytes"],
            weights_bytes=meta["memory"]["weights_bytes"], stack_used=_int(run, "stack"),
            stack_size=_int(run, "stack_size"), layers=layers, seconds=seconds, atol=atol, rtol=rtol,
            work_dir=work if keep_dir else None, io_bytes=meta["memory"]["caller_io_bytes"],
            output_specs=meta["outputs"])
