"""Signal ops (aot/ops/signal.py): DFT, STFT, the windows and MelWeightMatrix, compiled, built and run
against numpy.fft and ONNX Runtime; their compile-time parameters are constants."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from aot.backends.ref.kernels.signal import mel_weight_values, window_values
from aot.compiler import compile_model, write_library
from aot.errors import AotError
from aot.reference import run_reference
from aot.targets.host import load


def single_op(op_type: str, x: np.ndarray | None, constants: dict[str, np.ndarray], inputs: list[str],
              opset: int, out_type: int = TensorProto.FLOAT, **attrs) -> onnx.ModelProto:
    """A one-node model: ``x`` (when given) is the graph input "x", every other input a constant."""
    node = helper.make_node(op_type, inputs, ["y"], **attrs)
    graph_inputs = [] if x is None else [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype),
                                                                       list(x.shape))]
    graph = helper.make_graph([node], "signal", graph_inputs, [helper.make_tensor_value_info("y", out_type, None)],
                              [numpy_helper.from_array(v, k) for k, v in constants.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def run_aot(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path: Path) -> np.ndarray:
    lib = write_library(compile_model(model), tmp_path / "lib")
    return load(lib).run(feeds)[0]


def as_complex(y: np.ndarray) -> np.ndarray:
    return y[..., 0] + 1j * y[..., 1]


def close(got: np.ndarray, want: np.ndarray, scale: float = 1.0) -> None:
    """Within float32 rounding of sums of ``scale``-sized terms."""
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)


RNG = np.random.default_rng(3)


def dft_model(x: np.ndarray, opset: int, axis: int | None, length: int | None = None, **attrs) -> onnx.ModelProto:
    constants, inputs = {}, ["x"]
    if length is not None:
        constants["n"] = np.array(length, np.int64)
    if opset >= 20:
        inputs += ["n" if length is not None else ""]
        if axis is not None:
            constants["axis"] = np.array(axis, np.int64)
            inputs.append("axis")
    else:
        if length is not None:
            inputs.append("n")
        if axis is not None:
            attrs["axis"] = axis
    return single_op("DFT", x, constants, inputs, opset, **attrs)


# (shape of the complex signal, axis, dft_length): lengths prime, even, odd, padded and cut; powers of
# two (2, 8, 16, 128, 256) run as a radix-2 FFT
FORWARD = [((2, 10, 3), 1, None), ((2, 10, 3), 2, None), ((1, 7, 4), 1, None), ((3, 16), 1, None),
           ((2, 5, 6), 1, 8), ((2, 9, 2), 1, 6), ((4, 1), 1, None), ((3, 2), 1, None), ((2, 256), 1, None),
           ((1, 100, 2), 1, 128)]


@pytest.mark.parametrize("shape,axis,length", FORWARD)
@pytest.mark.parametrize("onesided", [0, 1])
def test_dft_of_real_signals_is_numpys_fft(shape, axis, length, onesided, tmp_path):
    x = RNG.standard_normal(shape + (1,)).astype(np.float32)
    got = run_aot(dft_model(x, 20, axis, length, onesided=onesided), {"x": x}, tmp_path)
    n = length or shape[axis]
    want = (np.fft.rfft if onesided else np.fft.fft)(x[..., 0].astype(np.float64), n=n, axis=axis)
    close(as_complex(got), want, scale=n)
    close(got, run_reference(dft_model(x, 20, axis, length, onesided=onesided), {"x": x})[0], scale=n)


@pytest.mark.parametrize("shape,axis,length", FORWARD)
@pytest.mark.parametrize("inverse", [0, 1])
def test_dft_of_complex_signals_forward_and_inverse(shape, axis, length, inverse, tmp_path):
    x = RNG.standard_normal(shape + (2,)).astype(np.float32)
    got = run_aot(dft_model(x, 20, axis, length, inverse=inverse), {"x": x}, tmp_path)
    n = length or shape[axis]
    want = (np.fft.ifft if inverse else np.fft.fft)(as_complex(x.astype(np.float64)), n=n, axis=axis)
    close(as_complex(got), want, scale=n)


@pytest.mark.parametrize("bins,length", [(6, None), (6, 10), (6, 11), (4, 9), (9, 8)])
def test_inverse_onesided_dft_is_numpys_irfft(bins, length, tmp_path):
    """Half a spectrum in, a real signal of dft_length (default 2 * (bins - 1)) out."""
    x = RNG.standard_normal((2, bins, 3, 2)).astype(np.float32)
    got = run_aot(dft_model(x, 20, 1, length, inverse=1, onesided=1), {"x": x}, tmp_path)
    want = np.fft.irfft(as_complex(x.astype(np.float64)), n=length or 2 * (bins - 1), axis=1)
    assert got.shape == want.shape + (1,)
    close(got[..., 0], want)


def test_opset17_dft_takes_its_axis_as_an_attribute(tmp_path):
    x = RNG.standard_normal((2, 8, 5, 1)).astype(np.float32)
    for axis, want_axis in ((None, 1), (2, 2)):
        got = run_aot(dft_model(x, 17, axis), {"x": x}, tmp_path / str(axis))
        close(as_complex(got), np.fft.fft(x[..., 0].astype(np.float64), axis=want_axis), scale=8)


def test_opset20_dft_default_axis_is_the_last_signal_axis(tmp_path):
    x = RNG.standard_normal((3, 12, 1)).astype(np.float32)
    got = run_aot(dft_model(x, 20, None), {"x": x}, tmp_path)
    close(as_complex(got), np.fft.fft(x[..., 0].astype(np.float64), axis=1), scale=12)


@pytest.mark.parametrize("length", [13, 64])
def test_float64_dft(length, tmp_path):
    x = RNG.standard_normal((2, length, 2))
    got = run_aot(single_op("DFT", x, {}, ["x"], 17, out_type=TensorProto.DOUBLE), {"x": x}, tmp_path)
    np.testing.assert_allclose(as_complex(got), np.fft.fft(as_complex(x), axis=1), rtol=1e-10, atol=1e-10)


def test_dft_with_a_runtime_length_is_refused_clearly():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 1])
    n = helper.make_tensor_value_info("n", TensorProto.INT64, [])
    graph = helper.make_graph([helper.make_node("DFT", ["x", "n"], ["y"])], "g", [x, n],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    with pytest.raises(AotError, match="DFT"):
        compile_model(model)


@pytest.mark.parametrize("window", [False, True])
@pytest.mark.parametrize("complex_signal", [False, True])
@pytest.mark.parametrize("length", [12, 16])  # 16: a radix-2 FFT per frame
def test_stft_matches_onnxruntime(window, complex_signal, length, tmp_path):
    x = RNG.standard_normal((2, 50, 2 if complex_signal else 1)).astype(np.float32)
    constants = {"step": np.array(6, np.int64), "length": np.array(length, np.int64)}
    inputs = ["x", "step", "", "length"]
    if window:
        constants["w"] = np.hanning(length).astype(np.float32)
        inputs = ["x", "step", "w"]
    model = single_op("STFT", x, constants, inputs, 17, onesided=0 if complex_signal else 1)
    got = run_aot(model, {"x": x}, tmp_path)
    # numpy: frames of ``length`` every 6 samples, windowed, transformed
    frames = np.stack([x[:, f * 6:f * 6 + length].astype(np.float64) for f in range((50 - length) // 6 + 1)], axis=1)
    signal = as_complex(frames) if complex_signal else frames[..., 0]
    weights = np.hanning(length) if window else np.ones(length)
    want = (np.fft.fft if complex_signal else np.fft.rfft)(signal * weights, axis=-1)
    close(as_complex(got), want, scale=length)
    if not complex_signal:  # ONNX Runtime's STFT takes real signals
        close(got, run_reference(model, {"x": x})[0], scale=length)


@pytest.mark.parametrize("op_type", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("size", [1, 2, 10, 33])
def test_window_values_are_onnx_runtimes(op_type, periodic, size):
    model = single_op(op_type, None, {"n": np.array(size, np.int32)}, ["n"], 17, periodic=periodic)
    np.testing.assert_allclose(window_values(op_type, size, bool(periodic)), run_reference(model, {})[0],
                               rtol=1e-6, atol=1e-6)


def test_windows_and_numpys_agree():
    assert np.allclose(window_values("HannWindow", 9, False), np.hanning(9))
    assert np.allclose(window_values("BlackmanWindow", 9, False), np.blackman(9))
    assert np.allclose(window_values("HannWindow", 8, True), np.hanning(9)[:-1])


def test_window_with_constant_size_compiles_to_its_values(tmp_path):
    model = single_op("HammingWindow", None, {"n": np.array(16, np.int64)}, ["n"], 17,
                      out_type=TensorProto.DOUBLE, output_datatype=TensorProto.DOUBLE)
    got = run_aot(model, {}, tmp_path)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, window_values("HammingWindow", 16, True), rtol=1e-12)
    np.testing.assert_allclose(got, run_reference(model, {})[0], rtol=1e-6)  # ONNX Runtime computes in float


@pytest.mark.parametrize("args", [(8, 16, 8192, 0.0, 4096.0), (10, 64, 16000, 20.0, 7000.0), (3, 9, 100, 5.0, 40.0)])
def test_mel_weight_matrix_is_the_onnx_definition(args, tmp_path):
    names = ["bins", "length", "rate", "low", "high"]
    constants = {k: np.array(v, np.int64 if i < 3 else np.float32) for i, (k, v) in enumerate(zip(names, args))}
    model = single_op("MelWeightMatrix", None, constants, names, 17)
    want = ReferenceEvaluator(model).run(None, {})[0]
    np.testing.assert_allclose(mel_weight_values(*args), want, atol=1e-6)
    np.testing.assert_allclose(run_aot(model, {}, tmp_path), want, atol=1e-6)


@pytest.mark.parametrize("op_type,constants,attrs", [
    ("BlackmanWindow", {"n": np.array(12, np.int64)}, {"periodic": 0}),
    ("HannWindow", {"n": np.array(7, np.int32)}, {}),
    ("MelWeightMatrix", {"bins": np.array(5, np.int64), "length": np.array(32, np.int64),
                         "rate": np.array(16000, np.int64), "low": np.array(0.0, np.float32),
                         "high": np.array(8000.0, np.float32)}, {}),
])
def test_signal_table_kernel_where_the_import_does_not_fold(op_type, constants, attrs, tmp_path, monkeypatch):
    """The kernel itself: the importer and the fold_constants pass evaluate constant nodes with ONNX's
    reference evaluator first; made to fail here, the node reaches the kernel."""
    from aot.frontend import importer, node_eval
    fold_constants = importlib.import_module("aot.passes.fold_constants")  # the package exports the pass under this name

    def evaluate(node, inputs, opsets):
        if node.op_type == op_type:
            raise RuntimeError("not evaluated here")
        return node_eval.evaluate(node, inputs, opsets)
    monkeypatch.setattr(importer, "evaluate", evaluate)
    monkeypatch.setattr(fold_constants, "evaluate", evaluate)
    model = single_op(op_type, None, constants, list(constants), 17, **attrs)
    compiled = compile_model(model)
    assert [n.op_type for n in compiled.graph.nodes] == [op_type]
    got = load(write_library(compiled, tmp_path / "lib")).run({})[0]
    np.testing.assert_allclose(got, ReferenceEvaluator(model).run(None, {})[0], rtol=1e-6, atol=1e-7)
