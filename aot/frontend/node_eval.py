"""Single-node shape inference and evaluation, delegated to ONNX's own implementations.

Shapes are static after import, so ONNX shape inference on a one-node model (constant inputs given
as initializers) is exact; when it leaves a dimension unknown, running the ONNX reference
evaluator on zero inputs of the known shapes gives it.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from ..ir.dtypes import np_dtype_of, onnx_elem_type


def _single_node_model(node: onnx.NodeProto, inputs: list[tuple[str, tuple, str, np.ndarray | None]],
                       opsets: dict[str, int]) -> onnx.ModelProto:
    graph_inputs, inits = [], []
    for name, shape, dtype, data in inputs:
        if data is not None:
            inits.append(numpy_helper.from_array(data, name))
        else:
            graph_inputs.append(helper.make_tensor_value_info(name, onnx_elem_type(dtype), list(shape)))
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    g = helper.make_graph([node], "single", graph_inputs, outputs, inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    model.ir_version = 8
    return model


def evaluate(node: onnx.NodeProto, inputs: list[tuple[str, np.ndarray]], opsets: dict[str, int]) -> list[np.ndarray]:
    """Run one node on concrete inputs with the ONNX reference implementation."""
    specs = [(n, a.shape, a.dtype.name, None) for n, a in inputs]
    try:
        evaluator = ReferenceEvaluator(_single_node_model(node, specs, opsets))
    except RuntimeError:
        # The reference evaluator lacks some intermediate op versions (e.g. DequantizeLinear-13 at
        # opset 17); the newest version computes the same result for the inputs seen at import.
        evaluator = ReferenceEvaluator(_single_node_model(node, specs, {**opsets, "": 21}))
    return [np.asarray(r) for r in evaluator.run(None, {n: a for n, a in inputs})]


CEIL_MODE_POOLS = ("MaxPool", "AveragePool")


def infer(node: onnx.NodeProto, inputs: list[tuple[str, tuple, str, np.ndarray | None]],
          opsets: dict[str, int]) -> list[tuple[tuple[int, ...], str]]:
    """(shape, dtype) of each output of ``node``; raises ValueError when that is not static."""
    if node.op_type in CEIL_MODE_POOLS and any(a.name == "ceil_mode" and a.i for a in node.attribute):
        # Before opset 22, ONNX shape inference keeps a last ceil_mode window that starts inside the
        # right padding; ONNX Runtime (every opset) and the opset-22 rule drop it. Use the latter.
        opsets = {**opsets, "": max(opsets.get("", 0), 22)}
    if node.op_type == "STFT" and not any(a.name == "onesided" for a in node.attribute):
        # ONNX shape inference reads a missing onesided as 0; the schema's default (and ONNX Runtime's) is 1.
        node = onnx.NodeProto.FromString(node.SerializeToString())
        node.attribute.append(helper.make_attribute("onesided", 1))
    model = _single_node_model(node, inputs, opsets)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    found = {}
    for vi in list(inferred.graph.output) + list(inferred.graph.value_info):
        tt = vi.type.tensor_type
        if tt.elem_type and tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            found[vi.name] = (tuple(d.dim_value for d in tt.shape.dim), np_dtype_of(tt.elem_type))
    missing = [o for o in node.output if o and o not in found]
    if missing:
        # ONNX shape inference leaves some static shapes unknown; the reference evaluator on two
        # different fillings of the runtime inputs gives them, and tells a value-dependent shape
        # (NonZero, Reshape to a computed shape) from a static one.
        runtime = [n for n, _, _, d in inputs if d is None]
        evaluator = ReferenceEvaluator(_single_node_model(node, [(n, s, t, None) for n, s, t, _ in inputs], opsets))

        def shapes_with(ramped: set[str]) -> list[tuple[tuple[int, ...], str]] | None:
            """Output shapes with the ``ramped`` runtime inputs filled 1..7 and the others 0 (None: fails)."""
            feeds = {n: (d if d is not None else (_ramp if n in ramped else _zeros)(s, t)) for n, s, t, d in inputs}
            try:
                return [(tuple(np.asarray(r).shape), np.asarray(r).dtype.name) for r in evaluator.run(None, feeds)]
            except Exception:  # noqa: BLE001 - the evaluator raises numpy's errors for impossible shapes
                return None

        base = shapes_with(set())
        if base is None and not runtime:
            evaluator.run(None, {n: d for n, _, _, d in inputs})  # raises the evaluator's own error
        if base is None or shapes_with(set(runtime)) != base:
            # The inputs whose values change the shape on their own (all of them when none does alone).
            culprits = [r for r in runtime if shapes_with({r}) != base]
            raise ValueDependentShape(culprits or runtime)
        shapes = [base]
        for o, shape_dtype in zip([o for o in node.output if o], shapes[0]):
            found[o] = shape_dtype
    return [found[o] for o in node.output if o]


class ValueDependentShape(ValueError):
    """The output shape of a node depends on the values of its runtime inputs."""

    def __init__(self, runtime_inputs: list[str]):
        self.runtime_inputs = runtime_inputs
        super().__init__(f"output shape depends on the values of {', '.join(runtime_inputs)}")


def _zeros(shape: tuple, dtype: str) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def _ramp(shape: tuple, dtype: str) -> np.ndarray:
    return (np.arange(int(np.prod(shape, dtype=np.int64))) % 7 + 1).astype(dtype).reshape(shape)


def arity_problem(node: onnx.NodeProto, opsets: dict[str, int]) -> str | None:
    """How the node's input and output counts break its ONNX schema, or None. ONNX shape inference
    does not check them: an extra input of a Relu or Cast became an unused C kernel parameter."""
    if node.domain not in ("", "ai.onnx"):
        return None
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets.get("", 1), "")
    except onnx.defs.SchemaError:
        return None  # unknown ops are reported by the support checks
    for what, count, low, high in (("inputs", len(node.input), schema.min_input, schema.max_input),
                                   ("outputs", len(node.output), schema.min_output, schema.max_output)):
        if not low <= count <= high:
            expected = f"{low}" if low == high else f"{low} to {high}"
            return f"it has {count} {what}; {node.op_type}-{schema.since_version} takes {expected}"
    return None
