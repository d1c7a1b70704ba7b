"""Host benchmark: the generated C against ONNX Runtime with one thread.

    python bench/host.py [--repeats 50] [--models ../shared/models] [--only kws] [--clock cpu]
                         [--board host --board host-sse4 --board host-avx2] [--backend x86-avx2,ref] [--opt -O2 --opt -O3]

For each model of the acceptance list and each configuration (host board x backends x flags) it compiles
and builds the library and checks its output against ONNX Runtime; then it times every configuration and
ONNX Runtime interleaved, in-process (``aot.flows.measure.measure_paired``), prints the README's markdown
table and writes the figures, with the kernels each configuration ran, to bench/results/host.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from tqdm import tqdm

from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.measure import c_callable, measure_paired, ort_callable
from aot.flows.quant_check import is_quantized, lsb_scale
from aot.reference import run_reference
from aot.targets.board import detect_host_features
from aot.targets.host import load
from aot.flows.verify import compare, random_inputs

from shared_models import DEFAULT_MODELS, MODELS, REPO, commit  # noqa: E402  (bench/ is the script folder)
RESULTS = REPO / "bench" / "results" / "host.json"
CC = "gcc"
ATOL = RTOL = 1e-4



@dataclass
class Config:
    """One way of building the generated C: a host board, its backends (None: the board's) and flags."""
    board: str
    backends: list[str] | None
    cflags: str

    @property
    def label(self) -> str:
        return f"{self.board}{'[' + ','.join(self.backends) + ']' if self.backends else ''} {self.cflags}"


@dataclass
class Measured:
    label: str
    seconds: float  # median per call
    ratio: float  # median over samples of C / ORT measured back to back
    timing: dict
    layers: int
    kernels: dict[str, int]  # backend/kernel -> layers
    arena_bytes: int
    lower_bound_bytes: int
    weights_bytes: int
    compile_seconds: float
    max_abs_error: float
    matches_ort: bool


@dataclass
class Result:
    model: str
    file: str
    ort_seconds: float
    ort_timing: dict
    configs: list[Measured]

    @property
    def matches_ort(self) -> bool:
        return all(c.matches_ort for c in self.configs)


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def _check(compiled, host, feeds, ref) -> tuple[float, bool]:
    checks = []
    for spec, output, g, r in zip(host.outputs, compiled.graph.outputs, host.run(feeds), ref):
        if is_quantized(compiled.graph):  # one LSB of the output, no relative part
            checks.append(compare(spec["onnx_name"], g, r, lsb_scale(compiled.graph, output) * 1.001, 0.0,
                                  "onnxruntime"))
        else:
            checks.append(compare(spec["onnx_name"], g, r, ATOL, RTOL, "onnxruntime"))
    return max(c.max_abs for c in checks), all(c.ok for c in checks)


def bench_model(name: str, path: Path, work: Path, configs: list[Config], repeats: int,
                clock: str = "wall") -> Result:
    """Every configuration's library and ONNX Runtime, timed interleaved on the same inputs."""
    fns, built, feeds, ref = {}, [], None, None
    for i, config in enumerate(configs):
        t0 = time.perf_counter()
        compiled = compile_model(path, CompileOptions(board=config.board, backends=config.backends))
        compile_seconds = time.perf_counter() - t0
        # A folder per configuration: ctypes would hand back the already loaded library for the same path.
        lib_dir = write_library(compiled, work / name / str(i))
        host = load(lib_dir, cc=CC, cflags=config.cflags)
        if feeds is None:
            feeds = random_inputs(host, seed=0)
            ref = run_reference(path, feeds)
        max_abs, ok = _check(compiled, host, feeds, ref)
        fns[config.label] = c_callable(host, feeds)
        kernels = Counter(f"{c.backend}/{c.kernel.name}" for c in compiled.calls)
        memory = compiled.metadata["memory"]
        built.append((config.label, len(compiled.calls), dict(sorted(kernels.items())), memory, compile_seconds,
                      max_abs, ok))
    fns["ort"] = ort_callable(path, feeds)
    paired = measure_paired(fns, "ort", repeats, clock=CLOCKS[clock])
    measured = [Measured(label, paired.timings[label].median, paired.ratios[label], paired.timings[label].as_dict(),
                         layers, kernels, memory["arena_bytes"], memory["lower_bound_bytes"], memory["weights_bytes"],
                         compile_seconds, max_abs, ok)
                for label, layers, kernels, memory, compile_seconds, max_abs, ok in built]
    ort = paired.timings["ort"]
    return Result(name, str(path), ort.median, ort.as_dict(), measured)


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def markdown_table(results: list[Result]) -> str:
    labels = [c.label for c in results[0].configs]
    head = (["model", "layers"] + [f"C {label}" for label in labels] + ["ORT 1 thread"]
            + [f"C/ORT {label}" for label in labels] + ["arena B", "weights B", "compile s"])
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
    for r in results:
        first = r.configs[0]
        cells = ([r.model + ("" if r.matches_ort else " (MISMATCH)"), str(first.layers)]
                 + [_time(c.seconds) for c in r.configs] + [_time(r.ort_seconds)]
                 + [f"{c.ratio:.2f}" for c in r.configs]
                 + [" / ".join(f"{c.arena_bytes:,}" for c in r.configs),
                    " / ".join(f"{c.weights_bytes:,}" for c in r.configs),
                    " / ".join(f"{c.compile_seconds:.2f}" for c in r.configs)])
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def machine() -> dict:
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    cpu = "unknown"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "platform": platform.platform(), "python": platform.python_version(),
            "cc": first_line([CC, "--version"]), "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def default_boards() -> list[str]:
    """The portable host build, then the SSE4.1 and AVX2 ones where this machine has them."""
    features = set(detect_host_features(CC))
    return ["host"] + (["host-sse4"] if "sse4.1" in features else []) + \
        (["host-avx2"] if {"avx2", "fma"} <= features else [])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the shared models folder")
    p.add_argument("--repeats", type=int, default=50, help="timed samples per measurement (default 50)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this model (repeatable)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall time (default) or the calling thread's CPU time, steadier on a busy machine")
    p.add_argument("--board", action="append", default=[], metavar="NAME",
                   help="host board (repeatable; default: host, and host-sse4/host-avx2 where the machine has them)")
    p.add_argument("--backend", action="append", default=[], metavar="LIST",
                   help="backends in order of preference, comma-separated (repeatable: one configuration per "
                        "list and board; default: the board's)")
    p.add_argument("--opt", action="append", default=[], metavar="FLAGS",
                   help="optimisation flags of the C build (repeatable; default -O2)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = p.parse_args(argv)

    configs = [Config(board, backends.split(",") if backends else None, opt)
               for board in (args.board or default_boards()) for backends in (args.backend or [None])
               for opt in (args.opt or ["-O2"])]
    chosen = [(n, rel) for n, rel in MODELS if not args.only or n in args.only]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="aot-bench-") as tmp:
        for name, rel in tqdm(chosen, desc="models", unit="model", file=sys.stderr):
            path = args.models / rel
            if not path.exists():
                tqdm.write(f"skipping {name}: {path} is absent", file=sys.stderr)
                continue
            results.append(bench_model(name, path, Path(tmp), configs, args.repeats, args.clock))
    if not results:
        print(f"no model of the benchmark was found under {args.models}", file=sys.stderr)
        return 1
    head = commit()
    print(markdown_table(results))
    print(f"\nCommit {head}. C: in-process through ctypes, {CC}; ORT: onnxruntime {onnxruntime.__version__} CPU, "
          f"intra_op_num_threads=1; timed interleaved ({args.repeats} rounds, each timing every build and ORT in "
          f"turn), median {args.clock}-clock time per call; C/ORT is the median of the per-round ratios. "
          f"Machine: {machine()['cpu']}.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"commit": head, "machine": machine(), "repeats": args.repeats, "clock": args.clock,
                                     "configs": [asdict(c) | {"label": c.label} for c in configs],
                                     "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(r.matches_ort for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
