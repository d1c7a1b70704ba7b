"""QuantizeLinear / DequantizeLinear to and from the narrow formats, as the plain float ops they are.

A float8/float4 tensor is computed widened to float32 (aot/ir/formats.py), so DequantizeLinear is a
multiplication by the scale and QuantizeLinear a division followed by a Cast to the format (which
rounds to nearest even and saturates like the op). QuantizeLinear to int4/int2 is Div, Round, Add of
the zero point and Clip to the format's range (the int8 kernels would clip to int8's), then the Cast;
DequantizeLinear of a run-time int4/int2 tensor likewise. No integer kernel is involved, so the QDQ
lowering (aot/quant/) never sees these nodes; DequantizeLinear of constant int4/int2 weights (widened
to int8, exactly) stays for it.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx
from onnx import helper

from ..ir.dtypes import np_dtype_of, onnx_elem_type
from ..ir.formats import Format, narrow_format
from ..ir.names import unique_name


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _per_axis(scale: str, x_rank: int, scale_rank: int, axis: int, fresh: Callable[[str], str],
              add_const: Callable[[str, np.ndarray], str], nodes: list) -> str:
    """``scale`` (1-D, one value per index of ``axis``) reshaped to broadcast against x."""
    if scale_rank == 0 or x_rank <= 1:
        return scale
    axis = axis % x_rank
    shape = [1] * x_rank
    shape[axis] = -1
    shape_name = add_const(fresh(f"{scale}__shape"), np.array(shape, np.int64))
    out = fresh(f"{scale}__per_axis")
    nodes.append(helper.make_node("Reshape", [scale, shape_name], [out]))
    return out


# Quantized range of the small integer formats (QuantizeLinear saturates to it)
INT_RANGES = {"int4": (-8, 7), "uint4": (0, 15), "int2": (-2, 1), "uint2": (0, 3)}


def qdq_float_nodes(node: onnx.NodeProto, fmt: Format, x_rank: int, scale_rank: int, scale_type: int,
                    fresh: Callable[[str], str], add_const: Callable[[str, np.ndarray], str]) -> list[onnx.NodeProto] | None:
    """The plain ops ``node`` (Q or DQ with ``fmt`` on its quantized side) computes; None when a form is
    not covered (blocked quantization), which leaves the node to the usual checks. ``scale_type`` is the
    ONNX element type of the scale (and of Q's input)."""
    attrs = _attrs(node)
    if attrs.get("block_size", 0):
        return None
    axis = int(attrs.get("axis", 1))
    nodes: list[onnx.NodeProto] = []
    x, scale = node.input[0], node.input[1]
    zero_point = node.input[2] if len(node.input) > 2 and node.input[2] else None
    scale = _per_axis(scale, x_rank, scale_rank, axis, fresh, add_const, nodes)

    def with_zero_point(value: str, op: str, to: int, step: str) -> str:
        """``op``(value, zero point cast to ``to`` and laid along the axis), named x__``step``."""
        zp = fresh(f"{zero_point}__wide")
        nodes.append(helper.make_node("Cast", [zero_point], [zp], to=to))
        zp = _per_axis(zp, x_rank, scale_rank, axis, fresh, add_const, nodes)
        out = fresh(f"{x}__{step}")
        nodes.append(helper.make_node(op, [value, zp], [out]))
        return out

    if node.op_type == "DequantizeLinear":
        out_type = int(attrs.get("output_dtype", 0)) or scale_type
        wide = fresh(f"{x}__dequantized")
        nodes.append(helper.make_node("Cast", [x], [wide], to=out_type))
        if zero_point is not None:  # zero for float8 (checked by onnx); E2M1 may have one
            wide = with_zero_point(wide, "Sub", out_type, "centred")
        nodes.append(helper.make_node("Mul", [wide, scale], [node.output[0]]))
        return nodes
    scaled = fresh(f"{x}__scaled")
    nodes.append(helper.make_node("Div", [x, scale], [scaled]))
    if not fmt.is_float:  # rint, + zero point, saturate to the format's range
        rounded = fresh(f"{x}__rounded")
        nodes.append(helper.make_node("Round", [scaled], [rounded]))
        if zero_point is not None:
            rounded = with_zero_point(rounded, "Add", scale_type, "shifted")
        real = onnx.helper.tensor_dtype_to_np_dtype(scale_type)
        lo, hi = (add_const(fresh(f"{x}__{end}"), np.array(v, real)) for end, v in zip(("lo", "hi"), INT_RANGES[fmt.name]))
        clipped = fresh(f"{x}__clipped")
        nodes.append(helper.make_node("Clip", [rounded, lo, hi], [clipped]))
        nodes.append(helper.make_node("Cast", [clipped], [node.output[0]], to=fmt.elem_type))
        return nodes
    if zero_point is not None and fmt.c_suffix == "e2m1":  # the reference adds it for float4 only
        scaled = with_zero_point(scaled, "Add", onnx.TensorProto.FLOAT, "shifted")
    cast = {"to": fmt.elem_type}
    if fmt.is_float8:
        cast["saturate"] = int(attrs.get("saturate", 1))
    nodes.append(helper.make_node("Cast", [scaled], [node.output[0]], **cast))
    return nodes


def qdq_as_float_ops(node: onnx.NodeProto, tensor: Callable[[str], object], onnx_dtype: Callable[[str], str],
                     add_const: Callable[[str, np.ndarray], str],
                     names_in_use: Callable[[], set[str]]) -> list[onnx.NodeProto] | None:
    """Q/DQ to/from float8 or float4, Q to int4/int2 and DQ of a run-time int4/int2 tensor, as the float
    ops it computes; None for every other node. ``tensor``/``onnx_dtype`` look up an ONNX tensor name's
    IR tensor and ONNX dtype; ``names_in_use()`` gives the names taken (new ones avoid them; asked only
    for a node that is rewritten)."""
    if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.domain not in ("", "ai.onnx") or \
            len(node.input) < 2:
        return None
    if node.op_type == "DequantizeLinear":
        quantized = onnx_dtype(node.input[0])
    elif len(node.input) > 2 and node.input[2]:
        quantized = onnx_dtype(node.input[2])
    else:
        to = next((a.i for a in node.attribute if a.name == "output_dtype"), 0)
        quantized = np_dtype_of(to) if to else "uint8"
    fmt = narrow_format(quantized)
    x, scale = tensor(node.input[0]), tensor(node.input[1])
    if fmt is None or fmt.name in ("float16", "bfloat16") or \
            (not fmt.is_float and node.op_type == "DequantizeLinear" and x.is_constant):
        return None  # not a quantized format here; constant int4 weights stay for the QDQ lowering
    taken = names_in_use()
    return qdq_float_nodes(node, fmt, len(x.shape), len(scale.shape), onnx_elem_type(onnx_dtype(node.input[1])),
                           lambda base: unique_name(base, taken), add_const)
