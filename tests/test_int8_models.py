"""Real int8 models from ../shared/models: C bit-exact with the golden model, close to ONNX Runtime,
and as accurate on real labelled data, in both roundings ("single" and "tflite")."""
from __future__ import annotations

import numpy as np
import pytest

from aot.cli import main
from aot.compiler import CompileOptions
from aot.flows.verify import verify_model

INT8_MODELS = ["mlperf_tiny/kws_ref_model_int8.onnx", "mlperf_tiny/ad01_int8.onnx",
               "mlperf_tiny/str_ww_ref_model.onnx", "mnist/mnist-8_qdq_int8.onnx"]
ROUNDINGS = ["single", "tflite"]


@pytest.mark.parametrize("rounding", ROUNDINGS)
@pytest.mark.parametrize("relative", INT8_MODELS)
def test_verify_int8_model_with_random_inputs(shared_model, relative, rounding):
    report = verify_model(shared_model(relative), samples=30, options=CompileOptions(rounding=rounding))
    q = report.quant
    assert q is not None, "an int8 model must be checked as quantized"
    assert q.bit_exact, q.golden_mismatches
    assert q.lsb_within_1 >= 0.99
    if q.argmax_agreement is not None:
        assert q.argmax_agreement >= 0.98
    assert report.ok


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_cli_verify_prints_both_checks_and_exits_zero(shared_model, capsys, rounding):
    assert main(["verify", str(shared_model("mlperf_tiny/kws_ref_model_int8.onnx")), "--rounding", rounding]) == 0
    out = capsys.readouterr().out
    assert "C == golden model (bit for bit): yes" in out
    assert "within 1 LSB" in out and "argmax agreement" in out


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_wake_word_accuracy_on_real_spectrograms(shared_model, rounding):
    model = shared_model("mlperf_tiny/str_ww_ref_model.onnx")
    specs = shared_model("mlperf_tiny/samples/sww_specs.npy")
    labels = np.load(shared_model("mlperf_tiny/samples/sww_labels.npy"))
    report = verify_model(model, inputs=[str(specs)], options=CompileOptions(rounding=rounding))
    q = report.quant
    assert q.samples == len(labels) == 45
    assert q.bit_exact
    correct = int(np.sum(np.array(q.c_classes) == labels))
    assert correct >= 40, f"wake word scored {correct}/45"
    assert q.argmax_agreement >= 0.98


@pytest.mark.parametrize("rounding", ROUNDINGS)
def test_kws_real_sample_gives_onnxruntime_class(shared_model, rounding):
    report = verify_model(shared_model("mlperf_tiny/kws_ref_model_int8.onnx"),
                          inputs=[str(shared_model("mlperf_tiny/samples/kws_int8.npy"))],
                          options=CompileOptions(rounding=rounding))
    assert report.quant.bit_exact
    assert report.quant.c_classes == report.quant.ort_classes


def test_int8_arena_stores_one_byte_per_activation(shared_model):
    from aot.compiler import compile_model
    compiled = compile_model(shared_model("mlperf_tiny/kws_ref_model_int8.onnx"))
    arena_tensors = [t for t in compiled.metadata["tensors"] if t["storage"] == "arena"]
    assert arena_tensors and all(t["dtype"] == "int8" and t["bytes"] == np.prod(t["shape"]) for t in arena_tensors)
    # DS-CNN activations: TFLite Micro needs about 16 KB; the largest two 64x25x5 int8 maps plus one int32
    # accumulator plane are the floor for this schedule.
    assert compiled.plan.arena_bytes <= 17 * 1024
