"""Precision tools: count layers of an op type (to address "layer k"), and recast chosen ops to
other input/output types with hard casts (TVM's relay.transform.recast semantics: useful to try an
op at another datatype, e.g. int8 or int16 inputs with int32 accumulator outputs)."""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from ..ir.dtypes import onnx_elem_type

CASTABLE = ("float32", "int8", "int16", "int32")


def count_layers(graph: Graph, op_type: str) -> int:
    """Number of ``op_type`` layers; layer k of that type is the k-th in schedule order."""
    return graph.count_ops(op_type)


def layers_of(graph: Graph, ops: Iterable[str], skip_layers: Iterable[int] = ()) -> list[Node]:
    """The layers of the given op types, minus the skipped indices (counted per op type)."""
    ops, skip = set(ops), set(skip_layers)
    seen: dict[str, int] = {}
    chosen = []
    for node in graph.nodes:
        if node.op_type not in ops:
            continue
        index = seen.get(node.op_type, 0)
        seen[node.op_type] = index + 1
        if index not in skip:
            chosen.append(node)
    return chosen


def _cast_node(graph: Graph, src: str, dtype: str, name: str) -> tuple[Node, str]:
    t = graph.tensors[src]
    out = graph.add_tensor(f"{src}_as_{dtype}", t.shape, dtype, layout=t.layout)
    return graph.make_node("Cast", [src], [out.name], {"to": onnx_elem_type(dtype)}, name=name), out.name


def recast(graph: Graph, dtype: str, out_dtype: str, ops: Iterable[str], skip_layers: Iterable[int] = ()) -> Graph:
    """Make the chosen ops read ``dtype`` inputs and write ``out_dtype`` outputs, casting back to the
    original types around them. Constant inputs are converted in place of a cast (bias-like inputs
    past the second take ``out_dtype``, the accumulator type). Hard casts: values are not rescaled."""
    for d in (dtype, out_dtype):
        if d not in CASTABLE:
            raise AotError(f"recast: dtype '{d}' is not one of {', '.join(CASTABLE)}")
    chosen = {id(n) for n in layers_of(graph, ops, skip_layers)}
    nodes: list[Node] = []
    for node in graph.nodes:
        if id(node) not in chosen:
            nodes.append(node)
            continue
        if node.attrs.get("activation"):
            raise AotError(f"recast: layer '{node.name}' has a fused {node.attrs['activation']['op_type']}; "
                           f"recast before fusing activations", model=graph.source, node=node.name)
        for idx, name in enumerate(node.inputs):
            if not name:
                continue
            target = dtype if idx < 2 else out_dtype
            t = graph.tensors[name]
            if t.dtype == target:
                continue
            if t.is_constant:
                info = np.iinfo(target) if target != "float32" else None
                data = np.asarray(t.data)
                if info is not None:
                    data = np.clip(np.trunc(data), info.min, info.max)
                node.inputs[idx] = graph.add_constant(f"{name}_{target}", data.astype(target), layout=t.layout).name
            else:
                cast, cast_out = _cast_node(graph, name, target, f"{node.name}_in{idx}_cast")
                nodes.append(cast)
                node.inputs[idx] = cast_out
        original = node.outputs[0]
        t = graph.tensors[original]
        if t.dtype != out_dtype:
            wide = graph.add_tensor(f"{original}_{out_dtype}", t.shape, out_dtype, layout=t.layout)
            node.outputs[0] = wide.name
            nodes.append(node)
            nodes.append(graph.make_node("Cast", [wide.name], [original], {"to": onnx_elem_type(t.dtype)},
                                         name=f"{node.name}_out_cast"))
        else:
            nodes.append(node)
    graph.nodes = nodes
    return graph
