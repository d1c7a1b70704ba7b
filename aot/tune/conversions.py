"""Layout conversions measured for the cover search, so that a cover may mix layouts layer by layer.

Where a layer running channels-last follows one running channels-first (or the reverse), the tensor
between them is transposed. Its cost depends on the tensor's shape and type only, so every tensor of
the model that could cross (the 4-D outputs of its layers, and its 4-D inputs) is transposed both ways
in one small benchmark model: a Transpose per tensor and direction, each its own layer. It is measured
like a configuration (one profiled run on the target, records in the database), and the search pays
a crossing edge the measured cost of its tensor's Transpose (``transition``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import onnx
from onnx import TensorProto, helper

TO_CHANNELS_LAST = (0, 2, 3, 1)  # NCHW -> NHWC
TO_CHANNELS_FIRST = (0, 3, 1, 2)  # NHWC -> NCHW
DIRECTIONS = {("NCHW", "NHWC"): TO_CHANNELS_LAST, ("NHWC", "NCHW"): TO_CHANNELS_FIRST}
ONNX_TYPES = {"int8": TensorProto.INT8, "uint8": TensorProto.UINT8, "float32": TensorProto.FLOAT}


@dataclass(frozen=True)
class Crossing:
    """A tensor that may change layout: its channels-first shape and its type."""
    shape: tuple[int, int, int, int]
    dtype: str

    def layer(self, source: str, target: str) -> str:
        """The benchmark's layer transposing this tensor from ``source`` to ``target``."""
        n, c, h, w = self.shape
        return f"t_{self.dtype}_{n}x{c}x{h}x{w}_to_{target.lower()}"


def crossing(shape: tuple[int, ...], dtype: str, layout: str | None) -> Crossing | None:
    """The tensor as a Crossing, when it is 4-D, channels-first or -last, of a type the model can hold."""
    if len(shape) != 4 or layout not in ("NCHW", "NHWC") or dtype not in ONNX_TYPES:
        return None
    nchw = tuple(shape) if layout == "NCHW" else tuple(shape[p] for p in TO_CHANNELS_FIRST)
    return Crossing(nchw, dtype)


def benchmark_model(crossings: list[Crossing]) -> onnx.ModelProto:
    """One Transpose per crossing and direction, each from a graph input to a graph output."""
    inputs, outputs, nodes = [], [], []
    for cross in sorted(set(crossings), key=lambda c: (c.dtype, c.shape)):
        for (source, target), perm in DIRECTIONS.items():
            shape = cross.shape if source == "NCHW" else [cross.shape[p] for p in TO_CHANNELS_LAST]
            name = cross.layer(source, target)
            elem = ONNX_TYPES[cross.dtype]
            inputs.append(helper.make_tensor_value_info(f"{name}_in", elem, list(shape)))
            outputs.append(helper.make_tensor_value_info(f"{name}_out", elem, [shape[p] for p in perm]))
            nodes.append(helper.make_node("Transpose", [f"{name}_in"], [f"{name}_out"], name=name, perm=list(perm)))
    graph = helper.make_graph(nodes, "layout_conversions", inputs, outputs)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="aot tune")


def write_benchmark(crossings: list[Crossing], folder: Path) -> Path:
    path = Path(folder) / "layout_conversions.onnx"
    onnx.save(benchmark_model(crossings), str(path))
    return path


def transition_costs(layer_costs: Mapping[str, float], tensors: Mapping[str, Crossing | None]):
    """``transition(producer, source, target)`` for the search (aot/tune/search.py): the measured cost
    of transposing ``producer``'s output (``tensors``: producer or INPUT -> its tensor) between
    channels-first and channels-last; nothing between other layouts (the tensor keeps its layout);
    infinite where the tensor cannot be transposed (not 4-D) or was not measured."""
    def transition(producer: str, source: str, target: str) -> float:
        if (source, target) not in DIRECTIONS:
            return 0.0
        cross = tensors.get(producer)
        cost = layer_costs.get(cross.layer(source, target)) if cross is not None else None
        return float("inf") if cost is None else float(cost)
    return transition
