"""The x86 backends' float kernels: 1-D/2-D convolutions and pooling channels-last (NHWC), Gemm and
MatMul with a constant B, with AVX2 FMA intrinsics on eight float lanes (x86-avx2, docs/x86-avx2.md) or
SSE4.1 on four (x86-sse4, docs/x86-sse4.md). ``register`` adds the same kernels, selection rules and
packing to each backend; its instruction set (isa.py) gives the template folder and the vector width.

Float layers a kernel here runs are converted to channels-last (``wants_channels_last``): one output
pixel's channels are contiguous, so a vector holds a vector's width of output channels (general Conv:
each input value broadcast, multiplied by the weights of those output channels) or of channels of one
pixel (depthwise); no channel count needs to divide the spatial size. Weights are compile-time
constants, packed here into the panels the loops read in order ([tap][input channel][two vectors of
output channels] for Conv, [k][four vectors of columns] for Gemm), zero-padded to whole vectors;
outputs past the last channel are never stored (masked stores). Sums are reordered (and fused, FMA,
on AVX2) relative to the ref kernels, so results agree with ONNX Runtime within the verify tolerance,
not bit for bit; NaN and inf propagate through the sums, and fused activations and MaxPool keep ref's
NaN rules (see ``vact``)."""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from ...codegen.cformat import c_float
from ...ir import Graph, Node
from ...ops import op_spec
from ...passes.layout_convert import CHANNELS_LAST
from ..ref.kernels.spatial import Window, window
from ..ref import REF
from ..registry import Kernel, is_channels_last
from ..variants import ref_kernel, variant
from . import X86_BACKENDS, X86Backend
from .isa import AVX2, VectorIsa

FLOAT = "float32"
# Blocks in vectors (eight floats on AVX2, four on SSE4.1): both have sixteen vector registers.
CONV_BLOCK = 2  # vectors of output channels of a full Conv panel
# pixels computed at once for a panel of 1, 2 or 3 vectors: accumulators + weights + a broadcast <= 16 registers
CONV_PIXELS = {1: 8, 2: 6, 3: 4}
DW_BLOCK = 2  # depthwise: vectors of channels per block, DW_PIXELS pixels at once (8 accumulators)
DW_PIXELS = 4
DW_WIDE = 8  # depthwise, one pixel at a time: vectors of channels per block (eight independent sums)
GEMM_BLOCK = 4  # Gemm: vectors of columns per panel, two chains over k (8 accumulators)
POINTWISE_CHUNK_BYTES = 16 * 1024  # pointwise: inputs of a chunk of pixels kept in L1 while all panels use it


# -- what the kernels accept ----------------------------------------------------------------------
VECTOR_ACTIVATIONS = ("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish")


def vector_activation(spec: dict | None) -> str | None:
    """Why the fused activation has no vector form here (None: it has one)."""
    if spec is None or spec["op_type"] in VECTOR_ACTIVATIONS:
        return None
    return f"fused {spec['op_type']} (vector forms: {', '.join(VECTOR_ACTIVATIONS)})"


def vact(spec: dict | None, expr: str, isa: VectorIsa = AVX2) -> str:
    """The fused activation applied to the vector ``expr`` (__m256 on AVX2, __m128 on SSE4.1), as ref's
    scalar forms compute it: max and min return their second operand when one is NaN, so NaN passes
    through as in aot_relu_f/aot_clamp_f."""
    if spec is None:
        return expr
    op, attrs = spec["op_type"], spec.get("attrs", {})
    v = "_mm256_" if isa.lanes == 8 else "_mm_"
    zero, one = f"{v}setzero_ps()", f"{v}set1_ps(1.0f)"
    if op == "Relu":
        return f"{v}max_ps({zero}, {expr})"
    if op == "LeakyRelu":  # aot_leaky_relu_f: x >= 0 ? x : alpha * x (a NaN x: alpha * NaN)
        ge = f"_mm256_cmp_ps({expr}, {zero}, _CMP_GE_OQ)" if isa.lanes == 8 else f"_mm_cmpge_ps({expr}, {zero})"
        return f"{v}blendv_ps({v}mul_ps({v}set1_ps({c_float(attrs['alpha'])}), {expr}), {expr}, {ge})"
    if op == "HardSigmoid":  # aot_hard_sigmoid_f: clamp(alpha * x + beta, 0, 1)
        lin = f"{v}add_ps({v}mul_ps({v}set1_ps({c_float(attrs['alpha'])}), {expr}), " \
              f"{v}set1_ps({c_float(attrs['beta'])}))"
        return f"{v}min_ps({one}, {v}max_ps({zero}, {lin}))"
    if op == "HardSwish":  # aot_hard_swish_f: x * clamp(x / 6 + 0.5, 0, 1)
        gate = f"{v}add_ps({v}div_ps({expr}, {v}set1_ps(6.0f)), {v}set1_ps(0.5f))"
        return f"{v}mul_ps({expr}, {v}min_ps({one}, {v}max_ps({zero}, {gate})))"
    if "min" in attrs and attrs["min"] != -math.inf:  # a bound of -inf changes nothing
        expr = f"{v}max_ps({v}set1_ps({c_float(attrs['min'])}), {expr})"
    if "max" in attrs and attrs["max"] != math.inf:
        expr = f"{v}min_ps({v}set1_ps({c_float(attrs['max'])}), {expr})"
    return expr


def _conv_geometry_reason(node: Node, graph: Graph, *, depthwise: bool, lanes: int) -> str | None:
    """Why a float Conv is not a 2-D (or 1-D) convolution these kernels run, in either layout."""
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if x.dtype != FLOAT or y.dtype != FLOAT:
        return "not float32"
    if len(x.shape) not in (3, 4):
        return f"rank {len(x.shape)} input (kernel takes 1-D and 2-D convolutions)"
    if graph.const(node.inputs[1]) is None:
        return "weights computed at run time (kernel packs them at compile time)"
    if len(node.inputs) > 2 and node.inputs[2] and graph.const(node.inputs[2]) is None:
        return "bias computed at run time"
    reason = vector_activation(node.attrs.get("activation"))
    if reason:
        return reason
    last = is_channels_last(x.layout)
    c, oc = (x.shape[-1], y.shape[-1]) if last else (x.shape[1], y.shape[1])
    group = int(node.attrs.get("group", 1))
    if depthwise and not (group == c == oc and c > 1):
        return "not depthwise (one input and one output channel per group)"
    if not depthwise and group != 1 and oc // group < lanes:
        return f"{oc // group} output channels per group (grouped convs need at least {lanes})"
    return None


def conv_check(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> str | None:
    return _conv_geometry_reason(node, graph, depthwise=False, lanes=isa.lanes)


def depthwise_check(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> str | None:
    return _conv_geometry_reason(node, graph, depthwise=True, lanes=isa.lanes)


def wants_channels_last(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> bool:
    """Whether a layer (as imported, channels-first) goes channels-last on this backend: float Convs a
    kernel here runs, and float pools right after one (so no Transpose separates them)."""
    if node.op_type == "Conv":
        return conv_check(node, graph, isa) is None or depthwise_check(node, graph, isa) is None
    if node.op_type in ("MaxPool", "AveragePool", "GlobalAveragePool"):
        x = graph.tensors[node.inputs[0]]
        if x.dtype != FLOAT or len(x.shape) != 4 or len([o for o in node.outputs if o]) != 1:
            return False
        return _after_channels_last_conv(node.inputs[0], graph, graph.producers(), 8, isa)
    return False


def _after_channels_last_conv(name: str, graph: Graph, producers: dict, depth: int, isa: VectorIsa) -> bool:
    """Whether tensor ``name`` comes from Convs going channels-last, directly or through layout-agnostic
    ops (a residual Add) all of whose data inputs do: the Transposes then cancel."""
    producer = producers.get(name)
    if producer is None or depth == 0:
        return False
    if producer.op_type == "Conv":
        return wants_channels_last(producer, graph, isa)
    spec = op_spec(producer.op_type)
    if spec is None or spec.layout != "agnostic" or producer.domain:
        return False
    data = [i for i in producer.inputs[:spec.data_inputs] if i]
    return bool(data) and all(_after_channels_last_conv(i, graph, producers, depth - 1, isa) for i in data)


# -- Conv, channels-last --------------------------------------------------------------------------
def _plane(win: Window, pointwise: bool) -> dict:
    """The 2-D geometry (H, W planes; a 1-D conv has H = 1); a pointwise conv (1x1, stride 1, no
    padding) is one row of all its pixels, cut in chunks."""
    if pointwise:
        p = win.out_sp[1] * win.out_sp[2]
        return {"H": 1, "W": p, "OH": 1, "OW": p, "KH": 1, "KW": 1, "SH": 1, "SW": 1, "DH": 1, "DW": 1,
                "PH": 0, "PW": 0, "col_lo": 0, "col_hi": p}
    lo, hi = win.tap_ranges()[2]
    return {"H": win.in_sp[1], "W": win.in_sp[2], "OH": win.out_sp[1], "OW": win.out_sp[2],
            "KH": win.kernel[1], "KW": win.kernel[2], "SH": win.strides[1], "SW": win.strides[2],
            "DH": win.dilations[1], "DW": win.dilations[2], "PH": win.pads_begin[1], "PW": win.pads_begin[2],
            # columns whose every tap lies inside the input (the others check each tap)
            "col_lo": max(lo), "col_hi": max(max(lo), min(hi))}


def _blocks(total: int, vectors: int, lanes: int) -> list[dict]:
    """Panels of ``vectors`` vectors of channels, then the remainder: first channel, vectors, valid
    lanes of the last vector."""
    block = vectors * lanes
    out = [{"c0": c0, "nv": vectors, "last": lanes} for c0 in range(0, total - total % block, block)]
    rem = total % block
    if rem:
        out.append({"c0": total - rem, "nv": -(-rem // lanes), "last": rem - (-(-rem // lanes) - 1) * lanes})
    return out


def _is_pointwise(win: Window) -> bool:
    return win.kernel == (1, 1, 1) and win.strides == (1, 1, 1) and win.pads_begin == (0, 0, 0) \
        and win.pads_end == (0, 0, 0) and win.in_sp == win.out_sp


def _bias(node: Node, graph: Graph, size: int, padded: int) -> np.ndarray:
    out = np.zeros(padded, np.float32)
    if len(node.inputs) > 2 and node.inputs[2]:
        out[:size] = np.asarray(graph.const(node.inputs[2]), np.float32).reshape(-1)
    return out


def conv_params(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> dict:
    lanes = isa.lanes
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    win = window(node, graph)
    pointwise = _is_pointwise(win)
    plane = _plane(win, pointwise)
    C, OC, G = x.shape[-1], y.shape[-1], int(node.attrs.get("group", 1))
    ICG, OCG = C // G, OC // G
    w = np.asarray(graph.const(node.inputs[1]), np.float32)  # O, spatial..., I (of its group)
    taps = plane["KH"] * plane["KW"] * ICG
    w = w.reshape(G, OCG, taps)
    panels, packed = [], []  # the panels of one group; every group has them at the same offsets
    for g in range(G):
        offset = 0
        for blk in _blocks(OCG, CONV_BLOCK, lanes):
            width = blk["nv"] * lanes
            panel = np.zeros((taps, width), np.float32)
            n = min(width, OCG - blk["c0"])
            panel[:, :n] = w[g, blk["c0"]:blk["c0"] + n].T
            packed.append(panel.reshape(-1))
            if g == 0:
                panels.append({**blk, "offset": offset, "R": CONV_PIXELS[blk["nv"]]})
            offset += panel.size
    padded = -(-OCG // lanes) * lanes  # each group's bias padded to whole vectors, so loads stay aligned
    bias = _bias(node, graph, OC, OC).reshape(G, OCG)
    bpack = np.zeros((G, padded), np.float32)
    bpack[:, :OCG] = bias
    chunk = plane["OW"]
    if pointwise:  # pixels per chunk: a multiple of every panel's pixel count
        chunk = max(24, POINTWISE_CHUNK_BYTES // (4 * C) // 24 * 24)
    return {"N": x.shape[0], "C": C, "OC": OC, "G": G, "ICG": ICG, "OCG": OCG, "OCGP": padded,
            "group_floats": offset, **plane, "pointwise": pointwise, "panels": panels,
            "wpack": np.concatenate(packed), "bpack": bpack.reshape(-1), "chunk": chunk,
            "vact": lambda e: vact(node.attrs.get("activation"), e, isa)}


def depthwise_params(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> dict:
    lanes = isa.lanes
    x = graph.tensors[node.inputs[0]]
    win = window(node, graph)
    plane = _plane(win, False)
    C = x.shape[-1]
    padded = -(-C // lanes) * lanes
    w = np.asarray(graph.const(node.inputs[1]), np.float32).reshape(C, -1)  # C, taps
    wpack = np.zeros((w.shape[1], padded), np.float32)
    wpack[:, :C] = w.T
    return {"N": x.shape[0], "C": C, **plane, "blocks": _blocks(C, DW_BLOCK, lanes), "R": DW_PIXELS,
            "wide": _blocks(C, DW_WIDE, lanes),
            "wpack": wpack.reshape(-1), "bpack": _bias(node, graph, C, padded), "CP": padded,
            "vact": lambda e: vact(node.attrs.get("activation"), e, isa)}


def _packed(kernel: Kernel) -> Kernel:
    """A kernel reading its weights (input 1) and bias (input 2) from its own packed copies: they are
    not passed, so the library does not hold them twice; their packed bytes count as the model's weights."""
    def packed_bytes(node: Node, graph: Graph) -> int:
        params = kernel.params(node, graph)
        return 4 * (params["wpack"].size + params["bpack"].size)
    return dataclasses.replace(kernel, static_inputs=(1, 2), folded_weight_bytes=packed_bytes)


_NHWC_CONV = ref_kernel("ref/nhwc/conv.c.j2", channels_last=True)


# -- Gemm -----------------------------------------------------------------------------------------
def gemm_check(node: Node, graph: Graph) -> str | None:
    a, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if a.dtype != FLOAT or y.dtype != FLOAT:
        return "not float32"
    if graph.const(node.inputs[1]) is None:
        return "B computed at run time (kernel packs it at compile time)"
    if len(node.inputs) > 2 and node.inputs[2] and graph.const(node.inputs[2]) is None:
        return "C computed at run time"
    return vector_activation(node.attrs.get("activation"))


def matmul_check(node: Node, graph: Graph) -> str | None:
    if len(graph.tensors[node.inputs[1]].shape) != 2:
        return "B is not a matrix (kernel takes one constant B for every row of A)"
    return gemm_check(node, graph)


def matmul_params(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> dict:
    """A [..., K] x B [K, N]: every row of A (batch dims included) times the one packed B."""
    a, b = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    return _gemm_panels(node, graph, a.size // b.shape[0], b.shape[0], b.shape[1], 0,
                        np.asarray(graph.const(node.inputs[1]), np.float32), isa)


def gemm_params(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> dict:
    a, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    M, N = y.shape
    trans_a, trans_b = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    K = a.shape[0] if trans_a else a.shape[1]
    b = np.asarray(graph.const(node.inputs[1]), np.float32)
    return _gemm_panels(node, graph, M, K, N, trans_a, b.T if trans_b else b, isa)


def _gemm_panels(node: Node, graph: Graph, M: int, K: int, N: int, trans_a: int, b: np.ndarray,
                 isa: VectorIsa) -> dict:
    """Parameters of gemm.c.j2: B (K x N) times alpha packed in panels, beta * C as bias rows."""
    lanes = isa.lanes
    alpha, beta = np.float32(node.attrs.get("alpha", 1.0)), np.float32(node.attrs.get("beta", 1.0))
    if alpha != 1:
        b = b * alpha
    panels, packed, offset = [], [], 0
    for blk in _blocks(N, GEMM_BLOCK, lanes):
        width = blk["nv"] * lanes
        panel = np.zeros((K, width), np.float32)
        n = min(width, N - blk["c0"])
        panel[:, :n] = b[:, blk["c0"]:blk["c0"] + n]
        packed.append(panel.reshape(-1))
        panels.append({**blk, "offset": offset})
        offset += panel.size
    padded = -(-N // lanes) * lanes
    bias_rows = 0
    bias = np.zeros((1, padded), np.float32)
    if len(node.inputs) > 2 and node.inputs[2]:
        c = np.broadcast_to(np.asarray(graph.const(node.inputs[2]), np.float32) * beta, (M, N))
        bias_rows = 1 if np.array_equal(c, np.broadcast_to(c[:1], c.shape), equal_nan=True) else M
        bias = np.zeros((bias_rows, padded), np.float32)
        bias[:, :N] = c[:bias_rows]
    return {"M": M, "N": N, "K": K, "trans_a": trans_a, "panels": panels, "wpack": np.concatenate(packed),
            "bias_rows": bias_rows, "bpack": bias.reshape(-1), "NP": padded,
            "vact": lambda e: vact(node.attrs.get("activation"), e, isa)}




# -- MaxPool, AveragePool, channels-last ----------------------------------------------------------
def pool_check(node: Node, graph: Graph) -> str | None:
    x = graph.tensors[node.inputs[0]]
    if x.dtype != FLOAT:
        return "not float32"
    if len(x.shape) != 4:
        return f"rank {len(x.shape)} input (kernel takes 2-D pooling)"
    if node.attrs.get("activation"):
        return "fused activation"
    return None


def pool_params(node: Node, graph: Graph, isa: VectorIsa = AVX2) -> dict:
    x = graph.tensors[node.inputs[0]]
    win = window(node, graph)
    return {"N": x.shape[0], "C": x.shape[-1], **_plane(win, False), "EH": win.pads_end[1], "EW": win.pads_end[2],
            "is_max": node.op_type == "MaxPool", "include_pad": bool(node.attrs.get("count_include_pad", 0)),
            "wide": _blocks(x.shape[-1], DW_WIDE, isa.lanes)}


# ref registers this template twice, for float32 and for int8: the float one
_NHWC_POOL = next(k for k in REF.kernels if k.template == "ref/nhwc/pool.c.j2" and k.dtypes == (FLOAT,))


def register(backend: X86Backend) -> None:
    """Adds the float kernels to ``backend``, in its instruction set's templates and vector width, and
    the channels-last layouts for the layers they run."""
    isa = backend.isa

    def add(base: Kernel, family: str, name: str, priority: int, check, params, packed: bool = True) -> None:
        kernel = variant(base, f"{isa.folder}/float/{family}.c.j2", f"float/{name}_{isa.suffix}", priority=priority,
                         roundings=None, check=check, params=functools.partial(params, isa=isa))
        backend.add_kernel(_packed(kernel) if packed else kernel)

    add(_NHWC_CONV, "conv_nhwc", "conv_nhwc", 10, functools.partial(conv_check, isa=isa), conv_params)
    add(_NHWC_CONV, "conv_dw_nhwc", "conv_dw_nhwc", 20, functools.partial(depthwise_check, isa=isa), depthwise_params)
    add(ref_kernel("ref/gemm.c.j2"), "gemm", "gemm", 10, gemm_check, gemm_params)
    add(_NHWC_POOL, "pool_nhwc", "pool_nhwc", 10, pool_check, pool_params, packed=False)
    add(ref_kernel("ref/matmul.c.j2"), "gemm", "matmul", 10, matmul_check, matmul_params)
    # Float layers these kernels run go channels-last; the weights O, spatial..., I as ref's NHWC Conv takes them.
    for op, layouts in CHANNELS_LAST.items():
        backend.layouts.setdefault(op, layouts)
    backend.layout_rules.append(functools.partial(wants_channels_last, isa=isa))


for _backend in X86_BACKENDS:
    register(_backend)
