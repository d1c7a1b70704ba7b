"""The ``aot`` command line: help, compile + make, verify, inspect, IR dumps, demo, input files."""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from aot.cli import build_parser, main
from aot.reference import run_reference
from aot.resources import examples_dir

REPO = Path(__file__).resolve().parents[1]
DEMO = examples_dir() / "demo_cnn.onnx"
SUBCOMMANDS = ["compile", "quantize", "verify", "inspect", "demo", "run", "boards", "ops", "tune"]


def run(argv: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def demo_input(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, 1, 32, 32)).astype(np.float32)


# -- help -----------------------------------------------------------------------------------------
def test_every_subcommand_is_listed():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(sub.choices) == sorted(SUBCOMMANDS)


@pytest.mark.parametrize("argv", [["--help"]] + [[cmd, "--help"] for cmd in SUBCOMMANDS])
def test_help(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: aot")
    if len(argv) == 1:
        assert all(cmd in out for cmd in SUBCOMMANDS)
    else:
        assert f"aot {argv[0]}" in out


def test_help_through_the_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "aot", "--help"], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    assert proc.returncode == 0 and "compile" in proc.stdout and "demo" in proc.stdout


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert "usage: aot" in capsys.readouterr().err


# -- compile + make -------------------------------------------------------------------------------
@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_compile_then_make_builds_libmodel(tmp_path, capsys, cc):
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is required by the project's standards but is not installed")
    out = tmp_path / "demo"
    code, stdout, err = run(["compile", DEMO, "-o", out], capsys)
    assert code == 0, err
    assert f"make -C {out}" in stdout
    for name in ("model.h", "model.c", "weights.h", "Makefile", "CMakeLists.txt", "metadata.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "metadata.json").read_text())["generator"] == "aot"
    proc = subprocess.run(["make", "-C", str(out), f"CC={cc}", "AOT_WERROR=1"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning" not in (proc.stdout + proc.stderr).lower()
    lib = out / "libmodel.a"
    assert lib.is_file() and lib.stat().st_size > 0
    members = subprocess.run(["ar", "t", str(lib)], capture_output=True, text=True, check=True).stdout.split()
    assert "model.o" in members


def test_compile_is_byte_for_byte_deterministic(tmp_path, capsys):
    for name in ("a", "b"):
        assert run(["compile", DEMO, "-o", tmp_path / name, "--prefix", "net"], capsys)[0] == 0
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert "net_run" in (tmp_path / "a" / "net.h").read_text()


# -- verify ---------------------------------------------------------------------------------------
def test_verify_passes_on_a_good_model(capsys):
    code, out, err = run(["verify", DEMO], capsys)
    assert code == 0, out + err
    assert "verify: PASS" in out and "onnxruntime" in out and "probabilities" in out


def write_test_data(folder: Path, x: np.ndarray, expected: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    onnx.save_tensor(numpy_helper.from_array(x, "input"), str(folder / "input_0.pb"))
    onnx.save_tensor(numpy_helper.from_array(expected, "probabilities"), str(folder / "output_0.pb"))
    return folder


def test_verify_with_test_data_folder(tmp_path, capsys):
    x = demo_input(3)
    expected = run_reference(DEMO, {"input": x})[0]
    folder = write_test_data(tmp_path / "test_data_set_0", x, expected)
    code, out, err = run(["verify", DEMO, "--test-data", folder], capsys)
    assert code == 0, out + err
    assert "expected" in out  # compared with the stored outputs as well as with ONNX Runtime


def test_verify_exits_1_when_outputs_differ_beyond_tolerance(tmp_path, capsys):
    # Expected outputs that are genuinely wrong (shifted by 1e-3 with tolerance 1e-4): the C output is
    # right, so the check against ONNX Runtime passes and the one against these outputs must fail.
    x = demo_input(4)
    wrong = run_reference(DEMO, {"input": x})[0] + np.float32(1e-3)
    folder = write_test_data(tmp_path / "wrong", x, wrong)
    code, out, _ = run(["verify", DEMO, "--test-data", folder], capsys)
    assert code == 1
    assert "verify: FAIL" in out and "FAIL" in out.splitlines()[-3]
    # A looser tolerance accepts the same difference.
    code, out, _ = run(["verify", DEMO, "--test-data", folder, "--atol", "2e-3"], capsys)
    assert code == 0, out


def test_verify_with_npy_input(tmp_path, capsys):
    path = tmp_path / "x.npy"
    np.save(path, demo_input(5))
    code, out, err = run(["verify", DEMO, "--input", path], capsys)
    assert code == 0, out + err
    # The file is really read: an array of the wrong shape is refused with the expected shape.
    np.save(path, np.zeros((1, 1, 16, 16), np.float32))
    code, _, err = run(["verify", DEMO, "--input", path], capsys)
    assert code != 0 and "[1, 1, 32, 32]" in err


def test_verify_with_npz_and_pb_inputs(tmp_path, capsys):
    x = demo_input(6)
    np.savez(tmp_path / "inputs.npz", input=x)
    onnx.save_tensor(numpy_helper.from_array(x, "input"), str(tmp_path / "input_0.pb"))
    for path in (tmp_path / "inputs.npz", tmp_path / "input_0.pb"):
        code, out, err = run(["verify", DEMO, "--input", path], capsys)
        assert code == 0, out + err


def test_verify_keep_writes_the_library(tmp_path, capsys):
    keep = tmp_path / "kept"
    assert run(["verify", DEMO, "--keep", keep], capsys)[0] == 0
    assert (keep / "model.h").is_file() and (keep / "libmodel.so").is_file()


# -- inspect and IR dumps -------------------------------------------------------------------------
def test_inspect_prints_layers_and_memory(capsys):
    code, out, err = run(["inspect", DEMO], capsys)
    assert code == 0, err
    lines = out.splitlines()
    for layer, op in [("conv1", "Conv+Relu"), ("dw", "Conv+Clip"), ("pool1", "MaxPool"), ("fc", "Gemm"),
                      ("softmax", "Softmax")]:
        assert any(line.split()[1:3] == [layer, op] for line in lines if line[:4].strip().isdigit()), (layer, out)
    meta = {line.split()[0]: line for line in lines if line}
    for key in ("arena", "lower", "no", "weights"):
        assert key in meta
    arena = int(meta["arena"].split()[1])
    lower = int(meta["lower"].split()[2])
    assert arena >= lower > 0


def test_dump_ir_after_a_pass(tmp_path, capsys):
    code, out, err = run(["compile", DEMO, "-o", tmp_path / "lib", "--dump-ir-after", "fuse_activation"], capsys)
    assert code == 0, err
    assert out.count("; IR after ") == 1 and "; IR after fuse_activation" in out
    ir = out.split("; IR after fuse_activation", 1)[1]
    assert "graph demo_cnn" in ir and "Conv(" in ir
    assert "activation={op_type='Relu'" in ir  # the pass's effect is visible
    assert "BatchNormalization(" not in ir  # folded by an earlier pass


def test_dump_ir_after_all(tmp_path, capsys):
    code, out, _ = run(["compile", DEMO, "-o", tmp_path / "lib", "--dump-ir-after", "all"], capsys)
    assert code == 0
    assert out.count("; IR after ") >= 5
    assert "; IR after fold_batchnorm" in out and "; IR after partition_backends" in out


# -- demo -----------------------------------------------------------------------------------------
def test_demo_needs_no_arguments(capsys):
    code, out, err = run(["demo"], capsys)
    assert code == 0, out + err
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines() if line.strip()}
    for key in ("layers", "arena", "lower bound", "weights", "max abs error", "C latency", "ORT latency", "C / ORT"):
        assert key in rows, f"{key!r} missing from the demo table:\n{out}"
    assert "demo: PASS" in out
    assert float(rows["max abs error"].split()[3]) <= 1e-4


def test_demo_with_clang_keeps_the_library(tmp_path, capsys):
    if shutil.which("clang") is None:
        pytest.fail("clang is required by the project's standards but is not installed")
    out_dir = tmp_path / "demo_lib"
    code, out, err = run(["demo", "--out", out_dir, "--cc", "clang"], capsys)
    assert code == 0, out + err
    assert "clang" in out and (out_dir / "demo.h").is_file()  # --prefix demo names the files
    assert json.loads((out_dir / "metadata.json").read_text())["prefix"] == "demo"


def test_demo_through_a_real_process():
    proc = subprocess.run([sys.executable, "-m", "aot", "demo"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "C latency" in proc.stdout and "ORT latency" in proc.stdout


def test_bundled_demo_model_is_reproducible(tmp_path):
    script = examples_dir() / "make_demo_model.py"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "again.onnx")], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "again.onnx").read_bytes() == DEMO.read_bytes()
    assert DEMO.stat().st_size < 64 * 1024


def test_ops_lists_each_backends_ops_with_dtypes(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[:-1]}
    assert "ref (float32)" in rows["Relu"] and "int8" in rows["Conv"] and "arm-dsp (float32, int8)" in rows["Conv"]
    assert out.splitlines()[-1].startswith(f"{len(rows)} ops on ")
    assert main(["ops", "--backend", "nope"]) == 2


# -- --fix-input ----------------------------------------------------------------------------------
def center_crop_model(path: Path) -> Path:
    """CenterCropPad whose target shape is a graph input: its output shape depends on that input's values."""
    from onnx import TensorProto, helper
    node = helper.make_node("CenterCropPad", ["x", "shape"], ["y"], axes=[2, 3])
    graph = helper.make_graph([node], "crop", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
                                               helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    return path


def test_a_value_dependent_shape_names_the_input_to_fix(tmp_path, capsys):
    code, out, err = run(["compile", center_crop_model(tmp_path / "crop.onnx"), "-o", tmp_path / "lib"], capsys)
    assert code == 2 and not (tmp_path / "lib").exists()
    assert "output shape depends on input values" in err and "graph input 'shape'" in err and "--fix-input" in err
    assert "'x'" not in err.split("computed at run time")[1]  # x's shape is static: not a deciding input


def test_fix_input_compiles_and_verifies_against_onnxruntime(tmp_path, capsys):
    model = center_crop_model(tmp_path / "crop.onnx")
    code, out, err = run(["verify", model, "--fix-input", "shape=4,10"], capsys)
    assert code == 0, err
    assert "1x3x4x10" in out and "verify: PASS" in out
    np.save(tmp_path / "shape.npy", np.array([6, 2], dtype=np.int64))
    code, out, err = run(["compile", model, "--fix-input", f"shape=@{tmp_path / 'shape.npy'}", "-o", tmp_path / "lib"],
                         capsys)
    assert code == 0, err
    header = (tmp_path / "lib" / "model.h").read_text()
    assert "shape" not in header.split("model_run(")[1].split(";")[0]  # a fixed input leaves the C API


@pytest.mark.parametrize("flag, message", [
    ("shap=4,4", "--fix-input names 'shap', but the model's inputs are 'x', 'shape'"),
    ("shape=4,4,4", "3 value(s) do not fit the input's declared shape [2]"),
    ("shape=4.5,4", "the values are not integers"),
])
def test_fix_input_mistakes_are_clear_errors(tmp_path, capsys, flag, message):
    code, out, err = run(["compile", center_crop_model(tmp_path / "crop.onnx"), "--fix-input", flag,
                          "-o", tmp_path / "lib"], capsys)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "lib").exists()
