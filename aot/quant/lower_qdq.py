"""Turn QDQ patterns into integer IR ops.

``DequantizeLinear -> op -> [Relu|Clip] -> QuantizeLinear`` (tf2onnx and ONNX Runtime quantizer
styles) becomes the same op type on int8 tensors that carry their scale/zero point
(``Tensor.quant``): weights stay int8 with per-channel scales along the layout's output-channel
axis, biases become int32 with scale input_scale * weight_scale, the activation becomes a clamp.
Where an op's input and output scales differ for an op that only moves data, a ``Requantize`` op is
inserted. QDQ patterns that cannot be mapped are an error, or stay in float with a note when the
user allows float fallback (``options["allow_float_fallback"]``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from onnx import helper

from ..errors import AotError
from ..frontend.node_eval import evaluate
from ..ir import Graph, Node, QuantParams
from ..backends.partition import selected_backends
from ..passes.context import PassContext, graph_pass
from ..ops import activation_spec, op_spec
from ..ops.gemm import plain_gemm
from .kernel_params import activation_bounds
from .plain_qdq import is_plain
from .qparams import check_activation_dtype, node_qparams, same_params


def int8_rule(op_type: str) -> str:
    """How the op's QDQ form becomes an integer op (the op table's ``Int8Form.rule``). An op the table
    has no integer form for (a plug-in backend's int8 op) is lowered generically: its activation
    inputs and its output become int8 tensors with their own scales; whether a kernel runs it is the
    backends' answer."""
    spec = op_spec(op_type)
    return spec.int8.rule if spec is not None and spec.int8 is not None else "rescale"


def activation_inputs(node: Node) -> tuple[int, ...] | None:
    spec = op_spec(node.op_type)
    return spec.int8.activation_inputs if spec is not None and spec.int8 is not None else None


class Unmappable(Exception):
    """This QDQ pattern has no integer kernel; the message says why."""


@dataclass
class Match:
    q: Node
    core: Node
    act: Node | None
    bias_add: Node | None


class _Lowering:
    def __init__(self, graph: Graph, ctx: PassContext):
        self.g = graph
        self.allow_fallback = bool(ctx.options.get("allow_float_fallback"))
        self.backends = selected_backends(ctx)
        self.producers = graph.producers()
        self.consumers = graph.consumers()
        self.removed: set[int] = set()

    # -- pattern helpers ----------------------------------------------------------------------------
    def sole_user(self, tensor: str) -> Node | None:
        users = self.consumers.get(tensor, [])
        return users[0] if len(users) == 1 and tensor not in self.g.outputs else None

    def dq_of_activation(self, name: str) -> Node | None:
        p = self.producers.get(name)
        if p is not None and p.op_type == "DequantizeLinear" and not self.g.tensors[p.inputs[0]].is_constant \
                and not is_plain(p):
            return p
        return None

    def dq_of_constant(self, name: str) -> Node | None:
        p = self.producers.get(name)
        if p is not None and p.op_type == "DequantizeLinear" and self.g.tensors[p.inputs[0]].is_constant \
                and not is_plain(p):
            return p
        return None

    def match(self, q: Node) -> Match | None:
        node = self.producers.get(q.inputs[0])
        if node is None or self.sole_user(q.inputs[0]) is not q:
            return None
        act = None
        if int8_rule(node.op_type) == "activation" and not self.dq_of_activation(node.inputs[0]):
            prev = self.producers.get(node.inputs[0])
            if prev is not None and self.sole_user(node.inputs[0]) is node:
                act, node = node, prev
        bias_add = None
        if node.op_type == "Add":
            for mine, other in ((0, 1), (1, 0)):
                prev = self.producers.get(node.inputs[mine])
                if (prev is not None and int8_rule(prev.op_type) == "fully_connected" and len(prev.present_inputs) == 2
                        and self.sole_user(node.inputs[mine]) is node and self._const_value(node.inputs[other])):
                    bias_add, node = node, prev
                    break
        return Match(q, node, act, bias_add)

    def _const_value(self, name: str) -> bool:
        return self.g.tensors[name].is_constant or self.dq_of_constant(name) is not None

    # -- quantized operands ------------------------------------------------------------------------
    def activation(self, name: str) -> str:
        dq = self.dq_of_activation(name)
        if dq is None:
            raise Unmappable(f"input '{name}' does not come from a DequantizeLinear")
        quantized = dq.inputs[0]
        check_activation_dtype(self.g, dq, quantized)
        params = node_qparams(self.g, dq, quantized)
        if params.axis is not None:
            raise Unmappable(f"activation '{quantized}' is quantized per channel (kernels take per-tensor activations)")
        t = self.g.tensors[quantized]
        if t.quant is not None and not same_params(t.quant, params):
            raise Unmappable(f"'{quantized}' is dequantized with two different scales")
        t.quant = params
        return quantized

    def weight(self, name: str, channel_axis: int) -> tuple[np.ndarray, QuantParams, str]:
        dq = self.dq_of_constant(name)
        if dq is None:
            raise Unmappable(f"weight '{name}' is not an int8 constant behind DequantizeLinear")
        data = self.g.const(dq.inputs[0])
        if data.dtype != np.int8:
            raise Unmappable(f"weight '{dq.inputs[0]}' is {data.dtype}; integer kernels take int8 weights")
        params = node_qparams(self.g, dq, dq.inputs[0])
        if np.any(params.zero_point != 0):
            raise Unmappable(f"weight '{dq.inputs[0]}' has a non-zero zero point (kernels take symmetric weights)")
        if params.axis is not None and params.axis != channel_axis:
            raise Unmappable(f"weight '{dq.inputs[0]}' is quantized along axis {params.axis}, not the output "
                             f"channel axis {channel_axis}")
        return data, params, dq.inputs[0]

    def bias(self, name: str, input_scale: float, weight_scale: np.ndarray, channels: int) -> str:
        """An int32 bias with scale input_scale * weight_scale[c], from a DQ'd int32 or a float constant."""
        bias_scale = np.float64(input_scale) * np.broadcast_to(weight_scale.astype(np.float64), (channels,))
        dq = self.dq_of_constant(name)
        kept = self._int32_bias(dq, bias_scale, channels) if dq is not None else None
        if kept is not None:
            q, base = kept, dq.inputs[0]
        else:
            if dq is not None:
                # Evaluated as ONNX defines it: exporters write bias scales in odd shapes ([1, N] with N
                # scales on axis 0 from the ONNX Runtime quantizer) that only the operator's own semantics settle.
                real = self._dequantized(dq).astype(np.float64).reshape(-1)
                base = dq.inputs[0]
            else:
                real = self.g.const(name).astype(np.float64).reshape(-1)
                base = name
            real = np.broadcast_to(real, (channels,))
            q = np.clip(np.round(real / bias_scale), -(2 ** 31), 2 ** 31 - 1).astype(np.int32)
        t = self.g.add_constant(base + "_q", q)
        t.quant = QuantParams(bias_scale.astype(np.float32), np.zeros(channels, np.int64), 0)
        return t.name

    def _int32_bias(self, dq: Node, bias_scale: np.ndarray, channels: int) -> np.ndarray | None:
        """The int32 values themselves when the file's bias scale already is input_scale * weight_scale
        (up to float32 rounding of that product, as every quantizer writes it), like ONNX Runtime's and
        TFLite's integer kernels use them: dequantizing and re-rounding would move large biases by
        several units (float32 holds only 24 bits of an int32)."""
        data = self.g.const(dq.inputs[0])
        scale = np.asarray(self.g.const(dq.inputs[1]), np.float64).reshape(-1)
        zp = self.g.const(dq.inputs[2]) if len(dq.inputs) > 2 and dq.inputs[2] else None
        if data.dtype != np.int32 or data.size not in (1, channels) or scale.size not in (1, channels):
            return None
        if zp is not None and np.any(np.asarray(zp) != 0):
            return None
        if not np.allclose(scale, bias_scale, rtol=1e-6, atol=0.0):
            return None
        return np.broadcast_to(data.reshape(-1), (channels,)).astype(np.int32)

    def output(self, q: Node) -> str:
        out = q.outputs[0]
        check_activation_dtype(self.g, q, out)
        params = node_qparams(self.g, q, out)
        if params.axis is not None:
            raise Unmappable(f"output '{out}' is quantized per channel")
        self.g.tensors[out].quant = params
        return out

    # -- rewriting ---------------------------------------------------------------------------------
    def lower(self, m: Match) -> list[Node]:
        """The new node(s) replacing the match (in order); raises Unmappable. The integer node keeps
        the float layer's name, so configs and reports address the same layer before and after."""
        self.g.node_names.release(m.core.name)
        try:
            nodes = self._lower(m)
            self._check_kernels(nodes)
            return nodes
        except Unmappable:
            self.g.node_names.claim(m.core.name)
            raise

    def _lower(self, m: Match) -> list[Node]:
        rule = int8_rule(m.core.op_type)
        if m.bias_add is not None and rule != "fully_connected":
            raise Unmappable("Add after a non-FC op")
        lowering = {"conv": lambda: [self._conv(m)], "fully_connected": lambda: [self._fully_connected(m)],
                    "pad": lambda: self._pad(m), "rescale": lambda: self._simple(m),
                    "same_scale": lambda: self._simple(m), "activation": lambda: self._simple(m),
                    "lookup": lambda: self._simple(m),
                    "data_movement": lambda: self._data_movement(m)}
        return lowering[rule]()

    def _check_kernels(self, nodes: list[Node]) -> None:
        """The registry decides what runs in int8: each new integer node needs a backend that accepts it."""
        for node in nodes:
            if not any(b.kernel_for(node, self.g) is not None for b in self.backends):
                reasons = "; ".join(f"{b.name}: {b.reject_reason(node, self.g)}" for b in self.backends)
                raise Unmappable(f"no int8 kernel for {node.op_type} ({reasons})")

    def _activation_attr(self, m: Match, node: Node) -> None:
        if m.act is not None:
            spec = activation_spec(self.g, m.act)
            if spec is None:
                raise Unmappable(f"{m.act.op_type} bounds are not constant")
            node.attrs["activation"] = spec

    def _conv(self, m: Match) -> Node:
        core = m.core
        x = self.activation(core.inputs[0])
        w_data, w_params, w_name = self.weight(core.inputs[1], 0)
        out = self.output(m.q)
        self.g.tensors[w_name].quant = w_params
        self.g.tensors[w_name].layout = "OIHW" if w_data.ndim == 4 else None
        channels = w_data.shape[0]
        bias = None
        if len(core.inputs) > 2 and core.inputs[2]:
            bias = self.bias(core.inputs[2], float(self.g.tensors[x].quant.scale[0]), w_params.scale, channels)
        node = self.g.make_node("Conv", [x, w_name] + ([bias] if bias else []), [out], dict(core.attrs),
                                name=core.name)
        node.meta = dict(core.meta)
        self._activation_attr(m, node)
        return node

    def _fully_connected(self, m: Match) -> Node:
        core = m.core
        if core.op_type == "Gemm" and not plain_gemm(core):
            raise Unmappable("Gemm with transA or alpha/beta != 1")
        if core.op_type == "MatMul" and self.dq_of_activation(core.inputs[1]) is not None:
            return self._matmul_of_activations(m)
        x = self.activation(core.inputs[0])
        if len(self.g.tensors[x].shape) != 2:
            raise Unmappable("fully connected input is not 2-D")
        trans_b = int(core.attrs.get("transB", 0)) if core.op_type == "Gemm" else 0
        w_data, w_params, w_name = self.weight(core.inputs[1], 0 if trans_b else 1)
        out = self.output(m.q)
        # Kernels read weights as [N, K] rows (one dot product per output).
        weight_nk = w_data if trans_b else np.ascontiguousarray(w_data.T)
        w_t = self.g.add_constant(w_name + "_nk", weight_nk)
        w_t.quant = QuantParams(w_params.scale, w_params.zero_point, 0 if w_params.axis is not None else None)
        channels = weight_nk.shape[0]
        bias_name = None
        if m.bias_add is not None:
            bias_name = next(i for i in m.bias_add.inputs if i != core.outputs[0])
        elif core.op_type == "Gemm" and len(core.inputs) > 2 and core.inputs[2]:
            bias_name = core.inputs[2]
        bias = None
        if bias_name:
            bias_data = self._bias_values(bias_name)
            if bias_data.size not in (1, channels):
                raise Unmappable("bias does not broadcast per output channel")
            bias = self.bias(bias_name, float(self.g.tensors[x].quant.scale[0]), w_params.scale, channels)
        node = self.g.make_node("Gemm", [x, w_t.name] + ([bias] if bias else []), [out],
                                {"transA": 0, "transB": 1, "alpha": 1.0, "beta": 1.0}, name=core.name)
        node.meta = dict(core.meta)
        self._activation_attr(m, node)
        return node

    def _matmul_of_activations(self, m: Match) -> Node:
        """MatMul of two int8 activations (attention scores, batched products): both operands keep
        their own scale and zero point; the product requantizes with a_scale * b_scale / y_scale."""
        if m.bias_add is not None:
            raise Unmappable("a bias Add after a MatMul of two activations")
        a, b = self.activation(m.core.inputs[0]), self.activation(m.core.inputs[1])
        node = self.g.make_node("MatMul", [a, b], [self.output(m.q)], name=m.core.name)
        node.meta = dict(m.core.meta)
        self._activation_attr(m, node)
        return node

    def _bias_values(self, name: str) -> np.ndarray:
        dq = self.dq_of_constant(name)
        return self.g.const(dq.inputs[0]) if dq is not None else self.g.const(name)

    def _dequantized(self, dq: Node) -> np.ndarray:
        data, scale = self.g.const(dq.inputs[0]), self.g.const(dq.inputs[1])
        zp = self.g.const(dq.inputs[2]) if len(dq.inputs) > 2 and dq.inputs[2] else np.zeros_like(scale)
        # In float64 where the shapes allow: ONNX's float32 result holds only 24 bits of an int32 bias.
        if scale.size == 1 and zp.size == 1:
            return (data.astype(np.float64) - float(zp.reshape(-1)[0])) * float(scale.reshape(-1)[0])
        if scale.size == data.size > 1:  # one scale per element, whatever axis the file claims
            return (data.reshape(-1).astype(np.float64) - zp.reshape(-1)) * scale.reshape(-1).astype(np.float64)
        proto = helper.make_node("DequantizeLinear", dq.inputs, dq.outputs, **dq.attrs)
        try:
            return evaluate(proto, [(i, self.g.const(i)) for i in dq.present_inputs], {"": self.g.opset})[0]
        except Exception as exc:
            raise Unmappable(f"bias '{dq.inputs[0]}' cannot be dequantized: {exc}") from None

    def _simple(self, m: Match) -> list[Node]:
        """Ops whose activation inputs all come from DQ and whose extra inputs are constants."""
        core = m.core
        rule = int8_rule(core.op_type)
        acts = activation_inputs(core)
        inputs = []
        for idx, name in enumerate(core.inputs):
            if not name:
                inputs.append("")
            elif self.g.tensors[name].is_constant:
                inputs.append(name)
            elif acts is None or idx in acts:
                inputs.append(self.activation(name))
            elif self.dq_of_constant(name) is not None:
                # a quantized parameter (PRelu's slope): the kernel takes its real values
                values = np.asarray(self._dequantized(self.dq_of_constant(name)), np.float32)
                inputs.append(self.g.add_constant(name + "_real", values.reshape(self.g.tensors[name].shape)).name)
            else:
                raise Unmappable(f"input {idx} of {core.op_type} is not constant")
        out = self.output(m.q)
        if rule == "same_scale" and not same_params(self.g.tensors[inputs[0]].quant, self.g.tensors[out].quant):
            return self._with_requantize(core, inputs, out, m)
        op = "Requantize" if rule == "activation" else core.op_type
        if op == "Requantize":
            node = self.g.make_node("Requantize", [inputs[0]], [out], name=core.name)
            node.attrs["activation"] = activation_spec(self.g, core)
            if node.attrs["activation"] is None:
                raise Unmappable(f"{core.op_type} bounds are not constant")
        else:
            node = self.g.make_node(op, inputs, [out], dict(core.attrs), name=core.name)
            self._activation_attr(m, node)
        node.meta = dict(core.meta)
        return [node]

    def _pad(self, m: Match) -> list[Node]:
        """Pad on int8 whose pad value is quantized once, with the output's scale and zero point (so 0.0,
        also the default, becomes the zero point). A different input scale or a fused activation puts a
        Requantize before the Pad: requantizing the value again after padding would round it twice."""
        core = m.core
        x = self.activation(core.inputs[0])
        for name in core.inputs[1:4:2]:
            if name and not self.g.tensors[name].is_constant:
                raise Unmappable(f"Pad takes its pads/axes from '{name}', which is computed at run time")
        value = 0.0
        if len(core.inputs) > 2 and core.inputs[2]:
            name = core.inputs[2]
            dq = self.dq_of_constant(name)
            given = self._dequantized(dq) if dq is not None else self.g.const(name)
            if given is None or np.asarray(given).size != 1:
                raise Unmappable(f"Pad value '{name}' is not a constant scalar")
            value = float(np.asarray(given).reshape(-1)[0])
        out = self.output(m.q)
        q_out = self.g.tensors[out].quant
        nodes = []
        lo, hi = -128, 127
        if m.act is not None or not same_params(self.g.tensors[x].quant, q_out):
            src = self.g.tensors[x]
            mid = self.g.add_tensor(x + "_rq", src.shape, "int8", layout=src.layout)
            mid.quant = q_out
            rq = self.g.make_node("Requantize", [x], [mid.name], name=core.name + "_rq")
            self._activation_attr(m, rq)
            lo, hi = activation_bounds(rq, float(q_out.scale[0]), int(q_out.zero_point[0]), self.g.rounding)
            nodes.append(rq)
            x = mid.name
        quantized = np.rint(np.float32(value) / np.float32(q_out.scale[0])) + np.float32(q_out.zero_point[0])
        fill = self.g.add_constant(core.name + "_value_q", np.array(np.clip(quantized, lo, hi), np.int8))
        fill.quant = q_out
        node = self.g.make_node("Pad", [x, core.inputs[1], fill.name] + list(core.inputs[3:4]), [out],
                                dict(core.attrs), name=core.name)
        node.meta = dict(core.meta)
        return nodes + [node]

    def _data_movement(self, m: Match) -> list[Node]:
        core = m.core
        if m.act is not None:
            raise Unmappable(f"activation after {core.op_type}")
        acts = activation_inputs(core)  # None: every input (Concat); Gather's runtime indices stay as they are
        inputs = [self.activation(i) if i and not self.g.tensors[i].is_constant and (acts is None or k in acts) else i
                  for k, i in enumerate(core.inputs)]
        out = self.output(m.q)
        out_q = self.g.tensors[out].quant
        if core.op_type == "Concat":
            nodes = []
            fixed = []
            for name in inputs:
                if same_params(self.g.tensors[name].quant, out_q):
                    fixed.append(name)
                    continue
                t = self.g.tensors[name]
                rq = self.g.add_tensor(name + "_rq", t.shape, "int8", layout=t.layout)
                rq.quant = out_q
                nodes.append(self.g.make_node("Requantize", [name], [rq.name], name=core.name + "_rq"))
                fixed.append(rq.name)
            node = self.g.make_node("Concat", fixed, [out], dict(core.attrs), name=core.name)
            node.meta = dict(core.meta)
            return nodes + [node]
        if same_params(self.g.tensors[inputs[0]].quant, out_q):
            node = self.g.make_node(core.op_type, inputs, [out], dict(core.attrs), name=core.name)
            node.meta = dict(core.meta)
            return [node]
        return self._with_requantize(core, inputs, out, m)

    def _with_requantize(self, core: Node, inputs: list[str], out: str, m: Match) -> list[Node]:
        """The op on int8 with its input's scale, then a Requantize to the output's scale."""
        src = self.g.tensors[inputs[0]]
        dst = self.g.tensors[out]
        mid = self.g.add_tensor(out + "_pre", dst.shape, "int8", layout=dst.layout)
        mid.quant = src.quant
        node = self.g.make_node(core.op_type, inputs, [mid.name], dict(core.attrs), name=core.name)
        node.meta = dict(core.meta)
        rq = self.g.make_node("Requantize", [mid.name], [out], name=core.name + "_rq")
        self._activation_attr(m, rq)
        return [node, rq]

    # -- driver ------------------------------------------------------------------------------------
    def run(self) -> Graph:
        problems: list[tuple[Node, str]] = []
        for q in [n for n in self.g.nodes if n.op_type == "QuantizeLinear"]:
            if self.g.tensors[q.inputs[0]].is_constant or is_plain(q):
                continue  # plain Q/DQ compile as elementwise kernels (plain_qdq.py)
            m = self.match(q)
            if m is None or m.core.op_type in ("DequantizeLinear", "QuantizeLinear"):
                continue
            if m.core.meta.get("precision") == "float":
                continue  # mixed precision asked for by the quantization config
            if not any(self.dq_of_activation(i) for i in m.core.present_inputs):
                continue  # float producer (e.g. the model's float input): stays a QuantizeLinear kernel
            try:
                new_nodes = self.lower(m)
            except Unmappable as why:
                problems.append((m.core, str(why)))
                continue
            self._splice(m, new_nodes)
        problems += self._left_in_float({id(n) for n, _ in problems})
        self._report(problems)
        for q in self.g.nodes:  # remaining edge quantizers: their int8 output carries the params
            if q.op_type == "QuantizeLinear" and self.g.tensors[q.outputs[0]].quant is None and not is_plain(q):
                check_activation_dtype(self.g, q, q.outputs[0])
                self.g.tensors[q.outputs[0]].quant = node_qparams(self.g, q, q.outputs[0])
        return self.g

    def _left_in_float(self, reported: set[int]) -> list[tuple[Node, str]]:
        """Float nodes still reading a dequantized activation: the QDQ pattern around them broke."""
        found = []
        for node in self.g.nodes:
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") or id(node) in reported:
                continue
            if node.meta.get("precision") == "float":
                continue  # mixed precision asked for by the quantization config
            if not any(self.dq_of_activation(i) for i in node.present_inputs):
                continue
            if all(self._feeds_graph_output_only(o) for o in node.outputs if o):
                continue  # a float tail the model itself wants (e.g. dequantized output math)
            if all(self._ends_in_plain_quantize(o) for o in node.outputs if o):
                continue  # quantized by a plain Q (per-axis, int16, run-time scale): float is all it can be
            users = sorted({u.op_type for o in node.outputs if o for u in self.consumers.get(o, [])})
            found.append((node, f"its output feeds {', '.join(users) or 'nothing'} instead of a QuantizeLinear "
                                "(directly or through Relu/Clip)"))
        return found

    def _ends_in_plain_quantize(self, tensor: str, depth: int = 3) -> bool:
        """Whether every path from ``tensor`` (through a few float ops, e.g. Relu) ends in a plain Q."""
        users = self.consumers.get(tensor, [])
        if not users or tensor in self.g.outputs or depth == 0:
            return False
        return all(is_plain(u) if u.op_type == "QuantizeLinear" else
                   u.op_type != "DequantizeLinear" and all(self._ends_in_plain_quantize(o, depth - 1) for o in u.outputs if o)
                   for u in users)

    def _feeds_graph_output_only(self, tensor: str) -> bool:
        return tensor in self.g.outputs and not self.consumers.get(tensor)

    def _splice(self, m: Match, new_nodes: list[Node]) -> None:
        old = [n for n in (m.core, m.bias_add, m.act, m.q) if n is not None]
        position = min(self.g.nodes.index(n) for n in old)
        for n in old:
            self.g.nodes.remove(n)
        self.g.nodes[position:position] = new_nodes
        self.producers = self.g.producers()
        self.consumers = self.g.consumers()

    def _report(self, problems: list[tuple[Node, str]]) -> None:
        if not problems:
            return
        lines = [f"{n.meta.get('onnx_name') or n.name} ({n.op_type}): {why}" for n, why in problems]
        if not self.allow_fallback:
            raise AotError("these quantized (DQ -> op -> Q) patterns have no integer kernel: " + "; ".join(lines) +
                           ". Pass --allow-float-fallback to run them in float between Dequantize/Quantize "
                           "kernels.", model=self.g.source or self.g.name)
        for line in lines:
            self.g.notes.append(f"kept in float (float fallback): {line}")


@graph_pass("lower_qdq")
def lower_qdq(graph: Graph, ctx: PassContext) -> Graph:
    if not any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in graph.nodes):
        return graph
    return _Lowering(graph, ctx).run()
