"""ai.onnx.ml kernels (aot/ops/ml.py): Binarizer (an elementwise map), ArrayFeatureExtractor (a
gather on the last axis, runtime indices clamped like every gather), LabelEncoder (a search in the
constant key table) and TreeEnsemble (the trees as constant node tables walked by a loop, no
recursion)."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_array_body, c_double, c_float
from ....ir import Graph, Node
from ....ir.dtypes import c_type
from ....ops.ml import DOMAIN, MEMBER, label_encoder_table, tensor_attr
from .. import REF

NUMERIC = ("float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64")


def _real(value: float, dtype: str) -> str:
    return c_double(value) if dtype == "float64" else c_float(value)


# -- Binarizer ----------------------------------------------------------------------------------------
def binarizer_params(node: Node, graph: Graph) -> dict:
    dtype = graph.tensors[node.inputs[0]].dtype
    threshold = float(node.attrs.get("threshold", 0.0))
    x = "x" if dtype in ("float32", "float64") else "(double)x"
    limit = _real(threshold, dtype) if dtype in ("float32", "float64") else c_double(threshold)
    return {"expr": f"({c_type(dtype)})({x} > {limit} ? 1 : 0)"}


REF.kernel("Binarizer", domain=DOMAIN, template="ref/unary.c.j2", dtypes=("float32", "float64", "int32", "int64"),
           plain=True, input_names=("X",), output_names=("Y",), name="binarizer")(binarizer_params)


# -- ArrayFeatureExtractor ------------------------------------------------------------------------------
def feature_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    dim = x.shape[-1] if x.shape else 1
    return {"outer": x.size // max(dim, 1), "dim": dim, "inner": 1, "count": graph.tensors[node.inputs[1]].size}


def _feature_check(node: Node, graph: Graph) -> str | None:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    if graph.tensors[node.inputs[1]].dtype != "int64":
        return "indices must be int64"
    if x.size == 0 or y.size != (x.size // (x.shape[-1] if x.shape else 1)) * graph.tensors[node.inputs[1]].size:
        return f"output shape {list(y.shape)} for data {list(x.shape)}"
    return None


REF.kernel("ArrayFeatureExtractor", domain=DOMAIN, template="ref/indexing/gather.c.j2", check=_feature_check,
           dtypes=NUMERIC, plain=True, input_names=("X", "I"), output_names=("Y",),
           name="array_feature_extractor")(feature_params)


# -- LabelEncoder ---------------------------------------------------------------------------------------
def label_encoder_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    keys, values, default = label_encoder_table(node)
    return {"keys": c_array_body(keys.astype(x.dtype)), "values": c_array_body(values.astype(y.dtype)),
            "default": c_array_body(default.astype(y.dtype)), "n": keys.size, "ctype_in": c_type(x.dtype),
            "ctype_out": c_type(y.dtype)}


def _label_check(node: Node, graph: Graph) -> str | None:
    table = label_encoder_table(node)
    if isinstance(table, str):
        return table
    return None if table[0].size else "no keys"


REF.kernel("LabelEncoder", domain=DOMAIN, template="ref/ml/label_encoder.c.j2", check=_label_check, dtypes=NUMERIC,
           plain=True, input_names=("X",), output_names=("Y",), name="label_encoder")(label_encoder_params)


# -- TreeEnsemble ---------------------------------------------------------------------------------------
def tree_params(node: Node, graph: Graph) -> dict:
    x, y = graph.tensors[node.inputs[0]], graph.tensors[node.outputs[0]]
    a = node.attrs
    modes = tensor_attr(node, "nodes_modes").reshape(-1).astype(np.int64)
    splits = tensor_attr(node, "nodes_splits").reshape(-1).astype(x.dtype)
    weights = tensor_attr(node, "leaf_weights").reshape(-1).astype(x.dtype)
    # next node per branch; a leaf is -1 - its index
    true_next = [-1 - t if leaf else t for t, leaf in zip(a["nodes_truenodeids"], a["nodes_trueleafs"])]
    false_next = [-1 - f if leaf else f for f, leaf in zip(a["nodes_falsenodeids"], a["nodes_falseleafs"])]
    # each set membership node's members: a range of the member table, the sets in node order
    members = tensor_attr(node, "membership_values")
    flat = [] if members is None else members.reshape(-1).tolist()
    set_start, set_count, table, cursor = [0] * len(modes), [0] * len(modes), [], 0
    for i, mode in enumerate(modes.tolist()):
        if mode != MEMBER:
            continue
        set_start[i] = len(table)
        while cursor < len(flat) and not np.isnan(flat[cursor]):
            table.append(flat[cursor])
            cursor += 1
        cursor += 1  # the NaN ending the set
        set_count[i] = len(table) - set_start[i]
    tracks = list(a.get("nodes_missing_value_tracks_true") or [0] * len(modes))
    roots = []
    for r in a["tree_roots"]:  # a root whose branches are the same leaf is that leaf (ONNX reference)
        degenerate = a["nodes_trueleafs"][r] and a["nodes_falseleafs"][r] and \
            a["nodes_truenodeids"][r] == a["nodes_falsenodeids"][r]
        roots.append(-1 - r if degenerate else r)
    aggregate = int(a.get("aggregate_function", 1))
    n_targets = y.shape[1]
    init = {0: 0.0, 1: 0.0, 2: float(np.finfo(x.dtype).max), 3: float(np.finfo(x.dtype).min)}[aggregate]
    ints = lambda v: c_array_body(np.asarray(v, np.int64))  # noqa: E731
    return {"rows": x.shape[0], "features": x.shape[1], "targets": n_targets, "n_nodes": len(modes),
            "n_trees": len(roots), "aggregate": aggregate, "init": _real(init, x.dtype), "ctype": c_type(x.dtype),
            "modes": ints(modes), "features_of": ints(a["nodes_featureids"]), "splits": c_array_body(splits),
            "true_next": ints(true_next), "false_next": ints(false_next), "tracks": ints(tracks),
            "set_start": ints(set_start), "set_count": ints(set_count),
            "members": c_array_body(np.asarray(table or [0], x.dtype)), "n_members": max(len(table), 1),
            "weights": c_array_body(weights), "targets_of": ints(a["leaf_targetids"]), "roots": ints(roots),
            "n_leaves": len(weights), "scale": _real(1.0 / len(roots), x.dtype)}


REF.kernel("TreeEnsemble", domain=DOMAIN, template="ref/ml/tree_ensemble.c.j2", dtypes=("float32", "float64"),
           input_names=("X",), output_names=("Y",), name="tree_ensemble")(tree_params)
