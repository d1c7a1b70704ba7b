"""The flow reads one way: frontend -> passes -> partition -> planner -> codegen -> targets, with the
compiler driving them and the orchestration (aot.flows, aot.tune) and the CLI above it. No module of the
compile flow imports the compiler, the orchestration or the CLI, not even inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import aot

PACKAGE = Path(aot.__file__).resolve().parent
ABOVE = ("aot.compiler", "aot.flows", "aot.tune", "aot.cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, relative imports resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level:
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def test_nothing_in_the_compile_flow_imports_upwards():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        if name.startswith(ABOVE) or name in ("aot", "aot.__main__"):
            continue
        for target in imported(path):
            if target.startswith(ABOVE):
                offenders.append(f"{name} imports {target}")
    assert not offenders, offenders


def test_the_cli_has_no_import_circle():
    board = imported(PACKAGE / "cli" / "board.py")
    assert not any(t == "aot.cli" or t.startswith("aot.cli.__init__") for t in board)
    assert "aot.cli.options" in board
