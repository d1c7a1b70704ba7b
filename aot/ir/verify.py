"""Graph invariants, checked after every pass in debug mode."""
from __future__ import annotations

import re

import numpy as np

from ..errors import AotError
from .graph import Graph
from .names import is_reserved

_C_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


class VerificationError(AotError):
    pass


def verify(graph: Graph, after: str | None = None) -> None:
    """Raise VerificationError naming the first broken invariant."""
    where = f" (after pass '{after}')" if after else ""

    def fail(msg: str) -> None:
        raise VerificationError(msg + where, model=graph.source or graph.name)

    for name, t in graph.tensors.items():
        if name != t.name:
            fail(f"tensor registered as '{name}' is named '{t.name}'")
        if not _C_IDENT.fullmatch(name) or is_reserved(name):
            fail(f"tensor name '{name}' is not a C identifier")
        if any((not isinstance(d, int)) or d < 0 for d in t.shape):
            fail(f"tensor '{name}' has a non-static shape {t.shape}")
        if t.data is not None and tuple(t.data.shape) != t.shape:
            fail(f"constant '{name}' data shape {t.data.shape} differs from its shape {t.shape}")
        if t.data is not None and t.data.dtype != np.dtype(t.dtype):
            fail(f"constant '{name}' data dtype {t.data.dtype} differs from its dtype {t.dtype}")
        if t.layout is not None and len(t.layout) != len(t.shape):
            fail(f"tensor '{name}' layout {t.layout} does not match rank {len(t.shape)}")

    defined = set(graph.inputs) | {n for n, t in graph.tensors.items() if t.is_constant}
    for i in graph.inputs:
        if i not in graph.tensors:
            fail(f"graph input '{i}' has no tensor")
    node_names = set()
    for node in graph.nodes:
        if node.name in node_names:
            fail(f"two nodes are named '{node.name}'")
        node_names.add(node.name)
        for i in node.inputs:
            if i and i not in defined:
                fail(f"node '{node.name}' reads '{i}' before it is produced (cycle or bad order)")
        for o in node.outputs:
            if not o:
                continue
            if o not in graph.tensors:
                fail(f"node '{node.name}' writes unknown tensor '{o}'")
            if o in defined:
                fail(f"tensor '{o}' is produced twice (second time by '{node.name}')")
            defined.add(o)
    for o in graph.outputs:
        if o not in defined:
            fail(f"graph output '{o}' is never produced")
