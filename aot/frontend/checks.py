"""Checks of one imported node or tensor against what ONNX allows and what the generated C can hold.

ONNX shape inference does not check that operands bound to the same type parameter agree (a float
Conv with int32 weights infers fine), so the schema's type constraints are checked here. Sizes are
limited because the generated C indexes tensors with ``int`` and places them at ``int`` offsets.
"""
from __future__ import annotations

import onnx

INT_MAX = 2 ** 31 - 1
KNOWN_DTYPES = frozenset(("float16", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                          "int64", "uint64", "bool"))

# numpy dtype names -> the names ONNX schemas use in "tensor(...)" type strings
_SCHEMA_TYPE = {"float32": "float", "float64": "double"}


def schema_type(dtype: str) -> str:
    return f"tensor({_SCHEMA_TYPE.get(dtype, dtype)})"


def type_constraint_problem(node: onnx.NodeProto, dtypes: list[str | None], opset: int) -> str | None:
    """Why the operand dtypes break ``node``'s schema type constraints (None when they do not).

    ``dtypes`` holds each input's numpy dtype name, None for an omitted optional input."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None  # unknown op or domain: the support checks report it
    allowed = {c.type_param_str: list(c.allowed_type_strs) for c in schema.type_constraints}
    bound: dict[str, tuple[str, str]] = {}  # type parameter -> (dtype, the input that fixed it)
    for index, dtype in enumerate(dtypes):
        formal = _formal_input(schema, index)
        if dtype is None or formal is None or dtype not in KNOWN_DTYPES:
            continue  # dtypes aot does not compute (float8, int4, ...) are reported as such elsewhere
        param = formal.type_str
        name = formal.name if formal.option != onnx.defs.OpSchema.FormalParameterOption.Variadic else \
            f"{formal.name}[{index - list(schema.inputs).index(formal)}]"
        if param not in allowed:  # a fixed type such as "tensor(int64)"
            if param.startswith("tensor(") and schema_type(dtype) != param:
                return f"input {name} is {dtype}, {node.op_type} takes {param[7:-1]} there"
            continue
        if schema_type(dtype) not in allowed[param]:
            kinds = ", ".join(t[7:-1] for t in allowed[param] if t.startswith("tensor("))
            return f"input {name} is {dtype}; {node.op_type} takes {param} in ({kinds})"
        homogeneous = formal.option != onnx.defs.OpSchema.FormalParameterOption.Variadic or formal.is_homogeneous
        if param in bound and homogeneous and bound[param][0] != dtype:
            first_dtype, first_name = bound[param]
            return (f"input {name} is {dtype} but input {first_name} is {first_dtype}; {node.op_type} binds both "
                    f"to one type {param}")
        bound.setdefault(param, (dtype, name))
    return None


def _formal_input(schema: onnx.defs.OpSchema, index: int):
    inputs = list(schema.inputs)
    if index < len(inputs):
        return inputs[index]
    last = inputs[-1] if inputs else None
    variadic = onnx.defs.OpSchema.FormalParameterOption.Variadic
    return last if last is not None and last.option == variadic else None


def size_problem(shape: tuple[int, ...], itemsize: int) -> str | None:
    """Why a tensor of ``shape`` is too large for the generated C (None when it fits)."""
    elements = 1
    for d in shape:
        elements *= int(d)
    if elements * itemsize > INT_MAX:
        return (f"shape {list(shape)} holds {elements:,} elements ({elements * itemsize:,} bytes); the generated C "
                f"indexes and places tensors with int, so a tensor may hold at most {INT_MAX:,} bytes")
    return None


def attribute_problem(node: onnx.NodeProto, opset: int) -> str | None:
    """An attribute the op's schema does not define, or one of another type (ONNX Runtime refuses both;
    a kernel reading an INTS where it expects an INT would fail)."""
    try:
        schema = onnx.defs.get_schema(node.op_type, opset, node.domain)
    except onnx.defs.SchemaError:
        return None  # unknown op or domain: the support checks report it
    for attr in node.attribute:
        formal = schema.attributes.get(attr.name)
        if formal is None:
            known = ", ".join(sorted(schema.attributes)) or "none"
            return f"attribute '{attr.name}' is not one of {node.op_type}'s (its attributes: {known})"
        if attr.type != formal.type and attr.type != onnx.AttributeProto.UNDEFINED:
            given = onnx.AttributeProto.AttributeType.Name(attr.type)
            wanted = onnx.AttributeProto.AttributeType.Name(formal.type)
            return f"attribute '{attr.name}' is {given}, {node.op_type} takes {wanted}"
    return None
