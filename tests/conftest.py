"""Shared fixtures: small ONNX models built with onnx.helper, the shared real models, C compilers."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[1]
SHARED_MODELS = REPO.parent / "shared" / "models"
OPSET = 13


def make_model(nodes: list, inputs: list, outputs: list, initializers: dict[str, np.ndarray] | None = None,
               name: str = "test", opset: int = OPSET) -> onnx.ModelProto:
    """A checked ONNX model from nodes and value infos; ``initializers`` maps names to arrays."""
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in (initializers or {}).items()]
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="aot-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def float_input(name: str, shape: list[int]) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def tiny_cnn_model() -> onnx.ModelProto:
    """Conv+bias -> Relu -> MaxPool -> Reshape -> Gemm -> Softmax: most op families in a few layers."""
    rng = np.random.default_rng(7)
    inits = {
        "conv.w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3,
        "conv.b": rng.standard_normal(4).astype(np.float32) * 0.1,
        "flat_shape": np.array([1, 64], np.int64),
        "fc.w": rng.standard_normal((64, 10)).astype(np.float32) * 0.2,
        "fc.b": rng.standard_normal(10).astype(np.float32) * 0.1,
    }
    nodes = [
        helper.make_node("Conv", ["input", "conv.w", "conv.b"], ["conv_out"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("MaxPool", ["relu_out"], ["pool_out"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Reshape", ["pool_out", "flat_shape"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc.w", "fc.b"], ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1),
    ]
    return make_model(nodes, [float_input("input", [1, 3, 8, 8])], [float_input("probs", [1, 10])], inits,
                      name="tiny_cnn")


def tiny_mlp_model() -> onnx.ModelProto:
    """MatMul+Add -> Relu -> MatMul -> Sigmoid; its node names ("relu", ...) overlap tiny_cnn's on purpose."""
    rng = np.random.default_rng(11)
    inits = {
        "w1": rng.standard_normal((16, 8)).astype(np.float32) * 0.4,
        "b1": rng.standard_normal(8).astype(np.float32) * 0.1,
        "w2": rng.standard_normal((8, 4)).astype(np.float32) * 0.4,
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h"], name="fc"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="bias"),
        helper.make_node("Relu", ["hb"], ["hr"], name="relu"),
        helper.make_node("MatMul", ["hr", "w2"], ["z"], name="fc2"),
        helper.make_node("Sigmoid", ["z"], ["y"], name="softmax"),
    ]
    return make_model(nodes, [float_input("x", [1, 16])], [float_input("y", [1, 4])], inits, name="tiny_mlp")


@pytest.fixture(scope="session")
def tiny_cnn_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny_cnn.onnx"
    onnx.save(tiny_cnn_model(), str(path))
    return path


@pytest.fixture(scope="session")
def tiny_mlp_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("models") / "tiny_mlp.onnx"
    onnx.save(tiny_mlp_model(), str(path))
    return path


@pytest.fixture
def shared_model() -> Callable[[str], Path]:
    """``shared_model("mnist/model.onnx")``: the file from ../shared/models, or a skip naming what is missing."""
    def locate(relative: str) -> Path:
        path = SHARED_MODELS / relative
        if not SHARED_MODELS.is_dir():
            pytest.skip(f"shared model folder {SHARED_MODELS} is missing")
        if not path.exists():
            pytest.skip(f"shared model {path} is missing (folder {path.parent})")
        return path
    return locate


def require_tool(name: str) -> str:
    """Path of a build tool the project requires (.ci/run installs it): missing is a failure, not a skip."""
    path = shutil.which(name)
    assert path is not None, f"'{name}' is not installed; run .ci/run or apt-get install {name}"
    return path


@pytest.fixture(params=["gcc", "clang"])
def cc(request: pytest.FixtureRequest) -> str:
    """Each C compiler the generated code must build with."""
    require_tool(request.param)
    return request.param
