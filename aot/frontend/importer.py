"""ONNX ModelProto -> Graph IR.

Static shapes are required: a symbolic leading (batch) dimension becomes 1 with a note, any other
dynamic dimension needs ``input_shapes``. Initializers (also when IR-3 models list them as inputs)
become constants; nodes whose inputs are all constant are evaluated here, so constant subgraphs
(Shape->Gather->Concat chains) arrive folded. DequantizeLinear of constants is kept for QDQ lowering
and folded by the fold_constants pass where it stays float. Narrow formats (float16, bfloat16, float8,
float4, int4, int2) are computed widened; graph inputs/outputs keep their bits (docs/narrow-formats.md).
"""
from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
from onnx import numpy_helper, version_converter

from ..ops import op_spec
from ..errors import AotError, Blocker, ShapeError, did_you_mean, unsupported_models_error
from ..ir import Graph
from ..ir.dtypes import np_dtype_of
from ..ir.formats import narrow_format, widen, widen_array
from .checks import attribute_problem, size_problem, type_constraint_problem
from .control_flow import EXPANDED_OPS, ControlFlowExpander, all_inputs
from .functions import expand_function_ops
from .legacy_hardmax import coerce_legacy_hardmax
from .legacy_resize import apply_legacy_resize_attributes, legacy_resize_attributes
from .legacy_scan import unbatch_legacy_scans
from .loader import check_outputs_produced, default_opset, load_onnx
from .narrow_io import add_decoded_input, bitcast_problem, cast_like_as_cast, encode_output, onnx_value
from .narrow_qdq import qdq_as_float_ops
from .node_eval import ValueDependentShape, arity_problem, evaluate, infer

CANONICAL_MIN_OPSET = 13
KEEP_UNFOLDED = ("DequantizeLinear",)


def import_onnx(source: str | Path | onnx.ModelProto, *, input_shapes: dict[str, tuple[int, ...]] | None = None,
                freeze_inputs: dict[str, np.ndarray] | None = None, name: str | None = None) -> Graph:
    """Import an ONNX model (path or ModelProto) into a Graph with static shapes."""
    if isinstance(source, onnx.ModelProto):
        model, model_name = source, name or (source.graph.name or "model")
    else:
        model, model_name = load_onnx(source), name or str(source)
    return _Importer(model, model_name, input_shapes or {}, freeze_inputs or {}).run()


class _Importer:
    def __init__(self, model: onnx.ModelProto, model_name: str, input_shapes: dict, freeze: dict):
        self.model_name = model_name
        self.input_shapes = {k: tuple(int(d) for d in v) for k, v in input_shapes.items()}
        self.freeze = freeze
        self.compiled_ops = _compiled_ops()  # asked per node below: gathered from the registry once
        self.model = expand_function_ops(self._canonical_opset(_inline_functions(model, model_name)),
                                         self._has_kernel)
        self.opsets = {imp.domain or "": imp.version for imp in self.model.opset_import}
        self.graph = Graph(name=_graph_name(model_name), opset=default_opset(self.model))
        self.ir_name: dict[str, str] = {}  # ONNX tensor name -> IR tensor name
        # Nodes that stop the compile; import goes on past them so one error lists them all. The
        # outputs of a blocked node have no known shape: nodes reading them are only checked for
        # whether any backend has their op.
        self.blockers: list[Blocker] = []
        self.unresolved: set[str] = set()
        self.control_flow = ControlFlowExpander(self)  # control flow, Optional, sequences: plain nodes here
        # IR tensor -> its ONNX dtype where that is a narrow format the IR computes widened
        self.onnx_dtypes: dict[str, str] = {}

    def _canonical_opset(self, model: onnx.ModelProto) -> onnx.ModelProto:
        """Bring old models to opset 13, where ops take their modern (input-based) forms."""
        if default_opset(model) >= CANONICAL_MIN_OPSET or not any(i.domain in ("", "ai.onnx") for i in model.opset_import):
            return model  # modern already, or no ONNX op to upgrade (only other domains, named as blockers)
        check_outputs_produced(model, self.model_name)  # onnx's converter crashes on dangling outputs
        legacy_resizes = legacy_resize_attributes(model, self.model_name, self.freeze) if default_opset(model) < 11 else {}
        if default_opset(model) < 9:  # Scan-8's batch axis: the converter drops it from shapes, not tensors
            model = unbatch_legacy_scans(model, self.model_name, self.input_shapes)
        try:
            upgraded = version_converter.convert_version(coerce_legacy_hardmax(model), CANONICAL_MIN_OPSET)
            upgraded.ir_version = max(upgraded.ir_version, 7)
            apply_legacy_resize_attributes(upgraded, legacy_resizes)
            return upgraded
        except Exception as exc:  # the converter raises bare RuntimeErrors/IndexErrors on odd models
            raise AotError(f"could not upgrade the model from opset {default_opset(model)} to "
                           f"{CANONICAL_MIN_OPSET}: {exc}", model=self.model_name) from None

    def error(self, cls, msg: str, node: str | None = None) -> AotError:
        return cls(msg, model=self.model_name, node=node)

    # -- steps ------------------------------------------------------------------------------------
    def run(self) -> Graph:
        g = self.model.graph
        self._validate_model()
        initializers = {i.name: i for i in g.initializer}
        # Checked before any input is read, so a misspelt name is reported rather than the dynamic
        # dimension the user was trying to fix with it.
        runtime_inputs = [i.name for i in g.input if i.name not in initializers]
        for flag, names in (("--input-shape", self.input_shapes), ("--fix-input", self.freeze)):
            unknown = set(names) - set(runtime_inputs)
            if unknown:
                raise self.error(AotError, f"{flag} names {', '.join(repr(u) for u in sorted(unknown))}, "
                                 f"but the model's inputs are {', '.join(repr(i) for i in runtime_inputs)}."
                                 f"{did_you_mean(sorted(unknown)[0], runtime_inputs)}")
        for inp in g.input:
            if inp.name in initializers:
                continue  # IR-3 style: the initializer wins, it is a constant
            if inp.name in self.freeze:
                fixed = self._fixed_value(inp, np.asarray(self.freeze[inp.name]))
                self.graph.fixed_inputs[inp.name] = fixed
                self._add_const(inp.name, fixed)
                continue
            self._add_input(inp)
        for init in g.initializer:
            self._add_const(init.name, self._initializer_values(init))
        for node in _topological(g.node, set(self.ir_name), self):
            self._import_node(node)
        if self.blockers:
            self._block_unsupported_imported_nodes()
            raise unsupported_models_error(self.blockers, self.model_name)
        for out in g.output:
            if out.name not in self.ir_name:
                raise self.error(AotError, f"graph output '{out.name}' is " +
                                 (self.control_flow.not_a_tensor(out.name) or "never produced"))
            self._check_declared_output(out)
            fmt = narrow_format(self._onnx_dtype(self.ir_name[out.name]))
            name = encode_output(self.graph, self.ir_name[out.name], out.name, fmt) if fmt else self.ir_name[out.name]
            self.graph.outputs.append(name)  # after encode_output, which replaces the list
        self.graph.source = self.model_name
        return self.graph

    def _fixed_value(self, vi: onnx.ValueInfoProto, value: np.ndarray) -> np.ndarray:
        """A value fixed for a graph input (``--fix-input``), in the input's dtype and declared shape."""
        try:
            dtype = np_dtype_of(vi.type.tensor_type.elem_type)
        except ValueError as exc:
            raise self.error(AotError, f"--fix-input {vi.name}: {exc}") from None
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
        shape = value.shape
        if vi.type.tensor_type.HasField("shape"):
            if len(dims) == 0 and value.size == 1:
                shape = ()
            elif len(dims) == 1 and value.ndim <= 1:
                shape = (value.size,)
            elif -1 not in dims and int(np.prod(dims)) == value.size:
                shape = tuple(dims)
            if len(shape) != len(dims) or any(d not in (-1, s) for d, s in zip(dims, shape)):
                raise self.error(AotError, f"--fix-input {vi.name}: {value.size} value(s) do not fit the input's "
                                 f"declared shape {[d if d >= 0 else '?' for d in dims]}")
        if value.dtype.kind in "fc" and np.dtype(dtype).kind in "iub" and not np.all(value == np.round(value)):
            raise self.error(AotError, f"--fix-input {vi.name}: the input is {dtype}, the values are not integers")
        return value.astype(dtype).reshape(shape)

    def _initializer_values(self, init: onnx.TensorProto) -> np.ndarray:
        """The initializer as an array, or an error saying how its data disagrees with its dims/type."""
        kind = onnx.TensorProto.DataType.Name(init.data_type) if init.data_type in onnx.TensorProto.DataType.values() \
            else str(init.data_type)
        if init.data_type in (onnx.TensorProto.UNDEFINED, onnx.TensorProto.STRING) or \
                init.data_type not in onnx.TensorProto.DataType.values():
            raise self.error(AotError, f"initializer '{init.name}' has element type {kind}; aot computes numeric "
                             f"and bool tensors")
        needed = 1
        for d in init.dims:
            needed *= d
        if needed > 2 ** 34:  # 16 G elements: no microcontroller or host model of this project's kind
            raise self.error(ShapeError, f"initializer '{init.name}' has dims {list(init.dims)} ({needed} elements), "
                             f"far more than a model compiled to C can hold")
        too_large = size_problem(tuple(init.dims), onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize)
        if too_large:
            raise self.error(ShapeError, f"initializer '{init.name}': {too_large}")
        try:
            values = numpy_helper.to_array(init)
        except (ValueError, TypeError, KeyError) as exc:
            raise self.error(ShapeError, f"initializer '{init.name}' ({kind}, dims {list(init.dims)}, {needed} "
                             f"elements): its data does not match ({str(exc).splitlines()[0]})") from None
        try:
            np_dtype_of(init.data_type)
        except ValueError as exc:
            raise self.error(AotError, f"initializer '{init.name}': {exc}") from None
        return values

    def _validate_model(self) -> None:
        if self.model.ir_version > onnx.IR_VERSION:
            raise self.error(AotError, f"IR version {self.model.ir_version} is newer than this onnx package "
                             f"reads (at most {onnx.IR_VERSION})")
        seen: set[str] = set()
        for init in self.model.graph.initializer:
            if init.name in seen:
                raise self.error(AotError, f"initializer '{init.name}' is defined twice")
            seen.add(init.name)
            if any(d < 0 for d in init.dims):
                raise self.error(ShapeError, f"initializer '{init.name}' has negative dimensions {list(init.dims)}")

    def _check_declared_output(self, vi: onnx.ValueInfoProto) -> None:
        """A graph output declared with a static shape or a dtype must be what the model computes."""
        t = self.graph.tensors[self.ir_name[vi.name]]
        tt = vi.type.tensor_type
        if tt.elem_type:
            try:
                declared = np_dtype_of(tt.elem_type)
            except ValueError:
                declared = None
            computed = self._onnx_dtype(t.name)
            if declared is not None and declared != computed:
                raise self.error(ShapeError, f"graph output '{vi.name}' is declared {declared}, the model computes "
                                 f"{computed}")
        if tt.HasField("shape") and all(d.HasField("dim_value") for d in tt.shape.dim):
            dims = [d.dim_value for d in tt.shape.dim]
            batch_free = dims[1:] == list(t.shape[1:]) and len(dims) == len(t.shape)  # a declared batch may differ
            if tuple(dims) != t.shape and not batch_free:
                raise self.error(ShapeError, f"graph output '{vi.name}' is declared with shape {dims}, the model "
                                 f"computes {list(t.shape)}")

    def _add_input(self, vi: onnx.ValueInfoProto) -> None:
        tt = vi.type.tensor_type
        if not vi.type.HasField("tensor_type"):
            raise self.error(AotError, f"input '{vi.name}' is not a tensor (sequences/maps are not supported)")
        try:
            dtype = np_dtype_of(tt.elem_type)
        except ValueError as exc:
            raise self.error(AotError, f"input '{vi.name}': {exc}; inputs must be float, integer or bool "
                             f"tensors") from None
        if vi.name in self.input_shapes:
            shape = self.input_shapes[vi.name]
            if len(shape) != len(tt.shape.dim):
                raise self.error(ShapeError, f"--input-shape {vi.name} has rank {len(shape)}, the model "
                                 f"declares rank {len(tt.shape.dim)}")
            _check_static_dims(vi, shape, self.error)
        elif not tt.HasField("shape"):
            raise self.error(ShapeError, f"input '{vi.name}' has no declared shape (unknown rank); give a "
                             f"static shape with --input-shape '{vi.name}=D0,D1,...'")
        else:
            shape = []
            for axis, d in enumerate(tt.shape.dim):
                if d.HasField("dim_value") and d.dim_value == 0:
                    raise self.error(ShapeError, f"input '{vi.name}' has a dimension of size 0 at axis {axis} "
                                     f"(shape {[x.dim_value if x.HasField('dim_value') else x.dim_param or '?' for x in tt.shape.dim]}): it "
                                     f"holds no values; give the size you need with --input-shape "
                                     f"'{vi.name}=D0,D1,...'")
                if d.HasField("dim_value") and d.dim_value < 0:
                    raise self.error(ShapeError, f"input '{vi.name}' declares dimension {d.dim_value} at axis {axis}; "
                                     f"ONNX dimensions are sizes (0 or more) or symbolic names. Give the shape with "
                                     f"--input-shape {_shape_flag(vi)}")
                if d.HasField("dim_value") and d.dim_value > 0:
                    shape.append(d.dim_value)
                elif axis == 0:
                    shape.append(1)
                    self.graph.notes.append(f"input '{vi.name}': dynamic batch dimension "
                                            f"'{d.dim_param or '?'}' set to 1")
                else:
                    raise self.error(ShapeError, f"input '{vi.name}' has a dynamic dimension "
                                     f"'{d.dim_param or '?'}' at axis {axis} (shape "
                                     f"{[x.dim_value or x.dim_param or '?' for x in tt.shape.dim]}); only a "
                                     f"leading batch dimension defaults to 1. Give a static shape with "
                                     f"--input-shape {_shape_flag(vi)} (replace the 1s of dynamic dimensions with "
                                     f"the sizes you need)")
        too_large = size_problem(tuple(shape), np.dtype(dtype).itemsize)
        if too_large:
            raise self.error(ShapeError, f"input '{vi.name}': {too_large}")
        fmt = narrow_format(dtype)
        if fmt is not None:  # the caller's bits, decoded into the wide twin the graph computes on
            self.ir_name[vi.name] = add_decoded_input(self.graph, vi.name, shape, fmt)
            self.onnx_dtypes[self.ir_name[vi.name]] = dtype
            return
        t = self.graph.add_tensor(vi.name, shape, dtype)
        self.ir_name[vi.name] = t.name
        self.graph.inputs.append(t.name)

    def _add_const(self, onnx_name: str, data: np.ndarray) -> str:
        t = self.graph.add_constant(onnx_name, widen_array(data))
        self.ir_name[onnx_name] = t.name
        if narrow_format(data.dtype.name):
            self.onnx_dtypes[t.name] = data.dtype.name
        return t.name

    def _onnx_dtype(self, ir_name: str) -> str:
        """The ONNX dtype of an IR tensor (a narrow format where the IR holds its wide twin)."""
        return self.onnx_dtypes.get(ir_name, self.graph.tensors[ir_name].dtype)

    def _onnx_data(self, ir_name: str):
        return onnx_value(self.graph.tensors[ir_name].data, self.onnx_dtypes.get(ir_name))

    def _import_node(self, node: onnx.NodeProto) -> None:
        node_name = node.name or (node.output[0] if node.output else node.op_type)
        for o in node.output:
            if o and o in self.ir_name:
                raise self.error(AotError, f"{node.op_type} writes tensor '{o}', which is already a graph input, "
                                 f"initializer or the output of another node; ONNX assigns each tensor once",
                                 node_name)
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            if len(node.attribute) != 1:
                raise self.error(AotError, f"Constant needs exactly one value attribute (value, value_float, "
                                 f"value_ints, ...), it has {len(node.attribute)}", node_name)
            try:
                value = evaluate(node, [], self.opsets)[0]
            except Exception as exc:  # onnx's evaluator raises its own types for malformed values
                raise self.error(AotError, f"Constant value cannot be read: {str(exc).splitlines()[0]}",
                                 node_name) from None
            self._add_const(node.output[0], value)
            return
        if node.op_type == "CastLike" and len(node.input) > 1 and node.input[1] in self.ir_name:
            like = narrow_format(self._onnx_dtype(self.ir_name[node.input[1]]))
            if like is not None:
                node = cast_like_as_cast(node, like)
        arity = arity_problem(node, self.opsets) or \
            attribute_problem(node, self.opsets.get(node.domain if node.domain != "ai.onnx" else "", 1))
        if arity is not None:
            raise self.error(ShapeError, f"invalid {node.op_type} (opset {self.opsets.get('', '?')}): {arity}", node_name)
        if self.control_flow.handles(node):
            reason = self.control_flow.expand(node)
            if reason is not None:
                # If's condition, Loop's trip count and condition: what fixing would let it unroll
                decisions = node.input[:1] if node.op_type == "If" else node.input[:2] if node.op_type == "Loop" else []
                deciding = self._graph_inputs_behind([i for i in decisions if i]) \
                    if "depends on input values" in reason else []
                self._block(node, node_name, reason, deciding_inputs=tuple(deciding))
                self.unresolved.update(o for o in node.output if o)
            return
        if any(i in self.unresolved for i in node.input if i):
            if not self._has_kernel(node.op_type, node.domain):
                self._block(node, node_name, "no backend implements this op")
            self.unresolved.update(o for o in node.output if o)
            return
        for i in node.input:
            if i and i not in self.ir_name:
                raise self.error(AotError, f"input '{i}' of {node.op_type} is " +
                                 (self.control_flow.not_a_tensor(i) or "never produced"), node_name)
        bits_lost = bitcast_problem(node, lambda name: self._onnx_dtype(self.ir_name[name]))
        if bits_lost:
            self._block(node, node_name, bits_lost)
            self.unresolved.update(o for o in node.output if o)
            return
        replacement = qdq_as_float_ops(node, lambda name: self.graph.tensors[self.ir_name[name]],
                                       lambda name: self._onnx_dtype(self.ir_name[name]),
                                       lambda name, value: self._add_const(name, value) and name,
                                       lambda: {o for n in self.model.graph.node for o in n.output} | set(self.ir_name))
        if replacement is not None:
            for part in replacement:
                self._import_node(part)
            return
        inputs = [(i, self.graph.tensors[self.ir_name[i]]) if i else None for i in node.input]
        wrong_types = type_constraint_problem(node, [self._onnx_dtype(x[1].name) if x else None for x in inputs],
                                              self.opsets.get(node.domain if node.domain != "ai.onnx" else "", 1))
        if wrong_types:
            raise self.error(ShapeError, f"invalid {node.op_type} (opset {self.opsets.get('', '?')}): {wrong_types}",
                             node_name)
        if node.op_type in ("Shape", "Size") and node.domain in ("", "ai.onnx") and inputs and inputs[0]:
            # Shapes are static after import: Shape/Size of any tensor is a constant, which lets
            # Shape->Gather->Concat->Reshape chains fold.
            src = inputs[0][1]
            # A zero-strided view: Shape/Size read only the shape, and a huge input allocates nothing
            placeholder = np.broadcast_to(np.zeros((), src.dtype), src.shape)
            self._add_const(node.output[0], evaluate(node, [(inputs[0][0], placeholder)], self.opsets)[0])
            return
        if (node.op_type == "CastLike" and node.domain in ("", "ai.onnx") and len(inputs) == 2 and inputs[0]
                and inputs[0][1].is_constant and inputs[1] and not inputs[1][1].is_constant):
            # CastLike reads only the dtype of its second input: a constant cast like a runtime tensor
            # (attention bodies cast -inf like Q) is a constant.
            like = inputs[1][1]
            placeholder = np.broadcast_to(np.zeros((), like.dtype), like.shape)
            self._add_const(node.output[0], evaluate(node, [(inputs[0][0], inputs[0][1].data),
                                                            (inputs[1][0], placeholder)], self.opsets)[0])
            return
        # DequantizeLinear of constant weights stays a node: QDQ lowering needs the int8 weights and
        # their scales; the fold_constants pass turns what remains into float constants.
        foldable = node.op_type not in KEEP_UNFOLDED
        if foldable and all(x is None or x[1].is_constant for x in inputs) and any(x is not None for x in inputs):
            if self._fold(node, inputs, node_name):
                return
        try:
            out_types = infer(node, [(n, t.shape, self._onnx_dtype(t.name), t.data if t.data is None else
                                      self._onnx_data(t.name)) for n, t in (x for x in inputs if x)], self.opsets)
        except ValueDependentShape as exc:
            deciding = self._graph_inputs_behind(exc.runtime_inputs)
            fix = (f"; fixing graph input {', '.join(repr(i) for i in deciding)} at compile time "
                   f"(--fix-input NAME=VALUES) would make it static" if deciding else "")
            self._block(node, node_name, f"not supported: output shape depends on input values (of "
                        f"{', '.join(repr(i) for i in exc.runtime_inputs)}, computed at run time{fix})",
                        deciding_inputs=tuple(deciding))
            self.unresolved.update(o for o in node.output if o)
            return
        except Exception as exc:
            default = node.domain in ("", "ai.onnx")
            known = onnx.defs.has(node.op_type) if default else self._has_kernel(node.op_type, node.domain)
            if not known or _has_subgraph(node):
                self._block(node, node_name, _why_unknown(node, self.opsets))
                self.unresolved.update(o for o in node.output if o)
                return
            raise self.error(ShapeError, f"shape inference failed for {node.op_type} with input shapes "
                             f"{[x[1].shape if x else None for x in inputs]}: {str(exc).splitlines()[0]}",
                             node_name) from None
        outputs = []
        present = iter(out_types)
        for o in node.output:
            if not o:
                outputs.append("")
                continue
            shape, dtype = next(present)
            too_large = size_problem(tuple(shape), np.dtype(dtype).itemsize)
            if too_large:
                raise self.error(ShapeError, f"{node.op_type} output '{o}': {too_large}", node_name)
            t = self.graph.add_tensor(o, shape, widen(dtype))
            if narrow_format(dtype):
                self.onnx_dtypes[t.name] = dtype
            self.ir_name[o] = t.name
            outputs.append(t.name)
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
        ir_node = self.graph.make_node(node.op_type, [self.ir_name[i] if i else "" for i in node.input],
                                       outputs, attrs, name=node_name, domain=node.domain)
        ir_node.meta["onnx_name"] = node.name
        if node.domain not in ("", "ai.onnx"):
            ir_node.meta["domain_opset"] = self.opsets.get(node.domain, "not declared")
        self._validate(ir_node, node_name)
        self._check_output_sizes(ir_node, node_name)
        self.graph.nodes.append(ir_node)

    def _has_kernel(self, op_type: str, domain: str) -> bool:
        return (op_type if domain in ("", "ai.onnx") else f"{domain}.{op_type}") in self.compiled_ops

    def _block(self, node: onnx.NodeProto, node_name: str, reason: str,
               deciding_inputs: tuple[str, ...] = ()) -> None:
        domain = node.domain if node.domain not in ("", "ai.onnx") else ""
        op = f"{domain}.{node.op_type}" if domain else node.op_type
        dtypes = sorted({self.graph.tensors[self.ir_name[i]].dtype for i in node.input if i in self.ir_name})
        self.blockers.append(Blocker(op, self.opsets.get(domain, "not declared"), node_name, reason, ", ".join(dtypes),
                                     deciding_inputs))

    def _graph_inputs_behind(self, tensors: list[str]) -> list[str]:
        """The graph inputs whose values flow into ``tensors`` (ONNX names; in the model's input order).
        Imported tensors are traced through the imported nodes (control flow's unrolled bodies and the
        decoding of narrow-format inputs too), the others through the model's nodes; folded constants
        depend on no input."""
        producers = self.graph.producers()
        onnx_producer = {o: n for n in self.model.graph.node for o in n.output if o}
        found: set[str] = set()
        seen_ir: set[str] = set()
        seen_onnx: set[str] = set()
        ir_stack: list[str] = []
        onnx_stack = list(tensors)
        while ir_stack or onnx_stack:
            if onnx_stack:
                name = onnx_stack.pop()
                if name in seen_onnx:
                    continue
                seen_onnx.add(name)
                if name in self.ir_name:
                    ir_stack.append(self.ir_name[name])
                elif name in onnx_producer:
                    onnx_stack.extend(i for i in onnx_producer[name].input if i)
                continue
            ir = ir_stack.pop()
            if ir in seen_ir or self.graph.tensors[ir].is_constant:
                continue
            seen_ir.add(ir)
            if ir in self.graph.inputs:
                found.add(self.graph.tensors[ir].onnx_name or ir)
            elif ir in producers:
                ir_stack.extend(producers[ir].present_inputs)
        return [i.name for i in self.model.graph.input if i.name in found]

    def _block_unsupported_imported_nodes(self) -> None:
        """Imported nodes whose op no backend has join the blockers (their other checks come later)."""
        for n in self.graph.nodes:
            if not self._has_kernel(n.op_type, n.domain):
                dtypes = sorted({self.graph.tensors[i].dtype for i in n.present_inputs})
                self.blockers.append(Blocker(n.op_type, self.opsets.get(n.domain, "not declared"),
                                             n.meta.get("onnx_name") or n.name, "no backend implements this op",
                                             ", ".join(dtypes)))

    def _validate(self, node, node_name: str) -> None:
        """The op table's checks of attributes and operand shapes, before anything relies on them."""
        spec = op_spec(node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}.{node.op_type}")
        if spec is not None and spec.validate is not None:
            reason = spec.validate(self.graph, node)
            if reason is not None:
                raise self.error(ShapeError, f"invalid {node.op_type} (opset {self.opsets.get('', '?')}): {reason}",
                                 node_name)

    def _check_output_sizes(self, node, node_name: str) -> None:
        """ONNX shape inference gives negative sizes (a Pad removing more than an axis holds) and, for
        a window larger than its padded input, empty Conv and pool outputs without complaint; their C
        kernels have nothing to compute. Other ops' empty outputs (Slice, Split, reductions of empty
        sets) are ONNX semantics aot keeps. Runs after the op's own checks, whose messages say more."""
        spec = op_spec(node.op_type)
        windowed = spec is not None and spec.family in ("conv", "pool")
        for o in node.outputs:
            shape = self.graph.tensors[o].shape if o else ()
            if any(d < 0 for d in shape) or (windowed and any(d == 0 for d in shape)):
                what = "a negative size" if min(shape) < 0 else "no values"
                raise self.error(ShapeError, f"invalid {node.op_type} (opset {self.opsets.get('', '?')}): its output "
                                 f"'{o}' would have shape {list(shape)}, {what}", node_name)

    def _fold(self, node: onnx.NodeProto, inputs, node_name: str) -> bool:
        try:
            results = evaluate(node, [(n, self._onnx_data(t.name)) for n, t in (x for x in inputs if x)], self.opsets)
        except Exception:
            return False  # not evaluable here (e.g. custom domain): keep the node, let support checks speak
        for o, r in zip([o for o in node.output if o], results):
            self._add_const(o, np.asarray(r))
        return True


def _shape_flag(vi: onnx.ValueInfoProto) -> str:
    """An --input-shape value for ``vi`` with 1 wherever the model gives no positive size."""
    dims = [str(d.dim_value) if d.HasField("dim_value") and d.dim_value > 0 else "1" for d in vi.type.tensor_type.shape.dim]
    return shlex.quote(f"{vi.name}=" + ",".join(dims))


def _check_static_dims(vi: onnx.ValueInfoProto, shape: tuple[int, ...], error) -> None:
    """--input-shape sets dynamic dimensions only: a static size it contradicts would compile another
    model than the one exported (its weights fit the declared size), so it is refused, not ignored."""
    dims = vi.type.tensor_type.shape.dim
    declared = [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]
    clashes = [axis for axis, (d, s) in enumerate(zip(declared, shape)) if d is not None and d != s]
    if clashes:
        shown = [d if d is not None else (x.dim_param or "?") for d, x in zip(declared, dims)]
        axes = ", ".join(f"axis {a}: {declared[a]} vs {shape[a]}" for a in clashes)
        raise error(ShapeError, f"--input-shape {vi.name}={','.join(map(str, shape))} contradicts the static shape "
                    f"{shown} the model declares for input '{vi.name}' ({axes}); --input-shape only sets dynamic "
                    f"dimensions: drop it, or give the declared sizes on the static axes")


def _has_subgraph(node: onnx.NodeProto) -> bool:
    # ONNX's If, Loop and Scan are unrolled at import (control_flow.py); other ops with subgraphs are not.
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _inline_functions(model: onnx.ModelProto, model_name: str) -> onnx.ModelProto:
    """Model-local functions (torch.onnx dynamo exports wrap modules in them) replaced by their bodies."""
    if not model.functions:
        return model
    try:
        return onnx.inliner.inline_local_functions(model)
    except Exception as exc:  # noqa: BLE001 - the C++ inliner raises bare RuntimeErrors
        raise AotError(f"could not inline the model's {len(model.functions)} local functions: "
                       f"{str(exc).splitlines()[0]}", model=model_name) from None


# Ops the importer computes itself (shapes are static, constants fold) or expands (control flow,
# Optional, sequences: control_flow.py; SequenceMap is unrolled there, not through its function body).
IMPORTER_OPS = ("Shape", "Size", "Constant") + EXPANDED_OPS


def _compiled_ops() -> frozenset[str]:
    """Default-domain ops aot compiles: every backend's kernels and the importer's own."""
    # Imported here: the frontend does not otherwise depend on backends, only this check does.
    from ..backends.registry import REGISTRY
    return frozenset(IMPORTER_OPS).union(*(REGISTRY.get(name).supported_ops() for name in REGISTRY.names()))


def _why_unknown(node: onnx.NodeProto, opsets: dict[str, int]) -> str:
    domain = node.domain if node.domain not in ("", "ai.onnx") else ""
    if _has_subgraph(node):
        return ("control flow (subgraphs) of this op is not compiled; aot unrolls ONNX's If, Loop and Scan only; "
                "export the model with the loop unrolled or the branch fixed")
    if domain and domain not in opsets:
        return f"its domain '{domain}' is not declared in the model's opset_import"
    if domain == "ai.onnx.ml":
        return "aot compiles a few numeric ai.onnx.ml ops (`aot ops` lists them), not this one"
    if domain:
        return f"custom domain '{domain}': no backend implements it (a plug-in backend can, see docs/adding-an-op.md)"
    return "no backend implements this op"


def _graph_name(model_name: str) -> str:
    return Path(model_name).stem or "model"


def _topological(nodes, available: set[str], imp: _Importer) -> list[onnx.NodeProto]:
    """Nodes in a valid order: the file's own when it is one (it is the author's schedule), else a
    depth-first order; cycles are errors."""
    seen = set(available) | {""}
    for n in nodes:
        if not all(i in seen for i in all_inputs(n)):
            break
        seen.update(n.output)
    else:
        return list(nodes)
    produced_by = {o: i for i, n in enumerate(nodes) for o in n.output if o}
    order, state = [], [0] * len(nodes)  # 0 new, 1 on stack, 2 done
    for start in range(len(nodes)):
        if state[start]:
            continue
        stack = [(start, iter([i for i in all_inputs(nodes[start]) if i in produced_by]))]
        state[start] = 1
        while stack:  # iterative DFS: no recursion limit on deep models
            idx, deps = stack[-1]
            dep = next(deps, None)
            if dep is None:
                stack.pop()
                state[idx] = 2
                order.append(nodes[idx])
                continue
            j = produced_by[dep]
            if state[j] == 1:
                cycle = [nodes[k].name or nodes[k].op_type for k, _ in stack[[s[0] for s in stack].index(j):]]
                raise imp.error(AotError, "the graph has a cycle through nodes " + " -> ".join(cycle) +
                                "; ONNX graphs must be acyclic")
            if state[j] == 0:
                state[j] = 1
                stack.append((j, iter([i for i in all_inputs(nodes[j]) if i in produced_by])))
    return order
