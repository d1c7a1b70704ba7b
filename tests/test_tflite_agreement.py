"""With ``--rounding tflite``, aot's int8 C is bit-exact with TensorFlow Lite Micro's reference kernels
on the MLPerf Tiny int8 models: the original .tflite files in TFLite Micro (PyPI ``tflite-micro``)
against the ONNX files tf2onnx made from them, compiled by aot, on random and real int8 inputs
(bench/tflite_agreement.py does the work and prints the figures)."""
from __future__ import annotations

import importlib.util
import platform
import sys
from pathlib import Path

import pytest

# The test extras install tflite-micro where PyPI has wheels for it (Linux x86_64): missing there is a
# failure; on other platforms the package does not exist, and only there is the test skipped.
if sys.platform == "linux" and platform.machine() == "x86_64":
    import tflite_micro  # noqa: F401
else:
    pytest.importorskip("tflite_micro", reason="tflite-micro has wheels for Linux x86_64 only")

BENCH = Path(__file__).resolve().parents[1] / "bench" / "tflite_agreement.py"


def _bench():
    spec = importlib.util.spec_from_file_location("tflite_agreement", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bench(shared_model):
    module = _bench()
    for onnx_file, tflite_file, samples in module.MODELS.values():
        for relative in (onnx_file, f"tflite/{tflite_file}", f"samples/{samples}"):
            shared_model(f"mlperf_tiny/{relative}")  # skips, naming the file, when one is missing
    return module


@pytest.mark.parametrize("model", ["kws", "ad", "ww"])
def test_tflite_rounding_is_bit_exact_with_tflite_micro(bench, model):
    (result,) = bench.agreement([model], random=8, roundings=("tflite",))
    assert result.c_equals_golden
    assert result.inputs > 8  # the real samples are there too
    assert (result.identical, result.max_lsb) == (result.elements, 0), \
        f"{model}: {100 * result.share:.2f}% of {result.elements} elements identical, max {result.max_lsb} LSB"


def test_single_rounding_is_not_tflites(bench):
    """The agreement is the rounding's doing: the same model in single rounding differs from TFLite Micro."""
    (result,) = bench.agreement(["ad"], random=2, roundings=("single",))
    assert result.c_equals_golden and result.identical < result.elements
