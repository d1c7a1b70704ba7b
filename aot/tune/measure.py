"""Measuring configurations: one build of the whole model per (backends, layouts), run on the target
with the per-layer profile.

Under QEMU's -icount an instruction count is deterministic and a layer's count does not depend on its
neighbours (no caches), so one profiled run of the whole model measures every layer of that
configuration in its real shapes, weights and quantization, and costs as many runs as there are
configurations, not candidates. The run also checks the outputs (int8 bit-exact with the golden model
and the host, float within tolerance): a configuration that fails to build, crashes or disagrees is
recorded as failed with the reason, and none of its layers becomes a candidate.

``measure_configuration`` is a plain function of picklable arguments, so it runs in a local process
pool or on a Dask worker alike.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from .. import __version__
from ..errors import AotError
from ..passes.layout_convert import CHANNELS_LAST

LAYOUTS = {"default": None, "channels-last": CHANNELS_LAST}


@dataclass(frozen=True)
class Configuration:
    backends: tuple[str, ...]  # in order of preference
    layouts: str  # a key of LAYOUTS: "default" (as imported, plus what the backends ask for) or "channels-last"
    options: tuple[tuple[str, str, str], ...] = ()  # (backend, key, value): a kernel variant's option value

    @property
    def name(self) -> str:
        variant = f"[{','.join(f'{b}.{k}={v}' for b, k, v in self.options)}]" if self.options else ""
        return f"{'+'.join(self.backends)}{variant}/{self.layouts}"

    def backend_options(self, given: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """``given`` (the user's --backend-option values) with this configuration's values over them."""
        merged = {b: dict(kv) for b, kv in given.items()}
        for backend, key, value in self.options:
            merged.setdefault(backend, {})[key] = value
        return merged


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to measure one configuration (picklable)."""
    model: str
    board: str
    configuration: Configuration
    cc: str = "gcc"
    opt: str = "-O2"
    rounding: str = "single"
    board_dirs: tuple[str, ...] = ()
    backend_options: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    plugins: tuple[str, ...] = ()  # modules registering backends: a worker process imports them too
    timeout: float = 600.0


@dataclass
class LayerCost:
    name: str
    op_type: str
    backend: str
    kernel: str
    layout: str
    members: list[str]  # the graph's layers this one runs (a fused pattern runs several)
    signature: str
    cost: float  # instructions on a QEMU board, seconds on the host


@dataclass
class ConfigResult:
    configuration: Configuration
    status: str  # "ok" or "failed"
    note: str = ""
    cost: float = 0
    layers: list[LayerCost] = field(default_factory=list)  # filled from the compile's rows (attach_layers)
    arena_bytes: int = 0
    weights_bytes: int = 0
    unit: str = "instructions"
    flash_bytes: int = 0  # the library's text + data on a board (weights and code); the weights on the host
    layer_costs: list[tuple[str, float]] = field(default_factory=list)  # (layer name, cost) as measured


def attach_layers(result: ConfigResult, rows: list[tuple]) -> ConfigResult:
    """``result`` with its measured layer costs joined to the compile's layer rows (compiled_layers),
    which the tuner computed before measuring; a measured run whose layers are not those is a failure."""
    if result.status != "ok":
        return result
    if [row[0] for row in rows] != [name for name, _ in result.layer_costs]:
        return dataclasses.replace(result, status="failed", note="the profiled layers are not the compiled ones")
    layers = [LayerCost(*row, cost=cost) for row, (_, cost) in zip(rows, result.layer_costs)]
    return dataclasses.replace(result, layers=layers)


INSTRUCTIONS, SECONDS = "instructions", "seconds"


def format_cost(value: float, unit: str) -> str:
    if unit == SECONDS:
        return f"{value * 1e6:,.1f} µs" if value < 1e-3 else f"{value * 1e3:,.3f} ms"
    return f"{value:,.0f} instructions"


def compile_options(task: Task):
    """CompileOptions of a task's configuration."""
    from ..compiler import CompileOptions
    return CompileOptions(board=task.board, board_dirs=list(task.board_dirs),
                          backends=list(task.configuration.backends), rounding=task.rounding,
                          desired_layouts=dict(LAYOUTS[task.configuration.layouts] or {}),
                          backend_options=task.configuration.backend_options(
                              {b: dict(kv) for b, kv in task.backend_options}),
                          plugins=list(task.plugins))


def layer_signature(graph, node, rounding: str) -> str:
    """Canonical JSON of what a layer's cost depends on besides its code: op, attributes, the shapes,
    dtypes and layouts of its tensors, and the quantization that steers the kernel."""
    def tensor(name: str) -> dict | None:
        if not name:
            return None
        t = graph.tensors[name]
        quant = None
        if t.quant is not None:
            scale = getattr(t.quant, "scale", None)
            zero = getattr(t.quant, "zero_point", None)
            quant = {"per_channel": scale is not None and getattr(scale, "size", 1) > 1,
                     "zero_point": None if zero is None else [int(z) for z in (zero.ravel() if hasattr(zero, "ravel")
                                                                                else [zero])][:8]}
        return {"shape": list(t.shape), "dtype": t.dtype, "layout": t.layout, "const": t.data is not None,
                "quant": quant}
    attrs = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in sorted(node.attrs.items())}
    body = [n.op_type for n in node.meta["body"].nodes] if node.meta.get("body") is not None else []
    return json.dumps({"op": node.op_type, "body": body, "attrs": attrs, "inputs": [tensor(i) for i in node.inputs],
                       "outputs": [tensor(o) for o in node.outputs], "rounding": rounding},
                      sort_keys=True, default=str, separators=(",", ":"))


def compiled_layers(compiled, rounding: str) -> list[tuple[str, str, str, str, str, list[str], str]]:
    """(name, op type, backend, kernel, layout, members, signature) of every layer of a compiled model."""
    rows = []
    for call in compiled.calls:
        node = call.node
        x = compiled.graph.tensors[node.inputs[0]] if node.inputs and node.inputs[0] else None
        body = node.meta.get("body")  # a fused pattern's matched layers
        members = [n.name for n in body.nodes] if body is not None else [node.name]
        rows.append((node.name, node.op_type, call.backend, call.kernel.name,
                     node.meta.get("layout") or (x.layout if x is not None else None) or "-", members,
                     layer_signature(compiled.graph, node, rounding)))
    return rows


def measure_configuration(task: Task, options=None) -> ConfigResult:
    """Build and run the configuration (or ``options``, CompileOptions of a tuned cover) with the
    per-layer profile (see the module docstring)."""
    from ..flows.board_run import BoardRunError, run_on_board
    from ..targets.board import resolve_board
    config = task.configuration
    if resolve_board(task.board, list(task.board_dirs)).is_host:
        return measure_on_host(task, options)
    try:
        report = run_on_board(task.model, task.board, board_dirs=list(task.board_dirs), profile=True, cc=task.cc,
                              opt=task.opt, timeout=task.timeout, options=options or compile_options(task))
    except BoardRunError as exc:
        return ConfigResult(config, "failed", f"the firmware failed (status {exc.status}): {_first_line(exc)}")
    except AotError as exc:
        return ConfigResult(config, "failed", _first_line(exc))
    if not report.ok:
        bad = "; ".join(f"{c.name} against {c.against}: {c.mismatches} of {c.total} elements, max abs {c.max_abs:g}"
                        for c in report.checks if not c.ok)
        return ConfigResult(config, "failed", f"outputs disagree ({bad})")
    return ConfigResult(config, "ok", "", report.instructions, [], report.arena_bytes, report.weights_bytes,
                        INSTRUCTIONS, report.library.text + report.library.data,
                        [(layer.name, layer.instructions) for layer in report.layers])


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@lru_cache(maxsize=None)
def code_hash(backend: str) -> str:
    """Hash of the templates and runtime headers a backend's kernels are made of (its own folder, ref's,
    which variants extend, the shared ones and runtime_c/): a changed kernel invalidates its records."""
    from ..resources import templates_dir, runtime_dir
    digest = hashlib.sha256()
    folders = [templates_dir() / d for d in dict.fromkeys([backend, "ref", "common"])] + [runtime_dir()]
    for folder in folders:
        if folder.is_dir():
            for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                digest.update(str(path.relative_to(folder.parent)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def toolchain_version(board: str, cc: str, board_dirs: tuple[str, ...] = ()) -> str:
    """The compiler's first --version line, for the database key."""
    import subprocess
    from ..targets.board import resolve_board
    b = resolve_board(board, list(board_dirs))
    compiler = b.compiler(cc)
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60).stdout
    except OSError:
        return compiler
    return out.splitlines()[0].strip() if out else compiler


def aot_version() -> str:
    return __version__


def model_digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


HOST_RUNS = 30  # profiled runs per configuration on the host; the median per layer is its cost


def measure_on_host(task: Task, options=None, runs: int = HOST_RUNS) -> ConfigResult:
    """The host's form of ``measure_configuration``: median seconds per layer over ``runs`` profiled
    runs (aot/flows/host_profile.py), outputs checked against the golden model (int8, bit for bit)
    or ONNX Runtime (float, 1e-4)."""
    import tempfile
    from ..compiler import compile_model, write_library
    from ..flows.board_run import make_feeds, reference_outputs
    from ..flows.host_profile import profile_on_host
    from ..flows.quant_check import is_quantized
    from ..flows.verify import compare
    from ..targets.host import load
    config = task.configuration
    cc = "cc" if task.cc == "gcc" else task.cc
    try:
        compiled = compile_model(task.model, options or compile_options(task))
        with tempfile.TemporaryDirectory(prefix="aot-tune-") as tmp:
            lib_dir = write_library(compiled, Path(tmp) / "lib")
            feeds = make_feeds(compiled, load(lib_dir, cc=cc, cflags=task.opt), None, 0)
            model, profile = profile_on_host(lib_dir, feeds, runs, cc=cc, cflags=task.opt)
            got = model.run(feeds)
            reference, expected = reference_outputs(task.model, compiled, model, feeds)
    except AotError as exc:
        return ConfigResult(config, "failed", _first_line(exc))
    tol = (0.0, 0.0) if is_quantized(compiled.graph) else (1e-4, 1e-4)
    checks = [compare(spec["onnx_name"], g, e, *tol, reference) for spec, g, e in zip(model.outputs, got, expected)]
    if not all(c.ok for c in checks):
        bad = "; ".join(f"{c.name}: {c.mismatches} of {c.total} elements, max abs {c.max_abs:g}" for c in checks
                        if not c.ok)
        return ConfigResult(config, "failed", f"outputs disagree with the {reference} ({bad})")
    memory = compiled.metadata["memory"]
    return ConfigResult(config, "ok", "", profile.total_seconds, [], memory["arena_bytes"], memory["weights_bytes"],
                        SECONDS, memory["weights_bytes"],
                        [(c.node.name, seconds) for c, seconds in zip(compiled.calls, profile.layer_seconds)])
