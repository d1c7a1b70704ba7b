"""Small models in the exact graph shapes exporters emit (torch.onnx's legacy exporter at opset 17,
tf2onnx), built with onnx.helper: each passes ``aot verify`` against ONNX Runtime, and the U-Net also
runs under QEMU on the Cortex-M4 (the LSTM, GRU and ConvTranspose ones run there in
tests/test_ops_sequence.py; the embedding lookup is in tests/test_ops_indexing.py).

- a transformer encoder block: LayerNormalization, Q/K/V projections, heads split by the
  Shape -> Gather -> Unsqueeze -> Concat -> Reshape chain torch writes, a padding mask applied with
  Equal -> Where, Softmax, the residual Adds, and an FFN whose Gelu is spelled with Erf;
- an image classifier whose head is ArgMax (an int64 output);
- a style-transfer-like block with InstanceNormalization;
- a small U-Net: MaxPool down, Resize (nearest) up, skip connections through Concat.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.flows.board_run import run_on_board
from aot.flows.verify import verify_model
from aot.targets.board import resolve_board

F, I64 = TensorProto.FLOAT, TensorProto.INT64
OPSET = 17


class Builder:
    """Nodes, constants and value infos of one graph, with torch-like automatic names."""

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"/{stem}_{self.count}"

    def const(self, value, dtype=np.float32) -> str:
        name = self.name("Constant")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def weight(self, *shape: int, scale: float = 0.3) -> str:
        return self.const(self.rng.standard_normal(shape) * scale)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs) -> str | list[str]:
        names = [self.name(op_type) + "_output_0" for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.name(op_type), **attrs))
        return names[0] if outputs == 1 else names

    def linear(self, x: str, d_in: int, d_out: int) -> str:  # torch: MatMul then Add of the bias
        return self.op("Add", self.op("MatMul", x, self.weight(d_in, d_out)), self.weight(d_out, scale=0.1))

    def model(self, inputs, outputs) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "exported", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pytorch")
        model.ir_version = 8
        onnx.checker.check_model(model, full_check=True)
        return model


def transformer_block(T: int = 8, D: int = 16, H: int = 2, FF: int = 32) -> onnx.ModelProto:
    b = Builder(1)
    Dh = D // H

    def split_heads(t: str) -> str:
        shape = b.op("Shape", "x")
        batch = b.op("Unsqueeze", b.op("Gather", shape, b.const(0, np.int64), axis=0), b.const([0], np.int64))
        seq = b.op("Unsqueeze", b.op("Gather", shape, b.const(1, np.int64), axis=0), b.const([0], np.int64))
        target = b.op("Concat", batch, seq, b.const([H], np.int64), b.const([Dh], np.int64), axis=0)
        return b.op("Transpose", b.op("Reshape", t, target), perm=[0, 2, 1, 3])

    ln1 = b.op("LayerNormalization", "x", b.weight(D, scale=1.0), b.weight(D, scale=0.1), axis=-1, epsilon=1e-5)
    q, k, v = (split_heads(b.linear(ln1, D, D)) for _ in range(3))
    scores = b.op("Div", b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2])), b.const(np.sqrt(Dh)))
    padding = b.op("Unsqueeze", b.op("Equal", "mask", b.const(0, np.int64)), b.const([1, 2], np.int64))
    masked = b.op("Where", padding, b.const(-1e9), scores)
    context = b.op("MatMul", b.op("Softmax", masked, axis=-1), v)
    merged = b.op("Reshape", b.op("Transpose", context, perm=[0, 2, 1, 3]), b.const([1, T, D], np.int64))
    h = b.op("Add", "x", b.linear(merged, D, D))
    ln2 = b.op("LayerNormalization", h, b.weight(D, scale=1.0), b.weight(D, scale=0.1), axis=-1, epsilon=1e-5)
    up = b.linear(ln2, D, FF)
    gelu = b.op("Mul", b.op("Mul", up, b.op("Add", b.op("Erf", b.op("Div", up, b.const(np.sqrt(2.0)))),
                                               b.const(1.0))), b.const(0.5))
    y = b.op("Add", h, b.linear(gelu, FF, D))
    b.nodes.append(helper.make_node("Identity", [y], ["y"], name="/output"))
    return b.model([helper.make_tensor_value_info("x", F, [1, T, D]), helper.make_tensor_value_info("mask", I64, [1, T])],
                   [helper.make_tensor_value_info("y", F, [1, T, D])])


def argmax_classifier() -> onnx.ModelProto:
    b = Builder(2)
    h = b.op("Relu", b.op("Conv", "image", b.weight(8, 3, 3, 3), b.weight(8, scale=0.1), pads=[1, 1, 1, 1]))
    logits = b.op("Gemm", b.op("Flatten", b.op("GlobalAveragePool", h)), b.weight(10, 8), b.weight(10, scale=0.1),
                  transB=1)
    b.nodes.append(helper.make_node("ArgMax", [logits], ["label"], name="/ArgMax", axis=1, keepdims=0))
    b.nodes.append(helper.make_node("Identity", [logits], ["logits"], name="/logits"))
    return b.model([helper.make_tensor_value_info("image", F, [1, 3, 12, 12])],
                   [helper.make_tensor_value_info("label", I64, [1]), helper.make_tensor_value_info("logits", F, [1, 10])])


def instance_norm_block() -> onnx.ModelProto:
    b = Builder(3)
    h = b.op("Conv", "image", b.weight(6, 3, 3, 3), pads=[1, 1, 1, 1])
    h = b.op("Relu", b.op("InstanceNormalization", h, b.weight(6, scale=1.0), b.weight(6, scale=0.1), epsilon=1e-5))
    b.nodes.append(helper.make_node("Conv", [h, b.weight(3, 6, 3, 3)], ["styled"], name="/out", pads=[1, 1, 1, 1]))
    return b.model([helper.make_tensor_value_info("image", F, [1, 3, 10, 10])],
                   [helper.make_tensor_value_info("styled", F, [1, 3, 10, 10])])


def small_unet() -> onnx.ModelProto:
    b = Builder(4)

    def conv(x: str, cin: int, cout: int) -> str:
        return b.op("Relu", b.op("Conv", x, b.weight(cout, cin, 3, 3), b.weight(cout, scale=0.1), pads=[1, 1, 1, 1]))

    e1 = conv("image", 1, 4)
    e2 = conv(b.op("MaxPool", e1, kernel_shape=[2, 2], strides=[2, 2]), 4, 8)
    bottom = conv(b.op("MaxPool", e2, kernel_shape=[2, 2], strides=[2, 2]), 8, 8)
    scales = b.const([1, 1, 2, 2])
    d2 = conv(b.op("Concat", b.op("Resize", bottom, "", scales, mode="nearest"), e2, axis=1), 16, 8)
    d1 = conv(b.op("Concat", b.op("Resize", d2, "", scales, mode="nearest"), e1, axis=1), 12, 4)
    b.nodes.append(helper.make_node("Conv", [d1, b.weight(2, 4, 1, 1)], ["segmentation"], name="/head"))
    return b.model([helper.make_tensor_value_info("image", F, [1, 1, 16, 16])],
                   [helper.make_tensor_value_info("segmentation", F, [1, 2, 16, 16])])


MODELS = {"transformer_block": transformer_block, "argmax_classifier": argmax_classifier,
          "instance_norm_block": instance_norm_block, "small_unet": small_unet}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_verify_passes(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.onnx"
    onnx.save(MODELS[name](), str(path))
    report = verify_model(path, samples=3)
    assert report.ok, report.table()
    assert len(report.checks) >= len(MODELS[name]().graph.output)


def test_unet_runs_on_cortex_m4() -> None:
    board = resolve_board("cortex-m4")
    missing = board.missing_tools("gcc")
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    report = run_on_board(small_unet(), board)
    assert report.ok and report.checks, report.table()
    assert {c.against for c in report.checks} == {"host", "onnxruntime"}
