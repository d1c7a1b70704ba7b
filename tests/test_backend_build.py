"""A library-style backend registered from test code: its kernels call functions of its own C file
(copied into the library, declared in a header of its own include folder, needing a define it adds)
and of an external location given through a required option (referenced in place, never copied).
The library builds with gcc and clang on the host and with the board toolchain for cortex-m4, and
computes what ONNX Runtime computes on both."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from aot.backends import REGISTRY, BackendOption, BuildContribution, TemplateBackend, register_backend
from aot.cli import main
from aot.codegen.csyntax import check_sources
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.reference import run_reference
from aot.targets.board import resolve_board
from aot.flows.board_run import host_baseline, run_on_board
from aot.targets.host import load

from conftest import float_input, make_model, require_tool

NAME = "buildtest"
ENV = "AOT_BUILDTEST_PATH"

RELU = """{% extends "common/kernel.c.j2" %}
{% block body %}
    for (int i = 0; i < {{ Y.size }}; ++i) {
        Y[i] = bt_relu(X[i]);
    }
{% endblock %}
"""
ADD = """{% extends "common/kernel.c.j2" %}
{% block body %}
    for (int i = 0; i < {{ Y.size }}; ++i) {
        Y[i] = {{ act("bt_add(A[i], B[i])") }};
    }
{% endblock %}
"""
SHIPPED = {
    "include/bt_lib.h": """#ifndef BT_LIB_H
#define BT_LIB_H
#ifndef BT_ZERO
#error "BT_ZERO is a define the backend contributes"
#endif
float bt_relu(float x);
#endif
""",
    # The per-target flags reach the backend's own sources: each build checks it got its own.
    "src/bt_lib.c": """#include "bt_lib.h"
#if defined(__arm__) && BT_TARGET != 2
#error "an Arm build without the backend's arm flags"
#endif
#if !defined(__arm__) && BT_TARGET != 1
#error "a host build without the backend's host flags"
#endif
float bt_relu(float x) { return x > BT_ZERO ? x : BT_ZERO; }
""",
}
EXTERNAL = {
    "inc/bt_ext.h": "#ifndef BT_EXT_H\n#define BT_EXT_H\nfloat bt_add(float a, float b);\n#endif\n",
    "bt_ext.c": '#include "bt_ext.h"\nfloat bt_add(float a, float b) { return a + b; }\n',
}


class LibraryBackend(TemplateBackend):
    options = (BackendOption("path", env=ENV, required=True, help="folder holding bt_ext.c"),
               BackendOption("unused", default="x"))

    def __init__(self, root: Path):
        super().__init__(NAME, template_dirs=[root / "templates"])
        self.root = root

    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        external = Path(options["path"])
        return BuildContribution(
            root=self.root / "files", sources=["src/bt_lib.c"], include_dirs=["include"],
            external_sources=[external / "bt_ext.c"], external_include_dirs=[external / "inc"],
            defines=["BT_ZERO=0.0f"], libraries=["m"], cflags=["-Wno-unused-macros"],
            target_cflags={"host": ["-DBT_TARGET=1"], "arm": ["-DBT_TARGET=2"]},
            headers=["bt_lib.h", "bt_ext.h"])


def write_files(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENV, raising=False)
    root = tmp_path / "backend"
    write_files(root / "templates" / NAME, {"relu.c.j2": RELU, "add.c.j2": ADD})
    write_files(root / "files", SHIPPED)
    b = LibraryBackend(root)
    b.kernel("Relu", template=f"{NAME}/relu.c.j2", input_names=("X",), output_names=("Y",))(lambda n, g: {})
    b.kernel("Add", template=f"{NAME}/add.c.j2", input_names=("A", "B"), output_names=("Y",))(lambda n, g: {})
    register_backend(b)
    yield b
    REGISTRY.unregister(NAME)


@pytest.fixture
def external(tmp_path: Path) -> Path:
    return write_files(tmp_path / "external", EXTERNAL)


def model() -> onnx.ModelProto:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["r", "x"], ["s"], name="add"),
             helper.make_node("Exp", ["s"], ["y"], name="exp")]
    return make_model(nodes, [float_input("x", [1, 4, 3, 3])], [float_input("y", [1, 4, 3, 3])])


def options(external: Path, **kw) -> CompileOptions:
    return CompileOptions(backends=[NAME, "ref"], backend_options={NAME: {"path": str(external)}}, **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_library_backend_builds_and_matches_onnxruntime(backend, external, tmp_path, cc):
    compiled = compile_model(model(), options(external))
    assert {c.node.name: c.backend for c in compiled.calls} == {"relu": NAME, "add": NAME, "exp": "ref"}
    assert compile_model(model(), options(external)).files == compiled.files  # deterministic
    external_before = snapshot(external)
    out = write_library(compiled, tmp_path / "lib")

    # Shipped files are copied under <backend>/; the external ones stay where they are.
    for name, text in SHIPPED.items():
        assert (out / NAME / name).read_text() == text
    assert not list(out.rglob("bt_ext.*"))
    makefile = (out / "Makefile").read_text()
    assert f"{external.resolve()}/bt_ext.c" in makefile and f"{NAME}/src/bt_lib.c" in makefile
    kernels = (out / f"kernels_{NAME}.c").read_text()
    assert '#include "bt_lib.h"\n#include "bt_ext.h"\n' in kernels
    assert json.loads((out / "metadata.json").read_text())["build"] == {NAME: {
        "sources": [f"{NAME}/src/bt_lib.c"], "include_dirs": [f"{NAME}/include"],
        "external_sources": [str(external / "bt_ext.c")], "external_include_dirs": [str(external / "inc")],
        "defines": ["BT_ZERO=0.0f"], "libraries": ["m"], "cflags": ["-Wno-unused-macros"],
        "target_cflags": {"host": ["-DBT_TARGET=1"], "arm": ["-DBT_TARGET=2"]},
        "headers": ["bt_lib.h", "bt_ext.h"]}}
    assert check_sources(out) == []

    x = np.random.default_rng(1).standard_normal((1, 4, 3, 3)).astype(np.float32)
    (got,) = load(out, cc=cc).run({"x": x})
    (want,) = run_reference(model(), {"x": x})
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)

    # The static library takes the external object too, built in the library folder.
    subprocess.run(["make", "-s", "-C", str(out), f"CC={cc}", "AOT_WERROR=1"], check=True, capture_output=True)
    symbols = subprocess.run(["nm", str(out / "libmodel.a")], check=True, capture_output=True, text=True).stdout
    assert " T bt_relu" in symbols and " T bt_add" in symbols
    assert (out / NAME / "external" / "bt_ext.o").is_file()
    assert snapshot(external) == external_before  # nothing written next to the external sources


def test_cmake_builds_the_contributions(backend, external, tmp_path):
    require_tool("cmake")
    out = write_library(compile_model(model(), options(external)), tmp_path / "lib")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(out), "-B", str(build), "-DAOT_WERROR=ON"], ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    symbols = subprocess.run(["nm", str(build / "libmodel.a")], check=True, capture_output=True, text=True).stdout
    assert " T bt_relu" in symbols and " T bt_add" in symbols


def test_library_backend_runs_on_cortex_m4(backend, external):
    board = resolve_board("cortex-m4")
    missing = board.missing_tools("clang")
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    baseline = host_baseline(model(), options=options(external))
    for cc in ("gcc", "clang"):
        report = run_on_board(model(), board, baseline=baseline, cc=cc)
        assert report.ok, "\n" + report.table()
        assert {c.against for c in report.checks} == {"host", "onnxruntime"}
        np.testing.assert_allclose(report.outputs[0], baseline.host_outputs[0], atol=1e-6, rtol=1e-6)


def test_a_missing_required_option_names_the_flag_and_the_variable(backend, external, monkeypatch):
    with pytest.raises(AotError, match=rf"backend '{NAME}' needs option 'path' \(folder holding bt_ext.c\): "
                                       rf"give --backend-option {NAME}.path=VALUE or set the environment "
                                       rf"variable {ENV}"):
        compile_model(model(), CompileOptions(backends=[NAME, "ref"]))
    monkeypatch.setenv(ENV, str(external))  # the environment variable works as well
    compiled = compile_model(model(), CompileOptions(backends=[NAME, "ref"]))
    assert compiled.metadata["build"][NAME]["external_sources"] == [str(external / "bt_ext.c")]


def test_unknown_options_are_errors(backend, external):
    with pytest.raises(AotError, match=rf"backend '{NAME}' has no option 'colour' \(its options: path, unused\)"):
        compile_model(model(), CompileOptions(backends=[NAME, "ref"],
                                              backend_options={NAME: {"path": str(external), "colour": "red"}}))
    with pytest.raises(AotError, match=r"--backend-option names unknown backend\(s\) 'nope'"):
        compile_model(model(), CompileOptions(backend_options={"nope": {"path": "x"}}))


def test_backends_without_layers_add_nothing(backend, external):
    compiled = compile_model(model(), options(external, layer_backend={"relu": "ref", "add": "ref"}))
    assert "build" not in compiled.metadata and not any(name.startswith(f"{NAME}/") for name in compiled.files)


def test_cli_backend_option(backend, external, tmp_path, capsys):
    path = tmp_path / "m.onnx"
    onnx.save(model(), str(path))
    base = ["compile", str(path), "--backend", NAME, "--backend", "ref", "-o", str(tmp_path / "out")]
    assert main(base) == 2
    err = capsys.readouterr().err
    assert f"--backend-option {NAME}.path=VALUE" in err and ENV in err
    assert not (tmp_path / "out").exists()
    assert main(base + ["--backend-option", f"{NAME}.path={external}"]) == 0
    assert (tmp_path / "out" / NAME / "src" / "bt_lib.c").is_file()
    with pytest.raises(SystemExit) as exc:
        main(base + ["--backend-option", "path=x"])
    assert exc.value.code == 2 and "expected BACKEND.KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("contribution, message", [
    (dict(sources=["src/bt_lib.c"]), r"need the folder they are in \(root\)"),
    (dict(root=".", sources=["../x.c"]), r"must be relative to the backend's root"),
    (dict(root=".", sources=["missing.c"]), r"shipped source 'missing.c' not found"),
    (dict(external_sources=["/nonexistent/x.c"]), r"external source '/nonexistent/x.c' not found"),
    (dict(defines=["1BAD"]), r"define '1BAD' is not NAME or NAME=VALUE"),
    (dict(cflags=["-DX='a b'"]), r"compiler flag .* must be one word"),
    (dict(libraries=["bad name"]), r"library 'bad name' is neither a name"),
    (dict(headers=["/abs.h"]), r"header '/abs.h' is not a relative .h path"),
])
def test_bad_contributions_are_refused(contribution, message):
    from aot.backends.build import library_build
    with pytest.raises(AotError, match=rf"backend 'bt': .*{message}"):
        library_build({"bt": BuildContribution(**contribution)})
