"""The generated library is reentrant through ``model_run_with_arena``: two threads, each with its own
arena, run the same model at once under ThreadSanitizer (clang -fsanitize=thread) and each gets the
results a single thread gets. ``model_run`` shares the library's static arena and is documented as not
reentrant; it is not exercised from two threads here.

A float CNN and its int8 version (quantized by aot from random calibration data) are covered: the
kernels keep no static state, weights are const, and every temporary lives in the caller's arena.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest

from aot.codegen.library_files import api_header
from aot.compiler import CompileOptions, QuantizeOptions, compile_model, write_library
from conftest import require_tool, tiny_cnn_model

THREADS = 2
RUNS = 200  # per thread: enough interleaving for TSan to see overlapping kernels

CTYPES = {"float32": "float", "int8": "int8_t"}


def driver_source(meta: dict) -> str:
    """Each thread runs every input record through model_run_with_arena with its own arena and writes
    what it got; main checks the threads against each other and against a first, single-thread pass."""
    prefix, (inp,), (out,) = meta["prefix"], meta["inputs"], meta["outputs"]
    upper = prefix.upper()
    cin, cout = CTYPES[inp["dtype"]], CTYPES[out["dtype"]]
    return f"""#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdint.h>
#include "{api_header(meta)}"
#define THREADS {THREADS}
#define RUNS {RUNS}
#define RECORDS 4
static {cin} inputs[RECORDS][{inp['size']}];
static {cout} expected[RECORDS][{out['size']}];
static {cout} got[THREADS][RECORDS][{out['size']}];
static _Alignas({upper}_ARENA_ALIGN) unsigned char arenas[THREADS][{upper}_ARENA_SIZE];
static int failures[THREADS];

static void* worker(void* arg) {{
    int t = (int)(intptr_t)arg;
    int r;
    for (r = 0; r < RUNS; ++r) {{
        int k = (r + t) % RECORDS;
        if ({prefix}_run_with_arena(inputs[k], got[t][k], arenas[t]) != 0) failures[t]++;
        if (memcmp(got[t][k], expected[k], sizeof expected[k]) != 0) failures[t]++;
    }}
    return NULL;
}}

int main(int argc, char** argv) {{
    FILE* f;
    pthread_t threads[THREADS];
    int t, k, bad = 0;
    if (argc != 2 || !(f = fopen(argv[1], "rb"))) return 2;
    if (fread(inputs, sizeof inputs, 1, f) != 1) return 2;
    fclose(f);
    for (k = 0; k < RECORDS; ++k)
        if ({prefix}_run(inputs[k], expected[k]) != 0) return 3;
    for (t = 0; t < THREADS; ++t) pthread_create(&threads[t], NULL, worker, (void*)(intptr_t)t);
    for (t = 0; t < THREADS; ++t) pthread_join(threads[t], NULL);
    for (t = 0; t < THREADS; ++t) bad += failures[t];
    printf("mismatches %d\\n", bad);
    return bad ? 1 : 0;
}}
"""


def _compiled(kind: str, tmp_path: Path):
    model_path = tmp_path / "cnn.onnx"
    onnx.save(tiny_cnn_model(), str(model_path))
    if kind == "float32":
        return compile_model(model_path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=np.random.default_rng(0).standard_normal((8, 1, 3, 8, 8)).astype(np.float32))
    return compile_model(model_path, CompileOptions(quantize=QuantizeOptions(calibration=calib)))


@pytest.mark.parametrize("kind", ["float32", "int8"])
def test_two_threads_with_their_own_arenas_under_thread_sanitizer(kind: str, tmp_path: Path) -> None:
    clang = require_tool("clang")
    compiled = _compiled(kind, tmp_path)
    lib = write_library(compiled, tmp_path / "lib")
    meta = json.loads((lib / "metadata.json").read_text())
    (tmp_path / "driver.c").write_text(driver_source(meta))
    sources = [str(p) for p in sorted(lib.glob("*.c"))]
    exe = tmp_path / "driver"
    build = subprocess.run([clang, "-std=c11", "-O1", "-g", "-fsanitize=thread", "-I", str(lib), str(tmp_path / "driver.c"),
                            *sources, "-lm", "-lpthread", "-o", str(exe)], capture_output=True, text=True)
    if build.returncode and "cannot find" in build.stderr and "tsan" in build.stderr:
        pytest.fail(f"clang has no ThreadSanitizer runtime (boards/install-toolchains.sh installs it): {build.stderr}")
    assert build.returncode == 0, build.stderr
    (inp,) = meta["inputs"]
    rng = np.random.default_rng(1)
    if inp["dtype"] == "float32":
        data = rng.standard_normal((4, inp["size"])).astype(np.float32)
    else:
        data = rng.integers(-128, 128, (4, inp["size"])).astype(np.int8)
    (tmp_path / "inputs.bin").write_bytes(data.tobytes())
    run = subprocess.run([str(exe), str(tmp_path / "inputs.bin")], capture_output=True, text=True, timeout=300,
                         env={"TSAN_OPTIONS": "halt_on_error=1 exitcode=66"})
    assert "ThreadSanitizer" not in run.stderr, run.stderr
    assert run.returncode == 0 and "mismatches 0" in run.stdout, run.stdout + run.stderr
