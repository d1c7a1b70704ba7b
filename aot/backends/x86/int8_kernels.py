"""The x86 backends' int8 kernels: where ref runs a layer with one of the kernels below, these
backends run it with AVX2 (x86-avx2) or SSE4.1 (x86-sse4) vectors, along output pixels (Conv,
depthwise) or output channels (fully connected). Inputs and weights are sign-extended to int16 pairs
and multiplied with (V)PMADDWD (two exact products summed into int32; not ORT's VPMADDUBSW, whose
int16 saturation is inexact), weights packed at compile time, and the requantization vectorized
(aot_x86.h, aot_x86_sse4.h); every integer equals the ref kernel's, in both roundings.
docs/x86-avx2-int8.md describes them and their measurements, docs/x86-sse4.md the SSE4.1 forms.
``register`` adds the same kernels, selection rules and packing to each backend; its instruction set
(isa.py) gives the template folder, the vector width and the register blocking."""
from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ...ir import Graph, Node
from ..ref.kernels.int8 import conv_geometry, depthwise_geometry, gemm_conv_params
from ..ref.kernels.spatial import window
from ..variants import average_pool_runs, ref_kernel, variant
from . import X86_BACKENDS, X86Backend
from .isa import AVX2, VectorIsa

BOTH = ("single", "tflite")

PLANE_MAX_BYTES = 1 << 20  # the plane gather's scratch (planes and virtual outputs) at most; else "line"


def tile_units(pixels: int, allowed: tuple[int, ...] = AVX2.tile_units) -> int:
    """Sixteen-pixel units per Conv tile: the most (of ``allowed``, most first) that pad the pixels to
    no more units than the fewest would; more units per tile share each weight broadcast among more pixels."""
    units = -(-pixels // 16)
    return next(xu for xu in allowed if xu * -(-units // xu) <= units)


def vector_requantization(rq: dict) -> str | None:
    """How the vectors requantize (templates/x86-*/int8/common.j2): "hi" when ref uses
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


def _gather(g: dict) -> str:
    """How conv_gemm.c.j2 fills its tile: "pointwise", "plane" (stride 1, a 1-D or 2-D window) or "line"."""
    win = g["win"]
    if g["pointwise"]:
        return "pointwise"
    flat = win.in_sp[0] == 1 and win.kernel[0] == 1 and not win.pads_begin[0] and not win.pads_end[0]
    return "plane" if flat and win.strides == (1, 1, 1) else "line"


def _conv_plane(g: dict, pt: int) -> dict:
    """The padded input planes of one group in scratch and the virtual outputs read from them."""
    win = g["win"]
    xrow = win.pads_begin[2] + win.in_sp[2] + win.pads_end[2]
    pstride = (win.pads_begin[1] + win.in_sp[1] + win.pads_end[1]) * xrow
    koff = [ic * pstride + kh * win.dilations[1] * xrow + kw * win.dilations[2] for ic in range(g["ICG"])
            for kh in range(win.kernel[1]) for kw in range(win.kernel[2])]
    koff += [0] * (len(koff) % 2)  # the k after an odd K: a zero weight
    oh, ow = win.out_sp[1], win.out_sp[2]
    nvirt = (oh - 1) * xrow + ow
    vpad = pt * -(-nvirt // pt)
    return {"XROW": xrow, "PSTRIDE": pstride, "koff": koff, "NVIRT": nvirt, "VPAD": vpad,
            "PLANE": max(g["ICG"] * pstride, max(koff) + vpad), "direct": oh == 1 or xrow == ow}


def _conv_gemm_layout(g: dict, isa: VectorIsa) -> dict:
    k2 = -(-g["ICG"] * g["KSP"] // 2)
    gather = _gather(g)
    if gather == "plane":  # unless the virtual outputs are too many (wide windows on narrow rows) or big
        v = _conv_plane(g, 64)
        if v["NVIRT"] > 2 * g["OSP"] or v["PLANE"] + (0 if v["direct"] else g["OC"] * v["VPAD"]) > PLANE_MAX_BYTES:
            gather = "line"
    xu = tile_units(_conv_plane(g, 16)["NVIRT"] if gather == "plane" else g["OSP"], isa.tile_units)
    xr = isa.accumulators // (isa.unit_vectors * xu)  # XR channels x XU units of int32 vectors
    return {"XR": xr, "XU": xu, "K2": k2, "gather": gather,
            **(_conv_plane(g, 16 * xu) if gather == "plane" else {})}


def _conv_gemm_params(node: Node, graph: Graph, isa: VectorIsa) -> dict:
    p = gemm_conv_params(node, graph)
    lay = _conv_gemm_layout(p, isa)
    w = graph.const(node.inputs[1]).reshape(p["OC"], p["K"])
    return {**lay, "xvec": vector_requantization(p["rq"]),
            "wpairs": pack_pairs(w, channel_blocks(p["group"], p["OCG"], lay["XR"]))}


def _conv_gemm_scratch(node: Node, graph: Graph, isa: VectorIsa) -> int:
    g = conv_geometry(node, graph)
    lay = _conv_gemm_layout(g, isa)
    tile = 4 * lay["K2"] * 16 * lay["XU"] + 31  # K/2 x PT int16 pairs, aligned at run time
    if lay["gather"] == "line":
        return tile + 4 * lay["K2"]  # one pixel's window
    if lay["gather"] == "plane":
        return tile + lay["PLANE"] + (0 if lay["direct"] else g["OC"] * lay["VPAD"])
    return tile


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


def _plane16(g: dict) -> dict:
    """The widened plane of conv_depthwise_s2.c.j2 (int16 elements) and the rows/columns copied in."""
    xrow = g["WP"] if g["padded"] else g["W"]
    npw = -(-g["KW"] // 2)
    steps = -(-g["OW"] // 16)
    last_row = ((g["OH"] - 1) * g["SH"] + (g["KH"] - 1) * g["DH"]) * xrow
    reach = last_row + 32 * (steps - 1) + 16 + 2 * (npw - 1) + 16  # the last step's loads end there
    rows, cols = (g["copy_rows"], g["copy_cols"]) if g["padded"] else (g["H"], g["W"])
    size = (g["HP"] if g["padded"] else g["H"]) * xrow
    return {"NPW": npw, "ROWS": rows, "COLS": cols, "PLANE16": max(size, reach)}


def _depthwise_s2_params(node: Node, graph: Graph) -> dict:
    p = ref_kernel("ref/int8/conv_depthwise.c.j2").params(node, graph)
    w = graph.const(node.inputs[1]).reshape(p["OC"], p["KH"], p["KW"]).astype(np.int64)
    if p["KW"] % 2:
        w = np.concatenate([w, np.zeros((p["OC"], p["KH"], 1), np.int64)], axis=2)
    return {**_plane16(p), "xvec": vector_requantization(p["rq"]),
            "wpairs": pack_pairs(w.reshape(p["OC"] * p["KH"], -1), [(r, 1) for r in range(p["OC"] * p["KH"])])}


def _depthwise_s2_scratch(node: Node, graph: Graph) -> int:
    return 2 * _plane16(depthwise_geometry(window(node, graph)))["PLANE16"] + 31


def _column_stride_two(node: Node, graph: Graph) -> str | None:
    g = depthwise_geometry(window(node, graph))
    return None if g is None or (g["SW"] == 2 and g["DW"] == 1) else "not a depthwise with column stride 2, undilated"


def _lanes(values: list[int], npad: int, fill: int, order: tuple[int, ...]) -> list[int]:
    """Per-output values in lane order (``order``: within a block of sixteen outputs, the output in each
    int32 lane of its vectors), the padding outputs set to ``fill``."""
    return [values[n] if n < len(values) else fill for b in range(0, npad, 16) for n in (b + i for i in order)]


def _fc_params(node: Node, graph: Graph, isa: VectorIsa) -> dict:
    p = ref_kernel("ref/int8/fully_connected.c.j2").params(node, graph)
    n, k2 = p["N"], -(-p["K"] // 2)
    npad = 16 * -(-n // 16)
    w = graph.const(node.inputs[1]).reshape(n, p["K"])
    pairs = np.asarray(pack_pairs(w, [(c, 1) for c in range(n)]), np.int64).reshape(n, k2)
    order = isa.lane_output
    columns = [_lanes(list(pairs[:, kk]), npad, 0, order) for kk in range(k2)]
    rq, xvec = p["rq"], vector_requantization(p["rq"])
    shifts = rq["rsh"] if xvec == "hi" else [-s for s in rq["shift"]]
    tables = [("bias", _lanes(p["bias_folded"], npad, 0, order)), ("rq_m", _lanes(rq["mult"], npad, 0, order)),
              ("rq_s", _lanes(shifts, npad, 1, order))] + \
        ([("rq_r", _lanes(rq["round"], npad, 0, order))] if xvec == "hi" else [])
    return {"K2": k2, "NPAD": npad, "FB": min(isa.fc_blocks, npad // 16), "xvec": xvec, "tables": tables,
            "wpairs": [int(v) for col in columns for v in col]}


def _fc_scratch(node: Node, graph: Graph) -> int:
    return 4 * -(-graph.tensors[node.inputs[0]].shape[1] // 2)  # one input row as int16 pairs


def _fc_vector_requantization(node: Node, graph: Graph) -> str | None:
    rq = ref_kernel("ref/int8/fully_connected.c.j2").params(node, graph)["rq"]
    return None if vector_requantization(rq) else \
        "multipliers too large for aot_requantize_hi / aot_requantize_tflite_rs (ref requantizes them)"


_long_row_runs = average_pool_runs(16, "max pooling (ref's)")


def _max_pool_check(node: Node, graph: Graph) -> str | None:
    if node.op_type != "MaxPool":
        return "average pooling"
    p = ref_kernel("ref/int8/pool.c.j2").params(node, graph)
    win = p["win"]
    if not p["inside"] or win.in_sp[0] != 1 or win.kernel[0] != 1 or win.strides[2] > 16:
        return "max pool whose windows are not 1-D or 2-D inside the input with a column stride <= 16"
    return None


def _max_pool_params(node: Node, graph: Graph) -> dict:
    win = window(node, graph)
    steps = -(-win.out_sp[2] // (16 // win.strides[2]))
    # rowmax: the row, and what the last step's loads reach past it
    reach = (steps - 1) * (16 // win.strides[2]) * win.strides[2] + (win.kernel[2] - 1) * win.dilations[2] + 16
    return {"ROWMAX": 16 * -(-max(win.in_sp[2], reach) // 16)}


# Kernel families whose templates hold the weights as int16 pairs (``wpairs``) in their own C.
PACKED = {"fully_connected", "conv_depthwise", "conv_depthwise_s2", "conv_gemm"}


def _packed_bytes(kernel):
    """Bytes of the int16 weight pairs (and per-channel tables) the kernel's C holds instead of the
    model's int8 weights: what the library's flash holds for the layer."""
    def size(node: Node, graph: Graph) -> int:
        params = kernel.params(node, graph)
        return 4 * (len(params.get("wpairs", ())) + sum(len(values) for _, values in params.get("tables", ())))
    return size


def register(backend: X86Backend) -> None:
    """Adds the int8 kernels to ``backend``, in its instruction set's templates and register blocking."""
    isa = backend.isa

    def with_isa(fn):
        return functools.partial(fn, isa=isa)

    for base, family, priority, extra in [
        (ref_kernel("ref/int8/pool.c.j2"), "max_pool", 11, {"check": _max_pool_check, "params": _max_pool_params}),
        (ref_kernel("ref/int8/pool.c.j2"), "pool", 10, {"check": _long_row_runs}),
        (ref_kernel("ref/int8/fully_connected.c.j2"), "fully_connected", 10,
         {"params": with_isa(_fc_params), "scratch_bytes": _fc_scratch, "check": _fc_vector_requantization}),
        (ref_kernel("ref/int8/conv_depthwise.c.j2"), "conv_depthwise", 30,
         {"params": _depthwise_params, "scratch_bytes": _depthwise_scratch, "check": _stride_one}),
        (ref_kernel("ref/int8/conv_depthwise.c.j2"), "conv_depthwise_s2", 31,
         {"params": _depthwise_s2_params, "scratch_bytes": _depthwise_s2_scratch, "check": _column_stride_two}),
        (ref_kernel("ref/int8/conv_gemm.c.j2"), "conv_gemm", 20,
         {"params": with_isa(_conv_gemm_params), "scratch_bytes": with_isa(_conv_gemm_scratch), "check": _nchw_only}),
    ]:
        kernel = variant(base, f"{isa.folder}/int8/{family}.c.j2", f"int8/{family}_{isa.suffix}", priority=priority,
                         roundings=BOTH, **extra)
        if family in PACKED:  # the kernel holds its weights as packed int16 pairs: W is not passed
            kernel = dataclasses.replace(kernel, static_inputs=(1, 2), input_names=("X",),
                                         folded_weight_bytes=_packed_bytes(kernel))
        backend.add_kernel(kernel)


for _backend in X86_BACKENDS:
    register(_backend)
