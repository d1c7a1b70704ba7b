"""Graph IR: tensors with stable C-safe names, shapes, dtypes and layouts; nodes in schedule order.

The IR is plain data plus lookups. Passes live in ``aot.passes`` and only use the methods here.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from .names import NameTable


@dataclass
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point); ``axis`` set for per-channel."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy dtype name: "float32", "int8", "int64", ...
    layout: str | None = None  # "NCHW", "NHWC", "OIHW", "OHWI", ... or None when it has no meaning
    data: np.ndarray | None = None  # set for constants
    onnx_name: str | None = None
    quant: QuantParams | None = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(self.dtype).itemsize


@dataclass
class Node:
    name: str
    op_type: str
    inputs: list[str]  # tensor names; "" marks an omitted optional input
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    # Filled by later stages: accepted backends, chosen backend, fused activation, ...
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def present_inputs(self) -> list[str]:
        return [i for i in self.inputs if i]


class Graph:
    """A dataflow graph whose ``nodes`` list is always a valid schedule (topological order)."""

    def __init__(self, name: str = "model", opset: int = 13):
        self.name = name
        self.opset = opset
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        # Names the generated C uses for its own locals and parameters cannot be tensor names (graph
        # inputs and outputs become parameters of <prefix>_run_with_arena beside these).
        self.names = NameTable(reserved={"arena", "arena_ptr", "scratch", "status"})
        # A node's name reaches C only after "<prefix>_" (its function), so only keywords are changed.
        self.node_names = NameTable(strict=False)
        self.notes: list[str] = []  # things the user should know (defaults applied, ...)
        self.source: str | None = None  # path of the ONNX file, for error messages
        # Requantization rounding of the integer kernels (aot/quant/fixed_point.py): "single" or
        # "tflite" (TensorFlow Lite's double rounding). C kernels and the golden model both read it.
        self.rounding: str = "single"
        # Graph inputs given a value at compile time (--fix-input): ONNX name -> value. They are constants
        # of the graph, not parameters of the C API; a reference run of the ONNX model needs them back.
        self.fixed_inputs: dict[str, np.ndarray] = {}
        # --backend-option values given for this compile (backend -> key -> value), for kernels whose
        # choice or code depends on one (e.g. arm-dsp.weights); checked by aot.backends.build.
        self.backend_options: dict[str, dict[str, str]] = {}
        # Per-layer values that replace those for one layer (layer -> backend -> key -> value): a kernel
        # variant chosen layer by layer (aot tune's choice, or the user's).
        self.layer_backend_options: dict[str, dict[str, dict[str, str]]] = {}
        # How the execution order was chosen (aot/passes/reorder.py's Schedule), for metadata.json.
        self.schedule = None
        # What patch-based execution did (aot/passes/patches.py), for metadata.json; None when not asked.
        self.patching: dict | None = None

    def backend_option(self, backend: str, key: str, layer: str | None = None) -> str | None:
        """The value of ``backend.key`` for ``layer`` (its own value, else this compile's), or None."""
        own = self.layer_backend_options.get(layer, {}).get(backend, {}) if layer else {}
        return own.get(key) or self.backend_options.get(backend, {}).get(key)

    # -- construction -----------------------------------------------------------------------------
    def add_tensor(self, raw_name: str, shape: Iterable[int], dtype: str, *, layout: str | None = None,
                   data: np.ndarray | None = None, onnx_name: str | None = None) -> Tensor:
        name = self.names.claim(raw_name)
        t = Tensor(name, tuple(int(d) for d in shape), str(np.dtype(dtype)), layout, data,
                   onnx_name if onnx_name is not None else raw_name)
        self.tensors[name] = t
        return t

    def add_constant(self, raw_name: str, data: np.ndarray, layout: str | None = None) -> Tensor:
        data = np.ascontiguousarray(data).reshape(np.shape(data))  # keep 0-d scalars 0-d
        return self.add_tensor(raw_name, data.shape, data.dtype.name, layout=layout, data=data)

    def make_node(self, op_type: str, inputs: list[str], outputs: list[str], attrs: dict | None = None,
                  name: str | None = None, domain: str = "") -> Node:
        """Create a node (not yet placed in the schedule)."""
        return Node(self.node_names.claim(name or op_type, "node"), op_type, list(inputs), list(outputs),
                    dict(attrs or {}), domain)

    def rename_tensor(self, old: str, new: str) -> str:
        """Rename ``old`` everywhere (nodes, graph inputs and outputs) to ``new`` made unique; returns
        the name given."""
        name = self.names.unique(new)
        t = self.tensors.pop(old)
        self.names.release(old)
        t.name = name
        self.tensors[name] = t
        self.replace_uses(old, name)  # readers and graph outputs
        for n in self.nodes:
            n.outputs = [name if o == old else o for o in n.outputs]
        self.inputs = [name if i == old else i for i in self.inputs]
        return name

    def remove_tensor(self, name: str) -> None:
        del self.tensors[name]
        self.names.release(name)

    # -- lookups ----------------------------------------------------------------------------------
    def tensor(self, name: str) -> Tensor:
        return self.tensors[name]

    def const(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        return self.tensors[name].data

    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> dict[str, list[Node]]:
        users: dict[str, list[Node]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(n)
        return users

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def replace_uses(self, old: str, new: str) -> None:
        """Point every consumer (and graph output) of ``old`` at ``new``."""
        for n in self.nodes:
            n.inputs = [new if i == old else i for i in n.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]

    def count_ops(self, op_type: str) -> int:
        return sum(1 for n in self.nodes if n.op_type == op_type)

    def copy(self) -> "Graph":
        return copy.deepcopy(self)

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.nodes)} nodes, {len(self.tensors)} tensors)"
