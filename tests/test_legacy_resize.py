"""Resize before opset 11 and Upsample keep ONNX Runtime's meaning through the opset upgrade
(onnx's version converter alone turns them into half_pixel Resizes): asymmetric coordinates, nearest
pixel by floor on growing axes and by ceil on shrinking ones."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import main
from aot.flows.verify import verify_model

F = TensorProto.FLOAT


def legacy_model(op: str, opset: int, mode: str, scales: list[float], shape=(1, 1, 5, 7)) -> onnx.ModelProto:
    if op == "Upsample" and opset < 9:
        nodes, inits = [helper.make_node(op, ["x"], ["y"], mode=mode, scales=scales)], []
    else:
        nodes = [helper.make_node(op, ["x", "s"], ["y"], mode=mode)]
        inits = [numpy_helper.from_array(np.array(scales, np.float32), "s")]
    graph = helper.make_graph(nodes, "legacy", [helper.make_tensor_value_info("x", F, list(shape))],
                              [helper.make_tensor_value_info("y", F, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    return model


CASES = [("Resize", 10, "linear", [1, 1, 2.5, 1.7]), ("Resize", 10, "linear", [1, 1, 0.6, 0.45]),
         ("Resize", 10, "nearest", [1, 1, 2.5, 1.7]), ("Resize", 10, "nearest", [1, 1, 0.6, 0.45]),
         ("Upsample", 9, "linear", [1, 1, 2.0, 3.0]), ("Upsample", 9, "nearest", [1, 1, 1.5, 2.5]),
         ("Upsample", 7, "nearest", [1.0, 1.0, 2.0, 2.0])]


@pytest.mark.parametrize("op,opset,mode,scales", CASES, ids=[f"{c[0]}{c[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_matches_onnx_runtime(op, opset, mode, scales, tmp_path):
    path = tmp_path / "legacy.onnx"
    onnx.save(legacy_model(op, opset, mode, scales), str(path))
    report = verify_model(path)
    assert report.ok, report.table()


def test_nearest_growing_and_shrinking_at_once_is_refused(tmp_path, capsys):
    path = tmp_path / "mixed.onnx"
    onnx.save(legacy_model("Resize", 10, "nearest", [1, 1, 2.5, 0.45]), str(path))
    assert main(["compile", str(path), "-o", str(tmp_path / "lib")]) == 2
    assert "growing some axes and shrinking others" in capsys.readouterr().err
