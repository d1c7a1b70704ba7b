"""What a kernel template sees: its tensors as C parameters, the node's attributes, the fused
activation as a C expression builder, and the kernel's own parameters."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backends.registry import Kernel
from ..ir import Graph, Node, Tensor
from ..ir.dtypes import c_type
from ..ops import apply_activation_c
from .cformat import strides


@dataclass
class TensorArg:
    """A tensor as a kernel template sees it."""

    param: str  # the C parameter name inside the kernel
    tensor: Tensor

    @property
    def shape(self) -> tuple[int, ...]:
        return self.tensor.shape

    @property
    def rank(self) -> int:
        return len(self.tensor.shape)

    @property
    def size(self) -> int:
        return self.tensor.size

    @property
    def strides(self) -> tuple[int, ...]:
        return strides(self.tensor.shape)

    @property
    def ctype(self) -> str:
        return c_type(self.tensor.dtype)

    @property
    def dtype(self) -> str:
        return self.tensor.dtype

    @property
    def is_constant(self) -> bool:
        return self.tensor.is_constant

    @property
    def data(self) -> np.ndarray | None:
        return self.tensor.data

    @property
    def layout(self) -> str | None:
        return self.tensor.layout


def kernel_arguments(node: Node, kernel: Kernel, graph: Graph) -> tuple[list[TensorArg | None], list[TensorArg]]:
    """Inputs (None where omitted or static) and outputs, with their C parameter names."""
    ins: list[TensorArg | None] = []
    for idx, name in enumerate(node.inputs):
        if not name or idx in kernel.static_inputs:
            ins.append(None)
            continue
        param = kernel.input_names[idx] if idx < len(kernel.input_names) else f"in{idx}"
        ins.append(TensorArg(param, graph.tensors[name]))
    outs = []
    for idx, name in enumerate(n for n in node.outputs if n):
        param = kernel.output_names[idx] if idx < len(kernel.output_names) else f"out{idx}"
        outs.append(TensorArg(param, graph.tensors[name]))
    return ins, outs


def signature(fn: str, ins: list[TensorArg | None], outs: list[TensorArg], scratch: bool, shared: bool = False) -> str:
    """``shared``: the layer runs in place (an output over an input), so its tensors are not restrict."""
    r = "" if shared else " restrict"
    params = [f"const {a.ctype}*{r} {a.param}" for a in ins if a is not None]
    params += [f"{a.ctype}*{r} {a.param}" for a in outs]
    if scratch:
        params.append("void* restrict scratch")
    return f"void {fn}({', '.join(params) or 'void'})"


def template_context(fn: str, node: Node, kernel: Kernel, graph: Graph) -> dict[str, Any]:
    ins, outs = kernel_arguments(node, kernel, graph)
    scratch = bool(kernel.scratch_bytes and kernel.scratch_bytes(node, graph))
    spec = node.attrs.get("activation")
    return {
        "fn": fn,
        "node": node,
        "graph": graph,
        "ins": ins,
        "outs": outs,
        "X": ins[0] if ins else None,
        "Y": outs[0] if outs else None,
        "attrs": node.attrs,
        "activation": spec,
        "act": lambda expr: apply_activation_c(spec, expr),
        "signature": signature(fn, ins, outs, scratch, shared=bool(node.meta.get("in_place"))),
        **kernel.params(node, graph),
    }
