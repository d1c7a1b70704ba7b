"""QuantizeLinear / DequantizeLinear as plain elementwise kernels (the nodes aot/quant/plain_qdq.py marks):
ONNX semantics for int8, uint8, int16, uint16 codes (and int32 for DequantizeLinear), per tensor, per axis
or blocked, with scale and zero point read from tensors (run-time values or constants alike).

The int8 edge kernels of int8.py keep the Q/DQ nodes the QDQ lowering handles; these run only for
nodes marked plain (priority above them, so a marked int8 node with a constant scale runs here too and
reads its scale from the node, not from quantization parameters it does not have)."""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from ....quant.plain_qdq import is_plain
from ...patterns import PatternMatch, const, op, wildcard
from .. import REF

Q_CODES = ("int8", "uint8", "int16", "uint16")
DQ_CODES = Q_CODES + ("int32",)
FLOAT = 1  # TensorProto.FLOAT: the only precision / output_dtype these kernels compute in


def _axis_and_block(node: Node, graph: Graph) -> tuple[int, int]:
    x = graph.tensors[node.inputs[0]]
    rank = max(len(x.shape), 1)
    return int(node.attrs.get("axis", 1)) % rank, int(node.attrs.get("block_size", 0))


def _params_problem(node: Node, graph: Graph) -> str | None:
    """Why the scale / zero point shapes are not per-tensor, per-axis or blocked for this input."""
    x = graph.tensors[node.inputs[0]]
    scale = graph.tensors[node.inputs[1]]
    zp = graph.tensors[node.inputs[2]] if len(node.inputs) > 2 and node.inputs[2] else None
    if scale.dtype != "float32":
        return f"{scale.dtype} scale (float32 only)"
    if zp is not None and zp.shape != scale.shape:
        return f"zero point of shape {list(zp.shape)} for a scale of shape {list(scale.shape)}"
    axis, block = _axis_and_block(node, graph)
    if block:
        if block < 0:
            return f"block_size {block}"
        want = list(x.shape)
        want[axis] = -(-x.shape[axis] // block)
        if list(scale.shape) != want:
            return f"blocked scale of shape {list(scale.shape)}; block_size {block} on axis {axis} needs {want}"
        return None
    if scale.size == 1 and len(scale.shape) <= 1:
        return None
    if len(scale.shape) != 1 or not x.shape or scale.shape[0] != x.shape[axis]:
        return f"scale of shape {list(scale.shape)} for axis {axis} of an input of shape {list(x.shape)}"
    return None


def _check(node: Node, graph: Graph) -> str | None:
    if not is_plain(node):
        return "Q/DQ edge of an integer kernel (the int8 edge kernels run it)"
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if node.op_type == "QuantizeLinear":
        if x.dtype != "float32" or y.dtype not in Q_CODES:
            return f"QuantizeLinear {x.dtype} -> {y.dtype} (float32 to {', '.join(Q_CODES)})"
        if int(node.attrs.get("precision", 0)) not in (0, FLOAT):
            return "division precision other than float32"
    else:
        if x.dtype not in DQ_CODES or y.dtype != "float32":
            return f"DequantizeLinear {x.dtype} -> {y.dtype} ({', '.join(DQ_CODES)} to float32)"
    zp = node.inputs[2] if len(node.inputs) > 2 else ""
    code = y if node.op_type == "QuantizeLinear" else x
    if zp and graph.tensors[zp].dtype != code.dtype:
        return f"{graph.tensors[zp].dtype} zero point for {code.dtype} codes"
    return _params_problem(node, graph)


def _scale_index(node: Node, graph: Graph) -> str:
    """C expression of the scale / zero-point element of element ``i``."""
    x = graph.tensors[node.inputs[0]]
    scale = graph.tensors[node.inputs[1]]
    axis, block = _axis_and_block(node, graph)
    if not block and scale.size == 1:
        return "0"
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    channels = x.shape[axis]
    position = f"(i / {inner})" if inner > 1 else "i"
    channel = f"({position} % {channels})" if axis > 0 else position
    if not block:
        return channel
    blocks = scale.shape[axis]
    outer = f"(i / {channels * inner}) * {blocks * inner} + " if axis > 0 else ""
    within = f" * {inner} + i % {inner}" if inner > 1 else ""
    return f"{outer}{channel} / {block}{within}"


def _params(node: Node, graph: Graph) -> dict:
    code = graph.tensors[node.outputs[0] if node.op_type == "QuantizeLinear" else node.inputs[0]]
    info = np.iinfo(code.dtype)
    return {"size": graph.tensors[node.outputs[0]].size, "s": _scale_index(node, graph),
            "has_zp": len(node.inputs) > 2 and bool(node.inputs[2]), "lo": int(info.min), "hi": int(info.max),
            "wide": "int64_t" if code.dtype == "int32" else "int32_t"}


_DTYPES = ("float32",) + DQ_CODES
REF.kernel("QuantizeLinear", template="ref/quant_plain/quantize_linear.c.j2", check=_check, dtypes=_DTYPES, priority=1,
           input_names=("X", "S", "Z"), output_names=("Y",))(_params)
REF.kernel("DequantizeLinear", template="ref/quant_plain/dequantize_linear.c.j2", check=_check, dtypes=_DTYPES,
           priority=1, input_names=("X", "S", "Z"), output_names=("Y",))(_params)


# -- DequantizeLinear -> QuantizeLinear with unit scales: a shift of the integer codes -----------------
def _unit(graph: Graph, name: str) -> bool:
    value = graph.const(name)
    return value is not None and value.size == 1 and float(value.reshape(-1)[0]) == 1.0


def _recode_check(m: PatternMatch, graph: Graph) -> str | None:
    """Both plain, scales exactly 1 (so (x - z1) / 1 rounds to itself: the pair adds z2 - z1 and saturates),
    and nothing else reads the float values in between."""
    dq, q = m.node("DequantizeLinear"), m.node("QuantizeLinear")
    if not (is_plain(dq) and is_plain(q)):
        return "Q/DQ edges of integer kernels"
    if not (_unit(graph, dq.inputs[1]) and _unit(graph, q.inputs[1])):
        return "scales other than 1"
    if any(len(n.inputs) < 3 or not n.inputs[2] or graph.const(n.inputs[2]) is None for n in (dq, q)):
        return "zero points not given as constants"
    if graph.tensors[dq.inputs[0]].dtype not in Q_CODES or dq.outputs[0] in graph.outputs:
        return "codes other than 8/16-bit, or the float values are an output"
    return None


def _recode_params(node: Node, graph: Graph) -> dict:
    body = node.meta["body"]
    dq = next(n for n in body.nodes if n.op_type == "DequantizeLinear")
    q = next(n for n in body.nodes if n.op_type == "QuantizeLinear")
    info = np.iinfo(graph.tensors[node.outputs[0]].dtype)
    offset = int(graph.const(q.inputs[2]).reshape(-1)[0]) - int(graph.const(dq.inputs[2]).reshape(-1)[0])
    return {"size": graph.tensors[node.outputs[0]].size, "offset": offset, "lo": int(info.min), "hi": int(info.max)}


# uint8 graph inputs/outputs of quantized layers are converted this way (aot/quant/uint8_qdq.py): one
# loop over the codes instead of two kernels and a float buffer between them.
REF.pattern("RecodeIntegers", op("QuantizeLinear", op("DequantizeLinear", wildcard("x"), const(), const()),
                                  const(), const()),
            pattern_check=_recode_check, template="ref/quant_plain/recode.c.j2", dtypes=Q_CODES,
            static_inputs=(1, 2, 3, 4), input_names=("X",), output_names=("Y",))(_recode_params)
