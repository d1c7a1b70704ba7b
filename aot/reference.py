"""ONNX Runtime as the reference every generated library is compared against."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx

from .errors import AotError


def _name(model: str | Path | onnx.ModelProto) -> str:
    return model.graph.name if isinstance(model, onnx.ModelProto) else Path(model).name


def ort_session(model: str | Path | onnx.ModelProto, threads: int = 1, *, fuse_quantized: bool = True):
    """An ONNX Runtime session. ``fuse_quantized=False`` runs a QDQ model as the ONNX standard defines it
    (DequantizeLinear -> float op -> QuantizeLinear) instead of ONNX Runtime's fused integer kernels,
    whose results depend on the CPU: without AVX-VNNI, MLAS's u8s8 AVX2 path saturates int16 pair sums
    and moves KWS logits by up to 5 LSB."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    if not fuse_quantized:
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    if not fuse_quantized:
        model = _per_element_dequantize_folded(model if isinstance(model, onnx.ModelProto) else onnx.load(str(model)))
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    try:
        return ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for invalid models
        raise AotError(f"ONNX Runtime cannot load the model to serve as the reference: "
                       f"{str(exc).strip().splitlines()[-1]}", model=_name(model)) from None


def _per_element_dequantize_folded(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant DequantizeLinear nodes with one scale per element along an axis the file misnames (ONNX
    Runtime's quantizer writes a [1, N] bias with N scales on axis 0, which only its fused kernels
    accept) become the float constants they stand for, (q - zero_point) * scale per element."""
    from onnx import numpy_helper
    inits = {t.name: t for t in model.graph.initializer}
    folded = onnx.ModelProto()
    folded.CopyFrom(model)
    keep = []
    for node in folded.graph.node:
        values = [numpy_helper.to_array(inits[i]) if i in inits else None for i in node.input]
        if node.op_type != "DequantizeLinear" or any(v is None for v in values):
            keep.append(node)
            continue
        x, scale = values[0], values[1]
        zp = values[2] if len(values) > 2 else np.zeros_like(scale)
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.size <= 1 or scale.size != x.size or (x.ndim and x.shape[axis % x.ndim] == scale.size):
            keep.append(node)
            continue
        real = (x.reshape(-1).astype(np.float32) - zp.reshape(-1).astype(np.float32)) * scale.reshape(-1)
        folded.graph.initializer.append(numpy_helper.from_array(real.reshape(x.shape).astype(np.float32),
                                                                node.output[0]))
    del folded.graph.node[:]
    folded.graph.node.extend(keep)
    return folded


def _onnx_reference_only(model: str | Path | onnx.ModelProto) -> onnx.ModelProto | None:
    """The model when its graph inputs/outputs hold a narrow format ONNX Runtime's Python API cannot
    exchange (bfloat16, float8, float4, int4, int2; float16 it can), else None."""
    from .ir.formats import FORMATS
    proto = model if isinstance(model, onnx.ModelProto) else onnx.load(str(model), load_external_data=False)
    exotic = {f.elem_type for f in FORMATS.values() if f.name != "float16"}
    io = list(proto.graph.input) + list(proto.graph.output)
    if not any(vi.type.tensor_type.elem_type in exotic for vi in io):
        return None
    return proto if isinstance(model, onnx.ModelProto) else onnx.load(str(model))


def _cast_op():
    """onnx's reference Cast with float -> int4/int2 as the node tests' expected outputs have it (truncate,
    keep the low bits; aot/ir/formats.py), not as the installed ml_dtypes does."""
    from onnx.reference.op_run import OpRun
    from onnx.reference.ops.op_cast import cast_to
    from .ir.formats import BY_ELEM_TYPE, cast

    class Cast(OpRun):
        op_domain = ""

        def _run(self, x, to=None, saturate=None, round_mode=None):
            fmt = BY_ELEM_TYPE.get(to)
            saturate = True if saturate is None else bool(saturate)
            if fmt is not None and not fmt.is_float:
                return (cast(x, fmt, saturate, round_mode or "up"),)
            return (cast_to(x, to, saturate, round_mode or "up"),)
    return Cast


def reference_name(model: str | Path | onnx.ModelProto) -> str:
    """Which oracle run_reference uses for ``model`` (reports name it)."""
    return "onnx-ref" if _onnx_reference_only(model) is not None else "onnxruntime"


def run_reference(model: str | Path | onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    proto = _onnx_reference_only(model)
    if proto is not None:  # the ONNX reference evaluator is the oracle there (as for the node tests)
        from onnx.reference import ReferenceEvaluator
        try:
            evaluator = ReferenceEvaluator(proto, new_ops=[_cast_op()])
            names = set(evaluator.input_names)
            return [np.asarray(o) for o in evaluator.run(None, {k: v for k, v in feeds.items() if k in names})]
        except Exception as exc:  # the evaluator raises its own types
            raise AotError(f"the ONNX reference evaluator failed to run the reference: "
                           f"{str(exc).strip().splitlines()[-1]}", model=_name(model)) from None
    sess = ort_session(model)
    names = {i.name for i in sess.get_inputs()}
    try:
        return [np.asarray(o) for o in sess.run(None, {k: v for k, v in feeds.items() if k in names})]
    except Exception as exc:
        raise AotError(f"ONNX Runtime failed to run the reference: {str(exc).strip().splitlines()[-1]}",
                       model=_name(model)) from None
