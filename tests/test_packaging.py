"""The wheel ships templates, runtime_c, boards and examples inside the package, and an installed
copy (away from the checkout) finds them and compiles and verifies a model with them."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import onnx
import pytest

from conftest import REPO, require_tool, tiny_cnn_model

DATA_FOLDERS = ("templates", "runtime_c", "boards", "examples")
IGNORED_SUFFIXES = (".pyc", ".o", ".a", ".so")


def repo_files(folder: str) -> set[str]:
    root = REPO / folder
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
            and not p.name.endswith(IGNORED_SUFFIXES)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)]
    if importlib.util.find_spec("hatchling") is not None:  # the test extra installs it: build offline
        cmd.insert(cmd.index("--no-deps"), "--no-build-isolation")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (built,) = dist.glob("aot-*.whl")
    return built


def test_wheel_ships_data_folders_and_package_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in DATA_FOLDERS:
        prefix = f"aot/_data/{folder}/"
        shipped = {n[len(prefix):] for n in names if n.startswith(prefix)}
        expected = repo_files(folder)
        assert expected, f"{folder}/ is empty in the checkout"
        assert shipped == expected, f"{folder}: missing {expected - shipped}, extra {shipped - expected}"
    for must in ("aot/_data/templates/model/model.h.j2", "aot/_data/templates/common/kernel.c.j2",
                 "aot/_data/templates/ref/conv.c.j2", "aot/_data/runtime_c/aot_runtime.h",
                 "aot/_data/boards/host/board.toml"):
        assert must in names
    python_files = {p.relative_to(REPO).as_posix() for p in (REPO / "aot").rglob("*.py") if "__pycache__" not in p.parts}
    assert python_files <= names
    # pycparser needs these headers to read model.h signatures on an installed copy
    for header in (REPO / "aot" / "codegen" / "fake_libc").glob("*.h"):
        assert f"aot/codegen/fake_libc/{header.name}" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "aot = aot.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_host_board_description():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    board = tomllib.loads((REPO / "boards" / "host" / "board.toml").read_text())
    assert board["name"] == "host"
    assert {"cc", "cflags", "description"} <= set(board)


CHILD = textwrap.dedent("""
    import json, sys
    site, deps, model, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
    sys.path[:] = [site] + [p for p in sys.path if p] + deps
    import aot, aot.resources as r
    from aot.cli import main
    found = {"package": aot.__file__, "templates": str(r.templates_dir()), "runtime_c": str(r.runtime_dir()),
             "boards": str(r.boards_dir()), "examples": str(r.examples_dir())}
    print(json.dumps(found))
    sys.stdout.flush()
    code = main(["compile", model, "-o", out])
    sys.exit(code or main(["verify", model, "--cc", "gcc"]))
""")


def test_installed_wheel_finds_its_data_and_compiles(wheel, tmp_path):
    require_tool("gcc")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    model = tmp_path / "tiny.onnx"
    onnx.save(tiny_cnn_model(), str(model))
    # Everything the test process can import except the checkout (and its editable-install path).
    deps = [p for p in sys.path if p and Path(p).resolve() != REPO and REPO not in Path(p).resolve().parents
            and Path(p).is_dir()]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # -S: no site-packages .pth processing, so the editable install cannot shadow the extracted wheel.
    proc = subprocess.run([sys.executable, "-S", "-c", CHILD, str(site), json.dumps(deps), str(model),
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = json.loads(proc.stdout.splitlines()[0])
    assert Path(found["package"]).parent == site / "aot"
    for folder in DATA_FOLDERS:
        assert Path(found[folder]) == site / "aot" / "_data" / folder
    assert "verify: PASS" in proc.stdout
    out = tmp_path / "out"
    assert {"model.h", "model.c", "kernels_ref.c", "Makefile", "CMakeLists.txt", "aot_runtime.h"} <= {
        p.name for p in out.iterdir()}
    assert (out / "aot_runtime.h").read_text() == (site / "aot" / "_data" / "runtime_c" / "aot_runtime.h").read_text()
