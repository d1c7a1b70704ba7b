"""Narrow formats (float16, bfloat16, float8, float4, int4, int2) at import: the graph computes them
widened (aot/ir/formats.py); graph inputs and outputs keep the format's bits and are decoded/encoded
by a Cast at the boundary (aot/backends/ref/kernels/formats.py)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import onnx

from ..ir import Graph, Node
from ..ir.dtypes import np_dtype_of, onnx_elem_type
from ..ir.formats import Format, narrow_format

_ELEM_TYPES = frozenset(onnx.TensorProto.DataType.values())


def add_decoded_input(graph: Graph, name: str, shape: list[int], fmt: Format) -> str:
    """Graph input ``name`` in ``fmt`` (the caller's bits) and its wide twin, which the graph reads;
    returns the twin's IR name."""
    stored = graph.add_tensor(name, shape, fmt.name)
    graph.inputs.append(stored.name)
    wide = graph.add_tensor(f"{name}_{fmt.wide}", shape, fmt.wide, onnx_name=name)
    graph.nodes.append(graph.make_node("Cast", [stored.name], [wide.name], {"to": onnx_elem_type(fmt.wide)},
                                       name=f"decode_{name}"))
    return wide.name


def encode_output(graph: Graph, wide_name: str, onnx_name: str, fmt: Format) -> str:
    """The graph output ``onnx_name`` in ``fmt``, encoded from the wide tensor ``wide_name``; returns
    the output's IR name. A Cast to the same format that nothing else reads writes the bits itself."""
    wide = graph.tensors[wide_name]
    producer = next((n for n in graph.nodes if wide_name in n.outputs), None)
    readers = [n for n in graph.nodes if wide_name in n.inputs]
    wide_name = graph.rename_tensor(wide_name, f"{wide_name}_{fmt.wide}")
    stored = graph.add_tensor(onnx_name, wide.shape, fmt.name, onnx_name=onnx_name)
    if (producer is not None and producer.op_type == "Cast" and not readers and wide_name not in graph.outputs and
            narrow_format(_cast_target(producer)) == fmt and not wide.is_constant):
        producer.outputs = [stored.name if o == wide_name else o for o in producer.outputs]
        graph.remove_tensor(wide_name)
    else:
        graph.nodes.append(graph.make_node("Cast", [wide_name], [stored.name], {"to": fmt.elem_type},
                                           name=f"encode_{onnx_name}"))
    return stored.name


def _cast_target(node: Node) -> str:
    try:
        return np_dtype_of(int(node.attrs.get("to", 0)))
    except ValueError:
        return ""


def cast_like_as_cast(node: onnx.NodeProto, like: Format) -> onnx.NodeProto:
    """CastLike whose second input is in a narrow format, as the Cast it means: the second input is
    widened inside the graph, so its dtype no longer says which format to round to."""
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    return onnx.helper.make_node("Cast", [node.input[0]], list(node.output), name=node.name or None,
                                 to=like.elem_type, **attrs)


def bitcast_problem(node: onnx.NodeProto, onnx_dtype: Callable[[str], str]) -> str | None:
    """Why a BitCast from or to a narrow format cannot compile: the IR holds those formats widened, so
    their bits exist only at the graph boundary. ``onnx_dtype`` maps an ONNX tensor name to its dtype."""
    if node.op_type != "BitCast" or node.domain not in ("", "ai.onnx") or not node.input or not node.input[0]:
        return None
    to = next((a.i for a in node.attribute if a.name == "to"), 0)
    kinds = [onnx_dtype(node.input[0]), np_dtype_of(to) if to in _ELEM_TYPES else ""]
    narrow = [k for k in kinds if narrow_format(k)]
    return (f"BitCast from or to {' / '.join(narrow)}: aot computes narrow formats widened, so their bits "
            f"exist only at the graph boundary") if narrow else None


def onnx_value(data: np.ndarray, onnx_dtype: str | None) -> np.ndarray:
    """A widened constant back in its ONNX dtype (exact), for evaluating ONNX nodes on it."""
    return data.astype(onnx_dtype) if onnx_dtype and data.dtype.name != onnx_dtype else data
