"""Hardmax before opset 13 keeps its meaning through the opset upgrade.

Before opset 13, Hardmax coerced its input to 2-D at ``axis`` ([prod(dims before axis), prod(the
rest)]) and marked one maximum over the whole second part; from opset 13 it works along the one axis.
onnx's version converter keeps the node as it is, which changes the result for an axis that is not
the last. Each such node becomes Flatten(axis) -> Hardmax(axis=1) -> Reshape(to the input's shape),
the same computation in nodes whose meaning the upgrade keeps.
"""
from __future__ import annotations

import onnx
from onnx import helper


def coerce_legacy_hardmax(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` (opset below 13) with its Hardmax nodes spelled as Flatten -> Hardmax -> Reshape."""
    if not any(n.op_type == "Hardmax" and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())  # the caller's model stays as it is
    nodes = []
    for node in model.graph.node:
        if node.op_type != "Hardmax" or node.domain not in ("", "ai.onnx"):
            nodes.append(node)
            continue
        axis = next((helper.get_attribute_value(a) for a in node.attribute if a.name == "axis"), 1)
        x, y = node.input[0], node.output[0]
        stem = f"{y}__hardmax2d"
        nodes += [helper.make_node("Flatten", [x], [f"{stem}_in"], name=f"{stem}_flatten", axis=axis),
                  helper.make_node("Hardmax", [f"{stem}_in"], [f"{stem}_out"], name=node.name or stem, axis=1),
                  helper.make_node("Shape", [x], [f"{stem}_shape"], name=f"{stem}_shape"),
                  helper.make_node("Reshape", [f"{stem}_out", f"{stem}_shape"], [y], name=f"{stem}_reshape")]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model
