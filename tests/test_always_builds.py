"""Every model ``aot compile`` accepts gives C that builds under -Wall -Wextra -Werror with gcc and
clang and runs like ONNX Runtime (issue 9, item 2): unused inputs, outputs that are inputs, listed
twice or constant, and tensors and nodes named like C keywords, standard names or library symbols."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.cli import main
from aot.codegen.symbols import library_macros
from aot.flows.verify import verify_model
from aot.ir import c_identifier
from aot.ir.names import is_reserved
from conftest import float_input, make_model, require_tool

CONSTANT = np.array([1.5, -2.0, 3.0], np.float32)


def constant_node(output: str) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [output], value=onnx.numpy_helper.from_array(CONSTANT))


def outputs_model() -> onnx.ModelProto:
    """An unused input; outputs: a computed one, an input, the computed one again, a Shape, a Constant."""
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Shape", ["x"], ["s"]), constant_node("c")]
    ints = helper.make_tensor_value_info
    return make_model(nodes, [float_input("x", [2, 3]), float_input("unused", [2, 3])],
                      [float_input("y", [2, 3]), float_input("x", [2, 3]), float_input("y", [2, 3]),
                       ints("s", TensorProto.INT64, [2]), float_input("c", [3])])


def constant_only_model() -> onnx.ModelProto:
    """No layer computes anything: Shape, Size and Constant fold, the input is only measured."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Size", ["x"], ["n"]), constant_node("c")]
    ints = helper.make_tensor_value_info
    return make_model(nodes, [float_input("x", [1, 3, 2])],
                      [ints("s", TensorProto.INT64, [3]), ints("n", TensorProto.INT64, []), float_input("c", [3])])


def names_model() -> onnx.ModelProto:
    """Tensors named like locals, standard types and macros, libc functions, main and the API; nodes
    named like the API functions, the static arena and a macro."""
    nodes = [helper.make_node("Add", ["arena_ptr", "NULL"], ["uint8_t"], name="run"),
             helper.make_node("Relu", ["uint8_t"], ["INFINITY"], name="run_with_arena"),
             helper.make_node("Mul", ["INFINITY", "model_run_with_arena"], ["memcpy"], name="arena"),
             helper.make_node("Neg", ["memcpy"], ["main"], name="ARENA_SIZE"),
             helper.make_node("Sigmoid", ["main"], ["model_run"], name="main"),
             helper.make_node("Abs", ["INFINITY"], ["MODEL_ARENA_SIZE"], name="memcpy")]
    shape = [1, 4]
    return make_model(nodes, [float_input(n, shape) for n in ("arena_ptr", "NULL", "model_run_with_arena")],
                      [float_input(n, shape) for n in ("memcpy", "main", "model_run", "MODEL_ARENA_SIZE")])


def empty_split_model() -> onnx.ModelProto:
    """A Split with empty outputs in the arena: each gets its own address, since kernels take their
    operands as restrict pointers (gcc -Werror=restrict refused two at one offset)."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Split", ["r", "sizes"], ["a", "b", "c"], axis=1),
             helper.make_node("Neg", ["a"], ["y"]), helper.make_node("Neg", ["b"], ["z"]),
             helper.make_node("Neg", ["c"], ["w"])]
    return make_model(nodes, [float_input("x", [1, 4])], [float_input("y", [1, 4]), float_input("z", [1, 0]),
                                                          float_input("w", [1, 0])], {"sizes": np.array([4, 0, 0], np.int64)})


MODELS = {"empty_split": empty_split_model, "outputs": outputs_model, "constant_only": constant_only_model, "names": names_model}


def make_library(lib: Path, cc: str) -> None:
    """The generated Makefile (-std=c99 -Wall -Wextra, -Werror by AOT_WERROR=1) from clean with ``cc``."""
    subprocess.run(["make", "-s", "-C", str(lib), "clean"], capture_output=True, check=False)
    proc = subprocess.run(["make", "-s", "-C", str(lib), f"CC={cc}", "AOT_WERROR=1"], capture_output=True, text=True)
    assert proc.returncode == 0, f"{cc}:\n{proc.stdout}{proc.stderr}"


@pytest.mark.parametrize("case", MODELS)
def test_compiles_builds_and_matches_onnx_runtime(case: str, tmp_path: Path, capsys) -> None:
    model = MODELS[case]()
    path = tmp_path / f"{case}.onnx"
    onnx.save(model, path)
    assert main(["compile", str(path), "-o", str(tmp_path / "lib")]) == 0, capsys.readouterr().err
    for cc in ("gcc", "clang"):
        require_tool(cc)
        make_library(tmp_path / "lib", cc)
    report = verify_model(path)
    assert len(report.checks) == len(model.graph.output)
    assert report.ok, report.table()


def test_prefix_in_capitals_keeps_layers_apart_from_macros(tmp_path: Path) -> None:
    """With --prefix MODEL a layer named ARENA_SIZE would be the function MODEL_ARENA_SIZE, a macro."""
    path = tmp_path / "names.onnx"
    onnx.save(names_model(), path)
    assert main(["compile", str(path), "-o", str(tmp_path / "lib"), "--prefix", "MODEL"]) == 0
    require_tool("gcc")
    make_library(tmp_path / "lib", "gcc")


def test_every_macro_of_the_headers_is_known(tmp_path: Path) -> None:
    """aot/codegen/symbols.py keeps parameters and layer functions apart from these macros."""
    path = tmp_path / "outputs.onnx"
    onnx.save(outputs_model(), path)
    lib = tmp_path / "lib"
    assert main(["compile", str(path), "-o", str(lib)]) == 0
    defined = {m for h in ("model.h", "kernels.h", "weights.h")
               for m in re.findall(r"^#define (\w+)", (lib / h).read_text(), re.M)}
    assert defined <= library_macros("model", 2, 5)


@pytest.mark.parametrize("name", ["uint8_t", "NULL", "INFINITY", "NAN", "EOF", "memcpy", "expf", "main",
                                  "int", "size_t", "class", "AOT_OK", "aot_relu_f"])
def test_reserved_names_are_changed(name: str) -> None:
    safe = c_identifier(name)
    assert safe != name and not is_reserved(safe)
