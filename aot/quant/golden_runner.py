"""Execute an IR graph with the golden model: int8 ops by aot.quant.golden, everything else
(float ops, data movement on any dtype) by the ONNX reference implementation."""
from __future__ import annotations

import numpy as np
from onnx import helper

from ..frontend.node_eval import evaluate
from ..backends.registry import REGISTRY, is_channels_last
from ..ir import Graph, Node
from ..ir.composite import is_composite
from ..ops import apply_activation_numpy, is_layout_sensitive, op_spec
from . import golden
from .plain_qdq import is_plain


def _channels_first_view(node: Node, graph: Graph) -> tuple[Node, Graph]:
    """The same layer on channels-first tensors (and O, I, spatial... weights), for golden kernels
    written against ONNX's native layout; the integer arithmetic does not depend on the layout."""
    view = Graph(graph.name, graph.opset)
    view.rounding = graph.rounding
    names = []
    for idx, name in enumerate(node.inputs + node.outputs):
        if not name:
            names.append("")
            continue
        t = graph.tensors[name]
        shape, data, layout = t.shape, t.data, t.layout
        if layout and is_channels_last(layout):
            perm = [0, len(shape) - 1] + list(range(1, len(shape) - 1))
        elif layout and layout[-1] == "I" and len(shape) > 2:  # weights O, spatial..., I
            perm = [0, len(shape) - 1] + list(range(1, len(shape) - 1))
        else:
            perm = None
        if perm is not None:
            shape = tuple(shape[p] for p in perm)
            data = None if data is None else np.ascontiguousarray(data.transpose(perm))
            layout = None
        v = view.add_tensor(name, shape, t.dtype, layout=layout, data=data)
        v.quant = t.quant
        names.append(v.name)
    n_in = len(node.inputs)
    copy = Node(node.name, node.op_type, names[:n_in], names[n_in:], dict(node.attrs), node.domain, dict(node.meta))
    return copy, view


def _computes_integers(op_type: str) -> bool:
    """Integer arithmetic (a golden model is needed) rather than moving int8 values (ONNX's reference
    implementation moves them the same way)."""
    spec = op_spec(op_type)
    return spec is None or spec.int8 is None or spec.int8.rule not in ("data_movement", "pad")


def _kernel_golden(node: Node, graph: Graph):
    """The golden function a partitioned node's kernel brings with it (a plug-in's integer kernel), if any."""
    backend = node.meta.get("backend") or node.meta.get("composite_backend")
    if backend is None or backend not in REGISTRY.backends:
        return None
    kernel = REGISTRY.get(backend).kernel_for(node, graph)
    return kernel.golden if kernel is not None else None


def run_node(node: Node, graph: Graph, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    golden_fn = _kernel_golden(node, graph)
    if golden_fn is not None:
        acts = [values[i] for i in node.present_inputs if not graph.tensors[i].is_constant]
        return [np.asarray(golden_fn(node, graph, *acts))]
    if is_composite(node):
        body: Graph = node.meta["body"]
        return run_golden(body, [values[i] for i in body.inputs])
    x = graph.tensors[node.inputs[0]] if node.inputs and node.inputs[0] else None
    if (x is not None and is_layout_sensitive(node.op_type) and is_channels_last(x.layout)
            and graph.tensors[node.outputs[0]].dtype == "int8"):
        view_node, view = _channels_first_view(node, graph)
        rank = len(x.shape)
        to_first = [0, rank - 1] + list(range(1, rank - 1))
        to_last = [0] + list(range(2, rank)) + [1]
        acts = [values[i].transpose(to_first) for i in node.present_inputs if not graph.tensors[i].is_constant]
        y = golden.INT8_KERNELS[node.op_type](view_node, view, *acts)
        return [np.ascontiguousarray(np.asarray(y).transpose(to_last))]
    return _run_node(node, graph, values)


def _run_node(node: Node, graph: Graph, values: dict[str, np.ndarray]) -> list[np.ndarray]:
    out_dtype = graph.tensors[node.outputs[0]].dtype
    if node.op_type in golden.EDGE_KERNELS and not is_plain(node):  # plain Q/DQ: ONNX's reference below
        return [golden.EDGE_KERNELS[node.op_type](node, graph, values[node.inputs[0]])]
    if out_dtype == "int8" and node.op_type in golden.INT8_KERNELS:
        acts = [values[i] for i in node.present_inputs if not graph.tensors[i].is_constant]
        return [golden.INT8_KERNELS[node.op_type](node, graph, *acts)]
    if graph.tensors[node.outputs[0]].quant is not None and _computes_integers(node.op_type) and not is_plain(node):
        raise ValueError(f"no golden model for the int8 {node.op_type} '{node.name}': its kernel must bring "
                         f"one (Kernel.golden)")
    attrs = {k: v for k, v in node.attrs.items() if k != "activation" and not k.startswith("_")}
    proto = helper.make_node(node.op_type, node.inputs, node.outputs, **attrs)
    results = evaluate(proto, [(i, values[i]) for i in node.present_inputs], {"": max(graph.opset, 13)})
    return [apply_activation_numpy(node.attrs.get("activation"), np.asarray(r)) for r in results]


def run_golden(graph: Graph, feeds: list[np.ndarray]) -> list[np.ndarray]:
    values: dict[str, np.ndarray] = {n: t.data for n, t in graph.tensors.items() if t.is_constant}
    for name, value in zip(graph.inputs, feeds):
        values[name] = np.asarray(value).reshape(graph.tensors[name].shape).astype(graph.tensors[name].dtype)
    for node in graph.nodes:
        for name, value in zip([o for o in node.outputs if o], run_node(node, graph, values)):
            t = graph.tensors[name]
            values[name] = np.asarray(value).reshape(t.shape).astype(t.dtype, copy=False)
    return [values[o] for o in graph.outputs]
