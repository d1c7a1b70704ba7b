"""Host benchmark: the generated C (gcc -O2 and -O3) against ONNX Runtime with one thread.

    python bench/host.py [--repeats 50] [--models ../shared/models] [--only kws] [--clock cpu]

For each float model of the acceptance list it compiles the library, builds it twice, checks the C
output against ONNX Runtime, times both in-process (median per call, see ``aot.flows.measure``), prints a
markdown table and writes the figures to bench/results/host.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime
from tqdm import tqdm

from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.measure import c_timing, ort_timing
from aot.flows.quant_check import is_quantized, lsb_scale
from aot.reference import run_reference
from aot.targets.host import load
from aot.flows.verify import compare, random_inputs

from shared_models import DEFAULT_MODELS, MODELS, REPO, commit  # noqa: E402  (bench/ is the script folder)
RESULTS = REPO / "bench" / "results" / "host.json"
CC = "gcc"
OPT_LEVELS = ("-O2", "-O3")
ATOL = RTOL = 1e-4



@dataclass
class Result:
    model: str
    file: str
    layers: int
    c_seconds: dict[str, float]  # optimisation flag -> median seconds per call
    c_timing: dict[str, dict]
    ort_seconds: float
    ort_timing: dict
    arena_bytes: int
    lower_bound_bytes: int
    weights_bytes: int
    compile_seconds: float
    max_abs_error: float
    matches_ort: bool

    def ratio(self, flag: str) -> float:
        return self.c_seconds[flag] / self.ort_seconds


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def bench_model(name: str, path: Path, work: Path, repeats: int, clock: str = "wall", board: str = "host",
                backends: list[str] | None = None) -> Result:
    t0 = time.perf_counter()
    compiled = compile_model(path, CompileOptions(board=board, backends=backends))
    write_library(compiled, work / name / "O2")
    compile_seconds = time.perf_counter() - t0
    c_seconds, c_timings = {}, {}
    feeds, checks = None, []
    for flag in OPT_LEVELS:
        # A folder per flag: ctypes would hand back the already loaded library for the same path.
        lib_dir = work / name / flag.lstrip("-")
        if not lib_dir.exists():
            write_library(compiled, lib_dir)
        host = load(lib_dir, cc=CC, cflags=flag)
        if feeds is None:
            feeds = random_inputs(host, seed=0)
            ref = run_reference(path, feeds)
        got = host.run(feeds)
        for spec, output, g, r in zip(host.outputs, compiled.graph.outputs, got, ref):
            if is_quantized(compiled.graph):  # one LSB of the output, no relative part
                checks.append(compare(spec["onnx_name"], g, r, lsb_scale(compiled.graph, output) * 1.001, 0.0,
                                      "onnxruntime"))
            else:
                checks.append(compare(spec["onnx_name"], g, r, ATOL, RTOL, "onnxruntime"))
        timing = c_timing(host, feeds, repeats, clock=CLOCKS[clock])
        c_seconds[flag], c_timings[flag] = timing.median, timing.as_dict()
    ort = ort_timing(path, feeds, repeats, clock=CLOCKS[clock])
    memory = compiled.metadata["memory"]
    return Result(name, str(path), len(compiled.calls), c_seconds, c_timings, ort.median, ort.as_dict(),
                  memory["arena_bytes"], memory["lower_bound_bytes"], memory["weights_bytes"], compile_seconds,
                  max(c.max_abs for c in checks), all(c.ok for c in checks))


def _time(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} µs" if seconds < 1e-3 else f"{seconds * 1e3:.2f} ms"


def markdown_table(results: list[Result]) -> str:
    head = ["model", "layers", "C gcc -O2", "C gcc -O3", "ORT 1 thread", "C/ORT -O2", "C/ORT -O3",
            "arena B", "lower bound B", "weights B", "compile s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(head))) + "|"]
    for r in results:
        cells = [r.model + ("" if r.matches_ort else " (MISMATCH)"), str(r.layers), _time(r.c_seconds["-O2"]),
                 _time(r.c_seconds["-O3"]), _time(r.ort_seconds), f"{r.ratio('-O2'):.2f}", f"{r.ratio('-O3'):.2f}",
                 f"{r.arena_bytes:,}", f"{r.lower_bound_bytes:,}", f"{r.weights_bytes:,}", f"{r.compile_seconds:.2f}"]
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=Path, default=DEFAULT_MODELS, help="the shared models folder")
    p.add_argument("--repeats", type=int, default=50, help="timed samples per measurement (default 50)")
    p.add_argument("--only", action="append", default=[], metavar="NAME", help="run only this model (repeatable)")
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall time (default) or the calling thread's CPU time, steadier on a busy machine")
    p.add_argument("--board", default="host", help="host board: host (portable C), host-avx2, native")
    p.add_argument("--backend", default=None, metavar="LIST",
                   help="backends in order of preference, comma-separated (default: the board's)")
    p.add_argument("--json", type=Path, default=RESULTS, help=f"where to write the results (default {RESULTS})")
    args = p.parse_args(argv)

    chosen = [(n, rel) for n, rel in MODELS if not args.only or n in args.only]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="aot-bench-") as tmp:
        for name, rel in tqdm(chosen, desc="models", unit="model", file=sys.stderr):
            path = args.models / rel
            if not path.exists():
                tqdm.write(f"skipping {name}: {path} is absent", file=sys.stderr)
                continue
            results.append(bench_model(name, path, Path(tmp), args.repeats, args.clock, args.board,
                                       args.backend.split(",") if args.backend else None))
    if not results:
        print(f"no model of the benchmark was found under {args.models}", file=sys.stderr)
        return 1
    head = commit()
    print(markdown_table(results))
    print(f"\nCommit {head}. C: in-process through ctypes, {CC}, median {args.clock}-clock time per call over {args.repeats} "
          f"samples; ORT: "
          f"onnxruntime {onnxruntime.__version__} CPU, intra_op_num_threads=1. Machine: {machine()['cpu']}.")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"commit": head, "machine": machine(), "repeats": args.repeats, "clock": args.clock,
                                     "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"wrote {args.json}")
    return 0 if all(r.matches_ort for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
