"""The library folder in firmware build systems (issue 14): the generated Makefile and CMakeLists.txt
warn but fail on warnings only when asked (AOT_WERROR), put functions and data in their own sections,
name the CMake target per --prefix so two models add_subdirectory into one project, and
``--package cmake|zephyr|arduino|platformio`` adds an installable CMake package, a Zephyr module, an
Arduino library and a PlatformIO library.json, built here with CMake and arm-none-eabi-gcc.
metadata.json and <prefix>_info.h record where the library comes from."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from aot.backends.build import ExternalSource, LibraryBuild
from aot.cli import main
from aot.codegen.packaging import package_files
from aot.codegen.provenance import FORMAT_VERSION
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.targets.board import resolve_board

from conftest import require_tool, tiny_cnn_model
from test_codegen import assert_matches_onnxruntime, feeds_for, harness_source, parse_outputs, run

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror"]
PLANTED = "\nstatic int unused_thing;\n"  # -Wunused-variable: a warning, never an error by itself


def library(folder: Path, model=None, **options) -> tuple[Path, dict]:
    out = write_library(compile_model(model or tiny_cnn_model(), CompileOptions(**options)), folder)
    return out, json.loads((out / "metadata.json").read_text())


def make(lib: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "-s", "-C", str(lib), "CC=gcc", *args], capture_output=True, text=True)


# -- build files: -Werror on request, sections ---------------------------------------------------------
def test_make_warns_and_fails_only_with_aot_werror(tmp_path):
    require_tool("gcc")
    lib, meta = library(tmp_path / "lib")
    (lib / "kernels_ref.c").write_text((lib / "kernels_ref.c").read_text() + PLANTED)
    plain = make(lib, "libmodel.a")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "unused_thing" in plain.stderr  # warnings stay on
    make(lib, "clean")
    strict = make(lib, "libmodel.a", "AOT_WERROR=1")
    assert strict.returncode != 0 and "unused_thing" in strict.stderr


def test_library_objects_have_a_section_per_function(tmp_path):
    require_tool("gcc")
    lib, _ = library(tmp_path / "lib")
    assert make(lib, "libmodel.a", "AOT_WERROR=1").returncode == 0
    sections = run(["objdump", "-h", lib / "model.o"])
    # -ffunction-sections: a firmware linked with --gc-sections can drop the entry point it never calls
    assert re.search(r"\.text\.model_run_with_arena\s", sections), sections
    # model_run and the static arena have a translation unit of their own (docs/placement.md)
    sections = run(["objdump", "-h", lib / "model_arena.o"])
    assert re.search(r"\.text\.model_run\s", sections) and re.search(r"\.bss\.model_arena\s", sections), sections


def test_cmake_option_aot_werror(tmp_path):
    require_tool("cmake")
    lib, _ = library(tmp_path / "lib")
    (lib / "kernels_ref.c").write_text((lib / "kernels_ref.c").read_text() + PLANTED)
    for werror, ok in (("OFF", True), ("ON", False)):
        build = tmp_path / f"build-{werror}"
        run(["cmake", "-S", lib, "-B", build, f"-DAOT_WERROR={werror}"])
        proc = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True)
        assert (proc.returncode == 0) == ok, proc.stdout + proc.stderr
        assert "unused_thing" in proc.stdout + proc.stderr


# -- --prefix names the CMake target: tests/test_two_models.py adds two models with add_subdirectory ----


# -- provenance ----------------------------------------------------------------------------------------
def test_metadata_and_info_header_record_the_source(tmp_path, tiny_cnn_path):
    require_tool("gcc")
    lib, meta = library(tmp_path / "lib", tiny_cnn_path, prefix="net", board="cortex-m4")
    sha = hashlib.sha256(tiny_cnn_path.read_bytes()).hexdigest()
    assert meta["format_version"] == FORMAT_VERSION and meta["board"] == "cortex-m4"
    assert meta["model_sha256"] == sha
    assert meta["compile_options"]["prefix"] == "net" and meta["compile_options"]["board"] == "cortex-m4"
    assert "net_info.h" in meta["files"]
    (tmp_path / "show.c").write_text('#include <stdio.h>\n#include "net_info.h"\n'
                                     'int main(void) { printf("%s %s %s\\n", NET_AOT_VERSION, NET_SHA256, NET_BOARD); '
                                     'return 0; }\n')
    run(["gcc", *STRICT, f"-I{lib}", tmp_path / "show.c", "-o", tmp_path / "show"])
    assert run([tmp_path / "show"]).split() == [meta["version"], sha, "cortex-m4"]


# -- packages ------------------------------------------------------------------------------------------
ALL = ["cmake", "zephyr", "arduino", "platformio"]


def test_packages_are_deterministic_and_hold_no_machine_paths(tmp_path, tiny_cnn_path):
    a = compile_model(tiny_cnn_path, CompileOptions(board="cortex-m4", packages=ALL)).files
    b = compile_model(tiny_cnn_path, CompileOptions(board="cortex-m4", packages=ALL)).files
    assert a == b
    for name in ("library.json", "library.properties", "zephyr/module.yml", "zephyr/CMakeLists.txt",
                 "zephyr/Kconfig", "cmake/aot_model-install.cmake", "cmake/aot_modelConfig.cmake", "metadata.json"):
        assert name in a
        assert str(tiny_cnn_path.parent) not in a[name] and "/tmp" not in a[name], name
    assert "library.json" not in compile_model(tiny_cnn_path, CompileOptions()).files  # only on request


def test_unknown_package_is_a_clear_error(tmp_path, tiny_cnn_path, capsys):
    with pytest.raises(AotError, match="unknown --package 'keil'.*cmake, zephyr, arduino, platformio"):
        compile_model(tiny_cnn_path, CompileOptions(packages=["keil"]))
    with pytest.raises(SystemExit) as exit_:
        main(["compile", str(tiny_cnn_path), "-o", str(tmp_path / "o"), "--package", "keil"])
    assert exit_.value.code == 2
    assert "invalid choice: 'keil'" in capsys.readouterr().err


def test_cmake_package_installs_and_find_package_consumer_runs(tmp_path):
    require_tool("cmake")
    model = tiny_cnn_model()
    lib, meta = library(tmp_path / "lib", model, prefix="net", packages=["cmake"])
    build, prefix = tmp_path / "build", tmp_path / "prefix"
    run(["cmake", "-S", lib, "-B", build, "-DAOT_WERROR=ON", f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    run(["cmake", "--build", build])
    run(["cmake", "--install", build])
    assert (prefix / "include" / "aot_net" / "net.h").is_file()
    assert (prefix / "include" / "aot_net" / "net_info.h").is_file()
    # The consumer knows only the install prefix: the library folder and its build are gone.
    run(["rm", "-rf", lib, build])
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    inputs = feeds_for(meta)
    (consumer / "main.c").write_text(harness_source([("net.h", "net", meta, inputs)]))
    (consumer / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(consumer C)\nfind_package(aot_net 0.1.0 REQUIRED)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE aot::net)\n")
    run(["cmake", "-S", consumer, "-B", consumer / "build", f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", consumer / "build"])
    printed = parse_outputs(run([consumer / "build" / "app"]))
    assert_matches_onnxruntime(model, inputs, [printed[("net", 0)]])


def cross_compile(lib: Path, sources: list[str], flags: list[str], includes: list[Path]) -> None:
    """The package's sources with arm-none-eabi-gcc for a Cortex-M4 (objects in a scratch folder)."""
    board = resolve_board("cortex-m4")
    objs = lib.parent / f"{lib.name}-objs"
    objs.mkdir(exist_ok=True)
    for i, src in enumerate(sources):
        run([board.cc, *board.compile_flags("gcc"), *STRICT, "-O2", *flags, *[f"-I{d}" for d in includes],
             "-c", lib / src, "-o", objs / f"{i}.o"])
        assert (objs / f"{i}.o").stat().st_size > 0


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    require_tool("arm-none-eabi-gcc")
    lib, _ = library(tmp_path_factory.mktemp("pkg") / "lib", board="cortex-m4", packages=ALL)
    return lib


def c_sources(lib: Path) -> set[str]:
    return {p.name for p in lib.glob("*.c")}


def test_zephyr_module(packaged):
    module = yaml.safe_load((packaged / "zephyr" / "module.yml").read_text())
    assert module["name"] == "aot_model"
    cmake_dir = packaged / module["build"]["cmake"]
    assert (cmake_dir / "CMakeLists.txt").is_file() and (packaged / module["build"]["kconfig"]).is_file()
    assert re.search(r"^config AOT_MODEL\n\tbool ", (packaged / module["build"]["kconfig"]).read_text(), re.M)
    text = (cmake_dir / "CMakeLists.txt").read_text()
    assert "if(CONFIG_AOT_MODEL)" in text and "zephyr_library_named(aot_model)" in text
    listed = re.findall(r"\$\{AOT_MODEL_DIR\}/(\S+?\.c)", text)
    assert set(listed) == c_sources(packaged)  # every source of the library, nothing that is missing
    (options,) = re.findall(r"zephyr_library_compile_options\(([^)]*)\)", text)
    cross_compile(packaged, listed, options.split(), [packaged])


def test_arduino_library(packaged):
    props = dict(line.split("=", 1) for line in (packaged / "library.properties").read_text().splitlines())
    for key in ("name", "version", "author", "maintainer", "sentence", "paragraph", "category", "architectures"):
        assert props.get(key), key
    assert re.fullmatch(r"\d+\.\d+\.\d+", props["version"])
    assert (packaged / props["includes"]).is_file()
    # The flat layout: Arduino compiles the root folder's .c files with the root on the include path.
    assert not (packaged / "src").exists()
    cross_compile(packaged, sorted(c_sources(packaged)), [], [packaged])


def test_platformio_library(packaged):
    manifest = json.loads((packaged / "library.json").read_text())
    assert manifest["name"] == "aot_model" and re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    b = manifest["build"]
    assert (packaged / b["srcDir"]).is_dir() and (packaged / b["includeDir"] / "model.h").is_file()
    assert all((packaged / h).is_file() for h in manifest["headers"])
    assert b["srcFilter"][0] == "-<*>"
    listed = [re.fullmatch(r"\+<(.+)>", f).group(1) for f in b["srcFilter"][1:]]
    assert set(listed) == c_sources(packaged) and all((packaged / b["srcDir"] / s).is_file() for s in listed)
    cross_compile(packaged, listed, b["flags"], [packaged / b["includeDir"]])


def test_folder_only_packages_refuse_external_sources():
    """A backend's sources outside the folder (cmsis-nn.path): the CMake-based packages compile them in
    place, Arduino and PlatformIO libraries cannot reach them."""
    files = compile_model(tiny_cnn_model(), CompileOptions()).files
    build = LibraryBuild(external=[ExternalSource("/opt/CMSIS-NN/Source/x.c", "cmsis-nn/external/x.o")])
    for package in ("arduino", "platformio"):
        with pytest.raises(AotError, match=f"--package {package}: .*/opt/CMSIS-NN/Source/x.c"):
            package_files(files, "model", [package], build)
    zephyr = package_files(files, "model", ["zephyr"], build)["zephyr/CMakeLists.txt"]
    assert "/opt/CMSIS-NN/Source/x.c" in zephyr


def test_packages_from_the_cli(tmp_path, tiny_cnn_path):
    out = tmp_path / "out"
    assert main(["compile", str(tiny_cnn_path), "-o", str(out), "--package", "zephyr", "--package", "platformio",
                 "--package", "zephyr"]) == 0
    meta = json.loads((out / "metadata.json").read_text())
    assert {"zephyr/module.yml", "library.json"} <= set(meta["files"]) and "library.properties" not in meta["files"]
    assert meta["compile_options"]["packages"] == ["zephyr", "platformio", "zephyr"]
    assert np.all([(out / f).is_file() for f in meta["files"]])
