"""Agreement of aot's int8 code with TensorFlow Lite Micro's reference kernels on the MLPerf Tiny models.

For each int8 model, the original .tflite file runs in TFLite Micro (PyPI ``tflite-micro``) and the ONNX
file converted from it (tf2onnx) is compiled by aot with ``--rounding single`` and ``--rounding tflite``,
built on the host and run on the same int8 inputs: random ones and the real samples in
../shared/models/mlperf_tiny/samples (float samples quantized with the input's scale and zero point).
Printed per model and rounding: the share of output elements bit-identical with TFLite Micro, the largest
difference in LSB, and whether the C equals aot's golden model bit for bit.

    python bench/tflite_agreement.py [--random 20] [--models kws ...]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared" / "models" / "mlperf_tiny"
if not SHARED.is_dir():
    SHARED = Path("/work/shared/models/mlperf_tiny")
# name: (ONNX file, .tflite file, real samples, whether the samples are float)
MODELS = {
    "kws": ("kws_ref_model_int8.onnx", "kws_ref_model_int8.tflite", "kws_int8.npy"),
    "ad": ("ad01_int8.onnx", "ad01_int8.tflite", "ad_float.npy"),
    "ww": ("str_ww_ref_model.onnx", "str_ww_ref_model.tflite", "sww_specs.npy"),
}
ROUNDINGS = ("single", "tflite")


@dataclass
class Agreement:
    model: str
    rounding: str
    inputs: int
    elements: int
    identical: int
    max_lsb: int
    c_equals_golden: bool

    @property
    def share(self) -> float:
        return self.identical / max(self.elements, 1)


def tflm_interpreter(tflite_path: Path):
    from tflite_micro.python.tflite_micro import runtime
    return runtime.Interpreter.from_file(str(tflite_path))


def tflm_run(interpreter, x: np.ndarray) -> np.ndarray:
    interpreter.set_input(x, 0)
    interpreter.invoke()
    out = interpreter.get_output(0)
    interpreter.reset()  # no state carried from one inference to the next
    return np.asarray(out)


def model_inputs(name: str, interpreter, random: int, seed: int = 0) -> list[np.ndarray]:
    """``random`` uniform int8 inputs, then the real samples quantized as TFLite's input expects."""
    detail = interpreter.get_input_details(0)
    shape = tuple(int(d) for d in detail["shape"])
    rng = np.random.default_rng(seed)
    inputs = [rng.integers(-128, 128, shape).astype(np.int8) for _ in range(random)]
    samples = np.load(SHARED / "samples" / MODELS[name][2])
    if samples.dtype != np.int8:
        q = detail["quantization_parameters"]
        scale, zp = float(q["scales"][0]), int(q["zero_points"][0])
        samples = np.clip(np.rint(samples / scale) + zp, -128, 127).astype(np.int8)
    per_input = int(np.prod(shape))
    inputs += [s.reshape(shape) for s in samples.reshape(-1, per_input)]
    return inputs


def aot_runner(onnx_path: Path, rounding: str, work: Path):
    """The compiled C library (loaded in-process) and the compiled graph for the golden model."""
    from aot.compiler import CompileOptions, compile_model, write_library
    from aot.targets.host import load
    compiled = compile_model(onnx_path, CompileOptions(rounding=rounding))
    lib = write_library(compiled, work / f"{onnx_path.stem}_{rounding}")
    return load(lib), compiled.graph


def compare(name: str, rounding: str, inputs: list[np.ndarray], expected: list[np.ndarray], work: Path) -> Agreement:
    from aot.quant.golden_runner import run_golden
    host, graph = aot_runner(SHARED / MODELS[name][0], rounding, work)
    identical = elements = max_lsb = 0
    golden_ok = True
    for x, want in zip(inputs, expected):
        got = np.asarray(host.run([x])[0])
        golden_ok &= bool(np.array_equal(got, run_golden(graph, [x])[0]))
        diff = np.abs(got.astype(np.int32).reshape(-1) - want.astype(np.int32).reshape(-1))
        identical += int(np.sum(diff == 0))
        elements += diff.size
        max_lsb = max(max_lsb, int(diff.max(initial=0)))
    return Agreement(name, rounding, len(inputs), elements, identical, max_lsb, golden_ok)


def agreement(names: list[str], random: int, roundings=ROUNDINGS) -> list[Agreement]:
    results = []
    with tempfile.TemporaryDirectory(prefix="aot-tflm-") as tmp:
        for name in names:
            interpreter = tflm_interpreter(SHARED / "tflite" / MODELS[name][1])
            inputs = model_inputs(name, interpreter, random)
            expected = [tflm_run(interpreter, x) for x in inputs]
            for rounding in roundings:
                results.append(compare(name, rounding, inputs, expected, Path(tmp)))
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--random", type=int, default=20, help="random int8 inputs per model (plus the real samples)")
    ap.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS))
    args = ap.parse_args(argv)
    print(f"{'model':6} {'rounding':8} {'inputs':>6} {'elements':>8} {'identical':>10} {'max LSB':>7}  C == golden")
    for a in agreement(args.models, args.random):
        print(f"{a.model:6} {a.rounding:8} {a.inputs:6d} {a.elements:8d} {100 * a.share:9.2f}% {a.max_lsb:7d}  "
              f"{'yes' if a.c_equals_golden else 'NO'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
