"""The post-training quantization flow: float model + calibration samples -> QDQ graph."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from ..backends.registry import Backend
from ..frontend import import_onnx
from ..ir import Graph, verify
from ..passes import PassContext, default_pipeline
from .calibrate import calibrate, load_calibration
from .config import QuantConfig
from .layer_names import check_layer_names
from .quantize import activation_tensors, insert_qdq, select_layers


def float_graph(source: str | Path | onnx.ModelProto, input_shapes: dict | None = None) -> Graph:
    """The model imported and simplified (BN folded, activations fused) as quantization sees it."""
    return default_pipeline()(import_onnx(source, input_shapes=input_shapes or {}), PassContext())


def quantize_graph(graph: Graph, samples: list[list[np.ndarray]], config: QuantConfig | None = None,
                   progress: bool = True, backends: list[Backend] | None = None) -> Graph:
    """QDQ form of the layers the backends can run in int8 (default: the ref backend's)."""
    config = config or QuantConfig()
    check_layer_names(config, graph)
    layers = select_layers(graph, config, backends)
    tensors = activation_tensors(graph, layers)
    observer_for = {t: config.for_tensor(t, graph.tensors[t].onnx_name)["observer"] for t in tensors}
    ranges = calibrate(graph, tensors, samples, observer_for, config.default.get("observer", "minmax"), progress)
    quantized = insert_qdq(graph, ranges, config, layers)
    verify(quantized, after="insert_qdq")
    return quantized


def quantize_model(source: str | Path | onnx.ModelProto, calibration: str | Path, *,
                   config: QuantConfig | None = None, input_shapes: dict | None = None,
                   progress: bool = True, backends: list[Backend] | None = None) -> Graph:
    graph = float_graph(source, input_shapes)
    return quantize_graph(graph, load_calibration(calibration, graph), config, progress, backends)
