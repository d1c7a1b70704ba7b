"""ONNX Runtime as the reference every generated library is compared against."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from .errors import AotError


def _name(model: str | Path | onnx.ModelProto) -> str:
    return model.graph.name if isinstance(model, onnx.ModelProto) else Path(model).name


def ort_session(model: str | Path | onnx.ModelProto, threads: int = 1):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid models
        raise AotError(f"ONNX Runtime cannot load the model to serve as the reference: "
                       f"{str(exc).strip().splitlines()[-1]}", model=_name(model)) from None


def run_reference(model: str | Path | onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    sess = ort_session(model)
    names = {i.name for i in sess.get_inputs()}
    try:
        return [np.asarray(o) for o in sess.run(None, {k: v for k, v in feeds.items() if k in names})]
    except Exception as exc:
        raise AotError(f"ONNX Runtime failed to run the reference: {str(exc).strip().splitlines()[-1]}",
                       model=_name(model)) from None
