"""Bad input gives one paragraph on stderr, a non-zero exit code and no partial output folder."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import aot.compiler
from aot.cli import main

REPO = Path(__file__).resolve().parents[1]


def vi(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def save_model(path: Path, nodes, inputs, outputs, initializers=(), opset=13) -> Path:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def good_model(path: Path) -> Path:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32), "w")
    return save_model(path, [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Relu", ["h"], ["y"])],
                      [vi("x", [1, 8])], [vi("y", [1, 4])], [w])


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_paragraph_error(code: int, err: str, *fragments: str) -> None:
    assert code != 0
    assert err.startswith("aot: error: "), err
    assert err.strip().count("\n") == 0, f"error is not one paragraph:\n{err}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} missing from: {err}"


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} was left behind"
    siblings = out.parent.iterdir() if out.parent.is_dir() else []
    leftovers = [p.name for p in siblings if p.name.startswith(f".{out.name}.")]
    assert not leftovers, f"temporary folders left behind: {leftovers}"


def compile_fails(tmp_path: Path, capsys, model: Path, *extra: str) -> str:
    out = tmp_path / "out" / "lib"
    code, stdout, err = run(["compile", model, "-o", out, *extra], capsys)
    assert_one_paragraph_error(code, err, str(model))
    assert "wrote" not in stdout
    assert_nothing_written(out)
    return err


# -- files that are not ONNX models -------------------------------------------------------------------
def test_truncated_protobuf(tmp_path, capsys):
    data = good_model(tmp_path / "good.onnx").read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) * 2 // 3])
    err = compile_fails(tmp_path, capsys, bad)
    assert "truncated" in err and f"{len(data) * 2 // 3} bytes" in err


def test_corrupt_bytes_inside_a_model(tmp_path, capsys):
    data = bytearray(good_model(tmp_path / "good.onnx").read_bytes())
    data[2:40] = b"\xff" * 38  # garbage in place of the first fields
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(bytes(data))
    err = compile_fails(tmp_path, capsys, bad)
    assert "not a valid ONNX model" in err


def test_text_file(tmp_path, capsys):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is a README, not a model\nsecond line\n")
    err = compile_fails(tmp_path, capsys, bad)
    assert "text file" in err and "this is a README" in err


def test_png_bytes(tmp_path, capsys):
    bad = tmp_path / "picture.onnx"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64)))
    err = compile_fails(tmp_path, capsys, bad)
    assert "PNG image" in err


def test_empty_file(tmp_path, capsys):
    bad = tmp_path / "empty.onnx"
    bad.write_bytes(b"")
    assert "empty" in compile_fails(tmp_path, capsys, bad)


def test_nonexistent_file(tmp_path, capsys):
    good_model(tmp_path / "model.onnx")
    err = compile_fails(tmp_path, capsys, tmp_path / "modle.onnx")
    assert "does not exist" in err and "model.onnx" in err  # suggests the likely intended file


def test_folder_instead_of_file(tmp_path, capsys):
    (tmp_path / "dir.onnx").mkdir()
    assert "is a folder" in compile_fails(tmp_path, capsys, tmp_path / "dir.onnx")


def test_missing_external_data_file(tmp_path, capsys):
    model = onnx.load(str(good_model(tmp_path / "good.onnx")))
    path = tmp_path / "external.onnx"
    onnx.save(model, str(path), save_as_external_data=True, location="external.weights", size_threshold=0)
    assert main(["compile", str(path), "-o", str(tmp_path / "ok")]) == 0  # loads with its data file
    capsys.readouterr()
    (tmp_path / "external.weights").unlink()
    err = compile_fails(tmp_path, capsys, path)
    assert "external.weights" in err and "missing" in err


# -- models aot cannot compile ------------------------------------------------------------------
def test_every_unsupported_op_is_listed_at_once(tmp_path, capsys):
    """Two ops no backend has (one of them twice) and an op whose output shape depends on runtime
    values: one error lists all three nodes' blockers, grouped by op, without the supported-op list;
    the Relu after the value-dependent op is not blamed."""
    # RandomUniformLike: a random op, which aot does not compile
    nodes = [helper.make_node("RandomUniformLike", ["x"], ["d"], name="det_a"),
             helper.make_node("RandomUniformLike", ["x"], ["d2"], name="det_b"),
             helper.make_node("Compress", ["x", "keep"], ["kept"], name="pick", axis=1),
             helper.make_node("Relu", ["kept"], ["z"], name="after")]
    model = save_model(tmp_path / "blockers.onnx", nodes,
                       [vi("x", [2, 3, 3]), helper.make_tensor_value_info("keep", TensorProto.BOOL, [3])],
                       [vi("d", [2, 3, 3]), vi("d2", [2, 3, 3]), vi("z", None)], opset=17)
    out = tmp_path / "out" / "lib"
    code, _, err = run(["compile", model, "-o", out], capsys)
    assert code == 2 and err.startswith(f"aot: error: model '{model}': ") and "Traceback" not in err
    assert_nothing_written(out)
    # one line per (op, reason) under a one-line summary
    assert "2 operators (3 nodes) cannot be compiled" in err and len(err.strip().splitlines()) == 4, err
    assert "RandomUniformLike (opset 17, float32): nodes 'det_a', 'det_b': no backend implements this op" in err, err
    assert "Compress (opset 17, bool, float32): node 'pick': not supported: output shape depends on input values" \
        in err and "'keep'" in err, err
    assert "'after'" not in err and "Supported ops:" not in err and "aot ops" in err


def test_custom_domain_op(tmp_path, capsys):
    model = save_model(tmp_path / "custom.onnx", [helper.make_node("FancyOp", ["x"], ["y"], name="fancy",
                                                                   domain="com.example")],
                       [vi("x", [1, 4])], [vi("y", [1, 4])])
    err = compile_fails(tmp_path, capsys, model)
    assert "'fancy'" in err and "com.example.FancyOp" in err and "domain 'com.example' is not declared" in err


def dynamic_model(tmp_path: Path) -> Path:
    return save_model(tmp_path / "dynamic.onnx", [helper.make_node("Relu", ["frames"], ["y"])],
                      [vi("frames", ["batch", "time", 10])], [vi("y", ["batch", "time", 10])])


def test_missing_input_shape_names_input_dimension_and_flag(tmp_path, capsys):
    err = compile_fails(tmp_path, capsys, dynamic_model(tmp_path))
    assert "input 'frames'" in err and "'time'" in err and "axis 1" in err
    assert "--input-shape frames=1,1,10" in err


def test_input_shape_fixes_the_missing_shape(tmp_path, capsys):
    out = tmp_path / "lib"
    code, stdout, err = run(["compile", dynamic_model(tmp_path), "-o", out, "--input-shape", "frames=1,49,10"], capsys)
    assert code == 0, err
    assert json.loads((out / "metadata.json").read_text())["inputs"][0]["shape"] == [1, 49, 10]


def test_input_shape_naming_an_unknown_input(tmp_path, capsys):
    err = compile_fails(tmp_path, capsys, dynamic_model(tmp_path), "--input-shape", "frame=1,49,10")
    assert "'frame'" in err and "'frames'" in err


def test_input_shape_with_wrong_rank(tmp_path, capsys):
    err = compile_fails(tmp_path, capsys, dynamic_model(tmp_path), "--input-shape", "frames=49,10")
    assert "rank 2" in err and "rank 3" in err


def test_malformed_input_shape_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(dynamic_model(tmp_path)), "-o", str(tmp_path / "lib"), "--input-shape", "frames"])
    assert exc.value.code != 0
    assert "NAME=D0,D1" in capsys.readouterr().err
    assert_nothing_written(tmp_path / "lib")


def test_graph_with_a_cycle(tmp_path, capsys):
    nodes = [helper.make_node("Add", ["x", "loop_back"], ["a"], name="add_a"),
             helper.make_node("Relu", ["a"], ["loop_back"], name="relu_b"),
             helper.make_node("Sigmoid", ["a"], ["y"], name="out")]
    model = save_model(tmp_path / "cycle.onnx", nodes, [vi("x", [1, 4])], [vi("y", [1, 4])])
    err = compile_fails(tmp_path, capsys, model)
    assert "cycle" in err and "add_a" in err and "relu_b" in err


def test_output_never_produced(tmp_path, capsys):
    model = save_model(tmp_path / "dangling.onnx", [helper.make_node("Relu", ["x"], ["h"])],
                       [vi("x", [1, 4])], [vi("y", [1, 4])])
    assert "'y'" in compile_fails(tmp_path, capsys, model)


def test_control_flow_op(tmp_path, capsys):
    def branch(op, out):
        return helper.make_graph([helper.make_node(op, ["x"], [out])], op, [], [vi(out, [2])])

    node = helper.make_node("If", ["cond"], ["y"], name="branchy", then_branch=branch("Relu", "t"),
                            else_branch=branch("Neg", "e"))
    model = save_model(tmp_path / "if.onnx", [node], [helper.make_tensor_value_info("cond", TensorProto.BOOL, [1]),
                                                      vi("x", [2])], [vi("y", [2])])
    err = compile_fails(tmp_path, capsys, model)
    assert "node 'branchy'" in err and "If (opset" in err and "control flow" in err


def test_unsupported_input_element_type(tmp_path, capsys):
    model = save_model(tmp_path / "text_in.onnx", [helper.make_node("Identity", ["words"], ["y"])],
                       [helper.make_tensor_value_info("words", TensorProto.STRING, [2])],
                       [helper.make_tensor_value_info("y", TensorProto.STRING, [2])])
    err = compile_fails(tmp_path, capsys, model)
    assert "input 'words'" in err and "STRING" in err


def test_input_without_a_shape(tmp_path, capsys):
    model = save_model(tmp_path / "norank.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", None)],
                       [vi("y", None)])
    err = compile_fails(tmp_path, capsys, model)
    assert "input 'x'" in err and "--input-shape" in err


def test_tensor_written_twice(tmp_path, capsys):
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="first"),
             helper.make_node("Sigmoid", ["x"], ["y"], name="second")]
    model = save_model(tmp_path / "twice.onnx", nodes, [vi("x", [2])], [vi("y", [2])])
    err = compile_fails(tmp_path, capsys, model)
    assert "node 'second'" in err and "'y'" in err


def test_model_without_outputs(tmp_path, capsys):
    model = save_model(tmp_path / "no_out.onnx", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", [2])], [])
    assert "no graph outputs" in compile_fails(tmp_path, capsys, model)


def test_unknown_pass_for_dump_ir_after(tmp_path, capsys):
    out = tmp_path / "lib"
    code, _, err = run(["compile", good_model(tmp_path / "good.onnx"), "-o", out, "--dump-ir-after",
                        "fuse_everything"], capsys)
    assert_one_paragraph_error(code, err, "'fuse_everything'", "fuse_activation")
    assert_nothing_written(out)


def test_verify_of_a_bad_file_fails_the_same_way(tmp_path, capsys):
    bad = tmp_path / "notes.onnx"
    bad.write_text("hello\n")
    code, _, err = run(["verify", bad], capsys)
    assert_one_paragraph_error(code, err, str(bad), "text file")


# -- output folders -------------------------------------------------------------------------------
def test_output_folder_with_unrelated_files_is_refused_without_force(tmp_path, capsys):
    model = good_model(tmp_path / "good.onnx")
    out = tmp_path / "project"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    code, _, err = run(["compile", model, "-o", out], capsys)
    assert_one_paragraph_error(code, err, str(out), "--force")
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".project.")]

    code, stdout, err = run(["compile", model, "-o", out, "--force"], capsys)
    assert code == 0, err
    # --force writes aot's files next to the user's and deletes nothing it does not own
    assert (out / "model.h").is_file() and (out / "thesis.tex").read_text() == "precious"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".project.")]


def test_recompiling_into_an_aot_folder_needs_no_force(tmp_path, capsys):
    model = good_model(tmp_path / "good.onnx")
    out = tmp_path / "lib"
    assert run(["compile", model, "-o", out], capsys)[0] == 0
    first = (out / "model.c").read_text()
    assert run(["compile", model, "-o", out], capsys)[0] == 0
    assert (out / "model.c").read_text() == first


def test_output_folder_holding_the_model_is_refused_even_with_force(tmp_path, capsys):
    model = good_model(tmp_path / "good.onnx")
    code, _, err = run(["compile", model, "-o", tmp_path, "--force"], capsys)
    assert_one_paragraph_error(code, err, "holds the model file")
    assert model.is_file()


def test_output_path_that_is_a_file(tmp_path, capsys):
    model = good_model(tmp_path / "good.onnx")
    (tmp_path / "taken").write_text("x")
    code, _, err = run(["compile", model, "-o", tmp_path / "taken"], capsys)
    assert_one_paragraph_error(code, err, "not a folder")
    assert (tmp_path / "taken").read_text() == "x"


def test_failure_while_writing_leaves_no_temporary_folder(tmp_path, capsys, monkeypatch):
    model = good_model(tmp_path / "good.onnx")
    real_compile = aot.compiler.compile_model

    def compile_with_unwritable_file(*args, **kwargs):
        compiled = real_compile(*args, **kwargs)
        # "model.c" is a file, so a file inside it cannot be created: writing fails half-way
        compiled.files["model.c/extra.c"] = "int x;\n"
        return compiled

    monkeypatch.setattr(aot.compiler, "compile_model", compile_with_unwritable_file)
    out = tmp_path / "lib"
    code, _, err = run(["compile", model, "-o", out], capsys)
    assert_one_paragraph_error(code, err)
    assert_nothing_written(out)


def test_emit_onnx_into_a_missing_folder_writes_nothing(tmp_path, capsys):
    model = good_model(tmp_path / "good.onnx")
    out = tmp_path / "lib"
    code, _, err = run(["compile", model, "-o", out, "--emit-onnx", tmp_path / "nope" / "x.onnx"], capsys)
    assert_one_paragraph_error(code, err, "--emit-onnx")
    assert_nothing_written(out)


# -- the real process exit code ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["corrupt", "unsupported"])
def test_exit_code_of_the_real_process(tmp_path, kind):
    if kind == "corrupt":
        model = tmp_path / "corrupt.onnx"
        model.write_bytes(good_model(tmp_path / "good.onnx").read_bytes()[:50])
    else:
        model = save_model(tmp_path / "random.onnx", [helper.make_node("RandomUniformLike", ["x"], ["y"])],
                           [vi("x", [2, 3, 3])], [vi("y", [2, 3, 3])])
    out = tmp_path / "lib"
    proc = subprocess.run([sys.executable, "-m", "aot", "compile", str(model), "-o", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("aot: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert_nothing_written(out)
