"""Post-training static quantization of a float IR graph into QDQ form.

Like ONNX Runtime's quantizer output: the model keeps its float inputs and outputs; every quantized
layer reads DequantizeLinear(int8) and its output goes through QuantizeLinear -> DequantizeLinear.
Weights are symmetric int8 per output channel (axis from the tensor's layout / the op), biases
int32 with scale input_scale * weight_scale, activations asymmetric int8 per tensor from calibrated
ranges; fused Relu/Clip are folded into the output range. ``aot.quant.lower_qdq`` then compiles the
result to integer kernels, exactly like a QDQ model from elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..backends.registry import REGISTRY, Backend
from ..ir import Graph, Node
from ..ops import Int8Form, op_spec
from ..ops.common import constant_operands
from .config import QuantConfig
from .weight_scales import fit_bias, share_dead_scales, symmetric_scales

@dataclass
class ActivationQuant:
    scale: float
    zero_point: int


def affine_params(lo: float, hi: float) -> ActivationQuant:
    """Asymmetric int8 covering [lo, hi] (which contains 0, so 0 is exactly representable)."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo < 1e-12:
        return ActivationQuant(1.0, 0)
    scale = (hi - lo) / 255.0
    zp = int(np.clip(np.round(-128 - lo / scale), -128, 127))
    return ActivationQuant(float(np.float32(scale)), zp)


def int8_form(op_type: str) -> Int8Form | None:
    spec = op_spec(op_type)
    return spec.int8 if spec is not None else None


def lowered_op(op_type: str) -> str:
    """The integer IR op a quantized layer becomes (the op a backend's int8 kernel must claim)."""
    form = int8_form(op_type)
    return form.lowers_to or op_type if form is not None else op_type


def shares_input_scale(op_type: str) -> bool:
    """The output keeps the input's scale: data movement, and ops that pick input values (MaxPool)."""
    form = int8_form(op_type)
    return form is not None and form.rule in ("data_movement", "same_scale")


def is_compute_layer(node: Node) -> bool:
    """A layer PTQ quantizes for its own sake (data movement only follows an int8 input)."""
    form = int8_form(node.op_type)
    return form is None or form.rule != "data_movement"


def quantizable(graph: Graph, node: Node, backends: list[Backend] | None = None) -> bool:
    """Whether lower_qdq will be able to turn this layer into an integer kernel: the op table's
    integer form accepts the layer and a backend claims the int8 op (an op the table has no integer
    form for is quantizable when a plug-in backend claims it)."""
    fused = node.attrs.get("activation")
    if node.domain or (fused and op_spec(fused["op_type"]).unary.int8_range is None):
        return False
    backends = backends if backends is not None else [REGISTRY.get("ref")]
    if not any(b.supports_int8(lowered_op(node.op_type)) for b in backends):
        return False
    form = int8_form(node.op_type)
    if form is not None and form.quantizable is not None:
        return form.quantizable(graph, node)
    acts = form.activation_inputs if form is not None else None
    return constant_operands(graph, node, acts) and any(not graph.tensors[i].is_constant for i in node.present_inputs)


def select_layers(graph: Graph, config: QuantConfig, backends: list[Backend] | None = None) -> list[Node]:
    """Compute layers that will be int8, then data-movement layers whose input is int8 anyway."""
    chosen: list[Node] = []
    int8_tensors: set[str] = set()
    for node in graph.nodes:
        if config.keeps_float(node):
            node.meta["precision"] = "float"  # chosen by the user: lower_qdq must not call it a failure
            continue
        if not quantizable(graph, node, backends):
            continue
        if is_compute_layer(node) or node.inputs[0] in int8_tensors:
            chosen.append(node)
            int8_tensors.update(o for o in node.outputs if o)
    return chosen


def activation_tensors(graph: Graph, layers: list[Node]) -> list[str]:
    """Every non-constant tensor read or written by a quantized layer, in first-use order."""
    names: list[str] = []
    for node in layers:
        for t in [i for i in node.present_inputs if not graph.tensors[i].is_constant] + [o for o in node.outputs if o]:
            if t not in names:
                names.append(t)
    return names


def choose_activation_params(graph: Graph, layers: list[Node], ranges: dict[str, tuple[float, float]],
                             config: QuantConfig) -> dict[str, ActivationQuant]:
    params: dict[str, ActivationQuant] = {}
    for name, (lo, hi) in ranges.items():
        pinned = config.for_tensor(name, graph.tensors[name].onnx_name)
        if "scale" in pinned:
            params[name] = ActivationQuant(float(pinned["scale"]), int(pinned.get("zero_point", 0)))
        else:
            params[name] = affine_params(lo, hi)
    for node in layers:  # outputs whose scale is dictated by the op, in schedule order
        out = node.outputs[0]
        form = int8_form(node.op_type)
        if shares_input_scale(node.op_type):
            params[out] = params[node.inputs[0]]
        elif form is not None and form.output_quant is not None:
            params[out] = ActivationQuant(*form.output_quant)
    return params


def _has_weights(node: Node) -> bool:
    form = int8_form(node.op_type)
    return form is not None and form.weight_axis is not None


def _weight_absmax(data: np.ndarray, axis: int, per_channel: bool) -> np.ndarray:
    if per_channel:
        return np.abs(data).max(axis=tuple(a for a in range(data.ndim) if a != axis))
    return np.array([np.abs(data).max()])


def _quantize_weight(data: np.ndarray, scale: np.ndarray, axis: int, per_channel: bool) -> np.ndarray:
    shape = [1] * data.ndim
    if per_channel:
        shape[axis] = -1
    return np.clip(np.round(data / scale.reshape(shape)), -127, 127).astype(np.int8)


class _Rewriter:
    def __init__(self, graph: Graph, layers: list[Node], params: dict[str, ActivationQuant], config: QuantConfig):
        self.g = graph
        self.layers = {id(n) for n in layers}
        self.params = params
        self.config = config
        self.dq_of: dict[str, str] = {}  # float tensor -> its DequantizeLinear(QuantizeLinear(.)) twin
        self.origin: dict[str, str] = {}  # twin -> the float tensor whose parameters it carries

    def scalar_params(self, base: str, q: ActivationQuant) -> tuple[str, str]:
        s = self.g.add_constant(base + "_scale", np.array(q.scale, np.float32))
        z = self.g.add_constant(base + "_zero_point", np.array(q.zero_point, np.int8))
        return s.name, z.name

    def qdq(self, src: str, dst_float: str, q: ActivationQuant) -> list[Node]:
        """QuantizeLinear(src) -> int8 -> DequantizeLinear -> dst_float."""
        t = self.g.tensors[src]
        s, z = self.scalar_params(dst_float, q)
        qt = self.g.add_tensor(dst_float + "_q", t.shape, "int8", layout=t.layout)
        return [self.g.make_node("QuantizeLinear", [src, s, z], [qt.name], name=dst_float + "_quantize"),
                self.g.make_node("DequantizeLinear", [qt.name, s, z], [dst_float], name=dst_float + "_dequantize")]

    def input_twin(self, name: str) -> list[Node]:
        """A dequantized copy of a float tensor that a quantized layer reads but no quantized layer wrote."""
        if name in self.dq_of:
            return []
        t = self.g.tensors[name]
        twin = self.g.add_tensor(name + "_dq", t.shape, "float32", layout=t.layout)
        self.dq_of[name] = twin.name
        self.origin[twin.name] = name
        return self.qdq(name, twin.name, self.params[name])

    def weights(self, node: Node) -> list[Node]:
        """Replace the float weight (and bias) of a Conv/Gemm/MatMul with DQ(int8) (and DQ(int32))."""
        new: list[Node] = []
        w_name = node.inputs[1]
        w = self.g.tensors[w_name]
        axis = int8_form(node.op_type).weight_axis(node)
        per_channel = self.config.for_layer(node).get("granularity", "per_channel") == "per_channel"
        data = np.asarray(w.data, np.float32)
        scale = symmetric_scales(_weight_absmax(data, axis, per_channel))
        has_bias = len(node.inputs) > 2 and bool(node.inputs[2])
        if has_bias:
            # The bias's input scale is known before the weights are rounded: a near-dead channel's
            # scale is raised so its int32 bias stays clear of the limits (weight_scales.py).
            b = np.asarray(self.g.tensors[node.inputs[2]].data, np.float64).reshape(-1)
            sx = self.params[self.origin.get(node.inputs[0], node.inputs[0])].scale
            scale = fit_bias(scale, np.broadcast_to(b, scale.shape) if per_channel else b, sx)
        q = _quantize_weight(data, scale, axis, per_channel)
        if per_channel:  # the zeros stay zeros at the larger scale: q is unchanged
            scale = share_dead_scales(scale, ~q.any(axis=tuple(a for a in range(q.ndim) if a != axis)))
        wq = self.g.add_constant(w_name + "_quantized", q, layout=w.layout)
        ws = self.g.add_constant(w_name + "_scale", scale if per_channel else scale.reshape(()))
        wz = self.g.add_constant(w_name + "_zero_point", np.zeros(scale.shape if per_channel else (), np.int8))
        wf = self.g.add_tensor(w_name + "_dq", w.shape, "float32", layout=w.layout)
        new.append(self.g.make_node("DequantizeLinear", [wq.name, ws.name, wz.name], [wf.name],
                                    {"axis": axis} if per_channel else {}, name=w_name + "_dequantize"))
        node.inputs[1] = wf.name
        if has_bias:
            b_name = node.inputs[2]
            channels = q.shape[axis] if per_channel else b.size
            b_scale = (np.float64(sx) * np.broadcast_to(scale.astype(np.float64), (channels,))).astype(np.float32)
            b = np.broadcast_to(b, (channels,))
            bq = self.g.add_constant(b_name + "_quantized",
                                     np.clip(np.round(b / b_scale.astype(np.float64)), -2**31, 2**31 - 1).astype(np.int32))
            bs = self.g.add_constant(b_name + "_scale", b_scale)
            bz = self.g.add_constant(b_name + "_zero_point", np.zeros(channels, np.int32))
            bf = self.g.add_tensor(b_name + "_dq", (channels,), "float32")
            new.append(self.g.make_node("DequantizeLinear", [bq.name, bs.name, bz.name], [bf.name], {"axis": 0},
                                        name=b_name + "_dequantize"))
            node.inputs[2] = bf.name
        return new

    def run(self) -> Graph:
        out: list[Node] = []
        for node in self.g.nodes:
            if id(node) not in self.layers:
                out.append(node)
                continue
            for i, name in enumerate(node.inputs):
                if name and not self.g.tensors[name].is_constant and name not in self.dq_of.values():
                    out += self.input_twin(name)
                    node.inputs[i] = self.dq_of[name]
            if _has_weights(node):
                out += self.weights(node)
            out.append(node)
            result = node.outputs[0]
            t = self.g.tensors[result]
            pre = self.g.add_tensor(result + "_prequant", t.shape, "float32", layout=t.layout)
            node.outputs[0] = pre.name
            out += self.qdq(pre.name, result, self.params[result])
            # The layer's consumers now read the dequantized twin, which is the original tensor name.
            self.dq_of[result] = result
        self.g.nodes = out
        return self.g


def insert_qdq(graph: Graph, ranges: dict[str, tuple[float, float]], config: QuantConfig,
               layers: list[Node] | None = None, backends: list[Backend] | None = None) -> Graph:
    """Rewrite ``graph`` (a copy is not made) into QDQ form for ``layers`` with calibrated ``ranges``."""
    layers = select_layers(graph, config, backends) if layers is None else layers
    params = choose_activation_params(graph, layers, ranges, config)
    return _Rewriter(graph, layers, params, config).run()
