"""PTQ of a float model whose trained weights have dead output channels (~1e-30 and exact zeros).

Quantized naively, such a channel's weight scale is ~1e-32, its int32 bias saturates and the input
offset can no longer fold into the bias, so the whole layer falls back to the direct conv kernel.
aot's PTQ applies TFLite's converter guards (aot/quant/weight_scales.py): every conv keeps its fast
kernel and the accuracy of a model without dead channels."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.compiler import CompileOptions, QuantizeOptions, compile_model, write_library
from aot.quant.config import QuantConfig
from aot.quant.ptq import quantize_model
from aot.backends.ref.kernels.int8 import requant_spec
from aot.quant import kernel_params
from aot.quant.weight_scales import BIAS_MAX, NEAR_ZERO_RANGE, QMAX, fit_bias, share_dead_scales, symmetric_scales
from aot.reference import run_reference
from aot.targets.host import load

C_IN, C_MID, C_OUT, HW = 3, 8, 16, 12
DEAD = {"c1": [2, 5], "dw": [3, 6], "pw": [1, 7, 9]}  # output channels with ~1e-30 or zero weights


def dead_channel_cnn() -> onnx.ModelProto:
    """MobileNetV1-style: 3x3 conv, depthwise 3x3, pointwise 1x1, each with bias and Relu."""
    rng = np.random.default_rng(0)
    weights = {"c1": rng.normal(0, 0.3, (C_MID, C_IN, 3, 3)), "dw": rng.normal(0, 0.3, (C_MID, 1, 3, 3)),
               "pw": rng.normal(0, 0.3, (C_OUT, C_MID, 1, 1))}
    weights = {k: w.astype(np.float32) for k, w in weights.items()}
    # Dead channels as training leaves them: denormal-scale noise, a constant ~1e-30, exact zeros.
    weights["c1"][2], weights["c1"][5] = 1e-30, 0.0
    weights["dw"][3], weights["dw"][6] = (1e-30 * rng.standard_normal((1, 3, 3))).astype(np.float32), 0.0
    weights["pw"][1], weights["pw"][7], weights["pw"][9] = 1e-30, 0.0, -3e-31
    nodes, inits, x = [], [], "input"
    for name, w in weights.items():
        b = rng.normal(0, 0.2, w.shape[0]).astype(np.float32)
        if name == "pw":
            b[7] = 0.0  # zero weights and zero bias: only the widened range gives it a scale
        inits += [numpy_helper.from_array(w, name + "_w"), numpy_helper.from_array(b, name + "_b")]
        k = w.shape[-1]
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name + "_conv"], kernel_shape=[k, k],
                                      pads=[k // 2] * 4, group=C_MID if name == "dw" else 1, name=name))
        nodes.append(helper.make_node("Relu", [name + "_conv"], [name + "_out"]))
        x = name + "_out"
    graph = helper.make_graph(nodes, "dead_channels",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, C_IN, HW, HW])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, C_OUT, HW, HW])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.fixture
def dead_model(tmp_path) -> tuple[Path, Path]:
    path, calib = tmp_path / "dead.onnx", tmp_path / "calib.npz"
    onnx.save(dead_channel_cnn(), path)
    np.savez(calib, input=np.random.default_rng(1).standard_normal((16, C_IN, HW, HW)).astype(np.float32))
    return path, calib


def conv_int8_params(graph) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per Conv of the QDQ graph: (int8 weights, weight scales, int32 bias)."""
    producers = graph.producers()
    out = {}
    for node in graph.nodes:
        if node.op_type == "Conv":
            w_dq, b_dq = producers[node.inputs[1]], producers[node.inputs[2]]
            out[node.name] = (graph.const(w_dq.inputs[0]), np.asarray(graph.const(w_dq.inputs[1])).reshape(-1),
                              graph.const(b_dq.inputs[0]))
    return out


def test_naive_scales_would_saturate_the_biases():
    """The model does exhibit the problem: absmax / 127 scales put dead-channel biases past int32."""
    model = dead_channel_cnn()
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    w, b = inits["c1_w"], inits["c1_b"]
    naive = np.abs(w[2]).max() / 127.0
    input_scale = 8.0 / 255  # at least what a standard-normal calibration gives
    assert abs(b[2]) / (input_scale * naive) > 2 ** 31


def test_dead_channels_get_sane_scales_and_biases_within_kbiasmax(dead_model):
    path, calib = dead_model
    params = conv_int8_params(quantize_model(path, calib, progress=False))
    assert set(params) == set(DEAD)
    for name, (w, scale, bias) in params.items():
        # TFLite's kBiasMax, up to the float32 rounding of the bias scale
        assert np.abs(bias.astype(np.int64)).max() <= BIAS_MAX * (1 + 1e-6), name
        live = [c for c in range(len(scale)) if c not in DEAD[name]]
        for c in DEAD[name]:
            assert not w[c].any(), (name, c)  # a dead channel's weights are zeros at any sane scale
            assert scale[c] >= scale[live].max(), (name, c)  # and its scale is like its neighbours'
        w_float = numpy_helper.to_array(next(i for i in dead_channel_cnn().graph.initializer if i.name == name + "_w"))
        np.testing.assert_allclose(scale[live], np.abs(w_float[live]).max(axis=(1, 2, 3)) / 127, rtol=1e-6)
    assert params["pw"][2][7] == 0  # zero weights and a zero bias


def test_tflite_scale_guards():
    # ExpandVerySmallRange: an all-zero channel covers [-5e-7, 5e-7].
    assert symmetric_scales(np.array([0.0, 1e-30, 1.27]))[:2].tolist() == [np.float32(NEAR_ZERO_RANGE / 2 / QMAX)] * 2
    assert symmetric_scales(np.array([1.27]))[0] == np.float32(0.01)
    # A channel with only a bias takes the largest live scale; all-dead layers keep theirs.
    scale = np.array([0.01, 3e-9, 0.02, 5e-2], np.float32)
    dead = np.array([False, True, False, True])
    assert share_dead_scales(scale, dead).tolist() == np.array([0.01, 0.02, 0.02, 5e-2], np.float32).tolist()
    assert share_dead_scales(scale, np.ones(4, bool)).tolist() == scale.tolist()


def test_fit_bias_raises_only_the_scales_a_bias_needs():
    scale = symmetric_scales(np.array([0.5, 1e-30, 0.0, 0.0]))
    bias = np.array([0.3, 0.2, -0.1, 0.0])
    fitted = fit_bias(scale, bias, input_scale=0.02)
    assert fitted[0] == scale[0] and fitted[3] == scale[3]  # a live channel, a zero bias: untouched
    for c in (1, 2):
        assert fitted[c] > scale[c] and abs(bias[c]) / (0.02 * np.float64(fitted[c])) <= BIAS_MAX
    # One scale for the tensor: raised for the largest bias, as TFLite's per-tensor branch does.
    one = fit_bias(symmetric_scales(np.array([1e-30])), bias, input_scale=0.02)
    assert one.shape == (1,) and np.max(np.abs(bias)) / (0.02 * np.float64(one[0])) <= BIAS_MAX


@pytest.mark.parametrize("granularity", ["per_channel", "per_tensor"])
def test_dead_channels_keep_the_fast_conv_kernels_on_cortex_m4(dead_model, granularity):
    path, calib = dead_model
    config = QuantConfig(default={"observer": "minmax", "granularity": granularity})
    compiled = compile_model(path, CompileOptions(board="cortex-m4", quantize=QuantizeOptions(calib, config)))
    templates = {c.node.name: c.template for c in compiled.calls if c.node.op_type == "Conv"}
    assert set(templates) == set(DEAD)
    # arm-dsp's tiled and depthwise kernels, not ref's direct fallback (ref/int8/conv.c.j2)
    assert templates == {"c1": "arm-dsp/int8/conv_gemm.c.j2", "dw": "arm-dsp/int8/conv_depthwise.c.j2",
                         "pw": "arm-dsp/int8/conv_gemm.c.j2"}, templates
    # and their fastest requantization: every shift short enough to fold the output zero point
    for call in compiled.calls:
        if call.node.op_type == "Conv":
            p = kernel_params.conv_qparams(call.node, compiled.graph)
            spec = requant_spec(p["mult"], p["shift"], p["out_zp"], p["rounding"])
            assert spec["fast"] and spec["zfold"], (call.node.name, max(spec["rsh"]))


def test_dead_channel_model_accuracy_matches_float(dead_model, tmp_path):
    path, calib = dead_model
    graph = quantize_model(path, calib, progress=False)
    compiled = compile_model(graph)
    assert "ref/int8/conv.c.j2" not in {c.template for c in compiled.calls}
    host = load(write_library(compiled, tmp_path / "lib"))
    q_out = next(n for n in graph.nodes if n.op_type == "QuantizeLinear" and n.outputs[0].startswith("pw_out"))
    out_scale = float(graph.const(q_out.inputs[1]))
    rng = np.random.default_rng(5)
    worst, dead_err = 0.0, 0.0
    for _ in range(8):
        x = rng.standard_normal((1, C_IN, HW, HW)).astype(np.float32)
        ref = run_reference(str(path), {"input": x})[0]
        got = host.run([x])[0]
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
        dead_err = max(dead_err, float(np.abs(got[:, DEAD["pw"]] - ref[:, DEAD["pw"]]).max()))
    # Dead channels output Relu(bias): the bias is kept to well below one output step.
    assert dead_err <= out_scale / 2 + 1e-7, (dead_err, out_scale)
    assert worst < 0.05, worst  # relative to the output range, as a three-layer int8 network gives
