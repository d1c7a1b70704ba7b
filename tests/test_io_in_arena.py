"""The RAM a user pays (arena + input/output buffers outside it), reported alike in metadata.json,
model.h and ``aot inspect``."""
from __future__ import annotations

import re
import subprocess

from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.inspect import format_report

from conftest import tiny_cnn_model


def io_bytes(compiled) -> tuple[int, int]:
    graph = compiled.graph
    return (sum(graph.tensors[n].nbytes for n in graph.inputs), sum(graph.tensors[n].nbytes for n in graph.outputs))


def test_separate_buffers_are_counted_in_the_total():
    compiled = compile_model(tiny_cnn_model(), CompileOptions())
    mem = compiled.metadata["memory"]
    ins, outs = io_bytes(compiled)
    assert (mem["input_bytes"], mem["output_bytes"]) == (ins, outs) == (3 * 8 * 8 * 4, 10 * 4)
    assert mem["io_buffers"] == "separate"
    assert mem["caller_io_bytes"] == ins + outs
    assert mem["total_bytes"] == mem["arena_bytes"] + ins + outs
    assert mem["total_lower_bound_bytes"] == mem["lower_bound_bytes"] + ins + outs
    assert mem["stack_bytes"] is None and "unknown" in mem["stack_source"]  # the host: not known


def test_board_compile_gives_its_stack_reserve():
    mem = compile_model(tiny_cnn_model(), CompileOptions(board="cortex-m4")).metadata["memory"]
    assert mem["stack_bytes"] == 16384 and "reserve" in mem["stack_source"]


def test_model_h_and_inspect_give_the_same_figures(tmp_path, cc):
    compiled = compile_model(tiny_cnn_model(), CompileOptions())
    mem = compiled.metadata["memory"]
    header = compiled.files["model.h"]
    assert f"#define MODEL_IO_BYTES {mem['caller_io_bytes']}\n" in header
    assert f"#define MODEL_RAM_BYTES {mem['total_bytes']}\n" in header
    report = format_report(compiled)
    for label, key in (("total RAM", "total_bytes"), ("inputs", "input_bytes"), ("outputs", "output_bytes"),
                       ("  with I/O", "total_lower_bound_bytes")):
        assert re.search(rf"^{label}\s*{mem[key]} B", report, flags=re.M), (label, report)
    # The macros are C constants a firmware can size its buffers with.
    out = write_library(compiled, tmp_path / "lib")
    (tmp_path / "main.c").write_text('#include <stdio.h>\n#include "model.h"\n'
                                     'int main(void) { printf("%d %d\\n", MODEL_IO_BYTES, MODEL_RAM_BYTES); '
                                     'return 0; }\n')
    subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", str(out), str(tmp_path / "main.c"),
                    "-o", str(tmp_path / "a.out")], check=True)
    got = subprocess.run([str(tmp_path / "a.out")], capture_output=True, text=True, check=True).stdout.split()
    assert got == [str(mem["caller_io_bytes"]), str(mem["total_bytes"])]
