"""Recurrent layers: LSTM, GRU and RNN (ONNX's forms, opset 14+ with ``layout``).

The activation functions an RNN may name, and how their alpha/beta are consumed, follow ONNX Runtime
(rnn_helpers): the activation_alpha / activation_beta lists are read in order by the activations that
take a parameter; a bidirectional layer lists both directions' functions (ONNX Runtime refuses one
direction's list there).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..ir import Graph, Node
from .registry import register_op
from .spec import OpSpec

# op -> (gates per direction, activations per direction, their defaults)
RECURRENT = {
    "LSTM": (4, 3, ("Sigmoid", "Tanh", "Tanh")),
    "GRU": (3, 2, ("Sigmoid", "Tanh")),
    "RNN": (1, 1, ("Tanh",)),
}
DIRECTIONS = {"forward": 1, "reverse": 1, "bidirectional": 2}

# activation (lower case) -> (takes alpha, takes beta, default alpha, default beta), as ONNX Runtime
ACTIVATIONS: dict[str, tuple[bool, bool, float, float]] = {
    "affine": (True, True, 0.0, 0.0),
    "relu": (False, False, 0.0, 0.0),
    "leakyrelu": (True, False, 0.01, 0.0),
    "thresholdedrelu": (True, False, 0.0, 0.0),
    "tanh": (False, False, 0.0, 0.0),
    "scaledtanh": (True, True, 0.0, 0.0),
    "sigmoid": (False, False, 0.0, 0.0),
    "hardsigmoid": (True, True, 0.2, 0.5),
    "elu": (True, False, 1.0, 0.0),
    "softsign": (False, False, 0.0, 0.0),
    "softplus": (False, False, 0.0, 0.0),
}


def activation_names(node: Node) -> list[str] | None:
    """The ``activations`` attribute as strings (the importer keeps STRINGS attributes as bytes)."""
    names = node.attrs.get("activations")
    if names is None:
        return None
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


@dataclass(frozen=True)
class Activation:
    name: str  # lower case, a key of ACTIVATIONS
    alpha: float
    beta: float


def activations(node: Node) -> list[list[Activation]]:
    """Per direction, the layer's activation functions with their parameters."""
    gates, count, defaults = RECURRENT[node.op_type]
    dirs = DIRECTIONS[node.attrs.get("direction", "forward")]
    names = activation_names(node) or list(defaults * dirs)
    alphas, betas = list(node.attrs.get("activation_alpha") or []), list(node.attrs.get("activation_beta") or [])
    out: list[Activation] = []
    for name in names:
        takes_alpha, takes_beta, alpha, beta = ACTIVATIONS[name.lower()]
        if takes_alpha and alphas:
            alpha = float(alphas.pop(0))
        if takes_beta and betas:
            beta = float(betas.pop(0))
        out.append(Activation(name.lower(), alpha, beta))
    return [out[d * count:(d + 1) * count] for d in range(dirs)]


def recurrent_dims(graph: Graph, node: Node) -> dict[str, int]:
    """seq, batch, input size, hidden size, directions, gates."""
    x = graph.tensors[node.inputs[0]].shape
    layout = int(node.attrs.get("layout", 0))
    gates = RECURRENT[node.op_type][0]
    w = graph.tensors[node.inputs[1]].shape
    hidden = int(node.attrs["hidden_size"]) if "hidden_size" in node.attrs else w[1] // gates
    seq, batch = (x[1], x[0]) if layout else (x[0], x[1])
    return {"S": seq, "B": batch, "I": x[2], "H": hidden, "D": DIRECTIONS.get(node.attrs.get("direction", "forward"), 1),
            "G": gates}


def validate_recurrent(graph: Graph, node: Node) -> str | None:
    op = node.op_type
    gates, count, _ = RECURRENT[op]
    direction = node.attrs.get("direction", "forward")
    if direction not in DIRECTIONS:
        return f"direction '{direction}' is not one of {', '.join(DIRECTIONS)}"
    layout = int(node.attrs.get("layout", 0))
    if layout not in (0, 1):
        return f"layout {layout} must be 0 ([seq, batch, ...]) or 1 ([batch, seq, ...])"
    x = graph.tensors[node.inputs[0]].shape
    if len(x) != 3:
        return f"X must have rank 3 ({'[batch, seq, input]' if layout else '[seq, batch, input]'}), it is {list(x)}"
    if len(node.inputs) < 3 or not node.inputs[1] or not node.inputs[2]:
        return "W and R are required"
    w = graph.tensors[node.inputs[1]].shape  # R is checked with the other operands below
    dirs = DIRECTIONS[direction]
    if len(w) != 3 or w[0] != dirs or w[1] % gates or w[2] != x[2]:
        return (f"W shape {list(w)} must be [{dirs}, {gates} x hidden_size, {x[2]}] (directions, gates x hidden, "
                f"input size)")
    hidden = w[1] // gates
    if "hidden_size" in node.attrs and int(node.attrs["hidden_size"]) != hidden:
        return f"hidden_size {node.attrs['hidden_size']} disagrees with W shape {list(w)} ({gates} gates)"
    if hidden < 1:
        return "hidden_size must be at least 1"
    d = recurrent_dims(graph, node)
    expected = {2: ("R", [dirs, gates * hidden, hidden]), 3: ("B", [dirs, 2 * gates * hidden]),
                4: ("sequence_lens", [d["B"]]),
                5: ("initial_h", [d["B"], dirs, hidden] if layout else [dirs, d["B"], hidden]),
                6: ("initial_c", [d["B"], dirs, hidden] if layout else [dirs, d["B"], hidden]),
                7: ("P", [dirs, 3 * hidden])}
    for idx, (label, shape) in expected.items():
        if idx < len(node.inputs) and node.inputs[idx] and list(graph.tensors[node.inputs[idx]].shape) != shape:
            return f"{label} shape {list(graph.tensors[node.inputs[idx]].shape)} must be {shape}"
    names = activation_names(node)
    if names is not None:
        unknown = [n for n in names if n.lower() not in ACTIVATIONS]
        if unknown:
            return f"activations {unknown} are not RNN activations ({', '.join(sorted(ACTIVATIONS))}, any case)"
        if len(names) != count * dirs:
            return (f"activations lists {len(names)} functions; {op} takes {count} per direction, {count * dirs} "
                    f"for a {direction} layer")
    clip = node.attrs.get("clip")
    if clip is not None and not float(clip) > 0:
        return f"clip {clip} must be positive"
    for flag in ("input_forget", "linear_before_reset"):
        if int(node.attrs.get(flag, 0)) not in (0, 1):
            return f"{flag} {node.attrs[flag]} must be 0 or 1"
    return None


def recurrent_macs(graph: Graph, node: Node) -> int:
    d = recurrent_dims(graph, node)
    return d["S"] * d["B"] * d["D"] * d["G"] * d["H"] * (d["I"] + d["H"])


for _op in RECURRENT:
    register_op(OpSpec(_op, "recurrent", validate=validate_recurrent, macs=recurrent_macs))
