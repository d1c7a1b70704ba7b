"""ONNX backend node-test conformance over the whole denominator: every node test onnx ships.

Runs every folder of ``onnx/backend/test/data/node`` (1,765 in onnx 1.22.0, ``_expanded`` variants and
every dtype included). Each test is compiled with aot, built, run and compared with its expected
outputs exactly as tests/test_onnx_conformance.py does (same freezing of compile-time inputs, same
opset down-conversion, same rtol 1e-3 + atol 1e-5 for floats; integer and bool outputs must match
exactly, and every output must have the expected dtype). A test whose output shape depends on the values
of a parameter input (an axis, a size, a target shape: at most 8 numbers, integers or one scalar) compiles
with that input fixed to the test's value, as ``aot compile --fix-input`` does; it counts as passed and
the tables say how many passed that way. Anything short of a match is a failure
with a one-line reason in one of these categories:

    unsupported op          an op aot has no kernel for (also: ops newer than opset 21, other
                            domains, and compile errors of models that contain such an op, since a
                            data-dependent input of an unknown op is never frozen)
    unsupported dtype       an element type aot does not compute (or a sequence/optional value)
    unsupported op variant  a known op rejected for an attribute, mode or run-time operand
    opset conversion error  onnx.version_converter could not bring the model to an opset aot reads
    shape/import error      any other compile-time refusal (aot's AotError/ShapeError)
    internal compiler error a Python exception from inside aot that is not an AotError
    build error, runtime error, crash, timeout, mismatch

Groups. A test is in "float32" when every graph output is a float32 tensor and every graph input is
a float32 tensor, or an int32/int64 tensor that is a shape, index or axes operand: one that every
node consuming it takes at an input whose ONNX schema admits int32/int64 only (Reshape's shape,
Gather's indices, Slice's starts, ReduceSum's axes, TopK's K...). Everything else (float16, float64,
integer or bool data, an integer input that is data such as Cast's, sequences) is "other dtypes".
Per op, a test counts for the op it tests: the single op of its model, or for an ``_expanded``
variant the op of the test it expands.

    python bench/conformance.py [--jobs N] [--cc gcc] [--filter REGEX] [--timeout S] [--out DIR]

writes DIR/conformance.json (every test's result and reason) and DIR/conformance.md (the tables);
DIR defaults to bench/results for a full run, and to no files with --filter unless --out is given.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from multiprocessing import Pipe, Process
from multiprocessing.connection import Connection, wait
from pathlib import Path

import onnx
from tqdm import tqdm

from shared_models import commit  # bench/ is the script folder

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("float32", "other dtypes")
FIXED_PASS = "parameter input(s) fixed at compile time"  # the detail of a pass that needed --fix-input
INDEX_TYPES = {"tensor(int32)", "tensor(int64)"}
DEFAULT_DOMAINS = ("", "ai.onnx")
# The version converter's assertions for a type the older opset does not allow.
TYPE_ASSERTS = re.compile(r"type_restriction|unallowed_types")


def _suite():
    """tests/test_onnx_conformance.py, the one home of the freeze/convert/run/compare rules."""
    name = "aot_conformance_suite"
    if name not in sys.modules:  # dataclasses look their module up in sys.modules
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "test_onnx_conformance.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


# -- what each test is --------------------------------------------------------------------------

@dataclass
class TestInfo:
    name: str
    op: str  # the op under test
    group: str
    unknown_ops: tuple[str, ...]  # ops of the model no aot backend or import step handles
    non_tensor: str | None  # "sequence", "optional"... when a graph input/output is not a tensor


def known_ops() -> set[str]:
    """Ops aot compiles: every backend's kernels, ops the importer evaluates, quantized expansions."""
    from aot.backends.registry import REGISTRY
    from aot.quant.expand_qlinear import EXPANSIONS
    ops = {op for name in REGISTRY.names() for op in REGISTRY.get(name).supported_ops()}
    return ops | set(EXPANSIONS) | {"Constant", "Shape", "Size"}


def op_label(node: onnx.NodeProto) -> str:
    return node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"


def _opsets(model: onnx.ModelProto) -> dict[str, int]:
    return {("" if o.domain == "ai.onnx" else o.domain): o.version for o in model.opset_import}


def formal_types(node: onnx.NodeProto, pos: int, opsets: dict[str, int]) -> set[str]:
    """Types the node's schema admits at input ``pos`` (empty when unknown)."""
    domain = "" if node.domain == "ai.onnx" else node.domain
    try:
        schema = onnx.defs.get_schema(node.op_type, opsets.get(domain, 1), domain)
    except Exception:  # not a registered op at that opset
        return set()
    if not schema.inputs:
        return set()
    param = schema.inputs[min(pos, len(schema.inputs) - 1)]  # a variadic last input covers the rest
    constraints = {c.type_param_str: set(c.allowed_type_strs) for c in schema.type_constraints}
    return constraints.get(param.type_str, {param.type_str})


def index_inputs(model: onnx.ModelProto) -> set[str]:
    """Graph inputs every consumer takes as a shape/index/axes operand (schema: int32/int64 only)."""
    opsets = _opsets(model)
    admitted: dict[str, list[set[str]]] = defaultdict(list)
    for node in model.graph.node:
        for pos, name in enumerate(node.input):
            if name:
                admitted[name].append(formal_types(node, pos, opsets))
    return {name for name, sets in admitted.items() if all(s and s <= INDEX_TYPES for s in sets)}


def _kind(vi: onnx.ValueInfoProto) -> str:
    return vi.type.WhichOneof("value") or "undefined"


def group_of(model: onnx.ModelProto) -> str:
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [vi for vi in g.input if vi.name not in inits]
    if any(_kind(vi) != "tensor_type" for vi in inputs + list(g.output)):
        return "other dtypes"
    f32, ints = onnx.TensorProto.FLOAT, (onnx.TensorProto.INT32, onnx.TensorProto.INT64)
    if any(vi.type.tensor_type.elem_type != f32 for vi in g.output):
        return "other dtypes"
    index = index_inputs(model)
    for vi in inputs:
        elem = vi.type.tensor_type.elem_type
        if elem != f32 and not (elem in ints and vi.name in index):
            return "other dtypes"
    return "float32"


def describe_all(folders: list[Path]) -> dict[str, TestInfo]:
    """A TestInfo for each test folder; an _expanded test is attributed to the op of its twin."""
    models = {f.name: onnx.load(str(f / "model.onnx"), load_external_data=False) for f in folders}
    known = known_ops()
    own_op = {name: op_label(m.graph.node[0]) if m.graph.node else "(no node)" for name, m in models.items()}
    infos = {}
    for name, model in models.items():
        twin = name.split("_expanded")[0]
        op = own_op.get(twin) or _twin_op(twin) or own_op[name]
        unknown = tuple(dict.fromkeys(op_label(n) for n in model.graph.node
                                      if n.domain not in DEFAULT_DOMAINS or n.op_type not in known))
        io = [vi for vi in list(model.graph.input) + list(model.graph.output) if _kind(vi) != "tensor_type"]
        non_tensor = _kind(io[0]).removesuffix("_type") if io else None
        infos[name] = TestInfo(name, op, group_of(model), unknown, non_tensor)
    return infos


def _twin_op(twin: str) -> str | None:
    """The op of an _expanded test's twin when --filter left the twin out of the run."""
    path = _suite().NODE_DIR / twin / "model.onnx"
    if not path.exists():
        return None
    nodes = onnx.load(str(path), load_external_data=False).graph.node
    return op_label(nodes[0]) if nodes else None


# -- why a test failed --------------------------------------------------------------------------

ELEM_TYPE = re.compile(r"element type (?:TensorProto\.)?([A-Z][A-Z0-9_]+)")
# aot's unsupported-model error: one "OP (opset N, dtypes): node(s) 'a', 'b': reason" per blocker
BLOCKER = re.compile(r"(?:cannot compile |^  )(\S+) \(opset [^)]*\): nodes? '.*?'(?:, '.*?')*(?: and \d+ more)?: "
                     r"(.*?)(?:\. `aot ops` lists.*)?$", re.M)
REJECTED_DTYPE = re.compile(r"dtype (\w+) of")
QUANTIZED_AS = re.compile(r"quantized as (\w+)")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:500]


def compiler_error(exc: BaseException) -> str:
    """The C compiler's first error line of a failed build (the exception's first line only names the file)."""
    errors = [line.strip() for line in str(exc).splitlines() if "error:" in line]
    return f" {errors[0]}" if errors else ""


def newer_ops(model: onnx.ModelProto, opset: int) -> list[str]:
    """Default-domain ops of the model that do not exist at ``opset`` (no adapter can bring them down)."""
    out = []
    for node in model.graph.node:
        if node.domain in DEFAULT_DOMAINS:
            try:
                onnx.defs.get_schema(node.op_type, opset, "")
            except Exception:  # SchemaError: first defined after ``opset``
                out.append(node.op_type)
    return list(dict.fromkeys(out))


def unsupported_dtypes(model: onnx.ModelProto) -> list[str]:
    """Graph input/output element types aot has no C type for."""
    from aot.ir.dtypes import np_dtype_of
    g = model.graph
    bad = []
    for vi in list(g.input) + list(g.output):
        if _kind(vi) == "tensor_type":
            try:
                np_dtype_of(vi.type.tensor_type.elem_type)
            except ValueError:
                bad.append(onnx.helper.tensor_dtype_to_string(vi.type.tensor_type.elem_type)
                           .removeprefix("TensorProto.").lower())
    return list(dict.fromkeys(bad))


def classify(exc: BaseException, stage: str, info: TestInfo, model: onnx.ModelProto,
             max_opset: int) -> tuple[str, str]:
    """(category, one-line reason) of a test whose run raised ``exc`` during ``stage``."""
    from aot.errors import AotError, UnsupportedOpError
    text = str(exc)
    if stage == "convert":
        newer = newer_ops(model, max_opset)
        if newer:
            return "unsupported op", f"unsupported op {newer[0]} (opset > {max_opset})"
        if info.unknown_ops:  # the op would block the test after a successful conversion too
            return "unsupported op", f"unsupported op {info.unknown_ops[0]}"
        bad = unsupported_dtypes(model)
        if TYPE_ASSERTS.search(text) and bad:
            return "unsupported dtype", f"unsupported dtype {bad[0]}"
        return "opset conversion error", "opset conversion error"
    if stage == "build":
        return "build error", "build error"
    if stage in ("run", "compare"):
        return "runtime error", "runtime error"
    if stage == "read data":
        return "shape/import error", "test data unreadable"
    # compile: what aot refused, most specific first
    if isinstance(exc, UnsupportedOpError):
        blockers = BLOCKER.findall(text)
        # the blocker of the op under test when it is one of them, else the first
        op, why = next((b for b in blockers if b[0].split(".")[-1] == info.op), blockers[0] if blockers else ("?", ""))
        op = next((u for u in info.unknown_ops if u.split(".")[-1] == op), op)  # with its domain, if any
        if "no backend implements" in why or "op not implemented" in why or "domain" in why or not why:
            return "unsupported op", f"unsupported op {op}"
        if "output shape depends on input values" in why:
            return "unsupported op variant", f"{op}: output shape depends on runtime input values"
        dtype = REJECTED_DTYPE.search(why)
        if dtype:
            return "unsupported dtype", f"unsupported dtype {dtype.group(1)} ({op})"
        return "unsupported op variant", f"unsupported variant of {op}: {why.split(';')[0][:80]}"
    if isinstance(exc, AotError):
        if ELEM_TYPE.search(text):
            return "unsupported dtype", f"unsupported dtype {ELEM_TYPE.search(text).group(1).lower()}"
        if QUANTIZED_AS.search(text):
            return "unsupported dtype", f"unsupported dtype {QUANTIZED_AS.search(text).group(1)} (quantized activation)"
        if info.unknown_ops:
            return "unsupported op", f"unsupported op {info.unknown_ops[0]}"
        if "could not upgrade the model" in text:
            return "opset conversion error", "opset conversion error (upgrade to 13)"
        if "at run time; aot needs" in text:
            return "unsupported op variant", "unsupported op variant (run-time scale/zero point)"
        return "shape/import error", f"shape/import error ({type(exc).__name__})"
    if info.unknown_ops:
        return "unsupported op", f"unsupported op {info.unknown_ops[0]}"
    return "internal compiler error", f"internal compiler error ({type(exc).__name__})"


# -- one test, in a worker process ----------------------------------------------------------------

@dataclass
class Result:
    name: str
    op: str
    group: str
    passed: bool
    category: str  # "pass" when passed
    reason: str
    detail: str  # the first line of the error or mismatch, for engineers
    seconds: float


def run_one(info: TestInfo, workroot: Path, cc: str) -> Result:
    suite = _suite()
    start = time.perf_counter()
    folder = suite.NODE_DIR / info.name

    def result(category: str, reason: str, detail: str = "") -> Result:
        return Result(info.name, info.op, info.group, category == "pass", category, reason, detail,
                      round(time.perf_counter() - start, 2))

    if info.non_tensor:  # the test data are SequenceProto/OptionalProto, aot computes tensors only
        return result("unsupported dtype", f"unsupported dtype {info.non_tensor}", "")
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    progress = suite.Progress()
    workdir = Path(tempfile.mkdtemp(prefix=info.name + "-", dir=workroot))
    try:
        problems = suite.run_case(suite.case_of(folder, model), workdir, cc=cc, progress=progress)
    except Exception as exc:  # every failure is a result of that test, not of the run
        category, reason = classify(exc, progress.stage, info, model, suite.MAX_OPSET)
        return result(category, reason, first_line(exc) + compiler_error(exc))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if problems:
        return result("mismatch", "mismatch", "; ".join(problems)[:500])
    if progress.fixed:  # passes as a user's `aot compile --fix-input` would: counted, and said
        return result("pass", "pass", f"{FIXED_PASS}: {', '.join(progress.fixed)}")
    return result("pass", "pass")


def _worker(conn: Connection, workroot: str, cc: str) -> None:
    # Compiler, converter and numpy chatter would tear the progress bar; results travel on the pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    import warnings
    warnings.simplefilter("ignore")
    while True:
        info = conn.recv()
        if info is None:
            return
        try:
            conn.send(run_one(info, Path(workroot), cc))
        except BaseException:  # a bug of this script: report it as that test's failure, keep going
            conn.send(Result(info.name, info.op, info.group, False, "internal compiler error",
                             "harness error", traceback.format_exc().splitlines()[-1], 0.0))


# -- the pool: one process per job, replaced when a test crashes it or runs out of time -------------

class Slot:
    def __init__(self, workroot: Path, cc: str):
        self.args = (str(workroot), cc)
        self.info: TestInfo | None = None
        self.started = 0.0
        self._spawn()

    def _spawn(self) -> None:
        self.conn, child = Pipe()
        self.proc = Process(target=_worker, args=(child, *self.args), daemon=True)
        self.proc.start()
        child.close()

    def give(self, info: TestInfo) -> None:
        self.info, self.started = info, time.perf_counter()
        self.conn.send(info)

    def restart(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()
        self._spawn()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()


def run_all(infos: list[TestInfo], jobs: int, cc: str, timeout: float) -> list[Result]:
    """Every test on ``jobs`` worker processes; a crash or timeout fails that test only."""
    pending = list(reversed(infos))
    results: list[Result] = []
    workroot = Path(tempfile.mkdtemp(prefix="aot-conformance-"))
    slots = [Slot(workroot, cc) for _ in range(max(1, min(jobs, len(infos))))]
    bar = tqdm(total=len(infos), desc="node tests", file=sys.stderr, unit="test", mininterval=1.0)
    try:
        for slot in slots:
            if pending:
                slot.give(pending.pop())
        while any(s.info for s in slots):
            busy = [s for s in slots if s.info]
            ready = wait([s.conn for s in busy], timeout=1.0)
            for slot in busy:
                outcome = _collect(slot, slot.conn in ready, timeout)
                if outcome is None:
                    continue
                results.append(outcome)
                bar.update(1)
                bar.set_postfix(passed=sum(r.passed for r in results))
                slot.info = None
                if pending:
                    slot.give(pending.pop())
    finally:
        bar.close()
        for slot in slots:
            slot.stop()
        shutil.rmtree(workroot, ignore_errors=True)
    return results


def _collect(slot: Slot, ready: bool, timeout: float) -> Result | None:
    """The slot's finished result, a crash or timeout result, or None while it is still running."""
    info = slot.info
    elapsed = round(time.perf_counter() - slot.started, 2)
    if ready:
        try:
            return slot.conn.recv()
        except (EOFError, OSError):  # the worker died mid-test: a crash of the generated code
            slot.proc.join(timeout=5)
            code = slot.proc.exitcode
            slot.restart()
            signal = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            return Result(info.name, info.op, info.group, False, "crash", "crash", f"worker died ({signal})", elapsed)
    if elapsed > timeout:
        slot.restart()
        return Result(info.name, info.op, info.group, False, "timeout", "timeout", f"over {timeout:g} s", elapsed)
    return None


# -- report ---------------------------------------------------------------------------------------

def _pct(passed: int, total: int) -> str:
    return f"{100.0 * passed / total:.1f}%" if total else "-"


def summary_table(results: list[Result]) -> list[str]:
    lines = ["| group | passed | total | % | of the passed, with parameter inputs fixed |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for group in (*GROUPS, "all"):
        rs = [r for r in results if group == "all" or r.group == group]
        passed = sum(r.passed for r in rs)
        fixed = sum(r.passed and r.detail.startswith(FIXED_PASS) for r in rs)
        lines.append(f"| {group} | {passed} | {len(rs)} | {_pct(passed, len(rs))} | {fixed} |")
    return lines


def per_op_table(results: list[Result]) -> list[str]:
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {g: [0, 0] for g in (*GROUPS, "all")})
    for r in results:
        for group in (r.group, "all"):
            counts[r.op][group][0] += r.passed
            counts[r.op][group][1] += 1
    lines = ["| op | float32 | other dtypes | all | main failure reason |", "| --- | ---: | ---: | ---: | --- |"]
    for op in sorted(counts, key=str.lower):
        cells = [f"{p}/{t}" if t else "-" for p, t in (counts[op][g] for g in (*GROUPS, "all"))]
        reasons = Counter(r.reason for r in results if r.op == op and not r.passed)
        main = reasons.most_common(1)[0][0] if reasons else ""
        lines.append(f"| {op} | {' | '.join(cells)} | {main} |")
    return lines


def worklist(results: list[Result], top: int = 25) -> list[str]:
    """Top failure categories and reasons, and the ops with the most failing tests."""
    failed = [r for r in results if not r.passed]
    lines = [f"Failure categories ({len(failed)} failing tests):", ""]
    lines += [f"- {n} {c}" for c, n in Counter(r.category for r in failed).most_common()]
    lines += ["", f"Top {top} reasons:", ""]
    lines += [f"- {n} {reason}" for reason, n in Counter(r.reason for r in failed).most_common(top)]
    lines += ["", f"Top {top} ops by failing tests (the op under test):", ""]
    lines += [f"- {n} {op}" for op, n in Counter(r.op for r in failed).most_common(top)]
    return lines


def write_outputs(out: Path, results: list[Result], meta: dict, lines: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    doc = {**meta, "tests": {r.name: {k: v for k, v in asdict(r).items() if k != "name"}
                             for r in sorted(results, key=lambda r: r.name)}}
    (out / "conformance.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "conformance.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cc", default="gcc")
    parser.add_argument("--filter", help="run only tests whose name matches this regular expression")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per test (default 180)")
    parser.add_argument("--out", type=Path, help="folder for conformance.json/.md (default bench/results "
                                                 "for a full run, none with --filter)")
    opts = parser.parse_args(argv)

    suite = _suite()
    folders = sorted(f for f in suite.NODE_DIR.iterdir() if f.is_dir()) if suite.NODE_DIR.is_dir() else []
    found = len(folders)
    if opts.filter:
        folders = [f for f in folders if re.search(opts.filter, f.name)]
    infos = describe_all(folders)
    print(f"{found} node tests found in onnx {onnx.__version__} ({suite.NODE_DIR}); running {len(folders)}",
          file=sys.stderr)
    start = time.perf_counter()
    results = run_all(list(infos.values()), opts.jobs, opts.cc, opts.timeout)
    elapsed = time.perf_counter() - start

    meta = {"onnx": onnx.__version__, "aot_commit": commit(), "found": found, "ran": len(results),
            "filter": opts.filter, "cc": opts.cc, "cflags": suite.CFLAGS, "rtol": suite.RTOL, "atol": suite.ATOL,
            "max_opset": suite.MAX_OPSET, "jobs": opts.jobs, "timeout_s": opts.timeout,
            "elapsed_s": round(elapsed)}
    note = (f"onnx {meta['onnx']} node tests ({found} found, {len(results)} run), aot {meta['aot_commit']}, "
            f"{opts.cc} {suite.CFLAGS}, rtol {suite.RTOL:g} + atol {suite.ATOL:g}, "
            f"{elapsed:.0f} s with --jobs {opts.jobs}.")
    lines = ["# ONNX node-test conformance (`python bench/conformance.py`)", "", note, "",
             *summary_table(results), "", *worklist(results), "", "## Per op", "",
             "A test counts for the op it tests (an `_expanded` test for the op it expands).", "",
             *per_op_table(results)]
    print("\n".join(lines))
    out = opts.out or (None if opts.filter else ROOT / "bench" / "results")
    if out is not None:
        write_outputs(out, results, meta, lines)
        print(f"\nwrote {out / 'conformance.json'} and {out / 'conformance.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
