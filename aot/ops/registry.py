"""The op table: one ``OpSpec`` per ONNX op type, registered by the family modules of aot/ops (and by
users for their own ops, through ``register_op``)."""
from __future__ import annotations

from .spec import OpSpec

OPS: dict[str, OpSpec] = {}


def register_op(spec: OpSpec, *, replace: bool = False) -> OpSpec:
    if spec.op_type in OPS and not replace:
        raise ValueError(f"op '{spec.op_type}' is already in the op table (family {OPS[spec.op_type].family})")
    OPS[spec.op_type] = spec
    return spec


def op_spec(op_type: str) -> OpSpec | None:
    """The op's facts, or None for an op the table does not know (a plug-in's custom op)."""
    return OPS.get(op_type)


def op_types(predicate=lambda spec: True) -> list[str]:
    """Op types whose spec satisfies ``predicate``, sorted."""
    return sorted(name for name, spec in OPS.items() if predicate(spec))


def layout_of(op_type: str) -> str:
    spec = OPS.get(op_type)
    return spec.layout if spec else "fixed"


def is_layout_sensitive(op_type: str) -> bool:
    return layout_of(op_type) == "sensitive"
