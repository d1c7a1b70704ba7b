"""The arm-dsp backend's kernels: where ref runs a layer with one of the kernels below, this backend
runs it with the same loops, the inner ones on words of two int16 or four int8 lanes."""
from __future__ import annotations

import dataclasses

from ...ir import Graph, Node
from ..variants import ref_kernel, variant
from . import ARM_DSP, fc_packing

SINGLE = ("single",)  # requantization: store.j2's single rounding, as the ref kernels they vary

FULL_UNROLL = 16  # tiled Conv: up to this many groups of four k unrolled completely (K <= 64), else 4 or 2


def _unroll(node: Node, graph: Graph) -> dict:
    return {"FULL_UNROLL": FULL_UNROLL}


def _four_channels(node: Node, graph: Graph) -> str | None:
    x, y = (graph.tensors[t] for t in (node.inputs[0], node.outputs[0]))
    if x.shape[-1] != y.shape[-1] or y.shape[-1] < 4:
        return "channels-last depthwise: SIMD needs one output channel per input channel, at least four"
    return None


def _k_words(node: Node, graph: Graph) -> str | None:
    return "fewer than four inputs per output" if graph.tensors[node.inputs[0]].shape[1] < 4 else None


def _row_runs(node: Node, graph: Graph) -> str | None:
    """Where ref's pool.c.j2 sums runs of at least four contiguous bytes (its block row_sum)."""
    if node.op_type != "AveragePool":
        return "max pooling: no DSP instruction helps"
    p = ref_kernel("ref/int8/pool.c.j2").params(node, graph)
    k, d, i = p["win"].kernel, p["win"].dilations, p["win"].in_sp
    run = k[1] * k[2] if k[2] == i[2] and d[1] == 1 and d[2] == 1 else k[2]  # whole rows merge into one run
    if not p["inside"] or d[2] != 1 or run < 4:
        return "average pool without windows inside the input made of runs of four or more bytes"
    return None


for base, template, name, priority, extra in [
    (ref_kernel("ref/int8/conv_depthwise.c.j2"), "int8/conv_depthwise.c.j2", "int8/conv_depthwise_dsp", 30, {}),
    (ref_kernel("ref/int8/conv_gemm.c.j2"), "int8/conv_gemm.c.j2", "int8/conv_gemm_dsp", 20, {"params": _unroll}),
    (ref_kernel("ref/int8/conv_gemm.c.j2", channels_last=True), "int8/conv_gemm.c.j2", "nhwc/conv_gemm_dsp", 20,
     {"params": _unroll}),
    (ref_kernel("ref/nhwc/conv_dw_s8.c.j2", channels_last=True), "nhwc/conv_dw_s8.c.j2", "nhwc/conv_dw_s8_dsp", 30,
     {"check": _four_channels}),
    (ref_kernel("ref/int8/fully_connected.c.j2"), "int8/fully_connected.c.j2", "int8/fully_connected_dsp", 10,
     {"check": _k_words}),
    (ref_kernel("ref/int8/pool.c.j2"), "int8/pool.c.j2", "int8/pool_dsp", 10, {"check": _row_runs}),
]:
    ARM_DSP.add_kernel(variant(base, "arm-dsp/" + template, name, priority=priority, roundings=SINGLE, **extra))


# Fully connected layers on weights packed at compile time (fc_packing.py), chosen over the kernel
# above: int8 pairs of rows by default where the pairing is exact, int16 weights when the user gives
# the flash for them (--backend-option arm-dsp.fc_weights=int16). Their weights are not passed: the
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
        if fc_packing.fc_weights_choice(graph) != mode:
            return f"arm-dsp.fc_weights is not {mode}"
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
