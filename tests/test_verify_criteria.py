"""`aot verify` states its criteria and they mean something: a correctly quantized ResNet-style model
(residual Adds, TFLite's integer recipes) passes the defaults although it differs from ONNX Runtime by
a few LSB, a wrong requantization fails; float models take several samples; percentages are exact."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import aot.quant.golden as golden
import aot.quant.kernel_params as kernel_params
from aot.cli import build_parser, main
from aot.compiler import CompileOptions
from aot.flows.criteria import Criteria, exact_percent
from aot.flows.verify import verify_model
from aot.ir.export import to_onnx
from aot.quant.ptq import float_graph, quantize_graph
from conftest import float_input, make_model

TFLITE = CompileOptions(rounding="tflite")  # TFLite's recipes drift most from ONNX Runtime's float requantization
SAMPLES = 40


def resnet_model(blocks: int = 4, channels: int = 16, hw: int = 8, classes: int = 10) -> onnx.ModelProto:
    """Stem Conv+Relu, ``blocks`` residual blocks (Conv+Relu, Conv, Add with the block input, Relu),
    then a dense layer over the flattened features and a Softmax."""
    rng = np.random.default_rng(0)
    inits: dict[str, np.ndarray] = {}
    nodes = []

    def conv(name: str, x: str, cin: int, relu: bool) -> str:
        inits[f"{name}.w"] = (rng.standard_normal((channels, cin, 3, 3)) * np.sqrt(2 / (9 * cin))).astype(np.float32)
        inits[f"{name}.b"] = (rng.standard_normal(channels) * 0.1).astype(np.float32)
        nodes.append(helper.make_node("Conv", [x, f"{name}.w", f"{name}.b"], [f"{name}.y"], name=name, pads=[1] * 4))
        if not relu:
            return f"{name}.y"
        nodes.append(helper.make_node("Relu", [f"{name}.y"], [f"{name}.r"], name=f"{name}.relu"))
        return f"{name}.r"

    x = conv("stem", "x", 3, True)
    for b in range(blocks):
        h = conv(f"b{b}.conv2", conv(f"b{b}.conv1", x, channels, True), channels, False)
        nodes.append(helper.make_node("Add", [x, h], [f"b{b}.sum"], name=f"b{b}.add"))
        nodes.append(helper.make_node("Relu", [f"b{b}.sum"], [f"b{b}.out"], name=f"b{b}.relu"))
        x = f"b{b}.out"
    features = channels * hw * hw
    inits["flat_shape"] = np.array([1, features], np.int64)
    inits["fc.w"] = (rng.standard_normal((features, classes)) / np.sqrt(features)).astype(np.float32)
    inits["fc.b"] = (rng.standard_normal(classes) * 0.1).astype(np.float32)
    nodes += [helper.make_node("Reshape", [x, "flat_shape"], ["flat"], name="flatten"),
              helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc"),
              helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1)]
    return make_model(nodes, [float_input("x", [1, 3, hw, hw])], [float_input("probs", [1, classes])], inits,
                      name="resnet")


@pytest.fixture(scope="module")
def resnet_int8(tmp_path_factory) -> Path:
    """The ResNet quantized by aot's own PTQ (per-channel weights, min/max ranges), saved as QDQ ONNX."""
    rng = np.random.default_rng(1)
    calibration = [[rng.standard_normal((1, 3, 8, 8)).astype(np.float32)] for _ in range(16)]
    graph = quantize_graph(float_graph(resnet_model(), {}), calibration, progress=False)
    path = tmp_path_factory.mktemp("resnet") / "resnet_int8.onnx"
    onnx.save(to_onnx(graph), str(path))
    return path


# -- exact percentages ------------------------------------------------------------------------------
@pytest.mark.parametrize("part, whole, text", [
    (99_999, 100_000, "99.999% (99,999 of 100,000)"), (9_999, 10_000, "99.99% (9,999 of 10,000)"),
    (1, 100_000, "0.001% (1 of 100,000)"), (10, 10, "100% (10 of 10)"), (0, 7, "0% (0 of 7)"),
    (2, 3, "66.7% (2 of 3)")])
def test_percentages_never_round_to_100_or_0(part, whole, text):
    assert exact_percent(part, whole) == text


# -- int8: the defaults pass a correct ResNet ---------------------------------------------------------
def test_correct_resnet_with_residual_adds_passes_the_stated_defaults(resnet_int8):
    report = verify_model(resnet_int8, options=TFLITE, samples=SAMPLES)
    q = report.quant
    assert q.bit_exact, q.golden_mismatches  # the hard check
    assert 1 < q.lsb_max <= Criteria().max_lsb  # residual Adds drift a few LSB from ONNX Runtime ...
    assert not q.ok(min_within=0.99, min_argmax=0.98), q.table()  # ... which the old hidden rule refused
    assert report.ok, q.table()
    assert "criteria: C == golden model bit for bit; vs ONNX Runtime: max difference <= 4 LSB" in report.table()


def test_cli_prints_criteria_and_applies_the_flags(resnet_int8, capsys):
    argv = ["verify", str(resnet_int8), "--rounding", "tflite", "--samples", str(SAMPLES)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "criteria:" in out and "within 1 LSB" in out and "verify: PASS" in out
    assert main(argv + ["--min-within-1lsb", "99.5%", "--max-lsb", "1"]) == 1
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verify: FAIL (max difference") and "LSB > 1" in last and "< 99.5%" in last, last


def test_verify_help_states_the_criteria():
    sub = next(a for a in build_parser()._actions if hasattr(a, "choices") and isinstance(a.choices, dict))
    text = sub.choices["verify"].format_help()
    for flag in ("--max-lsb", "--min-within-1lsb", "--min-argmax", "--samples", "bit for bit", "criteria:"):
        assert flag in text, flag


# -- int8: a real bug fails ----------------------------------------------------------------------------
def skew_first_channel(quantize_multipliers):
    """quantize_multipliers with channel 0 requantized 1/8 too small: a wrong per-channel scale."""
    def skewed(reals: np.ndarray):
        reals = np.array(reals, np.float64)
        reals[0] *= 0.875
        return quantize_multipliers(reals)
    return skewed


def test_wrong_requantization_in_c_and_golden_fails_against_onnxruntime(resnet_int8, monkeypatch):
    """The bug in the shared parameters: C and golden model agree bit for bit, the ORT criterion catches it."""
    monkeypatch.setattr(kernel_params, "quantize_multipliers", skew_first_channel(kernel_params.quantize_multipliers))
    report = verify_model(resnet_int8, options=TFLITE, samples=SAMPLES)
    assert report.quant.bit_exact
    assert not report.ok and any(f.startswith("max difference") for f in report.failures()), report.table()


def test_wrong_requantization_in_c_only_fails_bit_exactness(resnet_int8, monkeypatch):
    """The golden model keeps the right parameters, the C gets the skewed ones: the hard check fails."""
    right = kernel_params.quantize_multipliers

    def with_right_multipliers(params):
        def call(*args, **kwargs):
            with monkeypatch.context() as m:
                m.setattr(kernel_params, "quantize_multipliers", right)
                return params(*args, **kwargs)
        return call

    for name in ("conv_qparams", "fc_qparams"):
        monkeypatch.setattr(golden, name, with_right_multipliers(getattr(golden, name)))
    monkeypatch.setattr(kernel_params, "quantize_multipliers", skew_first_channel(right))
    report = verify_model(resnet_int8, options=TFLITE, samples=4)
    assert not report.quant.bit_exact and "C differs from the golden model" in report.failures()


# -- float: several samples -------------------------------------------------------------------------
def test_float_verify_on_several_random_samples(tiny_cnn_path, capsys):
    assert main(["verify", str(tiny_cnn_path), "--samples", "5"]) == 0
    out = capsys.readouterr().out
    assert "samples: 5" in out and "0 of 50" in out  # 5 samples x 10 outputs compared


def test_float_verify_on_stacked_input_samples(tiny_cnn_path, tmp_path, capsys):
    stacked = np.random.default_rng(3).standard_normal((7, 1, 3, 8, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", stacked)
    assert main(["verify", str(tiny_cnn_path), "--input", str(tmp_path / "x.npy")]) == 0
    assert "samples: 7" in capsys.readouterr().out
    np.save(tmp_path / "bad.npy", stacked.reshape(-1)[:-1])
    assert main(["verify", str(tiny_cnn_path), "--input", str(tmp_path / "bad.npy")]) == 2
    assert "needs shape [1, 3, 8, 8] (or N of them" in capsys.readouterr().err
