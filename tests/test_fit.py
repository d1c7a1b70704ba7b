"""Board fit checks count everything the application needs: arena, the caller's input/output
buffers and the stack in RAM, weights and a code estimate in flash (or the board's code region).
The tests here hold the I/O in the caller's buffers (--io-buffers separate); tests/test_io_in_arena.py
covers the fit with I/O in the arena."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model
from aot.errors import AotError
from conftest import float_input, make_model

MIB = 1 << 20


def arena_plus_output_model(n: int = 2 * MIB // 4) -> onnx.ModelProto:
    """A 2 MiB intermediate (the arena) and a 2 MiB output from a 4-byte input: the arena plus the
    stack alone fit the 4 MiB of RAM of the cortex-m4, the output buffer does not."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "h"], ["y"], name="double")]  # h stays in the arena
    return make_model(nodes, [float_input("x", [1, 1])], [float_input("y", [1, n])],
                      {"w": np.ones((1, n), np.float32)}, name="arena_plus_output")


@pytest.fixture(scope="module")
def big_io_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fit") / "arena_plus_output.onnx"
    onnx.save(arena_plus_output_model(), str(path))
    return path


def test_output_buffer_counts_against_ram():
    with pytest.raises(AotError) as err:
        compile_model(arena_plus_output_model(), CompileOptions(board="cortex-m4", io_buffers="separate"))
    text = str(err.value)
    need = 2 * MIB + 4 + 2 * MIB + 16384
    assert (f"RAM: needs at least {need:,} B (arena 2,097,152 B + input x 4 B + output y 2,097,152 B + "
            f"stack 16,384 B), the board has 4,194,304 B (4 MiB), {need - 4 * MIB:,} B too many") in text, text
    assert "largest arena buffers: h 2,097,152 B" in text
    # The table comes with the error: every item, and the region verdicts.
    assert "output y                     RAM       2,097,152  caller's buffer" in text
    ram_row = next(line.split() for line in text.splitlines() if line.strip().startswith("RAM "))
    assert ram_row == ["RAM", f"{need:,}", f"{4 * MIB:,}", "NO", f"({need - 4 * MIB:,}", "B", "too", "many)"]
    assert "flash" in text and "yes" in text  # the weights (2 MiB) + code estimate do fit the flash


def test_cli_compile_refuses_with_figures_and_writes_nothing(big_io_path, tmp_path, capsys):
    out = tmp_path / "lib"
    assert main(["compile", str(big_io_path), "--board", "cortex-m4", "-o", str(out), "--io-buffers", "separate"]) == 2
    err = capsys.readouterr().err
    assert "does not fit board 'cortex-m4'" in err and "output y 2,097,152 B" in err and "16,388 B too many" in err
    assert not out.exists()
    assert main(["inspect", str(big_io_path), "--board", "cortex-m4", "--io-buffers", "separate"]) == 2
    assert "NO (16,388 B too many)" in capsys.readouterr().err


def test_inspect_prints_the_fit_table(tiny_cnn_path, capsys):
    assert main(["inspect", str(tiny_cnn_path), "--board", "cortex-m55", "--io-buffers", "separate"]) == 0
    out = capsys.readouterr().out
    table = out[out.index("fit on board 'cortex-m55':"):]
    for item in ("arena", "input input", "output probs", "stack", "weights", "code (estimate)"):
        assert f"\n  {item}" in table, table
    assert "board.toml memory.code_reserve" in table and "code   " in table  # the M55's separate code region
    for region in ("RAM", "flash", "code"):
        assert any(line.split()[0] == region and line.rstrip().endswith("yes") for line in table.splitlines()), table


def test_inspect_on_the_host_has_no_fit_table(tiny_cnn_path, capsys):
    assert main(["inspect", str(tiny_cnn_path)]) == 0
    assert "fit on board" not in capsys.readouterr().out
