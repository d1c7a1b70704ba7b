"""The op table: what aot knows about each ONNX op (layouts, fusable forms, int8 lowering, MACs).

One module per op family registers its ops; ``op_spec(op_type)`` answers every pass, the QDQ
lowering, PTQ, the golden runner, codegen and the ONNX export. See docs/adding-an-op.md.
"""
from . import activations, conv, data_movement, einsum, elementwise, gemm, indexing, logical  # noqa: F401
from . import ml, normalization, pool, quantization, recurrent, reduce, reinterpret, resize, signal, training  # noqa: F401
# axis ops (Hardmax, CumProd...), Lp norms, Det/EyeLike, spatial sampling (GridSample, RoiAlign...)
from . import along_axis, lp, matrix, sampling  # noqa: F401
from .fusion import activation_spec, apply_activation_c, apply_activation_numpy, int8_activation_range
from .registry import OPS, is_layout_sensitive, layout_of, op_spec, op_types, register_op
from .spec import Int8Form, OpSpec, UnaryForm

__all__ = ["OPS", "OpSpec", "UnaryForm", "Int8Form", "op_spec", "op_types", "register_op", "layout_of",
           "is_layout_sensitive", "activation_spec", "apply_activation_c", "apply_activation_numpy",
           "int8_activation_range", "layer_macs"]


def layer_macs(graph, node) -> int:
    """Multiply-accumulates (or elementary operations) of one layer, for reports and cost hints; a
    composite node counts the ops it stands for."""
    body = node.meta.get("body")
    if body is not None:
        return sum(layer_macs(body, n) for n in body.nodes)
    spec = op_spec(node.op_type)
    return int(spec.macs(graph, node)) if spec else 0
