"""Reading and checking quantization parameters from DequantizeLinear/QuantizeLinear nodes."""
from __future__ import annotations

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node, QuantParams

SUPPORTED_ACTIVATION_DTYPES = ("int8",)


def node_qparams(graph: Graph, node: Node, quantized: str) -> QuantParams:
    """Scale/zero point of a Q or DQ node; ``quantized`` is its integer-side tensor."""
    scale = graph.const(node.inputs[1])
    if scale is None:
        raise AotError(f"{node.op_type} takes its scale from '{node.inputs[1]}', which is computed at run "
                       f"time; aot needs constant scales to build integer kernels", model=graph.source,
                       node=node.name)
    zp_name = node.inputs[2] if len(node.inputs) > 2 else ""
    zp = graph.const(zp_name) if zp_name else None
    if zp_name and zp is None:
        raise AotError(f"{node.op_type} takes its zero point from '{zp_name}', which is computed at run time",
                       model=graph.source, node=node.name)
    qdtype = graph.tensors[quantized].dtype
    if zp is None:
        zp = np.zeros(np.asarray(scale).shape, dtype=qdtype)
    scale = np.asarray(scale, np.float32)
    axis = None
    if scale.size > 1 or scale.ndim == 1 and "axis" in node.attrs:
        rank = len(graph.tensors[quantized].shape)
        axis = int(node.attrs.get("axis", 1)) % rank
        channels = graph.tensors[quantized].shape[axis]
        if scale.ndim != 1 or scale.size != channels:
            raise AotError(f"{node.op_type} has a scale of shape {list(scale.shape)} for axis {axis} of "
                           f"'{quantized}' with {channels} channels; per-axis scales must be 1-D of that length",
                           model=graph.source, node=node.name)
        if np.asarray(zp).size not in (1, channels):
            raise AotError(f"{node.op_type} has {np.asarray(zp).size} zero points for {channels} channels",
                           model=graph.source, node=node.name)
        if scale.size == 1:
            axis = None
    if np.any(scale <= 0) or not np.all(np.isfinite(scale)):
        raise AotError(f"{node.op_type} has a non-positive or non-finite scale", model=graph.source, node=node.name)
    return QuantParams(scale.reshape(-1), np.asarray(zp).astype(np.int64).reshape(-1), axis)


def check_activation_dtype(graph: Graph, node: Node, tensor: str) -> None:
    dtype = graph.tensors[tensor].dtype
    if dtype not in SUPPORTED_ACTIVATION_DTYPES:
        raise AotError(f"activation '{tensor}' is quantized as {dtype}; aot's integer kernels take int8 "
                       f"activations only and rejects {dtype} (re-quantize the model with int8 activations, e.g. "
                       f"onnxruntime quantize_static(activation_type=QuantType.QInt8))",
                       model=graph.source, node=node.name)


def same_params(a: QuantParams | None, b: QuantParams | None) -> bool:
    if a is None or b is None:
        return False
    return (a.axis == b.axis and a.scale.shape == b.scale.shape and np.array_equal(a.scale, b.scale)
            and np.array_equal(a.zero_point, b.zero_point))


def per_tensor(q: QuantParams) -> bool:
    return q.axis is None and q.scale.size == 1
