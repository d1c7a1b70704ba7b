"""ONNX backend node-test conformance of the ref backend, as a markdown table per op.

Runs exactly what tests/test_onnx_conformance.py runs (same discovery, freezing, build and
tolerance) and counts a test for every op its model uses.

    python bench/conformance.py [--jobs N] [--cc gcc]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]


def _suite():
    name = "aot_conformance_suite"
    if name not in sys.modules:  # dataclasses look their module up in sys.modules
        spec = importlib.util.spec_from_file_location(name, ROOT / "tests" / "test_onnx_conformance.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _run(args: tuple[str, str]) -> tuple[str, list[str]]:
    name, cc = args
    suite = _suite()
    case = next(c for c in suite.CASES if c.name == name)
    with tempfile.TemporaryDirectory(prefix="aot-conf-") as tmp:
        try:
            return name, suite.run_case(case, Path(tmp), cc=cc)
        except Exception as exc:  # a compile or build error is a failure of that test, not of the run
            return name, [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cc", default="gcc")
    parser.add_argument("--verbose", action="store_true", help="print why each failing test failed")
    opts = parser.parse_args(argv)

    suite = _suite()
    cases = {c.name: c for c in suite.CASES}
    start = time.perf_counter()
    results: dict[str, list[str]] = {}
    with ProcessPoolExecutor(max_workers=max(opts.jobs, 1)) as pool:
        jobs = pool.map(_run, [(name, opts.cc) for name in cases])
        for name, problems in tqdm(jobs, total=len(cases), desc="node tests", file=sys.stderr):
            results[name] = problems
    elapsed = time.perf_counter() - start

    per_op: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # passed, failed, down-converted
    for name, problems in results.items():
        for op in cases[name].ops:
            per_op[op][0 if not problems else 1] += 1
            per_op[op][2] += cases[name].opset > suite.MAX_OPSET
    print(f"| op | applicable tests | passed | failed | of which opset > {suite.MAX_OPSET}, down-converted |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for op in sorted(per_op):
        ok, bad, newer = per_op[op]
        print(f"| {op} | {ok + bad} | {ok} | {bad} | {newer} |")
    passed = sum(1 for p in results.values() if not p)
    print()
    print(f"**{passed} of {len(results)} applicable node tests pass ({100.0 * passed / max(len(results), 1):.1f}%)**; "
          f"a test counts for every op its model uses; tests of opset > {suite.MAX_OPSET} run after "
          f"onnx.version_converter brings them to {suite.MAX_OPSET}. onnx {suite.onnx.__version__}, tolerance rtol "
          f"{suite.RTOL:g} + atol {suite.ATOL:g}, {opts.cc} {suite.CFLAGS}, {elapsed:.0f} s.")
    failed = sorted(n for n, p in results.items() if p)
    if failed:
        print()
        print("Failing: " + ", ".join(f"`{n}`" + (f" ({suite.KNOWN_FAILURES[n]})" if n in suite.KNOWN_FAILURES else "")
                                      for n in failed))
    if opts.verbose:
        for n in failed:
            print(f"- {n}: {'; '.join(results[n])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
