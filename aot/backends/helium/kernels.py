"""The helium backend's kernels: where ref runs a layer with one of the kernels below, this backend
runs it with sixteen-lane vector loads and VMLADAVA."""
from __future__ import annotations

from ...ir import Graph, Node
from ..ref.kernels.int8 import conv_geometry, depthwise_geometry
from ..ref.kernels.spatial import window
from ..variants import ref_kernel, variant
from . import HELIUM

SINGLE = ("single",)  # requantization: store.j2's single rounding, as the ref kernels they vary

PIX = 8  # tiled Conv: at most this many pixels per int8 tile (VMLADAVA accumulates in scalar registers)


# Gathered (not NCHW 1x1) tiles of at most this many pixels run two output channels per pass, which
# share the tile's loads. VMLADAVA accumulates into even registers only: past ~8 accumulators the
# compiler moves and spills them, which is why the NCHW 1x1 layers (cheap gathers, many tiles) keep
# one channel per pass over tiles of up to 8 pixels.
PAIR_PIX = 4


def _tile_cost(pm: int, osp: int, k: int, ocg: int, pw_nchw: bool) -> int:
    """Instructions of one group's output channels over the plane with ``pm`` pixels per tile: per
    pass of nq channels and sixteen k a weight load per channel, a tile load per pixel and a VMLADAVA
    per channel and pixel, a store per output, ~10 of set-up; VMLADAVA's accumulators live in the 7
    even registers, more are moved (~2 per step each). NCHW 1x1 layers also gather each tile (per k,
    a copy per pixel, a select more where the plane is not a multiple of pm). The moves are counted
    for the NCHW 1x1 layers only: for the gathered ones the larger tiles measured faster anyway (KWS,
    mnist under QEMU)."""
    steps = -(-k // 16)
    nq = 2 if pm <= PAIR_PIX and ocg >= 2 and not pw_nchw else 1
    moves = 2 * max(0, nq * pm - 7) if pw_nchw else 0
    per_pass = steps * (nq + pm + nq * pm + moves) + 4 * nq * pm + 10
    gather = k * (2 + (3 if osp % pm else 2) * pm) if pw_nchw else 0
    return -(-osp // pm) * (-(-ocg // nq) * per_pass + gather)


def tile_pixels(node: Node, graph: Graph) -> int:
    """Pixels per tile (1 .. PIX) with the fewest instructions for the plane (_tile_cost); a plane
    of fewer than PIX pixels gets a tile of at most its size (no idle lanes)."""
    g = conv_geometry(node, graph)
    pw_nchw = g["pointwise"] and not g["nhwc"]
    k = g["ICG"] * g["KSP"]
    return min(range(1, PIX + 1), key=lambda pm: (_tile_cost(pm, g["OSP"], k, g["OCG"], pw_nchw), -pm))


def window_offsets(node: Node, graph: Graph) -> list[int]:
    """NCHW: the byte offsets of one input channel's taps (k order) from its window's first tap, for
    the gather of windows wholly inside the input; channels-last and 1x1 layers gather otherwise."""
    g = conv_geometry(node, graph)
    win = g["win"]
    (kd, kh, kw), (dd, dh, dw), (_, ih, iw) = win.kernel, win.dilations, win.in_sp
    return [(a * dd * ih + b * dh) * iw + c * dw for a in range(kd) for b in range(kh) for c in range(kw)]


def _tile(node: Node, graph: Graph) -> dict:
    return {"PIX_MVE": tile_pixels(node, graph), "win_offsets": window_offsets(node, graph), "PAIR_PIX": PAIR_PIX}


def _tile_scratch(node: Node, graph: Graph) -> int:
    # PIX_MVE pixels x K rounded up to 16, int8, and one pixel's window in k order (not for an NCHW 1x1).
    g = conv_geometry(node, graph)
    k = g["ICG"] * g["KSP"]
    return 16 * -(-k // 16) * (tile_pixels(node, graph) + (0 if g["pointwise"] and not g["nhwc"] else 1))


def _windows(node: Node, graph: Graph) -> dict:
    """How a depthwise window is loaded: all its taps by one gather (at most 16, byte offsets below
    256), else each row by one predicated load (stride-1 rows of at most 16 taps), else not at all."""
    g = depthwise_geometry(window(node, graph))
    xrow = g["WP"] if g["padded"] else g["W"]
    offsets = [kh * g["DH"] * xrow + kw * g["DW"] for kh in range(g["KH"]) for kw in range(g["KW"])]
    gather = len(offsets) <= 16 and offsets[-1] < 256
    return {"tap_offsets": offsets, "mve_gather": gather, "mve_rows": not gather and g["DW"] == 1 and g["KW"] <= 16}


def _vector_windows(node: Node, graph: Graph) -> str | None:
    w = _windows(node, graph)
    return None if w["mve_gather"] or w["mve_rows"] else "depthwise window neither one gather nor rows of <= 16 taps"


for base, template, name, priority, extra in [
    (ref_kernel("ref/int8/conv_depthwise.c.j2"), "int8/conv_depthwise.c.j2", "int8/conv_depthwise_mve", 30,
     {"check": _vector_windows, "params": _windows}),
    (ref_kernel("ref/int8/conv_gemm.c.j2"), "int8/conv_gemm.c.j2", "int8/conv_gemm_mve", 20,
     {"params": _tile, "scratch_bytes": _tile_scratch}),
    (ref_kernel("ref/int8/conv_gemm.c.j2", channels_last=True), "int8/conv_gemm.c.j2", "nhwc/conv_gemm_mve", 20,
     {"params": _tile, "scratch_bytes": _tile_scratch}),
    (ref_kernel("ref/int8/fully_connected.c.j2"), "int8/fully_connected.c.j2", "int8/fully_connected_mve", 10, {}),
]:
    HELIUM.add_kernel(variant(base, "helium/" + template, name, priority=priority, roundings=SINGLE, **extra))
