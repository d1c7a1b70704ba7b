"""Placing a library's memory in a firmware (issue 14, docs/placement.md): <PREFIX>_WEIGHTS_SECTION and
<PREFIX>_ARENA_SECTION put the weights and the static arena in named sections, ``--weights-file c``
gives the weights a translation unit of their own, ``--weights-file bin`` a binary blob read through
<prefix>_weights_base (same outputs as compiled-in weights), and a board's ``memory.weights_region``
makes the fit check count the weights in that region instead of the internal flash."""
from __future__ import annotations

import ctypes
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.flows.inspect import fit_table
from aot.targets.host import load

from conftest import float_input, make_model, require_tool, tiny_cnn_model

SECTION = '__attribute__((section(".qspi_weights")))'
ARENA_SECTION = '__attribute__((section(".sram2_arena")))'
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]


def run(cmd: list, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def sections(obj: Path) -> dict[str, int]:
    """Section name -> size of an object file (readelf -S -W)."""
    out = run(["readelf", "-S", "-W", obj])
    return {m[0]: int(m[1], 16) for m in re.findall(r"\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", out)}


@pytest.fixture(scope="module")
def libraries(tmp_path_factory) -> dict[str, Path]:
    """tiny_cnn with --prefix net in each --weights-file form."""
    root = tmp_path_factory.mktemp("placement")
    return {form: write_library(compile_model(tiny_cnn_model(), CompileOptions(prefix="net", weights_file=form)),
                                root / form) for form in ("header", "c", "bin")}


def meta_of(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text())


@pytest.mark.parametrize("form,weights_source", [("header", "net.c"), ("c", "net_weights.c")])
def test_section_macros_place_weights_and_arena(libraries, form, weights_source, tmp_path):
    require_tool("gcc")
    lib = libraries[form]
    meta = meta_of(lib)
    assert meta["library"]["weights"] == {"file": form, "section_macro": "NET_WEIGHTS_SECTION"}
    flags = [*CFLAGS, f"-DNET_WEIGHTS_SECTION={SECTION}", f"-DNET_ARENA_SECTION={ARENA_SECTION}"]
    run(["gcc", *flags, "-c", weights_source, "-o", tmp_path / "w.o"], cwd=lib)
    run(["gcc", *flags, "-c", "net_arena.c", "-o", tmp_path / "a.o"], cwd=lib)
    placed = sections(tmp_path / "w.o")
    # every weight array is in the section: its size is at least the weights' bytes
    assert placed.get(".qspi_weights", 0) >= meta["memory"]["weights_bytes"] > 0, placed
    assert sections(tmp_path / "a.o").get(".sram2_arena") == meta["memory"]["arena_bytes"]
    # without the macros nothing goes there (the check above can fail)
    run(["gcc", *CFLAGS, "-c", weights_source, "-o", tmp_path / "plain.o"], cwd=lib)
    assert ".qspi_weights" not in sections(tmp_path / "plain.o")


def test_weights_c_file_holds_the_arrays_and_model_c_none(libraries, tmp_path):
    require_tool("gcc")
    lib = libraries["c"]
    assert "net_weights.c" in meta_of(lib)["library"]["sources"] and "net_weights.c" in meta_of(lib)["files"]
    run(["gcc", *CFLAGS, "-c", "net.c", "-o", tmp_path / "net.o"], cwd=lib)
    assert not re.search(r" [RrDd] net_w_", run(["nm", tmp_path / "net.o"]))


def test_weights_bin_gives_the_same_outputs(libraries):
    require_tool("gcc")
    meta = meta_of(libraries["bin"])
    blob = meta["library"]["weights"]
    assert blob["file"] == "bin" and blob["blob"] in meta["files"]
    data = (libraries["bin"] / blob["blob"]).read_bytes()
    assert len(data) == blob["bytes"] >= meta["memory"]["weights_bytes"]
    assert "NET_WEIGHTS_SECTION" not in (libraries["bin"] / "net_weights.h").read_text()
    x = np.random.default_rng(5).standard_normal(meta["inputs"][0]["shape"]).astype(np.float32)
    compiled_in = load(libraries["header"], cc="gcc").run([x])
    from_blob = load(libraries["bin"], cc="gcc")
    assert np.array_equal(from_blob.run([x])[0], compiled_in[0])
    # a NULL or misaligned base is refused with AOT_ERROR_WEIGHTS_BASE (3), not read
    base = ctypes.c_void_p.in_dll(from_blob._lib, "net_weights_base")
    good = base.value
    for bad in (None, good + 1):
        base.value = bad
        with pytest.raises(AotError, match="status 3"):
            from_blob.run([x])
    base.value = good
    assert np.array_equal(from_blob.run([x])[0], compiled_in[0])


def test_weights_file_is_written_and_removed_with_the_library(tmp_path, tiny_cnn_path):
    out = tmp_path / "lib"
    assert main(["compile", str(tiny_cnn_path), "-o", str(out), "--prefix", "net", "--weights-file", "bin"]) == 0
    assert (out / "net_weights.bin").is_file() and "net_weights.bin" in meta_of(out)["files"]
    assert main(["compile", str(tiny_cnn_path), "-o", str(out), "--prefix", "net", "--weights-file", "c"]) == 0
    assert not (out / "net_weights.bin").exists() and (out / "net_weights.c").is_file()
    assert set(meta_of(out)["files"]) == {p.name for p in out.iterdir()}


# -- the fit check with an external weights region -------------------------------------------------
WEIGHTS = 48 * 1024  # bytes of float weights: more than the small board's flash leaves after code


def big_weights_model() -> onnx.ModelProto:
    w = np.random.default_rng(0).standard_normal((96, 128)).astype(np.float32)
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="fc")
    return make_model([node], [float_input("x", [1, 96])], [float_input("y", [1, 128])], {"w": w}, name="big")


def small_board(folder: Path, weights_region: str | None) -> Path:
    """A Cortex-M4 with 96 KiB of flash (64 KiB of it kept for code), optionally with a QSPI region."""
    text = (Path(__file__).parents[1] / "boards" / "cortex-m4" / "board.toml").read_text()
    text = text.replace('name = "cortex-m4"', 'name = "m4-qspi"')
    text = text.replace("flash = { origin = 0x00000000, size = 0x400000 }", "flash = { origin = 0x00000000, size = 0x18000 }")
    text = text.replace('linker_script = "link.ld"', 'linker_script = "cortex-m4/link.ld"')
    if weights_region:
        text = text.replace("stack = 16384", f"stack = 16384\nweights_region = {weights_region}")
    folder.mkdir()
    (folder / "board.toml").write_text(text)
    return folder


def test_fit_counts_weights_in_the_weights_region(tmp_path):
    model = big_weights_model()
    plain = small_board(tmp_path / "plain", None)
    with pytest.raises(AotError, match=r"flash: needs at least .*weights 49,152 B"):
        compile_model(model, CompileOptions(board=str(plain)))

    qspi = small_board(tmp_path / "qspi", '{ name = "qspi", origin = 0x90000000, size = 0x800000 }')
    compiled = compile_model(model, CompileOptions(board=str(qspi), weights_file="bin"))
    table = fit_table(compiled)
    assert re.search(r"weights\s+qspi\s+49,152", table), table
    assert re.search(r"qspi\s+49,152\s+8,388,608\s+yes", table) and re.search(r"flash\s+65,536\s", table), table

    tight = small_board(tmp_path / "tight", '{ name = "qspi", origin = 0x90000000, size = 0x8000 }')
    with pytest.raises(AotError, match=r"qspi: needs at least 49,152 B .*16,384 B too many; largest weights: w "):
        compile_model(model, CompileOptions(board=str(tight)))


def test_bad_weights_region_is_a_clear_error(tmp_path):
    board = small_board(tmp_path / "bad", '{ origin = 0x90000000, size = 0x800000 }')
    with pytest.raises(AotError, match="weights_region: needs a name"):
        compile_model(big_weights_model(), CompileOptions(board=str(board)))


def test_aot_run_refuses_a_weights_blob(tmp_path, tiny_cnn_path, capsys):
    require_tool("arm-none-eabi-gcc")
    assert main(["run", str(tiny_cnn_path), "--board", "cortex-m4", "--weights-file", "bin"]) == 2
    assert "--weights-file bin" in capsys.readouterr().err
