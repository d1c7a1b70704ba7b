"""The CLI's input handling and consistency (issue 14, must-shows 5 and 9): --input files read by one
loader in verify and run (.npz, .npy, .pb, NAME=FILE), exact shapes, float data for int8 inputs,
flags that used to be ignored (--input-shape on a static axis, an unknown --keep-float layer, an
invalid --layout), usage errors, --help examples, --cc/--opt on every subcommand that builds C."""
from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import build_parser, main
from aot.compiler import compile_model
from aot.flows.input_files import input_samples
from aot.frontend import import_onnx
from aot.targets.board import resolve_board
from conftest import float_input, make_model

SUBCOMMANDS_BUILDING_C = ["verify", "run", "tune", "demo"]


def run(argv: list, capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_clear_error(code: int, err: str, *parts: str) -> None:
    """Exit 2 with one 'aot: error:' paragraph holding every part, and no traceback."""
    assert code == 2, err
    assert "Traceback" not in err and err.startswith("aot: error: "), err
    for part in parts:
        assert part in err, (part, err)


# -- models ---------------------------------------------------------------------------------------
def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, str(path))
    return path


@pytest.fixture
def nonsquare(tmp_path) -> Path:
    """x [1, 4, 3, 1] -> Sigmoid -> y: a transposed [1, 3, 4, 1] array has the same size."""
    return save(make_model([helper.make_node("Sigmoid", ["x"], ["y"], name="sig")], [float_input("x", [1, 4, 3, 1])],
                           [float_input("y", [1, 4, 3, 1])], name="nonsquare"), tmp_path / "nonsquare.onnx")


@pytest.fixture
def two_inputs(tmp_path) -> Path:
    """y = a - b: which array feeds which input shows in the output."""
    return save(make_model([helper.make_node("Sub", ["a", "b"], ["y"], name="sub")],
                           [float_input("a", [1, 3]), float_input("b", [1, 3])], [float_input("y", [1, 3])],
                           name="two"), tmp_path / "two.onnx")


SCALE, ZERO_POINT = 0.1, -10


@pytest.fixture
def int8_model(tmp_path) -> Path:
    """An int8 input [1, 2, 4] (scale 0.1, zero point -10) -> DQ -> Relu -> Q -> int8 output."""
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "zp"], ["xf"], name="dq"),
             helper.make_node("Relu", ["xf"], ["r"], name="relu"),
             helper.make_node("QuantizeLinear", ["r", "s", "zp"], ["y"], name="q")]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 2, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 2, 4])],
                       {"s": np.array(SCALE, np.float32), "zp": np.array(ZERO_POINT, np.int8)}, name="q8")
    return save(model, tmp_path / "q8.onnx")


@pytest.fixture
def conv_model(tmp_path) -> Path:
    """conv1 (Conv) -> relu1 -> conv2 (Conv): a float model to quantize and to change layouts of."""
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("Conv", ["r1", "w2"], ["y"], name="conv2")]
    inits = {"w1": rng.standard_normal((4, 2, 3, 3)).astype(np.float32) * 0.3,
             "w2": rng.standard_normal((3, 4, 1, 1)).astype(np.float32) * 0.3}
    return save(make_model(nodes, [float_input("x", [1, 2, 6, 6])], [float_input("y", [1, 3, 6, 6])], inits,
                           name="convs"), tmp_path / "convs.onnx")


def calibration(tmp_path: Path) -> Path:
    np.savez(tmp_path / "calib.npz", x=np.random.default_rng(1).standard_normal((8, 1, 2, 6, 6)).astype(np.float32))
    return tmp_path / "calib.npz"


# -- --input: one loader --------------------------------------------------------------------------
def test_verify_reads_an_npz_for_an_int8_model(int8_model, tmp_path, capsys):
    # The reported bug: verify passed the NpzFile itself on ("got [1]") where run read the arrays.
    np.savez(tmp_path / "x.npz", x=np.arange(-4, 4, dtype=np.int8).reshape(1, 2, 4))
    code, out, err = run(["verify", int8_model, "--input", tmp_path / "x.npz"], capsys)
    assert code == 0, err
    assert "samples                      1" in out and "verify: PASS" in out
    np.savez(tmp_path / "xs.npz", x=np.zeros((5, 1, 2, 4), np.int8))  # 5 samples stacked
    code, out, err = run(["verify", int8_model, "--input", tmp_path / "xs.npz"], capsys)
    assert code == 0 and "samples                      5" in out, err


def test_an_npz_with_a_misspelt_key_names_the_inputs(nonsquare, tmp_path, capsys):
    np.savez(tmp_path / "x.npz", X=np.zeros((1, 4, 3, 1), np.float32))
    code, _, err = run(["verify", nonsquare, "--input", tmp_path / "x.npz"], capsys)
    assert_clear_error(code, err, str(nonsquare), "gives input 'X'", "its inputs are 'x'", "Did you mean 'x'?")


@pytest.mark.parametrize("command", ["verify", "run"])
def test_a_same_size_transposed_array_is_refused_not_reshaped(nonsquare, tmp_path, capsys, command):
    np.save(tmp_path / "t.npy", np.zeros((1, 3, 4, 1), np.float32))
    argv = [command, nonsquare, "--input", tmp_path / "t.npy"] + (["--board", "cortex-m4"] if command == "run" else [])
    code, out, err = run(argv, capsys)
    assert_clear_error(code, err, str(nonsquare), "input 'x'", "needs shape [1, 4, 3, 1]", "holds shape [1, 3, 4, 1]",
                       "does not reshape")
    assert "PASS" not in out


def test_stacked_samples_along_the_batch_axis_still_work(nonsquare, tmp_path, capsys):
    np.save(tmp_path / "s.npy", np.random.default_rng(2).standard_normal((6, 4, 3, 1)).astype(np.float32))
    code, out, err = run(["verify", nonsquare, "--input", tmp_path / "s.npy"], capsys)
    assert code == 0 and "samples: 6" in out, err


def test_a_second_input_file_for_a_one_input_model_is_refused(nonsquare, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 3, 1), np.float32))
    np.save(tmp_path / "x2.npy", np.ones((1, 4, 3, 1), np.float32))
    code, _, err = run(["verify", nonsquare, "--input", tmp_path / "x.npy", "--input", tmp_path / "x2.npy"], capsys)
    assert_clear_error(code, err, "x2.npy is one --input file too many", "'x'")
    np.savez(tmp_path / "x.npz", x=np.zeros((1, 4, 3, 1), np.float32))
    code, _, err = run(["verify", nonsquare, "--input", tmp_path / "x.npz", "--input", tmp_path / "x.npy"], capsys)
    assert_clear_error(code, err, "too many")


def test_several_inputs_by_order_and_by_name(two_inputs, tmp_path):
    a, b = np.array([[5, 6, 7]], np.float32), np.array([[1, 1, 2]], np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    graph = import_onnx(two_inputs)
    in_order = input_samples([str(tmp_path / "a.npy"), str(tmp_path / "b.npy")], graph, "two")
    by_name = input_samples([f"b={tmp_path / 'b.npy'}", f"a={tmp_path / 'a.npy'}"], graph, "two")
    for sample in (in_order, by_name):
        assert len(sample) == 1
        np.testing.assert_array_equal(sample[0][0], a)
        np.testing.assert_array_equal(sample[0][1], b)
    # b by name, a as the next input still free
    mixed = input_samples([f"b={tmp_path / 'b.npy'}", str(tmp_path / "a.npy")], graph, "two")
    np.testing.assert_array_equal(mixed[0][0], a)


def test_several_inputs_through_verify(two_inputs, tmp_path, capsys):
    np.save(tmp_path / "a.npy", np.array([[5, 6, 7]], np.float32))
    np.save(tmp_path / "b.npy", np.array([[1, 1, 2]], np.float32))
    code, out, err = run(["verify", two_inputs, "--input", f"b={tmp_path / 'b.npy'}", "--input", tmp_path / "a.npy"],
                         capsys)
    assert code == 0 and "verify: PASS" in out, err
    code, _, err = run(["verify", two_inputs, "--input", tmp_path / "a.npy"], capsys)
    assert_clear_error(code, err, "no --input value for input(s) 'b'", "'a', 'b'")
    code, _, err = run(["verify", two_inputs, "--input", f"bb={tmp_path / 'b.npy'}", "--input", tmp_path / "a.npy"],
                       capsys)
    assert_clear_error(code, err, "gives input 'bb'", "Did you mean 'b'?")
    code, _, err = run(["verify", two_inputs, "--input", f"a={tmp_path / 'a.npy'}", "--input",
                        f"a={tmp_path / 'b.npy'}"], capsys)
    assert_clear_error(code, err, "input 'a' is given twice")


def test_float_data_for_an_int8_input_reports_scale_zero_point_and_saturation(int8_model, tmp_path, capsys):
    x = np.array([[[-20.0, -1.04, 0.0, 0.26], [3.3, 11.7, 13.8, 100.0]]], np.float32)
    np.save(tmp_path / "f.npy", x)
    levels = np.rint(x / np.float32(SCALE)).astype(np.int64) + ZERO_POINT  # float32, as QuantizeLinear divides
    saturated = int(np.count_nonzero((levels < -128) | (levels > 127)))
    assert 0 < saturated < x.size  # the data is chosen so that some, not all, saturate
    code, out, err = run(["verify", int8_model, "--input", tmp_path / "f.npy"], capsys)
    assert code == 0, err
    notes = [line for line in err.splitlines() if line.startswith("note: input 'x'")]
    assert len(notes) == 1, err
    assert f"scale {SCALE:g} and zero point {ZERO_POINT}" in notes[0]
    assert f"{saturated} of {x.size} values saturated" in notes[0]
    # The values reaching the model are those levels, clipped.
    sample = input_samples([str(tmp_path / "f.npy")], compile_model(int8_model).graph, "q8")
    capsys.readouterr()
    np.testing.assert_array_equal(sample[0][0], np.clip(levels, -128, 127).astype(np.int8))
    assert sample[0][0].dtype == np.int8


def test_int8_data_for_an_int8_input_says_nothing(int8_model, tmp_path, capsys):
    np.save(tmp_path / "i.npy", np.arange(8, dtype=np.int8).reshape(1, 2, 4))
    code, _, err = run(["verify", int8_model, "--input", tmp_path / "i.npy"], capsys)
    assert code == 0 and "note:" not in err, err


def test_a_missing_input_file_suggests_a_close_name(nonsquare, tmp_path, capsys):
    np.save(tmp_path / "sample.npy", np.zeros((1, 4, 3, 1), np.float32))
    code, _, err = run(["verify", nonsquare, "--input", tmp_path / "sampel.npy"], capsys)
    assert_clear_error(code, err, "does not exist", "Did you mean 'sample.npy'?")


# -- flags that used to be ignored -----------------------------------------------------------------
def test_input_shape_contradicting_a_static_dimension(nonsquare, tmp_path, capsys):
    out_dir = tmp_path / "lib"
    code, _, err = run(["compile", nonsquare, "-o", out_dir, "--input-shape", "x=1,3,4,1"], capsys)
    assert_clear_error(code, err, str(nonsquare), "--input-shape x=1,3,4,1", "static shape [1, 4, 3, 1]",
                       "axis 1: 4 vs 3", "only sets dynamic")
    assert not out_dir.exists()
    # The declared shape itself is no contradiction.
    assert run(["compile", nonsquare, "-o", out_dir, "--input-shape", "x=1,4,3,1"], capsys)[0] == 0


def test_an_unknown_keep_float_layer_is_refused_with_a_suggestion(conv_model, tmp_path, capsys):
    out = tmp_path / "new" / "q.onnx"
    code, _, err = run(["quantize", conv_model, "-o", out, "--calib", calibration(tmp_path), "--keep-float", "conv3"],
                       capsys)
    assert_clear_error(code, err, str(conv_model), "--keep-float", "'conv3'", "no layer name or op type",
                       "Did you mean")
    assert re.search(r"Did you mean '(conv1|conv2)'", err), err
    assert not out.parent.exists()  # nothing written, not even the folder


def test_a_known_keep_float_layer_stays_float(conv_model, tmp_path, capsys):
    out = tmp_path / "q.onnx"
    code, stdout, err = run(["quantize", conv_model, "-o", out, "--calib", calibration(tmp_path),
                             "--keep-float", "conv2"], capsys)
    assert code == 0, err
    assert "1 of 2 layers int8" in stdout, stdout


@pytest.mark.parametrize("layout, parts", [
    ("Conv=NCWH", ["'NCWH' is not a data layout", "NCHW, NHWC"]),
    ("Cnv=NHWC", ["op type 'Cnv' is not an op aot knows", "Did you mean 'Conv'?"]),
    ("Relu=NHWC", ["'Relu' has no layout"]),
    ("Conv=NHWC,OIXX", ["'OIXX' is not a weight layout", "OHWI"]),
    ("Conv=NWC", ["NCHW (rank 4), so NWC cannot apply", "node 'conv1'"]),
])
def test_an_invalid_layout_is_refused(conv_model, tmp_path, capsys, layout, parts):
    out_dir = tmp_path / "lib"
    code, _, err = run(["compile", conv_model, "-o", out_dir, "--layout", layout], capsys)
    assert_clear_error(code, err, str(conv_model), f"--layout {layout}", *parts)
    assert not out_dir.exists()


def test_a_valid_layout_in_lower_case_converts_and_verifies(conv_model, capsys):
    code, out, err = run(["verify", conv_model, "--layout", "Conv=nhwc,ohwi"], capsys)
    assert code == 0 and "verify: PASS" in out, err
    code, out, _ = run(["inspect", conv_model, "--layout", "Conv=nhwc,ohwi"], capsys)
    assert "NHWC" in out


# -- usage errors ------------------------------------------------------------------------------------
def test_a_misspelt_option_shows_the_subcommand_usage_and_the_option_meant(nonsquare, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", str(nonsquare), "--imput", "x.npy"])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("usage: aot verify MODEL [options]"), err
    assert "aot verify: error: unrecognized arguments: --imput x.npy" in err and "Did you mean '--input'?" in err
    assert len(err) < 400, err  # the short usage, not every option


def test_an_invalid_value_shows_the_subcommand_usage_and_the_value_meant(nonsquare, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(nonsquare), "-o", str(tmp_path / "lib"), "--rounding", "tflit"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.startswith("usage: aot compile MODEL -o OUTPUT [options]"), err
    assert "argument --rounding: invalid choice: 'tflit'" in err and "Did you mean 'tflite'?" in err
    with pytest.raises(SystemExit) as exc:
        main(["compil", str(nonsquare)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "Did you mean 'compile'?" in err


def test_a_malformed_layout_is_a_short_usage_error(nonsquare, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["inspect", str(nonsquare), "--layout", "Conv"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err) < 400, err
    assert "usage: aot inspect MODEL [options]" in err and "expected OP=LAYOUT" in err


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", sorted(subparsers()))
def test_every_help_ends_with_examples(command):
    text = subparsers()[command].format_help().rstrip().splitlines()
    start = text.index("examples:")
    examples = text[start + 1:]
    assert 1 <= len(examples) <= 2 and all(line.startswith("  aot ") for line in examples), text[start:]
    assert any(line.startswith(f"  aot {command}") for line in examples)


# -- --cc, --opt, quantize -o ---------------------------------------------------------------------
def test_cc_is_the_same_option_on_every_subcommand_that_builds_c():
    options = {}
    for command in SUBCOMMANDS_BUILDING_C:
        action = next(a for a in subparsers()[command]._actions if "--cc" in a.option_strings)
        options[command] = (action.choices, action.metavar, action.type, action.help.split("(default")[0])
    assert len(set(options.values())) == 1, options
    assert options["verify"][0] is None  # no argparse choices: gcc, clang or (host) a compiler command


def test_a_board_refuses_a_host_compiler_before_building(nonsquare, capsys):
    code, _, err = run(["run", nonsquare, "--board", "cortex-m4", "--cc", "cc"], capsys)
    assert_clear_error(code, err, "--cc cc", "board 'cortex-m4'", "--cc gcc or --cc clang")


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_verify_with_a_compiler_and_several_flags(nonsquare, capsys, cc):
    if shutil.which(cc) is None:
        pytest.fail(f"{cc} is required by the project's standards but is not installed")
    code, out, err = run(["verify", nonsquare, "--cc", cc, "--opt", "-O1 -g"], capsys)
    assert code == 0 and "verify: PASS" in out, err


def test_run_passes_several_opt_flags_to_the_firmware_build(nonsquare, tmp_path, capsys):
    board = resolve_board("cortex-m4")
    assert not board.missing_tools("gcc"), "cortex-m4 toolchain missing: run boards/install-toolchains.sh"
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(4).standard_normal((1, 4, 3, 1)).astype(np.float32))
    code, out, err = run(["run", nonsquare, "--board", "cortex-m4", "--opt", "-O1 -g", "--input", tmp_path / "x.npz"],
                         capsys)
    assert code == 0, err  # before: the firmware link got "-O1 -g" as one argument and failed
    assert "run: PASS" in out and "gcc -O1 -g" in out


def test_opt_that_does_not_split_is_a_usage_error(nonsquare, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", str(nonsquare), "--board", "cortex-m4", "--opt", '"-O2'])
    assert exc.value.code == 2 and "cannot split" in capsys.readouterr().err


def test_quantize_creates_the_output_folders(conv_model, tmp_path, capsys):
    out = tmp_path / "some" / "new" / "dir" / "x.onnx"
    code, stdout, err = run(["quantize", conv_model, "-o", out, "--calib", calibration(tmp_path)], capsys)
    assert code == 0, err
    assert out.is_file() and f"wrote {out}" in stdout
    onnx.checker.check_model(onnx.load(str(out)))
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(out)).graph.node)


def test_pb_tensors_go_through_the_same_loader(two_inputs, tmp_path):
    onnx.save_tensor(numpy_helper.from_array(np.array([[1, 2, 3]], np.float32), "b"), str(tmp_path / "b.pb"))
    onnx.save_tensor(numpy_helper.from_array(np.array([[4, 5, 6]], np.float32), ""), str(tmp_path / "a.pb"))
    sample = input_samples([str(tmp_path / "b.pb"), str(tmp_path / "a.pb")], import_onnx(two_inputs), "two")
    np.testing.assert_array_equal(sample[0][0], [[4, 5, 6]])  # unnamed: the next input still free
    np.testing.assert_array_equal(sample[0][1], [[1, 2, 3]])  # named: its own input


def test_a_misspelt_input_shape_name_suggests_the_input(nonsquare, tmp_path, capsys):
    code, _, err = run(["compile", nonsquare, "-o", tmp_path / "lib", "--input-shape", "X=1,4,3,1"], capsys)
    assert_clear_error(code, err, "--input-shape names 'X'", "Did you mean 'x'?")


@pytest.mark.parametrize("content, reason", [
    (b"0.1 0.2 0.3\n", "neither the .npy header nor the .npz"),
    (None, "Object arrays cannot be loaded"),
])
def test_an_unreadable_input_file_is_a_clear_error(nonsquare, tmp_path, capsys, content, reason):
    path = tmp_path / "x.npy"
    if content is None:
        np.save(path, np.array([1, "a"], dtype=object))  # pickled: never loaded
    else:
        path.write_bytes(content)
    code, _, err = run(["verify", nonsquare, "--input", path], capsys)
    assert_clear_error(code, err, f"input file '{path}' is not readable", reason)


def test_integers_out_of_an_int8_inputs_range_are_refused(int8_model, tmp_path, capsys):
    np.save(tmp_path / "big.npy", np.arange(8).reshape(1, 2, 4) * 40)
    code, _, err = run(["verify", int8_model, "--input", tmp_path / "big.npy"], capsys)
    assert_clear_error(code, err, "input 'x' is int8 (range [-128, 127])", "from 0 to 280", "wrap around")
