"""Float statistics normalisations: LayerNormalization, RMSNormalization (per row of the trailing
axes), GroupNormalization and InstanceNormalization (per sample and channel group), and LRN (across
channels). Statistics are accumulated in float32 in two passes (mean, then squared deviations),
which stays accurate where a one-pass sum of squares would cancel."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_array_body, c_float
from ....ir import Graph, Node
from ....ops.normalization import group_norm_per_group
from .. import REF


def _present_params(node: Node, roles: tuple[str, ...]) -> dict[str, str]:
    """role -> C parameter of each present output: the first is Y, the k-th present one out{k}
    (kernel_arguments names outputs by their position among the present ones)."""
    present = [role for role, name in zip(roles, node.outputs) if name]
    return {role: ("Y" if k == 0 else f"out{k}") for k, role in enumerate(present)}


def _operand(node: Node, graph: Graph, idx: int, param: str, normalized: tuple[int, ...]) -> dict | None:
    """How the kernel reads Scale/B at element i of a normalised row: the runtime pointer when the
    operand has the row's size or one value, else (a broadcast constant) a table expanded at compile
    time. None when the operand is absent."""
    if idx >= len(node.inputs) or not node.inputs[idx]:
        return None
    t = graph.tensors[node.inputs[idx]]
    size = int(np.prod(normalized, dtype=np.int64))
    if t.size == size:
        return {"expr": f"{param}[i]", "table": None, "param": param}
    if t.size == 1:
        return {"expr": f"{param}[0]", "table": None, "param": param}
    data = graph.const(node.inputs[idx])
    table = np.broadcast_to(np.asarray(data, np.float32), normalized)
    return {"expr": f"{param.lower()}_b[i]", "table": c_array_body(table), "param": param}


def _broadcast_check(node: Node, graph: Graph) -> str | None:
    shape = graph.tensors[node.inputs[0]].shape
    normalized = shape[int(node.attrs.get("axis", -1)) % len(shape):]
    size = int(np.prod(normalized, dtype=np.int64))
    for idx in (1, 2):
        if idx < len(node.inputs) and node.inputs[idx]:
            t = graph.tensors[node.inputs[idx]]
            if t.size not in (1, size) and not t.is_constant:
                return (f"input {idx} ('{t.name}', shape {list(t.shape)}) broadcasts over part of the normalised "
                        f"shape {list(normalized)} and is computed at run time (a constant is expanded)")
    return None


def row_norm_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    axis = int(node.attrs.get("axis", -1)) % len(shape)
    normalized = tuple(shape[axis:])
    outer = int(np.prod(shape[:axis], dtype=np.int64))
    d = int(np.prod(normalized, dtype=np.int64))
    rms = node.op_type == "RMSNormalization"
    return {"kind": "rms" if rms else "layer", "outer": outer, "D": d, "Dc": c_float(d),
            "eps": c_float(node.attrs.get("epsilon", 1e-5)),
            "scale": _operand(node, graph, 1, "Scale", normalized),
            "bias": None if rms else _operand(node, graph, 2, "B", normalized),
            "stats": _present_params(node, ("y", "mean", "inv_std"))}


def group_norm_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    n, c = shape[0], shape[1]
    sp = int(np.prod(shape[2:], dtype=np.int64))
    instance = node.op_type == "InstanceNormalization"
    groups = c if instance else int(node.attrs["num_groups"])
    per_group = not instance and group_norm_per_group(graph)
    count = c // groups * sp
    return {"kind": "group", "N": n, "C": c, "G": groups, "CG": c // groups, "SP": sp, "M": count,
            "Mc": c_float(count), "eps": c_float(node.attrs.get("epsilon", 1e-5)),
            "param_index": "g" if per_group else "ch", "stats": {}}


def lrn_params(node: Node, graph: Graph) -> dict:
    shape = graph.tensors[node.inputs[0]].shape
    size = int(node.attrs["size"])
    alpha, beta, bias = (float(node.attrs.get(k, v)) for k, v in (("alpha", 1e-4), ("beta", 0.75), ("bias", 1.0)))
    return {"N": shape[0], "C": shape[1], "SP": int(np.prod(shape[2:], dtype=np.int64)),
            "before": (size - 1) // 2, "after": size // 2,  # floor and ceil of (size - 1) / 2
            "alpha_over_size": c_float(np.float32(alpha) / np.float32(size)), "neg_beta": c_float(-beta),
            "bias": c_float(bias)}


REF.kernel("LayerNormalization", "RMSNormalization", template="ref/norm.c.j2", check=_broadcast_check,
           input_names=("X", "Scale", "B"), output_names=("Y",))(row_norm_params)
REF.kernel("GroupNormalization", "InstanceNormalization", template="ref/norm.c.j2",
           input_names=("X", "Scale", "B"), output_names=("Y",))(group_norm_params)
REF.kernel("LRN", template="ref/lrn.c.j2", input_names=("X",), output_names=("Y",))(lrn_params)
