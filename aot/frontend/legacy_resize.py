"""Resize and Upsample before opset 11 keep their meaning through the opset upgrade.

onnx's version converter turns them into opset-11 Resize nodes without coordinate_transformation_mode,
so they would run as half_pixel; before opset 11 they were asymmetric, and ONNX Runtime picks the
nearest pixel by flooring on axes that grow and by ceiling on axes that shrink. The modes are read
from the original nodes and written onto the converted ones (outputs keep their names).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import AotError

LEGACY = ("Resize", "Upsample")


def legacy_resize_attributes(model: onnx.ModelProto, model_name: str,
                             frozen: dict[str, np.ndarray] | None = None) -> dict[str, dict[str, str]]:
    """Output name -> the attributes its Resize must get after the upgrade (models before opset 11);
    ``frozen``: graph inputs given as constants."""
    inits = {t.name: t for t in model.graph.initializer}
    inits.update({name: numpy_helper.from_array(np.asarray(v), name) for name, v in (frozen or {}).items()})
    constants = {n.output[0]: n for n in model.graph.node if n.op_type == "Constant"}
    wanted: dict[str, dict[str, str]] = {}
    for node in model.graph.node:
        if node.op_type not in LEGACY or node.domain not in ("", "ai.onnx"):
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        mode = attrs.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        fixed = {"coordinate_transformation_mode": "asymmetric"}
        if mode == "nearest":
            scales = _scales(node, attrs, inits, constants)
            if scales is None:
                raise AotError(f"{node.op_type} (before opset 11) with scales computed at run time; its nearest "
                               f"pixel rule depends on them", model=model_name, node=node.name or node.output[0])
            grows, shrinks = any(s > 1 for s in scales), any(s < 1 for s in scales)
            if grows and shrinks:
                raise AotError(f"{node.op_type} (before opset 11) with scales {list(scales)} growing some axes and "
                               f"shrinking others: ONNX Runtime floors on the first and ceils on the second, which "
                               f"no opset-11 nearest_mode expresses", model=model_name, node=node.name or node.output[0])
            fixed["nearest_mode"] = "ceil" if shrinks else "floor"
        wanted[node.output[0]] = fixed
    return wanted


def apply_legacy_resize_attributes(model: onnx.ModelProto, wanted: dict[str, dict[str, str]]) -> None:
    for node in model.graph.node:
        if node.op_type == "Resize" and node.output and node.output[0] in wanted:
            keep = [a for a in node.attribute if a.name not in wanted[node.output[0]]]
            del node.attribute[:]
            node.attribute.extend(keep + [helper.make_attribute(k, v) for k, v in wanted[node.output[0]].items()])


def _scales(node: onnx.NodeProto, attrs: dict, inits: dict, constants: dict) -> np.ndarray | None:
    if "scales" in attrs:  # Upsample-7 keeps them as an attribute
        return np.asarray(attrs["scales"], np.float32)
    if len(node.input) < 2:
        return None
    name = node.input[1]
    if name in inits:
        return numpy_helper.to_array(inits[name]).reshape(-1)
    if name in constants:
        value = next((a for a in constants[name].attribute if a.name == "value"), None)
        return numpy_helper.to_array(value.t).reshape(-1) if value is not None else None
    return None
