"""IR -> ONNX, for Netron and for cross-checking passes in ONNX Runtime.

Non-ONNX annotations are expanded back into standard nodes: a fused activation becomes the op
followed by its activation node. Attributes the op's ONNX schema does not define (compiler
annotations, keys starting with "_") are dropped. Graph inputs and outputs keep their original
ONNX names, so the exported model is a drop-in replacement for the source model; every other
tensor carries its IR (C) name.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .composite import expand_composites
from .export_qdq import QdqNodes, needs_qdq
from .dtypes import np_dtype_of, onnx_elem_type
from .graph import Graph, Node
from .names import NameTable


def _min_opset(op_type: str) -> int:
    """The opset that introduced an op (a fused activation can reintroduce one newer than 13)."""
    from ..ops import op_spec
    spec = op_spec(op_type)
    return (spec.min_opset or 0) if spec else 0


def _channels_first_in_onnx(op_type: str) -> bool:
    """ONNX defines layout-sensitive ops channels-first: a layer converted to channels-last exports
    wrapped in Transposes."""
    from ..ops import is_layout_sensitive
    return is_layout_sensitive(op_type)


class _Exporter:
    def __init__(self, graph: Graph, opset: int):
        self.graph = graph
        self.opset = opset
        self.names = self._io_names()
        self.taken = NameTable(reserved=set(graph.tensors) | set(self.names.values()))
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.qdq = QdqNodes(graph, self.fresh, self.nodes, self.initializers)

    def _io_names(self) -> dict[str, str]:
        """IR name -> original ONNX name for graph inputs and outputs, when that name is free."""
        others = set(self.graph.tensors)
        renamed: dict[str, str] = {}
        for name in list(self.graph.inputs) + list(self.graph.outputs):
            onnx_name = self.graph.tensors[name].onnx_name
            if not onnx_name or onnx_name == name or name in renamed:
                continue
            # An IR tensor already called like the ONNX name keeps it; this one keeps its IR name.
            if onnx_name in others and onnx_name not in renamed or onnx_name in renamed.values():
                continue
            renamed[name] = onnx_name
        return renamed

    def name(self, ir_name: str) -> str:
        return self.names.get(ir_name, ir_name) if ir_name else ""

    def fresh(self, base: str) -> str:
        return self.taken.unique(base)

    def value_info(self, ir_name: str) -> onnx.ValueInfoProto:
        t = self.graph.tensors[ir_name]
        return helper.make_tensor_value_info(self.name(ir_name), onnx_elem_type(t.dtype), list(t.shape))

    def attrs(self, op_type: str, domain: str, attrs: dict) -> dict:
        attrs = {k: v for k, v in attrs.items() if k != "activation" and not k.startswith("_")}
        if domain in ("", "ai.onnx"):
            try:
                known = onnx.defs.get_schema(op_type, self.opset, "").attributes
            except onnx.defs.SchemaError:
                return attrs
            attrs = {k: v for k, v in attrs.items() if k in known}
        return attrs

    def _channels_last(self, node: Node) -> bool:
        layout = self.graph.tensors[node.inputs[0]].layout if node.inputs else None
        return _channels_first_in_onnx(node.op_type) and bool(layout) and layout[1] != "C" and layout[-1] == "C"

    def _to_channels_first(self, node: Node, inputs: list[str], outputs: list[str]) -> tuple[list[str], list[str], str]:
        """Transpose the data input to channels-first and the weight to O,I,spatial; returns the
        new inputs/outputs and the channels-first output name to transpose back."""
        rank = len(self.graph.tensors[node.inputs[0]].shape)
        to_first = [0, rank - 1] + list(range(1, rank - 1))
        x_first = self.fresh(f"{node.inputs[0]}__channels_first")
        self.nodes.append(helper.make_node("Transpose", [inputs[0]], [x_first], perm=to_first,
                                           name=self.fresh(f"{node.name}__to_channels_first")))
        inputs = [x_first] + inputs[1:]
        from ..ops import op_spec
        widx = op_spec(node.op_type).weight_input
        if widx is not None and widx < len(node.inputs) and node.inputs[widx]:
            w = self.graph.tensors[node.inputs[widx]]
            if w.layout and w.layout[-1] == "I" and w.data is not None:  # OHWI -> OIHW
                w_first = self.fresh(f"{node.inputs[widx]}__oihw")
                perm = [0, len(w.shape) - 1] + list(range(1, len(w.shape) - 1))
                if inputs[widx] != self.name(node.inputs[widx]):  # dequantized (QDQ export): transpose the float
                    self.nodes.append(helper.make_node("Transpose", [inputs[widx]], [w_first], perm=perm,
                                                       name=self.fresh(f"{node.name}__weight_to_oihw")))
                else:
                    self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(w.data.transpose(perm)),
                                                                     w_first))
                inputs[widx] = w_first
        y_first = self.fresh(f"{node.outputs[0]}__channels_first")
        return inputs, [y_first] + outputs[1:], y_first

    def add_node(self, node: Node) -> None:
        inputs = [self.name(i) for i in node.inputs]
        outputs = [self.name(o) for o in node.outputs]
        if needs_qdq(self.graph, node):  # an integer layer: DequantizeLinear -> float op -> QuantizeLinear
            quantized = outputs
            inputs = [self.qdq.dequantized(i, n) for i, n in zip(node.inputs, inputs)]
            outputs = [self.qdq.float_output(o, n) for o, n in zip(node.outputs, outputs)]
            self._add_float_node(node, inputs, outputs)
            for ir_name, float_name, name in zip(node.outputs, outputs, quantized):
                if ir_name:
                    self.qdq.quantize(ir_name, float_name, name)
            return
        self._add_float_node(node, inputs, outputs)

    def _add_float_node(self, node: Node, inputs: list[str], outputs: list[str]) -> None:
        if self._channels_last(node):
            final = outputs[0]
            inputs, outputs, y_first = self._to_channels_first(node, inputs, outputs)
            rank = len(self.graph.tensors[node.outputs[0]].shape)
            self._emit(node, inputs, outputs)
            self.nodes.append(helper.make_node("Transpose", [y_first], [final], perm=[0] + list(range(2, rank)) + [1],
                                               name=self.fresh(f"{node.name}__to_channels_last")))
            return
        self._emit(node, inputs, outputs)

    def _emit(self, node: Node, inputs: list[str], outputs: list[str]) -> None:
        out_dtype = self.graph.tensors[node.outputs[0]].dtype if node.outputs and node.outputs[0] else None
        if node.op_type == "Cast" and out_dtype and np_dtype_of(int(node.attrs["to"])) != out_dtype:
            # A Cast to a narrow format inside the graph computes in its wide twin (aot/ir/formats.py): in
            # ONNX that is the Cast to the format, then back
            narrow = self.fresh(f"{node.outputs[0]}__narrow")
            self.nodes.append(helper.make_node("Cast", inputs[:1], [narrow], name=node.name,
                                               **self.attrs(node.op_type, node.domain, node.attrs)))
            self.nodes.append(helper.make_node("Cast", [narrow], outputs, name=self.fresh(f"{node.name}__widen"),
                                               to=onnx_elem_type(out_dtype)))
            return
        act = node.attrs.get("activation")
        if act:
            pre = self.fresh(f"{node.outputs[0]}__pre_{act['op_type'].lower()}")
            act_out, outputs = outputs[0], [pre] + outputs[1:]
        self.nodes.append(helper.make_node(node.op_type, inputs, outputs, name=node.name,
                                           domain=node.domain or None,
                                           **self.attrs(node.op_type, node.domain, node.attrs)))
        if act:
            self.add_activation(node, act, pre, act_out)

    def add_activation(self, node: Node, act: dict, src: str, dst: str) -> None:
        attrs = dict(act.get("attrs", {}))
        inputs = [src]
        if act["op_type"] == "Clip":  # opset >= 11 takes the bounds as inputs
            for key in ("min", "max"):
                if key in attrs:
                    const = self.fresh(f"{node.outputs[0]}__clip_{key}")
                    self.initializers.append(numpy_helper.from_array(np.array(attrs.pop(key), np.float32), const))
                    inputs.append(const)
                else:
                    inputs.append("")
            while inputs[-1] == "":
                inputs.pop()
        self.nodes.append(helper.make_node(act["op_type"], inputs, [dst], name=self.fresh(
            f"{node.name}__{act['op_type'].lower()}"), **attrs))

    def add_constant_output(self, ir_name: str) -> None:
        # A graph output with no producer (everything folded): a Constant node keeps it an output.
        data = np.asarray(self.graph.tensors[ir_name].data)
        self.nodes.append(helper.make_node("Constant", [], [self.name(ir_name)],
                                           name=self.fresh(f"{ir_name}__const"),
                                           value=numpy_helper.from_array(data, self.name(ir_name))))

    def run(self) -> onnx.ModelProto:
        g = self.graph
        for n in g.nodes:
            self.add_node(n)
        produced = {o for n in g.nodes for o in n.outputs if o}
        for o in g.outputs:
            if o not in produced and g.tensors[o].is_constant:
                self.add_constant_output(o)
        used = {i for n in g.nodes for i in n.inputs if i}
        for name in sorted(used):
            t = g.tensors[name]
            if t.is_constant and name not in g.inputs:
                self.initializers.append(numpy_helper.from_array(np.asarray(t.data), self.name(name)))
        internal = sorted(produced - set(g.inputs) - set(g.outputs))
        graph = helper.make_graph(self.nodes, g.name, [self.value_info(i) for i in g.inputs],
                                  [self.value_info(o) for o in g.outputs], self.initializers,
                                  value_info=[self.value_info(n) for n in internal])
        domains = sorted({n.domain for n in g.nodes if n.domain not in ("", "ai.onnx")})
        model = helper.make_model(graph, producer_name="aot", opset_imports=[helper.make_opsetid("", self.opset)] +
                                  [helper.make_opsetid(d, 1) for d in domains])
        model.ir_version = min(model.ir_version, 8)  # loadable by older onnxruntime releases
        return model


def to_onnx(graph: Graph, opset: int | None = None) -> onnx.ModelProto:
    """The graph as an ONNX model (opset at least 13, the form the importer canonicalises to); composite
    nodes export as the ops they stand for."""
    graph = expand_composites(graph)
    ops = {n.op_type for n in graph.nodes} | {n.attrs["activation"]["op_type"] for n in graph.nodes
                                              if n.attrs.get("activation")}
    needed = max([13, opset or graph.opset] + [_min_opset(op) for op in ops])
    return _Exporter(graph, needed).run()
