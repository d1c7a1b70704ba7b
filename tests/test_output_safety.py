"""Output safety: aot deletes only files it wrote, all outputs of a compile are one transaction, model
paths that are not regular files are refused, and Ctrl-C at startup exits quietly with 130."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import aot.codegen.writer as writer
import aot.ir.export
from aot.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((8, 4)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path = tmp_path_factory.mktemp("model") / "m.onnx"
    onnx.save(m, str(path))
    return path


@pytest.fixture(scope="module")
def library(model, tmp_path_factory) -> Path:
    """A library folder aot wrote, compiled once; tests copy it (compiling is the slow part)."""
    out = tmp_path_factory.mktemp("library") / "lib"
    assert main(["compile", str(model), "-o", str(out)]) == 0
    return out


def copy_of(library: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(library, tmp_path / "lib"))


def run(capsys, *argv: object) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative posix name -> content)."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def no_temporaries(parent: Path) -> bool:
    return not [p for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name]


def recorded(folder: Path) -> list[str]:
    return json.loads((folder / "metadata.json").read_text())["files"]


# -- aot deletes only what it wrote -----------------------------------------------------------------
def test_metadata_lists_exactly_the_files_aot_wrote(tmp_path, model, capsys):
    out = tmp_path / "lib"
    assert run(capsys, "compile", model, "-o", out)[0] == 0
    assert recorded(out) == sorted(tree(out))
    assert "metadata.json" in recorded(out)


def test_recompiling_keeps_the_users_files_and_subfolders(tmp_path, model, library, capsys):
    out = copy_of(library, tmp_path)
    (out / "main.c").write_text("int main(void) { return 0; }\n")
    (out / "app").mkdir()
    (out / "app" / "board.c").write_text("/* mine */\n")
    (out / "model.c").write_text("/* edited by hand: aot's file, replaced on recompiling */\n")
    assert run(capsys, "compile", model, "-o", out)[0] == 0  # the user's additions need no --force
    assert (out / "main.c").read_text().startswith("int main")
    assert (out / "app" / "board.c").read_text() == "/* mine */\n"
    assert "edited by hand" not in (out / "model.c").read_text()
    assert "main.c" not in recorded(out)
    assert no_temporaries(tmp_path)


def test_stale_files_aot_wrote_last_time_are_removed(tmp_path, model, library, capsys):
    out = copy_of(library, tmp_path)
    # as if the previous compile had also written a backend's kernels and a board's libc/ folder
    meta = json.loads((out / "metadata.json").read_text())
    meta["files"] += ["kernels_old.c", "libc/string.c"]
    (out / "metadata.json").write_text(json.dumps(meta))
    (out / "kernels_old.c").write_text("stale\n")
    (out / "libc").mkdir()
    (out / "libc" / "string.c").write_text("stale\n")
    (out / "main.c").write_text("mine\n")
    assert run(capsys, "compile", model, "-o", out)[0] == 0
    assert not (out / "kernels_old.c").exists() and not (out / "libc").exists()
    assert (out / "main.c").read_text() == "mine\n"
    assert sorted(tree(out)) == sorted(recorded(out) + ["main.c"])


def test_a_tampered_file_list_never_reaches_outside_the_folder(tmp_path, model, library, capsys):
    out = copy_of(library, tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    meta = json.loads((out / "metadata.json").read_text())
    meta["files"] += ["../victim.txt", str(victim), "", 3]
    (out / "metadata.json").write_text(json.dumps(meta))
    assert run(capsys, "compile", model, "-o", out)[0] == 0
    assert victim.read_text() == "keep"


def test_a_folder_aot_did_not_write_is_refused_naming_its_files(tmp_path, model, capsys):
    out = tmp_path / "project"
    out.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (out / name).write_text(name)
    before = tree(out)
    code, err = run(capsys, "compile", model, "-o", out)
    assert code == 2 and "'a.txt', 'b.txt' and 1 more" in err and "--force" in err
    assert tree(out) == before and no_temporaries(tmp_path)


def test_a_user_file_where_aot_writes_one_needs_force(tmp_path, model, library, capsys):
    out = copy_of(library, tmp_path)
    meta = json.loads((out / "metadata.json").read_text())
    meta["files"].remove("model.c")  # model.c is now the user's
    (out / "metadata.json").write_text(json.dumps(meta))
    code, err = run(capsys, "compile", model, "-o", out)
    assert code == 2 and "'model.c'" in err and "--force" in err
    assert run(capsys, "compile", model, "-o", out, "--force")[0] == 0
    assert "model.c" in recorded(out)


def test_force_keeps_other_files_and_only_force_clean_deletes_them(tmp_path, model, capsys):
    out = tmp_path / "project"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "todo.txt").write_text("x")
    (out / "thesis.tex").write_text("precious")
    code, err = run(capsys, "compile", model, "-o", out, "--clean")
    assert code == 2 and "--force" in err and not (out / "model.c").exists()
    assert run(capsys, "compile", model, "-o", out, "--force")[0] == 0
    assert (out / "thesis.tex").read_text() == "precious" and (out / "notes" / "todo.txt").is_file()
    assert "thesis.tex" not in recorded(out)
    assert run(capsys, "compile", model, "-o", out)[0] == 0  # now aot's folder: no --force needed
    assert (out / "thesis.tex").is_file()
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("outside")
    assert run(capsys, "compile", model, "-o", out, "--force", "--clean")[0] == 0
    assert sorted(tree(out)) == recorded(out) and not (out / "notes").exists()
    assert sibling.read_text() == "outside" and no_temporaries(tmp_path)


def test_a_failed_recompile_leaves_the_previous_library_whole(tmp_path, model, library, capsys, monkeypatch):
    out = copy_of(library, tmp_path)
    (out / "main.c").write_text("mine\n")
    before = tree(out)
    real_move, moves, fail_at = writer._move, [], len(recorded(out)) + 3

    def move_then_fail(src: Path, dst: Path) -> None:  # fails half-way through moving files in
        moves.append(dst)
        if len(moves) == fail_at:
            raise OSError(28, "No space left on device", str(dst))
        real_move(src, dst)

    monkeypatch.setattr(writer, "_move", move_then_fail)
    code, err = run(capsys, "compile", model, "-o", out, "--prefix", "other")
    assert code == 2 and "No space left" in err
    assert tree(out) == before and no_temporaries(tmp_path)


# -- one transaction --------------------------------------------------------------------------------
def test_a_failing_export_writes_neither_library_nor_onnx(tmp_path, model, capsys, monkeypatch):
    def broken_export(graph):
        raise ValueError("Message onnx.ModelProto exceeds maximum protobuf size of 2GB")

    monkeypatch.setattr(aot.ir.export, "to_onnx", broken_export)
    out, emit = tmp_path / "lib", tmp_path / "opt.onnx"
    code, err = run(capsys, "compile", model, "-o", out, "--emit-onnx", emit)
    assert code == 2 and "--emit-onnx" in err
    assert not out.exists() and not emit.exists() and no_temporaries(tmp_path)


def test_emit_onnx_failing_while_written_leaves_the_old_outputs(tmp_path, model, capsys, monkeypatch):
    out, emit = tmp_path / "lib", tmp_path / "opt.onnx"
    assert run(capsys, "compile", model, "-o", out, "--emit-onnx", emit)[0] == 0
    onnx.load(str(emit))  # a valid model
    before_lib, before_emit = tree(out), emit.read_bytes()
    real_replace = os.replace

    def replace(src, dst):  # the last move of the transaction (the new ONNX file into place) fails
        if Path(dst) == emit and ".tmp-" in Path(src).name:
            raise PermissionError(13, "Permission denied", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(writer.os, "replace", replace)
    code, err = run(capsys, "compile", model, "-o", out, "--emit-onnx", emit, "--prefix", "other")
    assert code == 2 and "Permission denied" in err
    assert tree(out) == before_lib and emit.read_bytes() == before_emit and no_temporaries(tmp_path)


def test_emit_onnx_into_a_folder_path_writes_nothing(tmp_path, model, capsys):
    out, emit = tmp_path / "new" / "deep" / "lib", tmp_path / "taken"
    emit.mkdir()
    code, err = run(capsys, "compile", model, "-o", out, "--emit-onnx", emit)
    assert code == 2 and "is a folder" in err
    assert not (tmp_path / "new").exists() and no_temporaries(tmp_path)


# -- what the model path may be ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_a_model_that_is_not_a_regular_file_is_refused_before_reading(tmp_path, capsys, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.onnx"
        os.mkfifo(path)
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    else:
        path = tmp_path / "dir.onnx"
        path.mkdir()
    out = tmp_path / "lib"
    code, err = run(capsys, "compile", path, "-o", out)  # would block forever if it opened the FIFO
    expected = {"fifo": "named pipe", "dev-zero": "character device", "folder": "is a folder"}[kind]
    assert code == 2 and expected in err and str(path) in err
    assert not out.exists()


# -- Ctrl-C at startup ------------------------------------------------------------------------------
def _importing_numpy(pid: int) -> bool:
    """Whether the process is inside aot's imports: numpy's extension is mapped (site never imports it).
    Earlier, Ctrl-C lands in Python's own startup (the site module), which no program can catch."""
    try:
        return "_multiarray_umath" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc to time the signal")
@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_ctrl_c_during_startup_exits_quietly_with_130(tmp_path, model, delay):
    proc = subprocess.Popen([sys.executable, "-m", "aot", "compile", str(model), "-o", str(tmp_path / "lib")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 20
    while not _importing_numpy(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.001)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert not (tmp_path / "lib").exists() and no_temporaries(tmp_path)
