"""What a firmware needs to feed a model and read its results: each graph input's and output's element
type, quantization (scale, zero point) and layout, for model.h and metadata.json.

The graph does not always record them on the input or output tensor itself: tf2onnx puts a Reshape or
Transpose between an int8 input and its DequantizeLinear (the scale sits on the tensor after it), and
layouts are recorded where a layout-sensitive op reads a tensor, not on a graph input that first goes
through a Transpose or a QuantizeLinear. Both are followed here through ops that only move values.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..ir.dtypes import onnx_elem_type
from ..ir.formats import FORMATS
from ..ops import op_spec

# Integer I/O types model.h gets quantize/dequantize helpers for: the saturation bounds of each.
QUANTIZED_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "uint16": (0, 65535)}
# Ops that copy values unchanged (the int8 bits keep their meaning): a quantization found past them is
# the quantization of the tensor before them. Concat (may requantize) and Pad (adds values) are not.
_VALUE_MOVERS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather", "Identity")
_CODE_MAPS = ("RecodeIntegers", "Cast")  # elementwise on codes: the layout passes through
_SEARCH_LIMIT = 16  # ops followed from an input or output: the edge of a graph, not the whole graph


def io_quantization(graph: Graph, name: str) -> tuple[float, int] | None:
    """(scale, zero point) of graph input or output ``name`` when it is an integer tensor quantized per
    tensor: its own parameters, else those found through value-moving ops (downstream from an input,
    upstream from an output). None for float tensors, and where the paths disagree or find nothing."""
    t = graph.tensors[name]
    if t.dtype not in QUANTIZED_RANGES:
        return None
    if t.quant is not None:
        return _per_tensor(t.quant)
    found = _reached_quant(graph, name, downstream=name in graph.inputs)
    return next(iter(found)) if found is not None and len(found) == 1 else None  # {None} stays None


def _per_tensor(q) -> tuple[float, int] | None:
    scale, zp = np.asarray(q.scale).reshape(-1), np.asarray(q.zero_point).reshape(-1)
    if scale.size != 1 or zp.size != 1:
        return None  # per channel: no single scale for a firmware to apply
    return float(np.float32(scale[0])), int(zp[0])


def _reached_quant(graph: Graph, name: str, downstream: bool) -> set | None:
    consumers, producers = graph.consumers(), graph.producers()
    found: set = set()
    frontier, steps = [(name, 0)], 0  # (tensor, zero-point shift from that tensor's codes to name's)
    while frontier and steps < _SEARCH_LIMIT:
        current, shift = frontier.pop(0)
        t = graph.tensors[current]
        if current != name and t.quant is not None:
            q = _per_tensor(t.quant)
            found.add(None if q is None else (q[0], q[1] + shift))
            continue
        nodes = consumers.get(current, []) if downstream else [p for p in [producers.get(current)] if p]
        for node in nodes:
            steps += 1
            edge = _edge_quantizer(graph, node, current, downstream)
            if edge is not None:  # a plain DequantizeLinear reading it, a QuantizeLinear writing it
                found.add((edge[0], edge[1] + shift))
                continue
            offset = _recode_offset(graph, node)
            moves = node.op_type in _VALUE_MOVERS or offset is not None
            if not moves or not node.inputs or (downstream and node.inputs[0] != current):
                found.add(None)  # a path through arithmetic: its quantization says nothing about this one
                continue
            # A recode adds ``offset`` to the codes (uint8 edges of int8 layers): the zero point moves with them.
            offset = offset or 0
            frontier.append((node.outputs[0], shift - offset) if downstream else (node.inputs[0], shift + offset))
    return found or None


def _edge_quantizer(graph: Graph, node: Node, tensor: str, downstream: bool) -> tuple[float, int] | None:
    """(scale, zero point) of a DequantizeLinear reading ``tensor`` (downstream) or a QuantizeLinear
    writing it (upstream) with constant per-tensor parameters: plain Q/DQ kernels at an int16 or uint16
    edge leave them on the node, not on the tensor."""
    wanted = "DequantizeLinear" if downstream else "QuantizeLinear"
    if node.op_type != wanted or (node.inputs[0] if downstream else node.outputs[0]) != tensor:
        return None
    scale = graph.const(node.inputs[1]) if len(node.inputs) > 1 and node.inputs[1] else None
    zp = graph.const(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(1, np.int64)
    if scale is None or zp is None or np.asarray(scale).size != 1 or np.asarray(zp).size != 1:
        return None
    return float(np.float32(np.asarray(scale).reshape(-1)[0])), int(np.asarray(zp).reshape(-1)[0])


def _recode_offset(graph: Graph, node: Node) -> int | None:
    """What a RecodeIntegers node (DequantizeLinear then QuantizeLinear, both of scale 1) adds to the
    codes; None for any other node."""
    body = node.meta.get("body") if node.op_type == "RecodeIntegers" else None
    if body is None:
        return None
    dq = next((n for n in body.nodes if n.op_type == "DequantizeLinear"), None)
    q = next((n for n in body.nodes if n.op_type == "QuantizeLinear"), None)
    zps = [graph.const(n.inputs[2]) if n is not None and len(n.inputs) > 2 and n.inputs[2] else None for n in (dq, q)]
    if any(z is None for z in zps):
        return None
    return int(np.asarray(zps[1]).reshape(-1)[0]) - int(np.asarray(zps[0]).reshape(-1)[0])


def io_layout(graph: Graph, name: str) -> str | None:
    """The layout of graph input or output ``name`` (e.g. "NHWC"): the recorded one, else inferred
    through elementwise ops, Transposes and Reshapes that only move axes of size 1 (tf2onnx writes a
    channels-last to channels-first Transpose of a one-channel image as such a Reshape). None when
    nothing along the way has a layout."""
    t = graph.tensors[name]
    if t.layout is not None:
        return t.layout
    consumers, producers = graph.consumers(), graph.producers()
    if name in graph.inputs:
        for node in consumers.get(name, [])[:_SEARCH_LIMIT]:
            if node.inputs and node.inputs[0] == name:
                layout = _layout_through(graph, node, backwards=True)
                if layout is not None:
                    return layout
        return None
    node = producers.get(name)
    # Only a first output follows its first input (an RNN's Y_h, say, does not; its Y may be omitted).
    if node is None or not node.inputs or not node.inputs[0] or node.outputs[0] != name:
        return None
    return _layout_through(graph, node, backwards=False)


def _layout_through(graph: Graph, node: Node, backwards: bool) -> str | None:
    """The layout of ``node``'s first input from its output's (backwards) or the other way round."""
    src, dst = (node.outputs[0], node.inputs[0]) if backwards else (node.inputs[0], node.outputs[0])
    if not src or not dst:  # an omitted optional output (an RNN's Y)
        return None
    known = graph.tensors[src].layout
    if known is None:
        return None
    src_shape, dst_shape = list(graph.tensors[src].shape), list(graph.tensors[dst].shape)
    if len(known) != len(src_shape):
        return None
    if node.op_type == "Transpose":
        perm = node.attrs.get("perm") or list(reversed(range(len(src_shape))))
        if backwards:  # out[i] = in[perm[i]]
            axes = [""] * len(perm)
            for i, p in enumerate(perm):
                axes[p] = known[i]
            return "".join(axes)
        return "".join(known[p] for p in perm)
    if node.op_type in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        return _unit_axes_moved(known, src_shape, dst_shape)
    spec = op_spec(node.op_type)
    elementwise = spec is not None and spec.layout in ("agnostic", "preserving")
    if (elementwise or node.op_type in _CODE_MAPS) and len(src_shape) == len(dst_shape):
        return known
    return None


def _unit_axes_moved(known: str, src: list[int], dst: list[int]) -> str | None:
    """The axes of ``dst`` when a reshape from ``src`` (layout ``known``) only moves axes of size 1:
    the other axes keep their order, the size-1 axes keep theirs (NCHW [1,1,49,10] is NHWC [1,49,10,1])."""
    if len(src) != len(dst) or [d for d in src if d != 1] != [d for d in dst if d != 1]:
        return None
    big = iter(a for a, d in zip(known, src) if d != 1)
    unit = iter(a for a, d in zip(known, src) if d == 1)
    return "".join(next(big) if d != 1 else next(unit) for d in dst)


def io_fields(graph: Graph, name: str) -> dict:
    """The fields model.h and metadata.json give each input and output beyond its name and shape."""
    t = graph.tensors[name]
    q = io_quantization(graph, name)
    fields = {"dtype_code": dtype_code(t.dtype),
              "layout": io_layout(graph, name),
              "scale": q[0] if q else None, "zero_point": q[1] if q else None}
    if q is not None:
        fields["qmin"], fields["qmax"] = QUANTIZED_RANGES[t.dtype]
    return fields


def dtype_code(dtype: str) -> int:
    """ONNX's TensorProto.DataType number of ``dtype``; narrow formats (float16, float8, int4...) too."""
    if dtype in FORMATS:
        return FORMATS[dtype].elem_type
    return onnx_elem_type(dtype)
