"""Two models in one firmware (issue 14): with different --prefix values the libraries' files, symbols
and macros differ, so their sources go into one flat folder (STM32CubeMX/Keil style: every .c and .h
side by side) or into one CMake project with add_subdirectory, and one program runs both models in ONE
arena of max(KWS_ARENA_SIZE, VAD_ARENA_SIZE) bytes through kws_run_in_arena and vad_run_with_arena.
Neither build carries a library's static arena: the flat build defines <PREFIX>_NO_STATIC_ARENA, the
CMake build links the static libraries, which pull <prefix>_arena.c in only when <prefix>_run is used.
Outputs are compared with each library built alone (bit for bit) and with ONNX Runtime."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from aot.codegen.cformat import c_float
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.targets.host import load

from conftest import require_tool, tiny_cnn_model, tiny_mlp_model
from test_codegen import assert_matches_onnxruntime, feeds_for

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off"]
# kws keeps its inputs/outputs in the arena (run in place), vad in the caller's buffers.
MODELS = {"kws": (tiny_cnn_model, "arena"), "vad": (tiny_mlp_model, "separate")}
RUNTIME_HEADERS = {"aot_runtime.h", "aot_formats.h", "aot_layer.h"}


def run(cmd: list, cwd: Path | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def shared_arena_main(libs: dict) -> str:
    """Runs kws in place, then vad, then kws again, all in one arena, printing every output."""
    align = max(lib["meta"]["memory"]["alignment"] for lib in libs.values())
    lines = ["#include <stdio.h>", "#include <stdint.h>"] + [f'#include "{lib["meta"]["library"]["header"]}"'
                                                             for lib in libs.values()]
    lines += ["#define AOT_MAX(a, b) ((a) > (b) ? (a) : (b))",
              f"static uint8_t arena[AOT_MAX(KWS_ARENA_SIZE, VAD_ARENA_SIZE)] __attribute__((aligned({align})));"]
    for prefix, lib in libs.items():
        for i, array in enumerate(lib["inputs"]):
            lines.append(f"static const float {prefix}_in{i}[] = {{ {', '.join(c_float(v) for v in array.reshape(-1))} }};")
    lines.append("static float vad_out0[VAD_OUTPUT_0_SIZE];")
    body = ["static int run_kws(void)", "{", "    int k;",
            "    for (k = 0; k < KWS_INPUT_0_SIZE; ++k) kws_input_0(arena)[k] = kws_in0[k];",
            "    if (kws_run_in_arena(arena) != 0) return 1;",
            '    printf("kws");',
            '    for (k = 0; k < KWS_OUTPUT_0_SIZE; ++k) printf(" %.9g", (double)kws_output_0(arena)[k]);',
            '    printf("\\n");', "    return 0;", "}", "",
            "int main(void)", "{", "    int k;",
            "    if (run_kws() != 0) return 1;",
            "    if (vad_run_with_arena(vad_in0, vad_out0, arena) != 0) return 2;",
            '    printf("vad");',
            '    for (k = 0; k < VAD_OUTPUT_0_SIZE; ++k) printf(" %.9g", (double)vad_out0[k]);',
            '    printf("\\n");',
            "    if (run_kws() != 0) return 3;  /* after vad overwrote the arena */",
            "    return 0;", "}", ""]
    return "\n".join(lines + [""] + body)


@pytest.fixture(scope="module")
def libs(tmp_path_factory) -> dict:
    """Both libraries, each built alone on the host and run there: the outputs the program must print."""
    require_tool("gcc")
    root = tmp_path_factory.mktemp("two_models")
    libs = {}
    for seed, (prefix, (make, io)) in enumerate(MODELS.items()):
        model = make()
        folder = write_library(compile_model(model, CompileOptions(prefix=prefix, io_buffers=io)), root / prefix)
        meta = load_meta(folder)
        inputs = feeds_for(meta, seed=seed)
        alone = load(folder, cc="gcc", cflags="-O2").run(inputs)
        libs[prefix] = {"model": model, "folder": folder, "meta": meta, "inputs": inputs, "alone": alone}
    return libs


def load_meta(folder: Path) -> dict:
    return json.loads((folder / "metadata.json").read_text())


def check_printed(libs: dict, text: str) -> None:
    rows = [line.split() for line in text.strip().splitlines()]
    assert [r[0] for r in rows] == ["kws", "vad", "kws"], text
    for name, *values in rows:
        lib = libs[name]
        got = np.array([float(v) for v in values], np.float32)
        np.testing.assert_array_equal(got, lib["alone"][0].reshape(-1))  # the same C, the same bits
        assert_matches_onnxruntime(lib["model"], lib["inputs"], [got])


def defined_symbols(binary: Path) -> set[str]:
    return set(re.findall(r"^[0-9a-f]+ [A-Za-z] (\S+)$", run(["nm", binary]), flags=re.M))


def test_file_names_follow_the_prefix(libs):
    for prefix, lib in libs.items():
        own = set(lib["meta"]["files"]) - RUNTIME_HEADERS - {"Makefile", "CMakeLists.txt", "metadata.json"}
        assert own and all(name.startswith(prefix) for name in own), own
        assert lib["meta"]["library"]["header"] == f"{prefix}.h"
        assert f"{prefix}_arena.c" in lib["meta"]["library"]["sources"]


def test_flat_folder_links_both_models_sharing_one_arena(libs, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for lib in libs.values():
        for src in sorted(lib["folder"].glob("*.[ch]")):
            if (flat / src.name).exists():  # only the runtime headers are shared, and identical
                assert src.name in RUNTIME_HEADERS and (flat / src.name).read_text() == src.read_text(), src.name
            shutil.copy(src, flat / src.name)
    (flat / "main.c").write_text(shared_arena_main(libs))
    sources = sorted(p.name for p in flat.glob("*.c"))
    defines = [f"-D{lib['meta']['library']['static_arena']['disable_macro']}" for lib in libs.values()]
    objects = []
    for src in sources:
        run(["gcc", *STRICT, *defines, "-c", src, "-o", src[:-2] + ".o"], cwd=flat)
        objects.append(src[:-2] + ".o")
    run(["gcc", *objects, "-lm", "-o", "app"], cwd=flat)
    check_printed(libs, run([flat / "app"]))

    # Every global the libraries define carries its prefix (kernels, weights, API): nothing to collide.
    globals_ = re.findall(r"^[0-9a-f]+ [A-Z] (\S+)$", run(["nm", "-g", "--defined-only", *objects], cwd=flat), re.M)
    assert all(s.startswith(("kws_", "vad_")) for s in globals_ if s != "main"), globals_
    symbols = defined_symbols(flat / "app")
    assert {"kws_run_in_arena", "vad_run_with_arena"} <= symbols
    assert not symbols & {"kws_arena", "vad_arena", "kws_run", "vad_run"}, symbols & {"kws_arena", "vad_arena"}
    # ... and without the macro the arena file does define them (the check above can fail).
    run(["gcc", *STRICT, "-c", "kws_arena.c", "-o", "with_arena.o"], cwd=flat)
    assert {"kws_arena", "kws_run"} <= defined_symbols(flat / "with_arena.o")


def test_cmake_add_subdirectory_of_both_shares_one_arena(libs, tmp_path):
    require_tool("cmake")
    for prefix, lib in libs.items():
        shutil.copytree(lib["folder"], tmp_path / prefix)
    (tmp_path / "main.c").write_text(shared_arena_main(libs))
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(firmware C)\nadd_subdirectory(kws)\nadd_subdirectory(vad)\n"
        "add_executable(app main.c)\ntarget_compile_options(app PRIVATE -Wall -Wextra -Werror)\n"
        "target_link_libraries(app PRIVATE aot::kws aot::vad)\n")
    build = tmp_path / "build"
    run(["cmake", "-S", tmp_path, "-B", build, "-DAOT_WERROR=ON", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build])
    check_printed(libs, run([build / "app"]))
    # The static libraries hold <prefix>_arena.o, and the program that never calls <prefix>_run leaves it out.
    assert "kws_arena" in defined_symbols(build / "kws" / "libkws.a")
    assert not defined_symbols(build / "app") & {"kws_arena", "vad_arena", "kws_run", "vad_run"}


def test_a_prefix_naming_a_runtime_header_is_refused():
    # aot_ is the runtime's namespace, so no prefix can make <prefix>.h collide with aot_runtime.h
    with pytest.raises(AotError, match="prefix 'aot_runtime' is not a C identifier"):
        compile_model(tiny_mlp_model(), CompileOptions(prefix="aot_runtime"))
