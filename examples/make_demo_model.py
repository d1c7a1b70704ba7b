"""Build the small float CNN that ``aot demo`` compiles and save it as ``demo_cnn.onnx``.

The weights come from a seeded generator, so running this script again reproduces the same file
byte for byte. The net touches the main kernel families: Conv+BatchNormalization+Relu (folded and
fused by the compiler), a depthwise Conv with Clip (Relu6), MaxPool, a residual Add,
GlobalAveragePool, Flatten, Gemm and Softmax. Input 1x1x32x32, 10 classes.

    python examples/make_demo_model.py [OUTPUT.onnx]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
SEED = 20240601


def build_model(seed: int = SEED) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    inits: list[onnx.TensorProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def he(shape: tuple[int, ...], fan_in: int) -> np.ndarray:
        # He-scaled weights keep activations in a sane range through the Relu layers.
        return rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)

    def batchnorm_params(prefix: str, channels: int) -> list[str]:
        return [const(f"{prefix}.gamma", rng.uniform(0.5, 1.5, channels)),
                const(f"{prefix}.beta", rng.uniform(-0.2, 0.2, channels)),
                const(f"{prefix}.mean", rng.uniform(-0.2, 0.2, channels)),
                const(f"{prefix}.var", rng.uniform(0.5, 1.5, channels))]

    c1, c2, classes = 8, 16, 10
    nodes = [
        # stem: 1x1x32x32 -> 1x8x32x32
        helper.make_node("Conv", ["input", const("conv1.weight", he((c1, 1, 3, 3), 9))], ["conv1"],
                         name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["conv1", *batchnorm_params("bn1", c1)], ["bn1"], name="bn1",
                         epsilon=1e-5),
        helper.make_node("Relu", ["bn1"], ["relu1"], name="relu1"),
        # 1x8x32x32 -> 1x8x16x16
        helper.make_node("MaxPool", ["relu1"], ["pool1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        # residual block: depthwise 3x3 + Relu6, pointwise 1x1, Add with the block input
        helper.make_node("Conv", ["pool1", const("dw.weight", he((c1, 1, 3, 3), 9)),
                                  const("dw.bias", rng.uniform(-0.1, 0.1, c1))], ["dw"],
                         name="dw", group=c1, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["dw", const("relu6.min", np.array(0.0)), const("relu6.max", np.array(6.0))],
                         ["dw_relu6"], name="dw_relu6"),
        helper.make_node("Conv", ["dw_relu6", const("pw.weight", he((c1, c1, 1, 1), c1))], ["pw"], name="pw"),
        helper.make_node("BatchNormalization", ["pw", *batchnorm_params("bn2", c1)], ["bn2"], name="bn2",
                         epsilon=1e-5),
        helper.make_node("Add", ["bn2", "pool1"], ["residual"], name="residual"),
        # 1x8x16x16 -> 1x16x8x8
        helper.make_node("Conv", ["residual", const("conv3.weight", he((c2, c1, 3, 3), 9 * c1)),
                                  const("conv3.bias", rng.uniform(-0.1, 0.1, c2))], ["conv3"],
                         name="conv3", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("LeakyRelu", ["conv3"], ["lrelu3"], name="lrelu3", alpha=0.1),
        # head
        helper.make_node("GlobalAveragePool", ["lrelu3"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flat", axis=1),
        helper.make_node("Gemm", ["flat", const("fc.weight", he((classes, c2), c2)),
                                  const("fc.bias", rng.uniform(-0.1, 0.1, classes))], ["logits"],
                         name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes, "demo_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 32, 32])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, classes])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="aot-examples", doc_string="aot demo CNN (random weights)")
    model.ir_version = 8  # readable by every onnxruntime the project supports
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent / "demo_cnn.onnx"
    model = build_model()
    onnx.save(model, str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes, {len(model.graph.node)} nodes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
