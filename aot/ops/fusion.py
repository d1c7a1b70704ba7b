"""Fused activations: the ``attrs["activation"]`` description a producer carries, and its C, numpy and
int8 forms, all read from the activation's ``UnaryForm`` in the op table."""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from .registry import op_spec


def activation_spec(graph: Graph, act: Node) -> dict | None:
    """The activation node as a fusable description {"op_type", "attrs"}, or None when it is not a
    fusable map or its parameters are not compile-time constants."""
    spec = op_spec(act.op_type)
    if spec is None or spec.unary is None or not spec.unary.fusable:
        return None
    attrs = spec.unary.attrs(graph, act)
    return None if attrs is None else {"op_type": act.op_type, "attrs": attrs}


def _form(fused: dict):
    spec = op_spec(fused["op_type"])
    if spec is None or spec.unary is None:
        raise ValueError(f"no elementwise form for fused activation {fused['op_type']}")
    return spec.unary


def apply_activation_c(fused: dict | None, expr: str) -> str:
    """C expression applying a fused activation to ``expr`` (``expr`` itself when there is none)."""
    return _form(fused).c(expr, fused.get("attrs", {})) if fused else expr


def apply_activation_numpy(fused: dict | None, y: np.ndarray) -> np.ndarray:
    return _form(fused).numpy(y, fused.get("attrs", {})) if fused else y


def int8_activation_range(fused: dict) -> tuple[float, float]:
    """The real interval a fused activation clamps to, for int8 kernels' clamp bounds."""
    form = _form(fused)
    if form.int8_range is None:
        raise ValueError(f"{fused['op_type']} cannot be fused into an int8 kernel")
    return form.int8_range(fused.get("attrs", {}))
