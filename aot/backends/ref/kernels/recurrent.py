"""Float LSTM, GRU and RNN: every direction, ONNX Runtime's activations, clip, input_forget,
linear_before_reset, peepholes, initial states and last-state outputs, layout 0 and 1.

One loop nest per direction (its activations differ), time steps in order (reversed for the reverse
direction), one batch row at a time: the gate pre-activations W x + R h + biases go to the scratch,
then the gate functions update the state, which lives in the scratch too ([B][H] hidden, [B][H]
cell). The states start from initial_h / initial_c and end in Y_h / Y_c, so a caller can stream a
sequence in chunks, feeding the last states back. Weights are ordinary (constant) operands."""
from __future__ import annotations

import numpy as np

from ....codegen.cformat import c_float
from ....ir import Graph, Node
from ....ops.recurrent import Activation, activations, recurrent_dims
from .. import REF

INPUTS = ("X", "W", "R", "B", "seq_lens", "H0", "C0", "P")  # C parameter names, by ONNX input position
# ONNX Runtime's LSTM and GRU clip every gate pre-activation, to +-FLT_MAX when no clip is given,
# with selects under which a NaN becomes +clip (a NaN input saturates the gates rather than
# propagating, and an infinity becomes FLT_MAX); its RNN clips only when asked and lets a NaN through.
CLIP_NAN_TO_BOUND = {"LSTM": True, "GRU": True, "RNN": False}


def activation_c(a: Activation, v: str) -> str:
    """C expression of activation ``a`` applied to the variable ``v``, as ONNX Runtime's rnn_helpers
    computes it (std::min/std::max argument order decides what a NaN gives)."""
    alpha, beta = c_float(a.alpha), c_float(a.beta)
    u = f"({alpha} * {v} + {beta})"
    return "(" + {
        "affine": f"{alpha} * {v} + {beta}",
        "relu": f"(0.0f < {v} ? {v} : 0.0f)",  # std::max(0.0f, v): NaN -> 0
        "leakyrelu": f"({v} >= 0.0f ? {v} : {alpha} * {v})",
        "thresholdedrelu": f"({v} > {alpha} ? {v} : 0.0f)",
        "tanh": f"tanhf({v})",
        "scaledtanh": f"{alpha} * tanhf({beta} * {v})",
        "sigmoid": f"1.0f / (1.0f + expf(-{v}))",
        # std::min(1, std::max(0, alpha v + beta)): NaN -> 0
        "hardsigmoid": f"(0.0f < {u} ? ({u} < 1.0f ? {u} : 1.0f) : 0.0f)",
        "elu": f"({v} >= 0.0f ? {v} : {alpha} * (expf({v}) - 1.0f))",
        "softsign": f"{v} / (1.0f + fabsf({v}))",
        "softplus": f"logf(expf({v}) + 1.0f)",
    }[a.name] + ")"


def _present(node: Node, index: int) -> bool:
    return index < len(node.inputs) and bool(node.inputs[index])


def recurrent_params(node: Node, graph: Graph) -> dict:
    d = recurrent_dims(graph, node)
    S, B, I, H, D, G = (d[k] for k in "SBIHDG")
    layout = int(node.attrs.get("layout", 0))
    direction = node.attrs.get("direction", "forward")
    present = [role for role, name in zip(("Y", "Y_h", "Y_c"), node.outputs) if name]
    outs = {role: f"out{k}" for k, role in enumerate(present)}
    clip = node.attrs.get("clip")
    acts = activations(node)
    dirs = []
    for k in range(D):
        reverse = direction == "reverse" or (direction == "bidirectional" and k == 1)
        dirs.append({"index": k, "reverse": reverse, "name": "reverse" if reverse else "forward",
                     "f": [lambda v, a=a: activation_c(a, v) for a in acts[k]]})
    return {
        "op": node.op_type, "S": S, "B": B, "I": I, "H": H, "D": D, "G": G, "GH": G * H, "dirs": dirs,
        "out_param": outs, "has_bias": _present(node, 3), "has_h0": _present(node, 5), "has_c0": _present(node, 6),
        "has_p": _present(node, 7), "clip_value": c_float(clip) if clip is not None else None,
        "clip_nan": CLIP_NAN_TO_BOUND[node.op_type], "flt_max": c_float(np.finfo(np.float32).max),
        "input_forget": bool(node.attrs.get("input_forget", 0)),
        "linear_before_reset": bool(node.attrs.get("linear_before_reset", 0)),
        # C index expressions of the row of time t, batch b (direction d) in X, Y and the states
        "x_off": f"(b * {S} + t) * {I}" if layout else f"(t * {B} + b) * {I}",
        "y_off": (lambda dd: f"((b * {S} + t) * {D} + {dd}) * {H}") if layout
        else (lambda dd: f"((t * {D} + {dd}) * {B} + b) * {H}"),
        "s_off": (lambda dd: f"(b * {D} + {dd}) * {H}") if layout else (lambda dd: f"({dd * B} + b) * {H}"),
    }


def recurrent_scratch(node: Node, graph: Graph) -> int:
    d = recurrent_dims(graph, node)
    states = 2 if node.op_type == "LSTM" else 1
    extra = d["H"] if node.op_type == "GRU" else 0  # r (.) h, or R_h h + Rb_h
    return 4 * (states * d["B"] * d["H"] + d["G"] * d["H"] + extra)


def recurrent_check(node: Node, graph: Graph) -> str | None:
    if _present(node, 4):
        lens = np.asarray(graph.const(node.inputs[4])).reshape(-1)
        seq = recurrent_dims(graph, node)["S"]
        if np.any(lens != seq):
            return (f"sequence_lens {lens.tolist()} differ from the sequence length {seq}: aot computes "
                    f"full-length sequences only (pad the batch to one length, or run it row by row)")
    return None


REF.kernel("LSTM", "GRU", "RNN", template="ref/recurrent.c.j2", static_inputs=(4,), check=recurrent_check,
           scratch_bytes=recurrent_scratch, input_names=INPUTS)(recurrent_params)
