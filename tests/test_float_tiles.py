"""Float register tiles on Cortex-M (aot/backends/float_tiles.py): on cortex-m4 arm-dsp runs ref's
tiled and pointwise Conv, Gemm and MatMul with 4 x 4 tiles of named scalars, matching ONNX Runtime
under QEMU (tile tails of every size, several groups, bias or none) in fewer instructions than ref's
arrays; single rows stay on ref's kernel; on cortex-m55 the helium backend keeps ref's vectorisable
tiles; the kernels build clean with clang."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.board_run import run_on_board
from aot.targets.board import resolve_board
from aot.targets.cross import build_library

from conftest import require_tool


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def conv_model(seed: int = 0) -> onnx.ModelProto:
    """3x3 pad 1 Conv (tiled, 6 output channels: a full tile of 4 rows and a tail of 2; 7x9 = 63
    positions: blocks of 4 and a tail of 3), two groups of a 1x1 Conv without bias (pointwise), Relu."""
    rng = np.random.default_rng(seed)
    inits = [_init("w1", rng.normal(0, 0.3, (6, 3, 3, 3))), _init("b1", rng.normal(0, 0.1, 6)),
             _init("w2", rng.normal(0, 0.3, (10, 3, 1, 1)))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"], group=2)]
    graph = helper.make_graph(nodes, "tiles", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 7, 9])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10, 7, 9])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def matrix_model(m: int, seed: int = 0) -> onnx.ModelProto:
    """Gemm [m, 19] x [19, 11] + C, then a batched MatMul [2, m, 11] x [11, 6]."""
    rng = np.random.default_rng(seed)
    inits = [_init("b", rng.normal(0, 0.3, (19, 11))), _init("c", rng.normal(0, 0.1, 11)),
             numpy_helper.from_array(np.array([2, m // 2, 11], np.int64), "shape"),
             _init("d", rng.normal(0, 0.3, (11, 6)))]
    nodes = [helper.make_node("Gemm", ["x", "b", "c"], ["g"]),
             helper.make_node("Reshape", ["g", "shape"], ["r"]),
             helper.make_node("MatMul", ["r", "d"], ["y"])]
    graph = helper.make_graph(nodes, "matrix", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, 19])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, m // 2, 6])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def _kernels(lib) -> list[str]:
    return [layer["kernel"] for layer in json.loads((lib / "metadata.json").read_text())["layers"]]


def test_conv_tiles_on_cortex_m4(tmp_path):
    scalar = run_on_board(conv_model(), "cortex-m4", keep_dir=tmp_path / "dsp", timeout=60)
    assert scalar.ok, scalar.table()
    assert _kernels(tmp_path / "dsp" / "lib").count("float/conv_scalar_tiles") == 2
    ref = run_on_board(conv_model(), "cortex-m4", options=CompileOptions(backends=["ref"]),
                       keep_dir=tmp_path / "ref", timeout=60)
    assert ref.ok, ref.table()
    assert scalar.instructions < ref.instructions


@pytest.mark.parametrize("m", [6, 10])  # Gemm rows: a tile of 4 and a tail of 2; MatMul rows 3 and 5
def test_matrix_tiles_on_cortex_m4(m, tmp_path):
    report = run_on_board(matrix_model(m, seed=m), "cortex-m4", keep_dir=tmp_path, timeout=60)
    assert report.ok, report.table()
    kernels = _kernels(tmp_path / "lib")
    assert "float/gemm_scalar_tiles" in kernels and "float/matmul_scalar_tiles" in kernels


def test_single_row_stays_on_ref():
    compiled = compile_model(matrix_model(2), CompileOptions(board="cortex-m4"))  # MatMul rows: 1
    kernels = [layer["kernel"] for layer in compiled.metadata["layers"]]
    assert "float/matmul_scalar_tiles" not in kernels and "float/gemm_scalar_tiles" in kernels


def test_helium_keeps_vector_tiles(tmp_path):
    report = run_on_board(conv_model(1), "cortex-m55", keep_dir=tmp_path, timeout=60)
    assert report.ok, report.table()
    assert _kernels(tmp_path / "lib").count("float/conv_vector_tiles") == 2


def test_scalar_tiles_build_clean_with_clang(tmp_path):
    require_tool("clang")
    options = CompileOptions(board="cortex-m4")
    for name, proto in (("conv", conv_model()), ("matrix", matrix_model(6))):
        lib = write_library(compile_model(proto, options), tmp_path / name)
        build_library(lib, resolve_board("cortex-m4"), "clang", "-O2")  # -Wall -Wextra -Werror
