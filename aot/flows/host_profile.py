"""Per-layer time on the host: the library built with ``-DAOT_PROFILE`` against hooks that add each
layer's CLOCK_MONOTONIC nanoseconds to a table, read through ctypes after every run.

The hooks live in a small shared library loaded once per process with RTLD_GLOBAL, so each profiled
model library binds its ``aot_profile_begin``/``aot_profile_end`` to them when it is loaded.
"""
from __future__ import annotations

import ctypes
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import AotError
from ..resources import runtime_dir
from ..targets.host import HostModel, build_shared, find_compiler
from .measure import bound_call

MAX_LAYERS = 65536
HOOKS_C = r"""
#define _POSIX_C_SOURCE 199309L
#include <stdint.h>
#include <time.h>
#include "aot_layer.h"
#define AOT_HOST_PROFILE_MAX %(max)d
uint64_t aot_host_profile_ns[AOT_HOST_PROFILE_MAX];
static uint64_t aot_host_profile_start;
static uint64_t aot_host_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}
void aot_profile_begin(const aot_layer_info* layer) {
    (void)layer;
    aot_host_profile_start = aot_host_now();
}
void aot_profile_end(const aot_layer_info* layer) {
    const int32_t i = layer->index;
    if (i >= 0 && i < AOT_HOST_PROFILE_MAX) aot_host_profile_ns[i] += aot_host_now() - aot_host_profile_start;
}
""" % {"max": MAX_LAYERS}

_hooks: ctypes.CDLL | None = None
_hooks_dir: tempfile.TemporaryDirectory | None = None


def _load_hooks(cc: str) -> ctypes.CDLL:
    global _hooks, _hooks_dir
    if _hooks is None:
        find_compiler(cc)
        _hooks_dir = tempfile.TemporaryDirectory(prefix="aot-profile-")
        source = Path(_hooks_dir.name) / "aot_host_profile.c"
        source.write_text(HOOKS_C)
        shared = source.with_suffix(".so")
        proc = subprocess.run([cc, "-O2", "-fPIC", "-shared", f"-I{runtime_dir()}", str(source), "-o", str(shared)], capture_output=True,
                              text=True)
        if proc.returncode != 0:
            raise AotError(f"building the host profiling hooks failed:\n{proc.stderr}")
        _hooks = ctypes.CDLL(str(shared), mode=ctypes.RTLD_GLOBAL)
    return _hooks


@dataclass
class HostProfile:
    layer_seconds: list[float]  # median per layer over the runs
    total_seconds: float  # median over the runs of the layers' sum
    runs: int


def profile_on_host(lib_dir: Path, feeds: dict[str, np.ndarray] | list[np.ndarray], runs: int = 30,
                    cc: str = "cc", cflags: str = "-O2", warmup: int = 3) -> tuple[HostModel, HostProfile]:
    """Build the library in ``lib_dir`` with the profiling hooks, run it ``runs`` times on ``feeds``
    and return the model (for its outputs) and the per-layer medians."""
    hooks = _load_hooks(cc)
    model = HostModel(lib_dir, build_shared(lib_dir, cc, f"{cflags} -DAOT_PROFILE"))
    layers = len(model.meta["layers"])
    if layers > MAX_LAYERS:
        raise AotError(f"the host profile counts at most {MAX_LAYERS} layers; the model has {layers}")
    table = (ctypes.c_uint64 * MAX_LAYERS).in_dll(hooks, "aot_host_profile_ns")
    ins = model.prepare(feeds)
    outs = [np.zeros(o["shape"], dtype=o["dtype"]) for o in model.outputs]
    model.call(ins, outs)
    call = bound_call(model, ins, outs)
    samples = np.zeros((runs, layers))
    for r in range(warmup + runs):
        ctypes.memset(table, 0, ctypes.sizeof(ctypes.c_uint64) * layers)
        call()
        if r >= warmup:
            samples[r - warmup] = np.frombuffer(table, dtype=np.uint64, count=layers) * 1e-9
    return model, HostProfile([float(v) for v in np.median(samples, axis=0)],
                              float(np.median(samples.sum(axis=1))), runs)
