"""Writes the fuzzer's corpus: the smallest model of each failure tests/test_fuzz.py (or a long local run
of tests/fuzz_long.py) found, named after what it exercises. tests/test_fuzz_corpus.py replays every
.onnx file here with the fuzzer's checks. Run from the repo root after adding a case:

    python tests/fuzz_corpus/make_cases.py
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
F = TensorProto.FLOAT


def model(nodes: list, inputs: list, outputs: list, inits: dict | None = None, opset: int = 13) -> onnx.ModelProto:
    """A model from (name, shape) inputs and outputs (float unless given as (name, shape, elem_type))."""
    def vi(spec):
        return helper.make_tensor_value_info(spec[0], spec[2] if len(spec) > 2 else F, spec[1])
    graph = helper.make_graph(nodes, "fuzz_case", [vi(i) for i in inputs], [vi(o) for o in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="aot-fuzz")
    m.ir_version = 8
    return m


def pad_negative_output_dim() -> onnx.ModelProto:
    """Pad with negative pads that remove more than the axis holds: ONNX infers a size of -1, which
    reached the IR verifier after the first pass (a message naming the graph, not the file)."""
    return model([helper.make_node("Pad", ["x", "p"], ["y"], name="pad")], [("x", [1, 2])], [("y", None)],
                 {"p": np.array([0, -2, 0, -1], np.int64)})


def conv_output_empty() -> onnx.ModelProto:
    """A Conv whose kernel is taller than its input: ONNX infers an output of height 0, and the C
    kernel for it declared variables it never used, failing the -Werror build."""
    return model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [("x", [1, 1, 2, 4])], [("y", None)],
                 {"w": np.ones((1, 1, 3, 1), np.float32)})


def input_elem_type_99() -> onnx.ModelProto:
    """An input whose element type is a number no ONNX version defines: naming it for the message
    raised KeyError inside onnx.helper (a traceback)."""
    return model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 2], 99)], [("y", [1, 2])])


def input_elem_type_undefined() -> onnx.ModelProto:
    """The same with UNDEFINED (0), what a value info without a type reads as."""
    return model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 2], 0)], [("y", [1, 2])])


def opset7_output_never_produced() -> onnx.ModelProto:
    """An opset-7 model whose graph output nothing produces: onnx's version converter (aot upgrades
    models below opset 13) crashed the process with a segmentation fault."""
    return model([], [("x", [1, 2])], [("y", [1, 2])], opset=7)


def shape_of_huge_input() -> onnx.ModelProto:
    """Shape of a 2**40-element input: the importer evaluated Shape on a zero array of the input's
    shape and died of numpy's MemoryError (4 TiB) with a traceback."""
    return model([helper.make_node("Shape", ["x"], ["y"])], [("x", [2 ** 20, 2 ** 20])],
                 [("y", [2], TensorProto.INT64)])


def depthwise_conv_taps_all_in_padding() -> onnx.ModelProto:
    """A depthwise Conv whose dilated kernel row [-1, +1] misses the one-column input on both sides
    (the kernel height has taps): every output is the bias, but the C kernel set the window origin and
    the input and weight pointers and never read them, failing the -Werror build."""
    return model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", dilations=[1, 2],
                                   pads=[0, 1, 0, 1], group=2)],
                 [("x", [1, 2, 2, 1])], [("y", [1, 2, 2, 1])],
                 {"w": np.ones((2, 1, 1, 2), np.float32), "b": np.array([0.5, -1.0], np.float32)})


def cast_extra_input() -> onnx.ModelProto:
    """A Cast with a second input its schema does not have: shape inference let it through and it
    became an unused parameter of the C kernel, failing the -Werror build."""
    return model([helper.make_node("Cast", ["x", "x"], ["y"], name="cast", to=TensorProto.INT32)],
                 [("x", [1, 2])], [("y", [1, 2], TensorProto.INT32)])


def split_axis_of_wrong_type() -> onnx.ModelProto:
    """A Split whose axis attribute is a list (INTS, the schema says INT): the kernel's int() of it raised
    a TypeError traceback (found by bench/reliability.py's long run, seed 1002)."""
    node = helper.make_node("Split", ["x"], ["a", "b"], name="split")
    node.attribute.append(helper.make_attribute("axis", [-1, -1]))
    return model([node], [("x", [10])], [("a", None), ("b", None)], opset=20)


CASES: dict[str, Callable[[], onnx.ModelProto | bytes]] = {
    "pad_negative_output_dim": pad_negative_output_dim,
    "conv_output_empty": conv_output_empty,
    "input_elem_type_99": input_elem_type_99,
    "input_elem_type_undefined": input_elem_type_undefined,
    "opset7_output_never_produced": opset7_output_never_produced,
    "shape_of_huge_input": shape_of_huge_input,
    "depthwise_conv_taps_all_in_padding": depthwise_conv_taps_all_in_padding,
    "cast_extra_input": cast_extra_input,
    "split_axis_of_wrong_type": split_axis_of_wrong_type,
}


def main() -> None:
    for name, build in CASES.items():
        proto = build()
        (HERE / f"{name}.onnx").write_bytes(proto if isinstance(proto, bytes) else proto.SerializeToString())


if __name__ == "__main__":
    main()
