"""Post-training quantization from float: calibration, observers, QDQ export that ONNX Runtime runs,
per-layer config, accuracy on real labelled digits, and the sensitivity report."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from aot.cli import main
from aot.compiler import compile_model, write_library
from aot.ir.export import to_onnx
from aot.quant.calibrate import load_calibration
from aot.flows.quant_check import check_quantized
from aot.quant.config import QuantConfig
from aot.quant.observers import MinMaxObserver, MSEObserver, PercentileObserver
from aot.quant.ptq import float_graph, quantize_graph, quantize_model
from aot.quant.quantize import affine_params
from aot.quant.sensitivity import layer_sensitivity
from aot.errors import AotError
from aot.reference import ort_session, run_reference
from aot.targets.host import load

from conftest import tiny_cnn_model


def test_observers_cover_zero_and_clip_outliers():
    rng = np.random.default_rng(0)
    values = np.concatenate([np.abs(rng.normal(2.0, 0.5, 100_000)), [50.0]])
    mm, pc, mse = MinMaxObserver(), PercentileObserver(99.9), MSEObserver()
    for obs in (mm, pc, mse):
        obs.observe(values)
    assert mm.range() == (0.0, 50.0)  # zero is always representable
    assert pc.range()[1] < 5.0  # the single outlier is clipped
    assert mse.range()[1] < 50.0 and mse.range()[0] == 0.0


def test_affine_params_represent_zero_exactly():
    q = affine_params(-1.0, 3.0)
    assert -128 <= q.zero_point <= 127
    assert np.isclose((q.zero_point - q.zero_point) * q.scale, 0.0)
    assert np.isclose(q.scale * 255, 4.0, rtol=1e-6)


@pytest.fixture
def tiny_cnn_with_calibration(tmp_path):
    model = tiny_cnn_model()
    path = tmp_path / "tiny.onnx"
    onnx.save(model, path)
    calib = tmp_path / "calib.npz"
    np.savez(calib, input=np.random.default_rng(1).standard_normal((32, 3, 8, 8)).astype(np.float32))
    return path, calib


def test_quantized_export_runs_in_onnxruntime_and_keeps_float_io(tiny_cnn_with_calibration, tmp_path):
    path, calib = tiny_cnn_with_calibration
    graph = quantize_model(path, calib, progress=False)
    exported = to_onnx(graph)
    assert [i.type.tensor_type.elem_type for i in exported.graph.input] == [onnx.TensorProto.FLOAT]
    assert [o.type.tensor_type.elem_type for o in exported.graph.output] == [onnx.TensorProto.FLOAT]
    ops = [n.op_type for n in exported.graph.node]
    assert ops.count("QuantizeLinear") >= 3 and "DequantizeLinear" in ops
    # weights are int8 per output channel, biases int32
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in exported.graph.initializer}
    assert any(v.dtype == np.int8 and v.ndim == 4 for v in inits.values())
    assert any(v.dtype == np.int32 for v in inits.values())
    x = np.random.default_rng(2).standard_normal((1, 3, 8, 8)).astype(np.float32)
    q_out = run_reference(exported, {"input": x})[0]
    f_out = run_reference(str(path), {"input": x})[0]
    assert np.abs(q_out - f_out).max() < 0.05  # softmax probabilities within quantization error


def test_quantized_model_compiles_to_integer_c_matching_golden_and_ort(tiny_cnn_with_calibration, tmp_path):
    path, calib = tiny_cnn_with_calibration
    q_path = tmp_path / "q.onnx"
    assert main(["quantize", str(path), "--calib", str(calib), "-o", str(q_path)]) == 0
    graph = compile_model(q_path).graph
    assert {graph.tensors[n.outputs[0]].dtype for n in graph.nodes if n.op_type in ("Conv", "Gemm")} == {"int8"}
    check = check_quantized(q_path, samples=10, progress=False)
    assert check.bit_exact and check.lsb_within_1 >= 0.99


def test_compile_quantize_flag_writes_an_integer_library(tiny_cnn_with_calibration, tmp_path):
    path, calib = tiny_cnn_with_calibration
    out = tmp_path / "lib"
    assert main(["compile", str(path), "--quantize", "int8", "--calib", str(calib), "-o", str(out)]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert [l["op_type"] for l in meta["layers"]][0] == "QuantizeLinear"
    assert any(t["dtype"] == "int8" and t["storage"] == "arena" for t in meta["tensors"])


def test_keep_float_layer_gives_mixed_precision(tiny_cnn_with_calibration, tmp_path):
    path, calib = tiny_cnn_with_calibration
    config = QuantConfig(layers={"fc": {"precision": "float"}})
    graph = quantize_model(path, calib, config=config, progress=False)
    compiled = compile_model(graph)
    kinds = {n.name: compiled.graph.tensors[n.outputs[0]].dtype for n in compiled.graph.nodes}
    assert kinds["conv"] == "int8" and kinds["fc"] == "float32"
    host = load(write_library(compiled, tmp_path / "lib"))
    x = np.random.default_rng(3).standard_normal((1, 3, 8, 8)).astype(np.float32)
    # int8 softmax (exp table) against ONNX Runtime's float softmax + QuantizeLinear: a few 1/256 steps
    assert np.abs(host.run([x])[0] - run_reference(to_onnx(graph), {"input": x})[0]).max() <= 3 / 256


def test_config_file_per_tensor_weights_and_pinned_scale(tiny_cnn_with_calibration, tmp_path):
    path, calib = tiny_cnn_with_calibration
    cfg = tmp_path / "q.toml"
    cfg.write_text('[layers.Conv]\ngranularity = "per_tensor"\n\n[tensors.relu_out]\nscale = 0.05\nzero_point = -128\n')
    graph = quantize_model(path, calib, config=QuantConfig.load(cfg), progress=False)
    producers = graph.producers()
    conv = graph.node("conv")
    w_dq = producers[conv.inputs[1]]
    assert np.asarray(graph.const(w_dq.inputs[1])).size == 1  # per-tensor scale
    q = next(n for n in graph.nodes if n.op_type == "QuantizeLinear" and n.outputs[0].startswith("relu_out"))
    assert float(graph.const(q.inputs[1])) == pytest.approx(0.05)


def test_bad_config_and_calibration_are_clear_errors(tiny_cnn_with_calibration, tmp_path):
    path, _ = tiny_cnn_with_calibration
    cfg = tmp_path / "bad.json"
    cfg.write_text(json.dumps({"layers": {"conv": {"precison": "float"}}}))
    with pytest.raises(AotError, match="unknown keys"):
        QuantConfig.load(cfg)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, other=np.zeros((4, 3, 8, 8), np.float32))
    with pytest.raises(AotError, match="no array for input 'input'"):
        load_calibration(wrong, float_graph(path))


def test_sensitivity_report_ranks_layers(tiny_cnn_with_calibration):
    path, calib = tiny_cnn_with_calibration
    graph = float_graph(path)
    rows = layer_sensitivity(graph, load_calibration(calib, graph)[:8], progress=False)
    assert {r.layer for r in rows} >= {"conv", "fc"}
    errors = [r.relative_error for r in rows]
    assert errors == sorted(errors, reverse=True) and errors[0] > 0


def test_mnist_accuracy_within_one_point_of_float(shared_model):
    """200 calibration digits, 1597 test digits: the compiled int8 C loses at most 1 point."""
    model = shared_model("mnist/model.onnx")
    data = np.load(shared_model("mnist/digits_as_mnist.npz"))
    x, y = data["x"].astype(np.float32), data["y"].astype(np.int64)
    graph = float_graph(model)
    qgraph = quantize_graph(graph.copy(), [[x[i:i + 1]] for i in range(200)], progress=False)
    sess = ort_session(model)
    float_acc = np.mean([np.argmax(sess.run(None, {"Input3": x[i:i + 1]})[0]) == y[i] for i in range(200, len(x))])
    import tempfile
    from pathlib import Path
    with tempfile.TemporaryDirectory() as tmp:
        host = load(write_library(compile_model(qgraph), Path(tmp) / "lib"))
        int8_acc = np.mean([np.argmax(host.run([x[i:i + 1]])[0]) == y[i] for i in range(200, len(x))])
    assert float_acc > 0.85
    assert int8_acc >= float_acc - 0.01, (float_acc, int8_acc)
