"""Checks on generated C with pycparser: it parses, calls no forbidden function, declares no VLA,
and has no recursion."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from pycparser import c_ast, c_parser

from ..errors import AotError

FAKE_LIBC = Path(__file__).resolve().parent / "fake_libc"
FORBIDDEN_CALLS = frozenset({"malloc", "calloc", "realloc", "free", "printf", "fprintf", "sprintf", "snprintf",
                             "puts", "putchar", "fopen", "exit", "abort", "alloca"})


def preprocess(path: Path, include_dirs: list[Path] | None = None, defines: list[str] | None = None) -> str:
    cpp = shutil.which("cpp") or shutil.which("gcc") or shutil.which("clang")
    if cpp is None:
        raise AotError("no C preprocessor (cpp/gcc/clang) found; install gcc")
    # pycparser reads ISO C only: compiler attributes are dropped before it sees the text.
    args = [cpp] + ([] if cpp.endswith("cpp") else ["-E"]) + ["-nostdinc", "-P", f"-I{FAKE_LIBC}",
                                                             "-D__attribute__(x)="]
    args += [f"-I{d}" for d in include_dirs or []] + [f"-D{d}" for d in defines or []] + [str(path)]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AotError(f"preprocessing {path.name} failed: {proc.stderr.strip()}")
    return proc.stdout


def parse_c(path: Path, include_dirs: list[Path] | None = None, defines: list[str] | None = None) -> c_ast.FileAST:
    text = preprocess(path, [path.parent] + list(include_dirs or []), defines)
    return c_parser.CParser().parse(text, filename=str(path))


class _Scan(c_ast.NodeVisitor):
    def __init__(self) -> None:
        self.calls: dict[str, set[str]] = {}
        self.current: str | None = None
        self.problems: list[str] = []

    def visit_FuncDef(self, node: c_ast.FuncDef) -> None:
        self.current = node.decl.name
        self.calls.setdefault(self.current, set())
        self.generic_visit(node)
        self.current = None

    def visit_FuncCall(self, node: c_ast.FuncCall) -> None:
        if isinstance(node.name, c_ast.ID):
            if node.name.name in FORBIDDEN_CALLS:
                self.problems.append(f"calls {node.name.name}() in {self.current}")
            if self.current:
                self.calls[self.current].add(node.name.name)
        self.generic_visit(node)

    def visit_ArrayDecl(self, node: c_ast.ArrayDecl) -> None:
        if node.dim is not None and not _constant_expr(node.dim):
            self.problems.append(f"variable-length array in {self.current or 'file scope'}")
        self.generic_visit(node)


def _constant_expr(expr: c_ast.Node) -> bool:
    if isinstance(expr, c_ast.Constant):
        return True
    if isinstance(expr, c_ast.BinaryOp):
        return _constant_expr(expr.left) and _constant_expr(expr.right)
    if isinstance(expr, c_ast.UnaryOp):
        return expr.op == "sizeof" or _constant_expr(expr.expr)
    if isinstance(expr, c_ast.Cast):
        return _constant_expr(expr.expr)
    if isinstance(expr, c_ast.TernaryOp):
        return all(_constant_expr(e) for e in (expr.cond, expr.iftrue, expr.iffalse))
    return False


def check_sources(folder: Path) -> list[str]:
    """Problems found in every .c file of ``folder`` (empty list: clean)."""
    problems: list[str] = []
    call_graph: dict[str, set[str]] = {}
    include_dirs, defines = _backend_build(Path(folder))
    for src in sorted(Path(folder).glob("*.c")):
        scan = _Scan()
        scan.visit(parse_c(src, include_dirs, defines))
        problems += [f"{src.name}: {p}" for p in scan.problems]
        for fn, callees in scan.calls.items():
            call_graph.setdefault(fn, set()).update(callees)
    problems += [f"recursion through {cycle}" for cycle in _cycles(call_graph)]
    return problems


def _backend_build(folder: Path) -> tuple[list[Path], list[str]]:
    """Include folders and defines the backends add (metadata.json "build"): kernel files include
    the backends' headers. The backends' own sources (in subfolders) are not aot's to check."""
    try:
        record = json.loads((folder / "metadata.json").read_text()).get("build", {})
    except (OSError, ValueError):
        return [], []
    dirs = [folder / d for entry in record.values() for d in entry.get("include_dirs", [])]
    dirs += [Path(d) for entry in record.values() for d in entry.get("external_include_dirs", [])]
    return dirs, [d for entry in record.values() for d in entry.get("defines", [])]


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    found, state = [], {}
    for start in sorted(graph):
        if state.get(start):
            continue
        stack = [(start, iter(sorted(graph.get(start, ()))))]
        state[start] = 1
        while stack:
            fn, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[fn] = 2
                stack.pop()
            elif nxt in graph and state.get(nxt) == 1:
                found.append(" -> ".join([f for f, _ in stack] + [nxt]))
            elif nxt in graph and not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(graph.get(nxt, ())))))
    return found
