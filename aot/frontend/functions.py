"""ONNX ops that the standard defines as functions of other ops, expanded where no backend runs them.

Many ONNX ops carry their definition as a function body in their schema (MeanVarianceNormalization,
Attention, NegativeLogLikelihoodLoss, CenterCropPad, Swish, ...), some of them built for the node's
attributes and input types (context-dependent functions). A node of such an op that no backend has a
kernel for is replaced by that body: the body becomes a model-local function called by the node, and
onnx's inliner substitutes it (renaming its tensors, binding attribute references), bringing the body's
ops to the model's opset. Bodies can hold further function ops, so expansion repeats a few rounds.
"""
from __future__ import annotations

from typing import Callable

import onnx
import onnx.inliner
from onnx import shape_inference

EXPANDED_DOMAIN = "aot.expanded"
MAX_ROUNDS = 4  # nested function ops (a body using another function op) are a few levels deep at most


def expand_function_ops(model: onnx.ModelProto, has_kernel: Callable[[str, str], bool]) -> onnx.ModelProto:
    """``model`` with every node whose op ``has_kernel(op_type, domain)`` denies and whose schema has a
    function body (ai.onnx.preview's FlexAttention too) replaced by that body (the model itself when
    there is none)."""
    for _ in range(MAX_ROUNDS):
        expanded = _expand_once(model, has_kernel)
        if expanded is None:
            return model
        model = expanded
    return model


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {("" if imp.domain == "ai.onnx" else imp.domain): imp.version for imp in model.opset_import}


def _expand_once(model: onnx.ModelProto, has_kernel: Callable[[str, str], bool]) -> onnx.ModelProto | None:
    opsets = _opsets(model)

    def domain(node: onnx.NodeProto) -> str:
        return "" if node.domain == "ai.onnx" else node.domain

    def schema_of(node: onnx.NodeProto) -> onnx.defs.OpSchema | None:
        if domain(node) == EXPANDED_DOMAIN or has_kernel(node.op_type, domain(node)):
            return None
        return _schema(node.op_type, opsets.get(domain(node), 0), domain(node))

    candidates = [n for n in model.graph.node if schema_of(n) is not None]
    if not candidates or not opsets.get(""):
        return None
    types = _value_types(model)
    model = onnx.ModelProto.FromString(model.SerializeToString())  # edit a copy
    by_output = {tuple(n.output): n for n in model.graph.node}
    functions = []
    for index, original in enumerate(candidates):
        node = by_output[tuple(original.output)]
        schema, opset = schema_of(node), opsets[domain(node)]
        body = _function_body(node, schema, opset, types)
        if body is None:
            continue
        _add_default_attributes(node, schema)  # the inliner binds only given ones
        body.domain, body.name = EXPANDED_DOMAIN, f"{node.op_type}_{index}"
        node.domain, node.op_type = EXPANDED_DOMAIN, body.name
        functions.append(body)
    if not functions:
        return None
    model.functions.extend(functions)
    if not any(imp.domain == EXPANDED_DOMAIN for imp in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(EXPANDED_DOMAIN, 1))
    inlined = onnx.inliner.inline_local_functions(model, convert_version=True)
    del inlined.opset_import[:]
    inlined.opset_import.extend([imp for imp in model.opset_import if imp.domain != EXPANDED_DOMAIN])
    return inlined


def _add_default_attributes(node: onnx.NodeProto, schema: onnx.defs.OpSchema) -> None:
    given = {a.name for a in node.attribute}
    for name, attr in schema.attributes.items():
        default = attr.default_value
        if name not in given and default is not None and default.type != onnx.AttributeProto.UNDEFINED:
            node.attribute.append(default)


def _schema(op_type: str, opset: int, domain: str = "") -> onnx.defs.OpSchema | None:
    if not opset:
        return None
    try:
        schema = onnx.defs.get_schema(op_type, opset, domain)
    except onnx.defs.SchemaError:
        return None
    return schema if schema.has_function or schema.has_context_dependent_function else None


def _value_types(model: onnx.ModelProto) -> dict[str, onnx.TypeProto]:
    """The type of every tensor ONNX shape inference can tell (context-dependent bodies need them)."""
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 - an invalid model: the importer's own checks report it
        inferred = model
    types = {vi.name: vi.type for vi in list(inferred.graph.input) + list(inferred.graph.value_info)
             + list(inferred.graph.output)}
    for init in model.graph.initializer:
        types.setdefault(init.name, onnx.helper.make_tensor_type_proto(init.data_type, list(init.dims)))
    return types


def _function_body(node: onnx.NodeProto, schema: onnx.defs.OpSchema, opset: int,
                   types: dict[str, onnx.TypeProto]) -> onnx.FunctionProto | None:
    """The body of ``node``'s op at the newest function version not after ``opset`` (None: none fits)."""
    if schema.has_context_dependent_function:
        versions = [v for v in schema.context_dependent_function_opset_versions if v <= opset]
        if not versions or any(i and i not in types for i in node.input):
            return None
        arg_types = [types[i].SerializeToString() if i else onnx.TypeProto().SerializeToString() for i in node.input]
        raw = schema.get_context_dependent_function_with_opset_version(max(versions), node.SerializeToString(),
                                                                       arg_types)
    else:
        versions = [v for v in schema.function_opset_versions if v <= opset]
        if not versions:
            return None
        raw = schema.get_function_with_opset_version(max(versions))
    if not raw:
        return None
    return onnx.FunctionProto.FromString(raw)
