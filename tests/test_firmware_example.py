"""examples/firmware builds with a generated library and runs under QEMU (issue 14, must-show 6).

KWS int8 is compiled for cortex-m4; a copy of examples/firmware is built against it with its own
Makefile (arm-none-eabi-gcc, PROFILE=1 by default) and run once with `make run` (qemu-system-arm,
mps2-an386). The output it prints must equal the host library's on the same input (the fixed
pattern of the example's fill_input), and its profiling hooks must print one line per layer with
the index, op type, name and MACs of the library's layer table and a SysTick count. On the host,
the layer table is compiled in only on request and holds metadata.json's layers."""
from __future__ import annotations

import ctypes
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.targets.board import resolve_board
from aot.targets.host import build_shared, load

from conftest import REPO, SHARED_MODELS, float_input, make_model, tiny_cnn_model

KWS = SHARED_MODELS / "mlperf_tiny" / "kws_ref_model_int8.onnx"
EXAMPLE = REPO / "examples" / "firmware"


def example_input(size: int, dtype: np.dtype) -> np.ndarray:
    """main.c's fill_input: (i * 7 % 19) - 9, converted to the input's element type."""
    return ((np.arange(size, dtype=np.int64) * 7 % 19) - 9).astype(dtype)


@pytest.fixture(scope="module")
def firmware_run(tmp_path_factory) -> dict:
    resolve_board("cortex-m4").require_tools("gcc")  # fails naming boards/install-toolchains.sh
    tmp = tmp_path_factory.mktemp("firmware_example")
    compiled = compile_model(KWS, CompileOptions(board="cortex-m4"))
    lib = write_library(compiled, tmp / "kws")
    app = tmp / "app"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns("build"))
    proc = subprocess.run(["make", "-s", "-C", str(app), f"MODEL_DIR={lib}", "run"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {"lib": lib, "meta": compiled.metadata, "stdout": proc.stdout}


def test_output_equals_the_host_library(firmware_run):
    meta = firmware_run["meta"]
    (inp,), (out,) = meta["inputs"], meta["outputs"]
    host_lib = write_library(compile_model(KWS), firmware_run["lib"].parent / "kws_host")
    feed = example_input(inp["size"], np.dtype(inp["dtype"])).reshape(inp["shape"])
    expected = load(host_lib).run([feed])[0].reshape(-1)
    lines = [line for line in firmware_run["stdout"].splitlines() if line.startswith("output 0:")]
    assert len(lines) == 1, firmware_run["stdout"]
    printed = np.array([int(v) for v in lines[0].split(":")[1].split()])
    assert len(set(printed.tolist())) > 2, "the pattern input should give varied scores"
    np.testing.assert_array_equal(printed, expected.astype(np.int64))


def test_one_profile_line_per_layer(firmware_run):
    layers = firmware_run["meta"]["layers"]
    stdout = firmware_run["stdout"]
    found = re.findall(r"^layer (\d+) (\S+) (\S+) macs=(\d+) cycles=(\d+)$", stdout, re.MULTILINE)
    assert [(int(i), op, name, int(macs)) for i, op, name, macs, _ in found] == \
        [(i, layer["op_type"], layer["name"], layer["macs"]) for i, layer in enumerate(layers)]
    cycles = [int(c) for *_, c in found]
    total = int(re.search(r"^cycles=(\d+)$", stdout, re.MULTILINE).group(1))
    # Every layer takes time, and the layers make up the inference (the rest is call overhead).
    assert all(c > 0 for c in cycles)
    assert 0.95 * total <= sum(cycles) <= total


class LayerInfo(ctypes.Structure):
    """aot_layer_info of runtime_c/aot_layer.h, field for field."""
    _fields_ = [("macs", ctypes.c_uint64), ("name", ctypes.c_char_p), ("op_type", ctypes.c_char_p),
                ("model", ctypes.c_char_p), ("index", ctypes.c_int32)]


def test_layer_table_is_opt_in_and_matches_the_metadata(tmp_path):
    """On the host: model.c defines model_layers only with -DMODEL_LAYER_TABLE (or AOT_PROFILE), and its
    entries are metadata.json's layers."""
    compiled = compile_model(tiny_cnn_model())
    lib = write_library(compiled, tmp_path / "lib")
    layers = compiled.metadata["layers"]
    assert f"#define MODEL_NUM_LAYERS {len(layers)}\n" in (lib / "model.h").read_text()
    for flags, defined in (([], False), (["-DMODEL_LAYER_TABLE"], True)):
        obj = tmp_path / "model.o"
        subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", *flags, "-c", str(lib / "model.c"), "-o", str(obj)],
                       check=True)
        symbols = subprocess.run(["nm", str(obj)], capture_output=True, text=True, check=True).stdout.split()
        assert ("model_layers" in symbols) == defined
    shared = build_shared(lib, "cc", "-O2 -DMODEL_LAYER_TABLE")
    table = (LayerInfo * len(layers)).in_dll(ctypes.CDLL(str(shared)), "model_layers")
    assert [(e.index, e.name.decode(), e.op_type.decode(), e.macs, e.model.decode()) for e in table] == \
        [(i, layer["name"], layer["op_type"], layer["macs"], "model") for i, layer in enumerate(layers)]
    assert any(e.macs > 0 for e in table)


def test_layer_table_name_is_kept_from_tensors_and_layers(tmp_path):
    """An input named model_layers would shadow the table in model_run_with_arena, a layer named
    "layers" would be the function model_layers: aot/codegen/symbols.py renames both."""
    model = make_model([helper.make_node("Relu", ["model_layers"], ["y"], name="layers")],
                       [float_input("model_layers", [1, 4])], [float_input("y", [1, 4])])
    lib = write_library(compile_model(model, CompileOptions(io_buffers="separate")), tmp_path / "lib")
    subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-DAOT_PROFILE", "-c", str(lib / "model.c"),
                    "-o", str(tmp_path / "model.o")], check=True)
