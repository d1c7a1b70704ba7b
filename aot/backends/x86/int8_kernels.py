"""The x86-avx2 backend's int8 kernels: where ref runs a layer with one of the kernels below, this
backend runs it with AVX2 vectors along the output pixels. Inputs and weights are sign-extended to int16
pairs and multiplied with VPMADDWD (two exact products summed into int32; not ORT's VPMADDUBSW, whose
int16 saturation is inexact), weights packed at compile time, and the requantization per output channel
vectorized (aot_x86.h); every integer equals the ref kernel's, in both roundings."""
from __future__ import annotations

import numpy as np

from ...ir import Graph, Node
from ..ref.kernels.int8 import conv_geometry, depthwise_geometry, gemm_conv_params
from ..ref.kernels.spatial import window
from ..variants import ref_kernel, variant
from . import X86_AVX2

BOTH = ("single", "tflite")

XR = 4  # output channels per pass over a Conv tile (XR x 2 XU accumulator vectors in registers)


def vector_requantization(rq: dict) -> str | None:
    """How the vectors requantize (templates/x86-avx2/int8/common.j2): "hi" when ref uses
    aot_requantize_hi, "tflite" when it uses aot_requantize_tflite_rs, else None (per lane in C)."""
    return "hi" if rq["fast"] else "tflite" if rq["tfast"] else None


def pack_pairs(w: np.ndarray, blocks: list[tuple[int, int]]) -> list[int]:
    """Weights [C_out, K] as int32 words of int16 pairs (w[k] low, w[k + 1] high; a zero after an odd K),
    per block (first channel, channels) of output channels [K/2][channels], blocks in channel order."""
    w = w.astype(np.int64)
    if w.shape[1] % 2:
        w = np.concatenate([w, np.zeros((w.shape[0], 1), np.int64)], axis=1)
    pairs = ((w[:, 0::2] & 0xFFFF) | ((w[:, 1::2] & 0xFFFF) << 16)).astype(np.uint32).view(np.int32)
    return [int(v) for oc, nq in blocks for v in pairs[oc:oc + nq].T.reshape(-1)]


def channel_blocks(groups: int, per_group: int, size: int) -> list[tuple[int, int]]:
    return [(g * per_group + b, min(size, per_group - b)) for g in range(groups) for b in range(0, per_group, size)]


def _conv_gemm_params(node: Node, graph: Graph) -> dict:
    p = gemm_conv_params(node, graph)
    w = graph.const(node.inputs[1]).reshape(p["OC"], p["K"])
    return {"XR": XR, "XU": 1, "K2": -(-p["K"] // 2), "xvec": vector_requantization(p["rq"]),
            "wpairs": pack_pairs(w, channel_blocks(p["group"], p["OCG"], XR))}


def _conv_gemm_scratch(node: Node, graph: Graph) -> int:
    g = conv_geometry(node, graph)
    k2 = -(-g["ICG"] * g["KSP"] // 2)
    return 4 * k2 * 16 * 1 + 4 * k2 + 31  # the tile (K/2 x PT int16 pairs), the window line, alignment


def _nchw_only(node: Node, graph: Graph) -> str | None:
    return "channels-last Conv (the x86 tile runs along NCHW pixels)" if conv_geometry(node, graph)["nhwc"] else None


def _plane(g: dict) -> dict:
    """The depthwise plane in scratch and the virtual outputs read from it (conv_depthwise.c.j2)."""
    xrow = g["WP"] if g["padded"] else g["W"]
    offsets = [kh * g["DH"] * xrow + kw * g["DW"] for kh in range(g["KH"]) for kw in range(g["KW"])]
    offsets += [0] * (len(offsets) % 2)  # the last tap pairs with a zero weight
    nvirt = (g["OH"] - 1) * xrow + g["OW"]
    rows = g["HP"] * g["WP"] if g["padded"] else g["H"] * g["W"]
    plane = max(rows, 16 * -(-nvirt // 16) + max(offsets))
    return {"XROW": xrow, "NVIRT": nvirt, "PLANE": plane, "direct": g["OH"] == 1 or xrow == g["OW"],
            "pair_offsets": list(zip(offsets[0::2], offsets[1::2])), "T2": len(offsets) // 2}


def _depthwise_params(node: Node, graph: Graph) -> dict:
    p = ref_kernel("ref/int8/conv_depthwise.c.j2").params(node, graph)
    w = graph.const(node.inputs[1]).reshape(p["OC"], -1)
    return {**_plane(p), "xvec": vector_requantization(p["rq"]), "wpairs": pack_pairs(w, [(oc, 1) for oc in range(p["OC"])])}


def _depthwise_scratch(node: Node, graph: Graph) -> int:
    g = depthwise_geometry(window(node, graph))
    v = _plane(g)
    return v["PLANE"] + (0 if v["direct"] else 16 * -(-v["NVIRT"] // 16))


def _stride_one(node: Node, graph: Graph) -> str | None:
    g = depthwise_geometry(window(node, graph))
    return None if g is None or (g["SH"] == 1 and g["SW"] == 1) else "strided depthwise (the x86 kernel runs stride 1)"


for base, template, name, priority, extra in [
    (ref_kernel("ref/int8/conv_depthwise.c.j2"), "int8/conv_depthwise.c.j2", "int8/conv_depthwise_avx2", 30,
     {"params": _depthwise_params, "scratch_bytes": _depthwise_scratch, "check": _stride_one}),
    (ref_kernel("ref/int8/conv_gemm.c.j2"), "int8/conv_gemm.c.j2", "int8/conv_gemm_avx2", 20,
     {"params": _conv_gemm_params, "scratch_bytes": _conv_gemm_scratch, "check": _nchw_only}),
]:
    X86_AVX2.add_kernel(variant(base, "x86-avx2/" + template, name, priority=priority, roundings=BOTH, **extra))
