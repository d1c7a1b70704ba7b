"""``aot verify --io float``: the library's float API (``<prefix>_run_float``) checked against its own
``<prefix>_run`` with the quantization done in numpy: run_float(x) must equal, bit for bit,
dequantize(run(quantize(x))) for quantized inputs/outputs and run(x) for the others."""
from __future__ import annotations

import ctypes
import tempfile
from pathlib import Path

import numpy as np

from ..compiler import CompiledModel, write_library
from ..ir.formats import FORMATS, to_storage
from ..targets.host import build_shared
from .verify import OutputCheck, compare


def quantize(x: np.ndarray, scale: float, zero_point: int, qmin: int, qmax: int, dtype: str) -> np.ndarray:
    """QuantizeLinear as the golden model and model.h's helpers: float32 division, half to even, plus
    the zero point, saturated; NaN gives qmin."""
    with np.errstate(all="ignore"):
        r = np.rint(np.asarray(x, np.float32) / np.float32(scale)) + np.float32(zero_point)
    return np.where(np.isnan(r), qmin, np.clip(r, qmin, qmax)).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (np.asarray(q).astype(np.int32) - np.int32(zero_point)).astype(np.float32) * np.float32(scale)


def _c_array(value, dtype: str) -> np.ndarray:
    """An array as the C API takes it: narrow formats (float16, int4...) as their storage bits."""
    array = np.ascontiguousarray(np.asarray(value).astype(dtype))
    return to_storage(array) if dtype in FORMATS else array


def real_inputs(specs: list[dict], sample: list[np.ndarray]) -> list[np.ndarray]:
    """A sample as the float API takes it: quantized inputs as real values."""
    return [dequantize(v, s["scale"], s["zero_point"]) if s.get("scale") is not None else np.asarray(v)
            for s, v in zip(specs, sample)]


def check_float_api(compiled: CompiledModel, samples: list[list[np.ndarray]], cc: str = "cc",
                    cflags: str = "-O2") -> list[OutputCheck]:
    """One check per output: run_float against run with numpy's quantization, over every sample."""
    meta = compiled.metadata
    prefix, ins, outs = meta["prefix"], meta["inputs"], meta["outputs"]
    mismatches = [0] * len(outs)
    worst = [0.0] * len(outs)
    with tempfile.TemporaryDirectory(prefix="aot-float-api-") as tmp:
        lib = ctypes.CDLL(str(build_shared(write_library(compiled, Path(tmp) / "lib"), cc, cflags)))
        for sample in samples:
            real = [np.ascontiguousarray(np.asarray(v).reshape(s["shape"]), np.float32) if s.get("scale") is not None
                    else np.asarray(v).reshape(s["shape"]) for s, v in zip(ins, real_inputs(ins, sample))]
            coded = [quantize(v, s["scale"], s["zero_point"], s["qmin"], s["qmax"], s["dtype"])
                     if s.get("scale") is not None else _c_array(v, s["dtype"]) for s, v in zip(ins, real)]
            real = [v if s.get("scale") is not None else c for s, v, c in zip(ins, real, coded)]
            plain_outs = [_c_array(np.zeros(s["shape"]), s["dtype"]) for s in outs]
            float_outs = [np.zeros(s["shape"], np.float32) if s.get("scale") is not None else np.zeros_like(p)
                          for s, p in zip(outs, plain_outs)]
            _call(lib, f"{prefix}_run_float", real + float_outs)
            _call(lib, f"{prefix}_run", coded + plain_outs)
            for i, (s, got, raw) in enumerate(zip(outs, float_outs, plain_outs)):
                want = dequantize(raw, s["scale"], s["zero_point"]) if s.get("scale") is not None else raw
                check = compare(s["onnx_name"], got, want, 0.0, 0.0, "float API")
                mismatches[i] += check.mismatches
                worst[i] = max(worst[i], check.max_abs)
    return [OutputCheck(s["onnx_name"], tuple(s["shape"]), worst[i], 0.0, mismatches[i], "float API",
                        len(samples) * int(np.prod(s["shape"], dtype=np.int64)))
            for i, s in enumerate(outs)]


def float_api_samples(compiled: CompiledModel, inputs: list[str] | None, seed: int, origin: str,
                      count: int) -> list[list[np.ndarray]]:
    """The given input files' samples, else ``count`` random ones over each input's range."""
    from .input_files import input_samples
    from .quant_check import sample_inputs
    if inputs:
        return input_samples(inputs, compiled.graph, origin)
    rng = np.random.default_rng(seed)
    return [sample_inputs(compiled.graph, rng) for _ in range(count)]


def _call(lib: ctypes.CDLL, name: str, arrays: list[np.ndarray]) -> None:
    fn = getattr(lib, name)
    fn.restype = ctypes.c_int
    status = fn(*[a.ctypes.data_as(ctypes.c_void_p) for a in arrays])
    if status != 0:
        from ..errors import AotError
        raise AotError(f"{name} returned status {status}")
