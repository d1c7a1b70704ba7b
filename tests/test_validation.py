"""Invalid models are refused at import, before any code is written (issue 9, first part): exit 2 and
one paragraph naming the model, the node, the op and what is wrong against what was expected. Each
of these compiled with exit 0 before and read outside its arrays or computed garbage where ONNX
Runtime refuses the model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import main

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=None, ir_version: int = 8) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "invalid", [helper.make_tensor_value_info(n, F, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, F, s) for n, s in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = ir_version
    return m


W = np.ones((3, 2, 3, 3), np.float32)
CASES = {
    "reshape_changes_size": (model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], [("x", [3, 4])],
                                   [("y", [5, 5])], {"s": np.array([5, 5], np.int64)}), "Reshape", "12 elements"),
    "conv_bias_length": (model([helper.make_node("Conv", ["x", "w", "b"], ["y"], name="c")], [("x", [1, 2, 5, 5])],
                               [("y", [1, 3, 3, 3])], {"w": W, "b": np.ones(5, np.float32)}), "Conv", "bias shape [5]"),
    "conv_kernel_shape": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", kernel_shape=[5, 5])],
                                [("x", [1, 2, 5, 5])], [("y", [1, 3, 1, 1])], {"w": W}), "Conv", "kernel_shape [5, 5]"),
    "conv_channels": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [("x", [1, 4, 5, 5])],
                            [("y", [1, 3, 3, 3])], {"w": W}), "Conv", "4 channels"),
    "conv_group_zero": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", group=0)], [("x", [1, 2, 5, 5])],
                              [("y", [1, 3, 3, 3])], {"w": W}), "Conv", "group 0"),
    "pool_pads_past_window": (model([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2],
                                                      pads=[2, 2, 2, 2])], [("x", [1, 1, 4, 4])], [("y", [1, 1, 7, 7])]),
                              "MaxPool", "smaller than the window"),
    "bogus_auto_pad": (model([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[2, 2], auto_pad="FOO")],
                             [("x", [1, 1, 4, 4])], [("y", [1, 1, 3, 3])]), "MaxPool", "auto_pad 'FOO'"),
    "reflect_pad_too_wide": (model([helper.make_node("Pad", ["x", "p"], ["y"], name="pad", mode="reflect")],
                                   [("x", [1, 1, 2, 2])], [("y", [1, 1, 8, 8])],
                                   {"p": np.array([0, 0, 3, 3, 0, 0, 3, 3], np.int64)}), "Pad", "reflect pads"),
    "zero_batch": (model([helper.make_node("Relu", ["x"], ["y"])], [("x", [0, 3])], [("y", [0, 3])]), None, "size 0"),
    "ir_version_99": (model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 3])], [("y", [1, 3])], ir_version=99),
                      None, "IR version 99"),
    "output_declared_wrong": (model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 3])], [("y", [1, 4])]),
                              None, "declared with shape [1, 4]"),
    # ONNX binds X and W to one type T; shape inference does not check it, the schema check does.
    "conv_int32_weights": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")], [("x", [1, 2, 5, 5])],
                                 [("y", [1, 3, 3, 3])], {"w": W.astype(np.int32)}), "Conv", "input W is int32"),
    "add_of_mixed_types": (model([helper.make_node("Add", ["x", "k"], ["y"], name="a")], [("x", [1, 3])],
                                 [("y", [1, 3])], {"k": np.ones((1, 3), np.int32)}), "Add",
                           "input B is int32 but input A is float32"),
    "conv_kernel_larger_than_input": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                                            [("x", [1, 2, 2, 2])], [("y", None)], {"w": W}), "Conv",
                                      "spans 3 on spatial axis 0, more than the padded input (2 + pads 0+0 = 2)"),
    "pool_window_larger_than_input": (model([helper.make_node("AveragePool", ["x"], ["y"], name="p",
                                                              kernel_shape=[1, 5])], [("x", [1, 1, 4, 4])],
                                            [("y", None)]), "AveragePool", "spans 5 on spatial axis 1"),
    "gather_index_out_of_range": (model([helper.make_node("Gather", ["x", "i"], ["y"], name="g", axis=1)],
                                        [("x", [1, 4])], [("y", None)], {"i": np.array([1, 7, -5], np.int64)}),
                                  "Gather", "indices [-5, 7] are out of range for axis 1 of size 4 (valid: -4 to 3)"),
    # Attributes the op's schema does not define, or of another type: ONNX Runtime refuses both.
    "unknown_attribute": (model([helper.make_node("Abs", ["x"], ["y"], name="a", pads=[1, 1])], [("x", [1, 3])],
                                [("y", [1, 3])]), "Abs", "attribute 'pads' is not one of Abs's"),
    "attribute_of_wrong_type": (model([helper.make_node("Softmax", ["x"], ["y"], name="s", axis=[1])],
                                      [("x", [1, 3])], [("y", [1, 3])]), "Softmax", "attribute 'axis' is INTS"),
    # Sizes the generated C's int indices and offsets cannot address are refused with figures.
    "input_over_int_max": (model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, 50000, 50000])],
                                 [("y", [1, 50000, 50000])]), None, "10,000,000,000 bytes"),
    "conv_pads_of_100000": (model([helper.make_node("Conv", ["x", "w"], ["y"], name="c", pads=[100000] * 4)],
                                  [("x", [1, 2, 4, 4])], [("y", None)], {"w": W}), None,
                            "Conv output 'y': shape [1, 3, 200002, 200002] holds 120,002,400,012 elements"),
    "arena_over_int_max": (model([helper.make_node("Conv", ["x", "w"], ["a"], pads=[10000] * 4),
                                  helper.make_node("Relu", ["a"], ["b"]), helper.make_node("Add", ["a", "b"], ["y"])],
                                 [("x", [1, 1, 4, 4])], [("y", None)], {"w": np.ones((1, 1, 3, 3), np.float32)}),
                           None, "the activation arena needs 3,200,640,032 bytes"),  # y over b: Add runs in place
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_invalid_model_is_refused_before_any_code(case, tmp_path, capsys):
    proto, op, reason = CASES[case]
    path = tmp_path / f"{case}.onnx"
    onnx.save(proto, str(path))
    out = tmp_path / "out"
    assert main(["compile", str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aot: error: model ") and str(path) in err and reason in err, err
    if op is not None:
        assert f"invalid {op}" in err and "node '" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())


def test_duplicate_initializers_are_refused(tmp_path, capsys):
    proto = model([helper.make_node("Add", ["x", "c"], ["y"])], [("x", [1, 3])], [("y", [1, 3])],
                  {"c": np.ones((1, 3), np.float32)})
    proto.graph.initializer.append(numpy_helper.from_array(np.zeros((1, 3), np.float32), "c"))
    path = tmp_path / "dup.onnx"
    onnx.save(proto, str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "defined twice" in capsys.readouterr().err


def test_quantized_conv_is_checked_like_conv(tmp_path, capsys):
    """QLinearConv is expanded into Conv after import; its window is checked at import all the same."""
    i8 = TensorProto.INT8
    consts = {"xs": np.float32(0.1), "xz": np.int8(0), "w": np.ones((4, 1, 5, 5), np.int8), "ws": np.float32(0.1),
              "wz": np.int8(0), "ys": np.float32(0.1), "yz": np.int8(0)}
    graph = helper.make_graph([helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                                                name="qc")], "q", [helper.make_tensor_value_info("x", i8, [1, 1, 2, 2])],
                              [helper.make_tensor_value_info("y", i8, None)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    path = tmp_path / "qconv.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"model '{path}', node 'qc': invalid QLinearConv" in err and "spans 5 on spatial axis 0" in err, err


def test_negative_input_dimension_gets_a_hint_the_cli_accepts(tmp_path, capsys):
    path = tmp_path / "negative.onnx"
    onnx.save(model([helper.make_node("Relu", ["x"], ["y"])], [("x", [1, -1])], [("y", None)]), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "declares dimension -1 at axis 1" in err and "--input-shape x=1,1" in err, err
    assert main(["compile", str(path), "-o", str(tmp_path / "out"), "--input-shape", "x=1,1"]) == 0


def _with_constant(tensor: onnx.TensorProto) -> onnx.ModelProto:
    proto = model([helper.make_node("Add", ["x", "c"], ["y"])], [("x", [1, 3])], [("y", [1, 3])])
    proto.graph.initializer.append(tensor)
    return proto


def _float_tensor(edit) -> onnx.TensorProto:
    t = helper.make_tensor("c", TensorProto.FLOAT, [1, 3], [1.0, 2.0, 3.0])
    edit(t)
    return t


def _raw(extra: int) -> onnx.TensorProto:
    t = numpy_helper.from_array(np.ones((1, 3), np.float32), "c")
    t.raw_data = t.raw_data[:8] if extra < 0 else t.raw_data + b"\0" * extra
    return t


BAD_DATA = {
    "raw_data_short": (_raw(-1), "its data does not match"),
    "raw_data_long": (_raw(8), "its data does not match"),
    "float_data_count": (_float_tensor(lambda t: t.float_data.pop()), "its data does not match"),
    "huge_dims_without_data": (_float_tensor(lambda t: (t.float_data.__delitem__(slice(None)),
                                                       t.dims.__setitem__(slice(None), [10 ** 5] * 3))), "far more"),
    "dims_overflow": (_float_tensor(lambda t: t.dims.__setitem__(slice(None), [2 ** 62, 2 ** 62])), "far more"),
    "string_initializer": (helper.make_tensor("c", TensorProto.STRING, [1, 3], [b"a", b"b", b"c"]), "STRING"),
    "element_type_0": (_float_tensor(lambda t: setattr(t, "data_type", 0)), "UNDEFINED"),
}


@pytest.mark.parametrize("case", sorted(BAD_DATA))
def test_initializer_data_that_disagrees_with_its_dims(case, tmp_path, capsys):
    tensor, reason = BAD_DATA[case]
    path = tmp_path / f"{case}.onnx"
    path.write_bytes(_with_constant(tensor).SerializeToString())
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "initializer 'c'" in err and reason in err and "Traceback" not in err, err


def test_constant_without_value(tmp_path, capsys):
    proto = model([helper.make_node("Constant", [], ["c"], name="const"), helper.make_node("Add", ["x", "c"], ["y"])],
                  [("x", [1, 3])], [("y", [1, 3])])
    path = tmp_path / "constant.onnx"
    path.write_bytes(proto.SerializeToString())
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    assert "node 'const': Constant needs exactly one value attribute" in capsys.readouterr().err


def test_a_constant_float16_output_is_written_as_its_bits(tmp_path, capsys):
    """A float16 output that folds to a constant once reached code generation and raised a KeyError; graph
    outputs in a narrow format now hold the format's bits (uint16_t for float16, aot/ir/formats.py)."""
    value = numpy_helper.from_array(np.array([1.0, 2.0], np.float16))
    graph = helper.make_graph([helper.make_node("Constant", [], ["half"], value=value)], "g",
                              [helper.make_tensor_value_info("x", F, [1])],
                              [helper.make_tensor_value_info("half", TensorProto.FLOAT16, [2])])
    path = tmp_path / "half.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    assert "0x3c00" in (tmp_path / "out" / "weights.h").read_text().lower() or \
        "15360" in (tmp_path / "out" / "weights.h").read_text()  # 1.0 in float16


def test_a_string_cast_is_refused_with_the_reason(tmp_path, capsys):
    graph = helper.make_graph([helper.make_node("Cast", ["x"], ["s"], to=TensorProto.STRING)], "g",
                              [helper.make_tensor_value_info("x", F, [2])],
                              [helper.make_tensor_value_info("s", TensorProto.STRING, [2])])
    path = tmp_path / "string.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "unsupported ONNX element type STRING" in err and "Traceback" not in err, err
