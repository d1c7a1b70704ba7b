"""DFT, STFT, the window generators and MelWeightMatrix (aot/ops/signal.py).

The transforms use a twiddle table computed at compile time (cos and sin of 2*pi*t/L for t < L, L
the transform length). A DFT or STFT of a power-of-two length is a radix-2 FFT in a scratch buffer;
other lengths and the inverse one-sided DFT are direct sums, O(L^2) per signal without scratch, the
index of each twiddle kept modulo L by one subtraction. Float32 data accumulate in float, float64 in double. The windows and
MelWeightMatrix have constant inputs only: their values are computed here, written as a table."""
from __future__ import annotations

import math

import numpy as np

from ....codegen.cformat import c_array_body
from ....ir import Graph, Node
from ....ir.dtypes import c_type
from ....ops.signal import dft_axis, dft_length
from .. import REF

FLOATS = ("float32", "float64")


def twiddles(length: int, dtype: str) -> dict:
    """cos and sin of 2*pi*t/length, t < length, as C initializers (exact 0 and 1 where they are)."""
    t = np.arange(length, dtype=np.float64)
    angle = 2 * np.pi * t / length
    cos, sin = np.cos(angle), np.sin(angle)
    # Quarter turns are exact (sin(pi) is 1.2e-16 in double): a real signal's DC and Nyquist bins then
    # have an exactly zero imaginary part, as numpy's FFT gives.
    for q, (c, s) in enumerate(((1, 0), (0, 1), (-1, 0), (0, -1))):
        if (q * length) % 4 == 0:
            cos[q * length // 4], sin[q * length // 4] = c, s
    return {"cos": c_array_body(cos.astype(dtype)), "sin": c_array_body(sin.astype(dtype))}


def dft_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    axis = dft_axis(graph, node) % len(x.shape)
    length = dft_length(graph, node)
    inverse, onesided = bool(int(node.attrs.get("inverse", 0))), bool(int(node.attrs.get("onesided", 0)))
    n_in = x.shape[axis]
    mode = "irfft" if inverse and onesided else ("inverse" if inverse else "forward")
    return {"outer": int(np.prod(x.shape[:axis], dtype=np.int64)), "inner": int(np.prod(x.shape[axis + 1:-1], dtype=np.int64)),
            "n_in": n_in, "n_out": y.shape[axis], "cin": x.shape[-1], "cout": y.shape[-1], "L": length,
            # terms of each sum: the signal cut or zero-padded to L; for irfft, the bins of half a spectrum
            "terms": min(n_in, length // 2 + 1) if mode == "irfft" else min(n_in, length),
            "mode": mode, "ctype": c_type(x.dtype), "scale": f"({c_type(x.dtype)}){length}",
            "fft": uses_fft(node, graph), "bitrev": c_array_body(np.asarray(bit_reversed(length), np.int64)),
            **twiddles(length, x.dtype)}


def uses_fft(node: Node, graph: Graph) -> bool:
    """A radix-2 FFT (O(L log L), in a scratch buffer) for a power-of-two length; the inverse one-sided
    transform stays a direct sum."""
    irfft = int(node.attrs.get("inverse", 0)) and int(node.attrs.get("onesided", 0))
    return power_of_two(dft_length(graph, node)) and not irfft


def power_of_two(length: int) -> bool:
    return length >= 2 and length & (length - 1) == 0


def bit_reversed(length: int) -> list[int]:
    """Where each input sample goes before the in-place butterflies (for a power-of-two length)."""
    if length & (length - 1):
        return [0]
    bits = length.bit_length() - 1
    return [int(format(i, f"0{bits}b")[::-1], 2) if bits else 0 for i in range(length)]


def dft_scratch(node: Node, graph: Graph) -> int:
    """The FFT's complex working buffer: 2 * L values."""
    if not uses_fft(node, graph):
        return 0
    return 2 * dft_length(graph, node) * np.dtype(graph.tensors[node.inputs[0]].dtype).itemsize


def _dft_check(node: Node, graph: Graph) -> str | None:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if x.dtype not in FLOATS:
        return f"DFT on {x.dtype}"
    axis = dft_axis(graph, node) % len(x.shape)
    inverse, onesided = int(node.attrs.get("inverse", 0)), int(node.attrs.get("onesided", 0))
    length = dft_length(graph, node)
    want = length if inverse and onesided else (length // 2 + 1 if onesided else length)
    if y.shape[axis] != want or y.shape[-1] != (1 if inverse and onesided else 2):
        return f"output shape {list(y.shape)} (expected {want} values on axis {axis})"
    return None


REF.kernel("DFT", template="ref/signal/dft.c.j2", static_inputs=(1, 2), check=_dft_check, dtypes=FLOATS,
           scratch_bytes=dft_scratch,
           input_names=("X",), output_names=("Y",), name="dft")(dft_params)


def stft_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    window = len(node.inputs) > 2 and bool(node.inputs[2])
    step = int(np.asarray(graph.const(node.inputs[1])).reshape(-1)[0])
    length = stft_length(node, graph)
    return {"batch": x.shape[0], "n": x.shape[1], "cin": x.shape[-1], "frames": y.shape[1], "bins": y.shape[2],
            "step": step, "L": length, "window": window, "ctype": c_type(x.dtype), "fft": power_of_two(length),
            "bitrev": c_array_body(np.asarray(bit_reversed(length), np.int64)), **twiddles(length, x.dtype)}


def stft_length(node: Node, graph: Graph) -> int:
    if len(node.inputs) > 2 and node.inputs[2]:
        return graph.tensors[node.inputs[2]].shape[0]
    return int(np.asarray(graph.const(node.inputs[3])).reshape(-1)[0])


def stft_scratch(node: Node, graph: Graph) -> int:
    """The FFT's complex working buffer for a power-of-two frame: 2 * L values."""
    length = stft_length(node, graph)
    return 2 * length * np.dtype(graph.tensors[node.inputs[0]].dtype).itemsize if power_of_two(length) else 0


def _stft_check(node: Node, graph: Graph) -> str | None:
    x = graph.tensors[node.inputs[0]]
    if x.dtype not in FLOATS:
        return f"STFT on {x.dtype}"
    if len(node.inputs) > 2 and node.inputs[2] and graph.tensors[node.inputs[2]].dtype != x.dtype:
        return "a window of another dtype than the signal"
    return None


REF.kernel("STFT", template="ref/signal/stft.c.j2", static_inputs=(1, 3), check=_stft_check, dtypes=FLOATS,
           scratch_bytes=stft_scratch,
           input_names=("X", "", "W"), output_names=("Y",), name="stft")(stft_params)


# -- windows and MelWeightMatrix: constant tables -------------------------------------------------------
# cos terms of each generalized cosine window: w[n] = sum_k a_k cos(2*pi*k*n / D) (signs in a_k)
COSINE_WINDOWS = {"HannWindow": (0.5, -0.5), "HammingWindow": (25 / 46, -21 / 46),
                  "BlackmanWindow": (0.42, -0.5, 0.08)}


def window_values(op_type: str, size: int, periodic: bool) -> np.ndarray:
    """The window of ``size`` samples (periodic: the first ``size`` of ``size + 1``), in float64."""
    denominator = size if periodic else size - 1
    n = np.arange(size, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):  # a symmetric window of 1: 0/0, NaN as ONNX Runtime
        return sum(a * np.cos(2 * np.pi * k * n / denominator) for k, a in enumerate(COSINE_WINDOWS[op_type]))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    return 2595 * np.log10(1 + hz / 700)


def mel_weight_values(bins: int, dft_length: int, rate: int, low: float, high: float) -> np.ndarray:
    """[dft_length // 2 + 1, bins] triangular filters as ONNX defines them (and ONNX Runtime computes
    them): bins + 2 points from ``low`` upwards in steps of (high - low) / (bins + 2) mels (so the last
    point stays below ``high``), each mapped to the DFT bin floor((dft_length + 1) * hz / rate); filter i
    rises from point i to point i + 1 and falls to point i + 2."""
    spectrogram = dft_length // 2 + 1
    low_mel, high_mel = _hz_to_mel(np.float64(low)), _hz_to_mel(np.float64(high))
    mels = np.arange(bins + 2) * ((high_mel - low_mel) / (bins + 2)) + low_mel
    points = (((dft_length + 1) * (700 * (np.power(10, mels / 2595) - 1))) // rate).astype(np.int64)
    out = np.zeros((spectrogram, bins))
    for i in range(bins):
        lo, mid, hi = (int(p) for p in points[i:i + 3])
        if mid == lo:
            out[mid, i] = 1
        for j in range(lo, mid + 1 if mid > lo else lo):
            out[j, i] = (j - lo) / (mid - lo)
        for j in range(mid, hi):
            out[j, i] = (hi - j) / (hi - mid)
    return out


def _scalar(graph: Graph, name: str) -> float:
    return np.asarray(graph.const(name)).reshape(-1)[0].item()


def table_params(node: Node, graph: Graph) -> dict:
    y = graph.tensors[node.outputs[0]]
    if node.op_type == "MelWeightMatrix":
        args = [_scalar(graph, n) for n in node.inputs[:5]]
        values = mel_weight_values(int(args[0]), int(args[1]), int(args[2]), float(args[3]), float(args[4]))
    else:
        values = window_values(node.op_type, y.shape[0], bool(int(node.attrs.get("periodic", 1))))
    if values.shape != tuple(y.shape):
        raise AssertionError(f"{node.op_type} computed shape {values.shape}, import inferred {y.shape}")
    return {"table": c_array_body(values.astype(y.dtype)), "size": y.size}


def _table_check(node: Node, graph: Graph) -> str | None:
    if graph.tensors[node.outputs[0]].size == 0:
        return f"{node.op_type} of no values"
    if node.op_type == "MelWeightMatrix":
        bins, length, rate, low, high = (_scalar(graph, n) for n in node.inputs[:5])
        if bins < 1 or length < 1 or rate <= 0 or not 0 <= low < high:
            return (f"num_mel_bins {bins}, dft_length {length}, sample_rate {rate}, edges {low}..{high} Hz: "
                    f"needs positive sizes and 0 <= lower < upper")
        if math.floor((length + 1) * high / rate) > length // 2:
            return f"upper edge {high} Hz lies past the last DFT bin of dft_length {length} at {rate} Hz"
    return None


REF.kernel("HannWindow", "HammingWindow", "BlackmanWindow", "MelWeightMatrix", template="ref/constant.c.j2",
           static_inputs=(0, 1, 2, 3, 4), check=_table_check, dtypes=("float32", "float64") + ("int8", "uint8", "int16",
           "uint16", "int32", "uint32", "int64", "uint64"), output_names=("Y",), name="signal_table")(table_params)
