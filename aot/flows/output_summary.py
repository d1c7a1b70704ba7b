"""What a model computed, for a person or a script: each output's raw values, its real values where it
is quantized (scale * (q - zero point), as the library's dequantize helpers compute them), and the top
classes of the first output, named by the library's labels (``aot compile --labels``) when it has them.
``aot run`` prints ``format_outputs`` or, with ``--json``, puts ``describe_outputs`` in its document."""
from __future__ import annotations

import numpy as np

TOP_CLASSES = 5
SHOWN_VALUES = 16  # values per output in the text form; the JSON form has them all


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """(q - zero point) * scale in float32, as DequantizeLinear and model.h's helpers."""
    return (np.asarray(values).astype(np.int32) - np.int32(zero_point)).astype(np.float32) * np.float32(scale)


def json_values(values: np.ndarray) -> list:
    """Numbers JSON can hold: NaN and infinities as the strings "nan", "inf", "-inf"."""
    out = []
    for v in np.asarray(values).reshape(-1).tolist():
        if isinstance(v, float) and not np.isfinite(v):
            out.append("nan" if np.isnan(v) else ("inf" if v > 0 else "-inf"))
        else:
            out.append(v)
    return out


def top_classes(scores: np.ndarray, labels: list[str] | None, k: int = TOP_CLASSES) -> list[dict]:
    """The ``k`` highest scores of one sample (first index first among equal scores; NaN never ranks)."""
    flat = np.asarray(scores, np.float64).reshape(-1)
    order = sorted(range(flat.size), key=lambda i: (np.isnan(flat[i]), -flat[i] if not np.isnan(flat[i]) else 0, i))
    top = []
    for i in order[:min(k, flat.size)]:
        entry = {"index": i, "score": json_values(flat[i:i + 1])[0]}
        if labels is not None and i < len(labels):
            entry["label"] = labels[i]
        top.append(entry)
    return top


def describe_outputs(specs: list[dict], outputs: list[np.ndarray], k: int = TOP_CLASSES) -> list[dict]:
    """One entry per output: name, dtype, shape, values, and for quantized ones scale, zero point and
    dequantized values; the first output (when it has two or more values per sample) its top classes,
    ranked on the real values, of its first sample."""
    described = []
    for index, (spec, value) in enumerate(zip(specs, outputs)):
        value = np.asarray(value)
        entry = {"name": spec["onnx_name"], "dtype": spec["dtype"], "shape": list(spec["shape"]),
                 "values": json_values(value)}
        real = value
        if spec.get("scale") is not None:
            real = dequantize(value, spec["scale"], spec["zero_point"])
            entry.update(scale=spec["scale"], zero_point=spec["zero_point"], dequantized=json_values(real))
        per_sample = real.reshape(real.shape[0], -1)[0] if real.ndim >= 2 and real.shape[0] > 0 else real.reshape(-1)
        if index == 0 and per_sample.size >= 2 and real.dtype.kind in "fiub":
            entry["top"] = top_classes(per_sample, spec.get("labels"), k)
        described.append(entry)
    return described


def _numbers(values: list, limit: int) -> str:
    shown = ", ".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in values[:limit])
    return shown + (f", ... ({len(values)} values)" if len(values) > limit else "")


def format_outputs(described: list[dict], limit: int = SHOWN_VALUES) -> str:
    """The outputs as text lines: raw values, dequantized values, top classes."""
    lines = []
    for entry in described:
        shape = "x".join(map(str, entry["shape"])) or "scalar"
        quant = (f", scale {entry['scale']:.6g}, zero point {entry['zero_point']}"
                 if "scale" in entry else "")
        lines.append(f"output '{entry['name']}' {entry['dtype']}[{shape}]{quant}")
        lines.append(f"  values       {_numbers(entry['values'], limit)}")
        if "dequantized" in entry:
            lines.append(f"  dequantized  {_numbers(entry['dequantized'], limit)}")
        if entry.get("top"):
            lines.append(f"  top {len(entry['top'])}        {'; '.join(_ranked(t) for t in entry['top'])}")
    return "\n".join(lines)


def _ranked(top: dict) -> str:
    score = f"{top['score']:.4g}" if isinstance(top["score"], float) else str(top["score"])
    return f"#{top['index']}" + (f" {top['label']}" if "label" in top else "") + f" ({score})"
