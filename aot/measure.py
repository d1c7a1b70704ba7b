"""Latency of the generated C (in-process through ctypes) and of ONNX Runtime with one thread."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .reference import ort_session
from .targets.host import HostModel


def _median_seconds(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return float(np.median(samples))


def time_c(model: HostModel, feeds: dict[str, np.ndarray], repeats: int = 50) -> float:
    ins = model.prepare(feeds)
    outs = [np.zeros(o["shape"], dtype=o["dtype"]) for o in model.outputs]
    return _median_seconds(lambda: model.call(ins, outs), repeats)


def time_ort(model_path: str | Path, feeds: dict[str, np.ndarray], repeats: int = 50) -> float:
    sess = ort_session(model_path, threads=1)
    names = {i.name for i in sess.get_inputs()}
    feeds = {k: v for k, v in feeds.items() if k in names}
    return _median_seconds(lambda: sess.run(None, feeds), repeats)
