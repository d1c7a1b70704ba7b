"""IR -> ONNX, for Netron and for cross-checking passes in ONNX Runtime.

Non-ONNX annotations are expanded back into standard nodes: a fused activation becomes the op
followed by its activation node; keys starting with "_" are compiler-private and dropped.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .dtypes import onnx_elem_type
from .graph import Graph, Node


def _value_info(graph: Graph, name: str) -> onnx.ValueInfoProto:
    t = graph.tensors[name]
    return helper.make_tensor_value_info(name, onnx_elem_type(t.dtype), list(t.shape))


def _onnx_attrs(node: Node) -> dict:
    return {k: v for k, v in node.attrs.items() if k != "activation" and not k.startswith("_")}


def _expand(node: Node) -> list[onnx.NodeProto]:
    act = node.attrs.get("activation")
    if not act:
        return [helper.make_node(node.op_type, node.inputs, node.outputs, name=node.name,
                                 domain=node.domain or None, **_onnx_attrs(node))]
    pre = node.outputs[0] + "__pre_" + act["op_type"].lower()
    base = helper.make_node(node.op_type, node.inputs, [pre] + node.outputs[1:], name=node.name,
                            domain=node.domain or None, **_onnx_attrs(node))
    act_inputs = [pre]
    extra_inits = []
    attrs = dict(act.get("attrs", {}))
    if act["op_type"] == "Clip":  # opset >= 11 takes bounds as inputs
        lo, hi = attrs.pop("min", None), attrs.pop("max", None)
        for tag, v in (("min", lo), ("max", hi)):
            if v is None:
                act_inputs.append("")
            else:
                cname = f"{node.outputs[0]}__clip_{tag}"
                extra_inits.append(numpy_helper.from_array(np.array(v, np.float32), cname))
                act_inputs.append(cname)
    activation = helper.make_node(act["op_type"], act_inputs, [node.outputs[0]],
                                  name=node.name + "__" + act["op_type"].lower(), **attrs)
    activation.__dict__["_inits"] = extra_inits  # carried to to_onnx below
    return [base, activation]


def to_onnx(graph: Graph, opset: int | None = None) -> onnx.ModelProto:
    opset = max(opset or graph.opset, 13)
    nodes, inits = [], []
    for n in graph.nodes:
        for p in _expand(n):
            inits.extend(p.__dict__.pop("_inits", []))
            nodes.append(p)
    used = {i for n in graph.nodes for i in n.inputs if i} | set(graph.outputs)
    for t in graph.tensors.values():
        if t.is_constant and t.name in used:
            inits.append(numpy_helper.from_array(np.asarray(t.data), t.name))
    produced = {o for n in graph.nodes for o in n.outputs if o} | set(graph.inputs)
    value_infos = [_value_info(graph, n) for n in sorted(produced - set(graph.inputs) - set(graph.outputs))]
    g = helper.make_graph(nodes, graph.name, [_value_info(graph, i) for i in graph.inputs],
                          [_value_info(graph, o) for o in graph.outputs], inits, value_info=value_infos)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="aot")
    model.ir_version = min(model.ir_version, 8)
    return model
