"""Per-layer quantization sensitivity: quantize one layer at a time (everything else float) and
measure how far the model's outputs move, so a user knows which layers to keep in float."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..ir import Graph
from ..ir.export import to_onnx
from ..reference import ort_session
from .calibrate import calibrate
from .config import QuantConfig
from .quantize import activation_tensors, insert_qdq, is_compute_layer, select_layers


@dataclass
class LayerSensitivity:
    layer: str
    op_type: str
    relative_error: float  # ||y_q - y_float|| / ||y_float|| over all outputs and samples
    max_abs_error: float


def _run(graph: Graph, samples: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    model = to_onnx(graph)
    sess = ort_session(model)
    names = [v.name for v in model.graph.input]
    return [sess.run(None, dict(zip(names, s))) for s in samples]


def layer_sensitivity(graph: Graph, samples: list[list[np.ndarray]], config: QuantConfig | None = None,
                      progress: bool = True) -> list[LayerSensitivity]:
    """Sorted most sensitive first. Ranges are calibrated once on ``samples`` for every layer."""
    config = config or QuantConfig()
    layers = select_layers(graph, config)
    tensors = activation_tensors(graph, layers)
    observer_for = {t: config.for_tensor(t, graph.tensors[t].onnx_name)["observer"] for t in tensors}
    ranges = calibrate(graph, tensors, samples, observer_for, config.default.get("observer", "minmax"), progress)
    reference = _run(graph, samples)
    ref_flat = np.concatenate([np.asarray(o, np.float64).ravel() for outs in reference for o in outs])
    results = []
    for layer in tqdm([n for n in layers if is_compute_layer(n)], desc="sensitivity", unit="layer",
                      disable=not progress, leave=False):
        single = graph.copy()
        node = single.node(layer.name)
        quantized = insert_qdq(single, ranges, config, [node])
        got = _run(quantized, samples)
        flat = np.concatenate([np.asarray(o, np.float64).ravel() for outs in got for o in outs])
        diff = flat - ref_flat
        results.append(LayerSensitivity(layer.name, layer.op_type,
                                        float(np.linalg.norm(diff) / max(np.linalg.norm(ref_flat), 1e-30)),
                                        float(np.abs(diff).max(initial=0.0))))
    return sorted(results, key=lambda r: -r.relative_error)


def format_sensitivity(rows: list[LayerSensitivity]) -> str:
    lines = [f"{'layer':<40} {'op':<18} {'rel. output error':>18} {'max abs error':>14}"]
    lines += [f"{r.layer[:40]:<40} {r.op_type:<18} {r.relative_error:>18.3e} {r.max_abs_error:>14.3e}" for r in rows]
    return "\n".join(lines)
