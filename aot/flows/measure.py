"""Latency of the generated C (in-process through ctypes) and of ONNX Runtime with one thread.

A sample times a batch of back-to-back calls long enough (``min_sample_seconds``) for the clock's
resolution and the Python call overhead not to dominate microsecond-scale models; the reported
figure is the median over samples of the per-call time. ``clock`` is wall time by default;
``time.thread_time`` (CPU time of the calling thread, where both the C library and a one-thread
ONNX Runtime session run) gives steadier figures on a machine shared with other work.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..reference import ort_session
from ..targets.host import HostModel

MIN_SAMPLE_SECONDS = 1e-3


@dataclass(frozen=True)
class Timing:
    """Per-call seconds: median and quartiles over ``samples`` batches of ``calls_per_sample`` calls."""

    median: float
    p25: float
    p75: float
    samples: int
    calls_per_sample: int

    def as_dict(self) -> dict:
        return {"median_s": self.median, "p25_s": self.p25, "p75_s": self.p75, "samples": self.samples,
                "calls_per_sample": self.calls_per_sample}


def measure(fn: Callable[[], object], repeats: int = 50, warmup: int = 3,
            min_sample_seconds: float = MIN_SAMPLE_SECONDS, clock: Callable[[], float] = time.perf_counter) -> Timing:
    """Time ``fn`` (which must be idempotent) as described in the module docstring."""
    calls = _batch_size(fn, warmup, min_sample_seconds, clock)
    samples = []
    for _ in range(max(repeats, 1)):
        t0 = clock()
        for _ in range(calls):
            fn()
        samples.append((clock() - t0) / calls)
    p25, median, p75 = np.percentile(samples, [25, 50, 75])
    return Timing(float(median), float(p25), float(p75), len(samples), calls)


@dataclass(frozen=True)
class Paired:
    """Interleaved timing of several callables: per-call seconds of each, and for each against a
    baseline the median over samples of the ratio within a sample (both measured back to back, so a
    slow phase of a shared machine slows both sides of the ratio)."""

    timings: dict[str, Timing]
    ratios: dict[str, float]  # name -> median of (name's seconds / baseline's seconds) per sample


def _batch_size(fn: Callable[[], object], warmup: int, min_sample_seconds: float,
                clock: Callable[[], float]) -> int:
    for _ in range(max(warmup, 1)):
        fn()
    calls = 1
    while True:  # grow the batch until one batch lasts min_sample_seconds
        t0 = clock()
        for _ in range(calls):
            fn()
        if clock() - t0 >= min_sample_seconds or calls >= 1 << 20:
            return calls
        calls *= 2


def measure_paired(fns: dict[str, Callable[[], object]], baseline: str, repeats: int = 50, warmup: int = 3,
                   min_sample_seconds: float = MIN_SAMPLE_SECONDS,
                   clock: Callable[[], float] = time.perf_counter) -> Paired:
    """Time every callable of ``fns`` in turn within each of ``repeats`` rounds (the order rotating
    from round to round), each for its own batch of calls as ``measure`` does."""
    names = list(fns)
    calls = {n: _batch_size(fns[n], warmup, min_sample_seconds, clock) for n in names}
    samples: dict[str, list[float]] = {n: [] for n in names}
    for r in range(max(repeats, 1)):
        for n in names[r % len(names):] + names[:r % len(names)]:
            fn, count = fns[n], calls[n]
            t0 = clock()
            for _ in range(count):
                fn()
            samples[n].append((clock() - t0) / count)
    timings = {}
    for n in names:
        p25, median, p75 = np.percentile(samples[n], [25, 50, 75])
        timings[n] = Timing(float(median), float(p25), float(p75), len(samples[n]), calls[n])
    base = np.asarray(samples[baseline])
    ratios = {n: float(np.median(np.asarray(samples[n]) / base)) for n in names if n != baseline}
    return Paired(timings, ratios)


def bound_call(model: HostModel, ins: list[np.ndarray], outs: list[np.ndarray]) -> Callable[[], int]:
    """``<prefix>_run`` with its pointer arguments built once: HostModel.call rebuilds them on every
    call (about 4 us), which would be most of the measured time of the smallest models."""
    fn = model._fn  # the ctypes function HostModel.call wraps, argtypes set from model.h
    ptrs = [a.ctypes.data_as(argtype) for a, argtype in zip(ins + outs, fn.argtypes)]
    return lambda: fn(*ptrs)


def c_timing(model: HostModel, feeds: dict[str, np.ndarray], repeats: int = 50, **kwargs) -> Timing:
    return measure(c_callable(model, feeds), repeats, **kwargs)


def c_callable(model: HostModel, feeds: dict[str, np.ndarray]) -> Callable[[], int]:
    """One call of the library on ``feeds`` (checked once here), for measure/measure_paired."""
    ins = model.prepare(feeds)
    outs = [np.zeros(o["shape"], dtype=o["dtype"]) for o in model.outputs]
    model.call(ins, outs)
    return bound_call(model, ins, outs)


def ort_callable(model_path: str | Path, feeds: dict[str, np.ndarray]) -> Callable[[], object]:
    """One ONNX Runtime run (one intra-op thread) on ``feeds``."""
    sess = ort_session(model_path, threads=1)
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    return lambda: sess.run(None, feeds)


def ort_timing(model_path: str | Path, feeds: dict[str, np.ndarray], repeats: int = 50, **kwargs) -> Timing:
    return measure(ort_callable(model_path, feeds), repeats, **kwargs)


def time_c(model: HostModel, feeds: dict[str, np.ndarray], repeats: int = 50) -> float:
    """Median seconds per call of the library's ``<prefix>_run`` through ctypes."""
    return c_timing(model, feeds, repeats).median


def time_ort(model_path: str | Path, feeds: dict[str, np.ndarray], repeats: int = 50) -> float:
    """Median seconds per ``InferenceSession.run`` with one intra-op thread."""
    return ort_timing(model_path, feeds, repeats).median
