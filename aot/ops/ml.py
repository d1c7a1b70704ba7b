"""Classic-ML ops of the ``ai.onnx.ml`` domain with numeric data: Binarizer, ArrayFeatureExtractor,
LabelEncoder (numeric keys and values; string tensors are not compiled) and TreeEnsemble (opset 5).
The op table lists them as "ai.onnx.ml.<op>" (their kernels' domain)."""
from __future__ import annotations

import numpy as np
from onnx import numpy_helper

from ..ir import Graph, Node
from .common import output_size
from .registry import register_op
from .spec import OpSpec

DOMAIN = "ai.onnx.ml"
MODES = ("BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ", "BRANCH_MEMBER")
MEMBER = 6


def tensor_attr(node: Node, name: str) -> np.ndarray | None:
    value = node.attrs.get(name)
    if value is None:
        return None
    return numpy_helper.to_array(value) if hasattr(value, "data_type") else np.asarray(value)


def label_encoder_table(node: Node) -> tuple[np.ndarray, np.ndarray, np.ndarray] | str:
    """(keys, values, default) of a numeric LabelEncoder, or why it is not one."""
    keys = next((tensor_attr(node, k) for k in ("keys_tensor", "keys_int64s", "keys_floats") if k in node.attrs), None)
    values = next((tensor_attr(node, k) for k in ("values_tensor", "values_int64s", "values_floats")
                   if k in node.attrs), None)
    if keys is None or values is None:
        return "keys and values must be numeric (keys_int64s, keys_floats or keys_tensor; values likewise)"
    if keys.dtype.kind not in "iuf" or values.dtype.kind not in "iuf":
        return f"{keys.dtype.name} keys to {values.dtype.name} values: aot compiles numeric tensors only"
    if keys.size != values.size:
        return f"{keys.size} keys for {values.size} values"
    default = tensor_attr(node, "default_tensor")
    if default is None:
        if values.dtype.kind == "f":
            default = np.asarray(node.attrs.get("default_float", -0.0))
        else:
            default = np.asarray(node.attrs.get("default_int64", -1))
    return keys.reshape(-1), values.reshape(-1), default.reshape(-1)[:1]


def validate_label_encoder(graph: Graph, node: Node) -> str | None:
    table = label_encoder_table(node)
    if isinstance(table, str):
        return table
    for what, name, array in (("keys", node.inputs[0], table[0]), ("values", node.outputs[0], table[1])):
        dtype = graph.tensors[name].dtype
        if (array.dtype.kind == "f") != dtype.startswith("float"):
            return f"{array.dtype.name} {what} for a {dtype} tensor (ONNX has them of one type)"
    return None


def tree_walk_problem(node: Node, n_features: int) -> str | None:
    """Why the TreeEnsemble's node and leaf arrays do not describe finite trees over the input's
    features (an index out of range, a cycle, too few set members), or None."""
    ints = {k: list(node.attrs.get(k, [])) for k in ("nodes_featureids", "nodes_truenodeids", "nodes_falsenodeids",
                                                      "nodes_trueleafs", "nodes_falseleafs", "leaf_targetids",
                                                      "tree_roots")}
    modes, splits, weights = (tensor_attr(node, k) for k in ("nodes_modes", "nodes_splits", "leaf_weights"))
    if modes is None or splits is None or weights is None:
        return "nodes_modes, nodes_splits and leaf_weights are required"
    n_nodes, n_leaves = len(ints["nodes_featureids"]), len(ints["leaf_targetids"])
    for key in ("nodes_truenodeids", "nodes_falsenodeids", "nodes_trueleafs", "nodes_falseleafs"):
        if len(ints[key]) != n_nodes:
            return f"{key} has {len(ints[key])} entries for {n_nodes} nodes"
    if modes.size != n_nodes or splits.size != n_nodes or weights.size != n_leaves:
        return "nodes_modes, nodes_splits (one per node) and leaf_weights (one per leaf) disagree in length"
    if any(not 0 <= m <= MEMBER for m in modes.reshape(-1).tolist()):
        return f"nodes_modes {modes.tolist()} has values outside 0..6 ({', '.join(MODES)})"
    if any(not 0 <= f < n_features for f in ints["nodes_featureids"]):
        return f"nodes_featureids {ints['nodes_featureids']} address features outside the input's {n_features}"
    n_targets = int(node.attrs.get("n_targets", 0))
    if any(not 0 <= t < n_targets for t in ints["leaf_targetids"]):
        return f"leaf_targetids {ints['leaf_targetids']} address targets outside n_targets={n_targets}"
    members = tensor_attr(node, "membership_values")
    sets = int(np.isnan(members).sum()) if members is not None else 0
    if sets < int((modes == MEMBER).sum()):
        return f"{int((modes == MEMBER).sum())} set membership nodes, {sets} NaN-terminated sets in membership_values"
    if int(node.attrs.get("post_transform", 0)) != 0:
        return f"post_transform {node.attrs['post_transform']}: aot compiles NONE (0) only"
    if int(node.attrs.get("aggregate_function", 1)) not in (0, 1, 2, 3):
        return f"aggregate_function {node.attrs['aggregate_function']} is not 0..3 (AVERAGE, SUM, MIN, MAX)"
    if not ints["tree_roots"]:
        return "no tree_roots"
    for root in ints["tree_roots"]:
        if not 0 <= root < n_nodes:
            return f"tree root {root} is not a node"
        stack, seen = [(root, 0)], 0
        while stack:  # every path ends in a leaf within n_nodes steps, else there is a cycle
            index, depth = stack.pop()
            seen += 1
            if depth > n_nodes or seen > 4 * n_nodes * n_nodes + 4:
                return f"tree {root} has a cycle"
            for nxt, leaf in ((ints["nodes_truenodeids"][index], ints["nodes_trueleafs"][index]),
                              (ints["nodes_falsenodeids"][index], ints["nodes_falseleafs"][index])):
                if leaf:
                    if not 0 <= nxt < n_leaves:
                        return f"node {index} names leaf {nxt}; there are {n_leaves}"
                elif not 0 <= nxt < n_nodes:
                    return f"node {index} names node {nxt}; there are {n_nodes}"
                else:
                    stack.append((nxt, depth + 1))
    return None


def validate_tree_ensemble(graph: Graph, node: Node) -> str | None:
    x = graph.tensors[node.inputs[0]].shape
    if len(x) != 2:
        return f"input of shape {list(x)}: TreeEnsemble takes [N, features]"
    return tree_walk_problem(node, x[1])


def _tree_macs(graph: Graph, node: Node) -> int:
    return graph.tensors[node.inputs[0]].shape[0] * len(node.attrs.get("nodes_featureids", []))


register_op(OpSpec(f"{DOMAIN}.Binarizer", "ml", macs=output_size))
register_op(OpSpec(f"{DOMAIN}.ArrayFeatureExtractor", "ml"))
register_op(OpSpec(f"{DOMAIN}.LabelEncoder", "ml", macs=output_size, validate=validate_label_encoder))
register_op(OpSpec(f"{DOMAIN}.TreeEnsemble", "ml", macs=_tree_macs, validate=validate_tree_ensemble))
