"""``aot demo``: compile the bundled example CNN, build it, check it against ONNX Runtime and time it.

Everything a user would do by hand (compile, make, verify, compare speed) in one command with no
arguments, ending in a summary table.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

from ..compiler import CompileOptions, compile_model, write_library
from ..errors import AotError
from .measure import time_c, time_ort
from ..reference import run_reference
from ..resources import examples_dir
from ..targets.host import load
from .verify import compare, random_inputs

DEMO_MODEL = "demo_cnn.onnx"
ATOL = RTOL = 1e-4


def demo_model_path() -> Path:
    path = examples_dir() / DEMO_MODEL
    if not path.is_file():
        raise AotError(f"the bundled demo model '{path}' is missing; regenerate it with "
                       f"python {examples_dir() / 'make_demo_model.py'}")
    return path


def _format_seconds(seconds: float) -> str:
    return f"{seconds * 1e6:.1f} us" if seconds < 1e-3 else f"{seconds * 1e3:.3f} ms"


def run_demo(out: Path | None = None, cc: str = "cc", repeats: int = 50) -> int:
    """Compile, build, verify and time the demo model; 0 when the C matches ONNX Runtime, else 1."""
    model_path = demo_model_path()
    t0 = time.perf_counter()
    compiled = compile_model(model_path, CompileOptions(prefix="demo"))
    compile_seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="aot-demo-") as tmp:
        lib_dir = write_library(compiled, out if out is not None else Path(tmp) / "demo_cnn")
        host = load(lib_dir, cc=cc)
        feeds = random_inputs(host, seed=0)
        got = host.run(feeds)
        ref = run_reference(model_path, feeds)
        checks = [compare(spec["onnx_name"], g, r, ATOL, RTOL, "onnxruntime")
                  for spec, g, r in zip(host.outputs, got, ref)]
        c_seconds = time_c(host, feeds, repeats)
        ort_seconds = time_ort(model_path, feeds, repeats)

    memory = compiled.metadata["memory"]
    ok = all(c.ok for c in checks)
    rows = [
        ("model", f"{model_path.name} (input {'x'.join(map(str, host.inputs[0]['shape']))})"),
        ("layers", str(len(compiled.calls))),
        ("arena", f"{memory['arena_bytes']} B"),
        ("lower bound", f"{memory['lower_bound_bytes']} B"),
        ("weights", f"{memory['weights_bytes']} B"),
        ("compile time", f"{compile_seconds:.2f} s"),
        ("max abs error", f"{max(c.max_abs for c in checks):.3g} (tolerance {ATOL:g} + {RTOL:g}*|ref|)"),
        ("C latency", f"{_format_seconds(c_seconds)} (median per call over {repeats} samples, {cc} -O2, in-process)"),
        ("ORT latency", f"{_format_seconds(ort_seconds)} (median per call over {repeats} samples, onnxruntime, "
                        f"1 thread)"),
        ("C / ORT", f"{c_seconds / ort_seconds:.2f}x"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    if out is not None:
        print(f"library written to {lib_dir}/ (build with: make -C {lib_dir})")
    print("demo: PASS (C output matches ONNX Runtime)" if ok else
          "demo: FAIL (C output differs from ONNX Runtime beyond tolerance)")
    return 0 if ok else 1
