"""Scan of opset 8 keeps its meaning through the opset upgrade.

Scan-8 runs its body over a leading batch axis as well as the sequence axis (axis 1), with optional
per-batch sequence lengths. onnx's version converter turns it into a Scan-9 node by dropping the
sequence lengths and rewriting the declared shapes without the batch axis, but it does not remove
that axis from the tensors, so the upgraded model scans the batch axis instead. Before the upgrade,
each Scan-8 node is therefore split per batch element: Gather takes element b of every state and
scan input (no batch axis left), a Scan-8 node without sequence lengths runs on them (the converter
upgrades that one correctly), and Unsqueeze + Concat put the batch axis back on its outputs.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import AotError
from ..ir.names import unique_name


def unbatch_legacy_scans(model: onnx.ModelProto, model_name: str,
                         input_shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    """``model`` (opset 8) with each Scan node split per batch element; the model itself when it has none."""
    if not any(n.op_type == "Scan" and n.domain in ("", "ai.onnx") for n in model.graph.node):
        return model
    model = onnx.ModelProto.FromString(model.SerializeToString())  # edit a copy
    shapes = _declared_shapes(model, input_shapes)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    taken = {o for n in model.graph.node for o in list(n.input) + list(n.output)} | set(shapes) | set(inits)
    nodes: list[onnx.NodeProto] = []
    for node in model.graph.node:
        if node.op_type == "Scan" and node.domain in ("", "ai.onnx"):
            nodes += _split(node, shapes, inits, taken, model_name)
        else:
            nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def _declared_shapes(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]]) -> dict[str, list]:
    """Tensor name -> its dims (an int, or None when not static) as far as shape inference tells."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - an invalid model: the importer's own checks report it
        inferred = model
    shapes = {}
    for vi in list(inferred.graph.input) + list(inferred.graph.value_info):
        if vi.type.HasField("tensor_type") and vi.type.tensor_type.HasField("shape"):
            shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
    shapes.update({name: list(shape) for name, shape in input_shapes.items()})
    return shapes


def _fresh(base: str, taken: set[str]) -> str:
    return unique_name(base, taken, first_suffix=2)


def _split(node: onnx.NodeProto, shapes: dict[str, list], inits: dict[str, np.ndarray], taken: set[str],
           model_name: str) -> list[onnx.NodeProto]:
    label = node.name or node.output[0]
    m = next((a.i for a in node.attribute if a.name == "num_scan_inputs"), 0)
    data = list(node.input[1:])
    if m < 1 or len(data) < m:
        raise AotError(f"Scan (opset 8) has {len(data)} state and scan inputs, fewer than num_scan_inputs={m}",
                       model=model_name, node=label)
    first_scan = data[len(data) - m]
    dims = shapes.get(first_scan) or [None, None]
    batch = dims[0] if dims[0] is not None else 1  # a symbolic batch is 1, as the importer makes it
    if node.input[0]:
        lengths = inits.get(node.input[0])
        if lengths is None or dims[1] is None or np.any(np.asarray(lengths) != dims[1]):
            raise AotError("Scan (opset 8) with sequence_lens: aot unrolls only whole sequences (sequence_lens "
                           "must be a constant equal to the sequence length, or absent)", model=model_name, node=label)
    nodes: list[onnx.NodeProto] = []
    per_batch: list[list[str]] = [[] for _ in node.output]
    for b in range(batch):
        index = _fresh(f"{label}__batch{b}_index", taken)
        value = numpy_helper.from_array(np.array(b, np.int64), index)
        nodes.append(helper.make_node("Constant", [], [index], value=value))
        parts = []
        for name in data:
            part = _fresh(f"{name}__batch{b}", taken)
            nodes.append(helper.make_node("Gather", [name, index], [part], axis=0))
            parts.append(part)
        outs = [_fresh(f"{o or label + '_unused'}__batch{b}", taken) for o in node.output]
        scan = onnx.NodeProto()
        scan.CopyFrom(node)
        scan.name = f"{node.name}__batch{b}" if node.name else ""
        scan.input[:] = [""] + parts
        scan.output[:] = outs
        nodes.append(scan)
        for k, o in enumerate(outs):
            per_batch[k].append(o)
    for target, parts in zip(node.output, per_batch):
        if not target:
            continue
        if len(parts) == 1:
            nodes.append(helper.make_node("Unsqueeze", parts, [target], axes=[0]))
            continue
        unsqueezed = [_fresh(f"{p}__unsqueezed", taken) for p in parts]
        nodes += [helper.make_node("Unsqueeze", [p], [u], axes=[0]) for p, u in zip(parts, unsqueezed)]
        nodes.append(helper.make_node("Concat", unsqueezed, [target], axis=0))
    return nodes
