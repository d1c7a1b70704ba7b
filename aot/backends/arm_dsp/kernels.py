"""The arm-dsp backend's kernels: where ref runs a layer with one of the kernels below, this backend
runs it with the same loops, the inner ones on words of two int16 or four int8 lanes."""
from __future__ import annotations

import dataclasses

import numpy as np

from ...ir import Graph, Node
from ..ref.kernels.int8 import conv_geometry
from ..in_place import depthwise_nchw, pointwise_nchw
from ..variants import average_pool_runs, ref_kernel, variant
from . import ARM_DSP, fc_packing

SINGLE = ("single",)  # requantization: store.j2's single rounding, as the ref kernels they vary

FULL_UNROLL = 16  # tiled Conv: fewer groups of four k than this unrolled completely, else a loop of 8 groups
PIX_CHOICES = tuple(range(1, 8))  # tiled Conv: pixels per tile (at most 7 accumulators + 6 working registers)


def _tile_cost(pix: int, osp: int, groups: int) -> int:
    """Instructions of one output channel over the whole plane with ``pix`` pixels per tile: per tile
    and group of four k one weight word (LDR, two SXTB16) and per pixel an LDRD and two SMLADs; per
    tile and pixel a requantized store; per tile the channel's set-up (~12)."""
    return -(-osp // pix) * (groups * (3 + 3 * pix) + 4 * pix + 12)


def tile_pixels(node: Node, graph: Graph) -> int:
    """The pixels per tile that cost the fewest instructions for this layer's plane (ties: fewer)."""
    g = conv_geometry(node, graph)
    groups = g["ICG"] * g["KSP"] // 4
    return min(PIX_CHOICES, key=lambda pix: (_tile_cost(pix, g["OSP"], groups), pix))


def packed_weights(node: Node, graph: Graph) -> list[int]:
    """The tiled Conv's weights unpacked at compile time (``arm-dsp.weights=int16``), as int32 words:
    per output channel, for each group of four k the int16 lane pairs (k0, k2) and (k1, k3) (the
    tile's lane order, what SXTB16 would make of a word of four int8 at run time), then the K % 4
    last weights one a word. Twice the flash of the int8 weights; the inner loop loses an LDR and
    two SXTB16 per group."""
    w = np.asarray(graph.const(node.inputs[1]), dtype=np.int64)
    w = w.reshape(w.shape[0], -1)
    groups = w.shape[1] // 4
    g = w[:, :4 * groups].reshape(w.shape[0], groups, 4)
    pair = lambda lo, hi: hi * 65536 + (lo & 0xFFFF)  # noqa: E731  (lo in the low int16 lane)
    words = np.stack([pair(g[..., 0], g[..., 2]), pair(g[..., 1], g[..., 3])], axis=-1).reshape(w.shape[0], -1)
    return np.concatenate([words, w[:, 4 * groups:]], axis=1).reshape(-1).tolist()


def packed_weights_int8(node: Node, graph: Graph) -> tuple[list[int], list[int]]:
    """The tiled Conv's weights as the model's int8 bytes (``arm-dsp.weights=int8``, the default): the
    groups of four k of every output channel as int32 words (k0 in the low byte: SXTB16 gives lanes
    k0, k2 and SXTB16 ROR 8 lanes k1, k3 at run time), all channels one after another so each word is
    aligned; then the K % 4 last weights of every channel in their own int8 table. As many bytes as
    the model's weights."""
    w = np.asarray(graph.const(node.inputs[1])).astype(np.int8)
    w = w.reshape(w.shape[0], -1)
    groups = w.shape[1] // 4
    words = np.ascontiguousarray(w[:, :4 * groups]).view("<i4").reshape(-1)
    return words.astype(np.int64).tolist(), w[:, 4 * groups:].reshape(-1).astype(int).tolist()


def packed_weight_bytes(node: Node, graph: Graph) -> int:
    """Flash of the tiled Conv's weights in its kernel: int16, a pair of words per output channel and
    group of four k, then a word per remaining k; int8, the model's bytes."""
    w = graph.tensors[node.inputs[1]]
    if fc_packing.weights_choice(graph, node) == "int8":
        return w.size
    k = w.size // w.shape[0]
    return 4 * w.shape[0] * (2 * (k // 4) + k % 4)


def _tiled_params(node: Node, graph: Graph) -> dict:
    mode = fc_packing.weights_choice(graph, node)
    params = {"FULL_UNROLL": FULL_UNROLL, "PIX": tile_pixels(node, graph), "weights": mode}
    if mode == "int16":
        params["wpk"] = packed_weights(node, graph)
    else:
        params["wq"], params["wt"] = packed_weights_int8(node, graph)
    return params


def _tiled_scratch(node: Node, graph: Graph) -> int:
    """ref's gemm_conv_scratch with this layer's pixels per tile: the int16 tile (K rounded up to
    four), one pixel's window unless an NCHW 1x1, and 3 bytes to align the tile to a word."""
    g = conv_geometry(node, graph)
    k4 = 4 * -(-(g["ICG"] * g["KSP"]) // 4)
    line = 0 if g["pointwise"] and not g["nhwc"] else 1
    return 2 * k4 * (tile_pixels(node, graph) + line) + 3


def _four_channels(node: Node, graph: Graph) -> str | None:
    x, y = (graph.tensors[t] for t in (node.inputs[0], node.outputs[0]))
    if x.shape[-1] != y.shape[-1] or y.shape[-1] < 4:
        return "channels-last depthwise: SIMD needs one output channel per input channel, at least four"
    return None


def _k_words(node: Node, graph: Graph) -> str | None:
    return "fewer than four inputs per output" if graph.tensors[node.inputs[0]].shape[1] < 4 else None


_row_runs = average_pool_runs(4, "max pooling: no DSP instruction helps")


ROW_UNROLL = 8  # depthwise: output rows of at most this many pixels unrolled (constant offsets)


def _depthwise_params(node: Node, graph: Graph) -> dict:
    return {"ROW_UNROLL": ROW_UNROLL}


for base, template, name, priority, extra in [
    (ref_kernel("ref/int8/conv_depthwise.c.j2"), "int8/conv_depthwise.c.j2", "int8/conv_depthwise_dsp", 30,
     {"params": _depthwise_params, "in_place": depthwise_nchw}),  # the same plane copy, then the same order
    (ref_kernel("ref/int8/conv_gemm.c.j2"), "int8/conv_gemm.c.j2", "int8/conv_gemm_dsp", 20,
     {"params": _tiled_params, "scratch_bytes": _tiled_scratch, "in_place": pointwise_nchw}),  # tile gathered first
    (ref_kernel("ref/int8/conv_gemm.c.j2", channels_last=True), "int8/conv_gemm.c.j2", "nhwc/conv_gemm_dsp", 20,
     {"params": _tiled_params, "scratch_bytes": _tiled_scratch}),
    (ref_kernel("ref/nhwc/conv_dw_s8.c.j2", channels_last=True), "nhwc/conv_dw_s8.c.j2", "nhwc/conv_dw_s8_dsp", 30,
     {"check": _four_channels}),
    (ref_kernel("ref/int8/fully_connected.c.j2"), "int8/fully_connected.c.j2", "int8/fully_connected_dsp", 10,
     {"check": _k_words}),
    (ref_kernel("ref/int8/pool.c.j2"), "int8/pool.c.j2", "int8/pool_dsp", 10, {"check": _row_runs}),
]:
    kernel = variant(base, "arm-dsp/" + template, name, priority=priority, roundings=SINGLE, **extra)
    if "conv_gemm" in name:  # the weights are packed into the kernel (packed_weights), not passed
        kernel = dataclasses.replace(kernel, static_inputs=(1, *kernel.static_inputs),
                                     folded_weight_bytes=packed_weight_bytes)
    ARM_DSP.add_kernel(kernel)


# Fully connected layers on weights packed at compile time (fc_packing.py), chosen over the kernel
# above: int8 pairs of rows by default where the pairing is exact, int16 weights when the user gives
# the flash for them (--backend-option arm-dsp.weights=int16). Their weights are not passed: the
# kernel holds them in the packed order.
def _packed_params(mode: str):
    def params(node: Node, graph: Graph) -> dict:
        w = graph.const(node.inputs[1])
        k = w.shape[1]
        return {"mode": mode, "passes": fc_packing.passes(w.shape[0], mode), "words": fc_packing.pack(w, mode),
                "tail": w[:, k // 4 * 4:].reshape(-1).astype(int).tolist(), "UNROLL": fc_packing.UNROLL}
    return params


def _packed_bytes(mode: str):
    def size(node: Node, graph: Graph) -> int:
        return fc_packing.pack_bytes(*graph.tensors[node.inputs[1]].shape, mode)
    return size


def _packed_check(mode: str):
    def check(node: Node, graph: Graph) -> str | None:
        if fc_packing.weights_choice(graph, node) != mode:
            return f"arm-dsp.weights is not {mode}"
        if mode == "int8" and not fc_packing.pairs_fit(graph.const(node.inputs[1])):
            return "a row's sum of |weights| too large to pair rows in one word (128 * sum >= 2^23)"
        return _k_words(node, graph)
    return check


for mode, priority in (("int8", 15), ("int16", 16)):
    packed = variant(ref_kernel("ref/int8/fully_connected.c.j2"), "arm-dsp/int8/fc_packed.c.j2",
                     f"int8/fc_packed_{mode}_dsp", priority=priority, roundings=SINGLE,
                     check=_packed_check(mode), params=_packed_params(mode))
    ARM_DSP.add_kernel(dataclasses.replace(packed, static_inputs=(1, 2), input_names=("X",),
                                           folded_weight_bytes=_packed_bytes(mode)))
