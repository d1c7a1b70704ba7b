"""Calibration: run the float graph over sample inputs and record, per activation tensor, the range
its observer proposes. The float graph runs in ONNX Runtime (exported from the IR with every
observed tensor as an extra output), so calibration sees exactly the compiled graph's tensors."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import onnx
from tqdm import tqdm

from ..errors import AotError
from ..ir import Graph
from ..ir.dtypes import onnx_elem_type
from ..ir.export import to_onnx
from ..reference import ort_session
from .observers import Observer, make_observer


def load_calibration(path: str | Path, graph: Graph) -> list[list[np.ndarray]]:
    """Samples from an .npz holding one array per graph input keyed by its ONNX name, samples along
    the first axis; a model input with a leading batch of 1 takes them one at a time."""
    path = Path(path)
    if not path.exists():
        raise AotError(f"calibration file '{path}' does not exist")
    try:
        data = np.load(path)
    except Exception as exc:
        raise AotError(f"calibration file '{path}' is not a readable .npz: {exc}") from None
    per_input = []
    for name in graph.inputs:
        t = graph.tensors[name]
        key = t.onnx_name if t.onnx_name in data.files else name
        if key not in data.files:
            raise AotError(f"calibration file '{path.name}' has no array for input '{t.onnx_name}' "
                           f"(it holds {', '.join(data.files) or 'nothing'})")
        array = np.asarray(data[key])
        sample_shape = t.shape[1:] if t.shape and t.shape[0] == 1 else t.shape
        if array.shape[1:] == tuple(sample_shape) and t.shape and t.shape[0] == 1:
            samples = [array[i:i + 1] for i in range(array.shape[0])]
        elif array.shape[1:] == t.shape:
            samples = [array[i] for i in range(array.shape[0])]
        else:
            raise AotError(f"calibration array '{key}' has shape {list(array.shape)}; input '{t.onnx_name}' "
                           f"takes samples of shape {list(t.shape)} stacked along a first axis")
        per_input.append([s.astype(t.dtype) for s in samples])
    counts = {len(s) for s in per_input}
    if len(counts) != 1 or 0 in counts:
        raise AotError(f"calibration arrays hold different or zero sample counts: {sorted(counts)}")
    return [list(sample) for sample in zip(*per_input)]


def calibrate(graph: Graph, tensors: list[str], samples: Iterable[list[np.ndarray]],
              observer_for: dict[str, str] | None = None, default_observer: str = "minmax",
              progress: bool = True) -> dict[str, tuple[float, float]]:
    """Observed range per tensor name (IR names) over ``samples``."""
    model = to_onnx(graph)
    fetch = [_exported_name(graph, model, n) for n in tensors]
    present = {v.name for v in model.graph.output}
    for name, exported in zip(tensors, fetch):
        if exported not in present:
            t = graph.tensors[name]
            model.graph.output.append(onnx.helper.make_tensor_value_info(exported, onnx_elem_type(t.dtype), list(t.shape)))
            present.add(exported)
    session = ort_session(model)
    input_names = [v.name for v in model.graph.input]
    observers: dict[str, Observer] = {n: make_observer((observer_for or {}).get(n, default_observer)) for n in tensors}
    for sample in tqdm(list(samples), desc="calibrating", unit="sample", disable=not progress, leave=False):
        for name, value in zip(tensors, session.run(fetch, dict(zip(input_names, sample)))):
            observers[name].observe(value)
    return {name: obs.range() for name, obs in observers.items()}


def _exported_name(graph: Graph, model: onnx.ModelProto, ir_name: str) -> str:
    """to_onnx keeps IR names except for graph inputs/outputs, which get back their ONNX names."""
    if ir_name in graph.inputs:
        return model.graph.input[graph.inputs.index(ir_name)].name
    if ir_name in graph.outputs:
        return model.graph.output[graph.outputs.index(ir_name)].name
    return ir_name
