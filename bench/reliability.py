"""Reliability figures: how aot behaves on bad, odd and hostile input, measured on this commit.

    python bench/reliability.py [--fuzz-examples 2000] [--jobs 2] [--models ../shared/models]

Runs the suites that probe reliability (each as its own pytest run, counting its test cases and
their outcomes), a longer fuzzer run than CI's (tests/fuzz_long.py on seeds CI does not use, counting
the generated models aot compiled and ran under the sanitizers, refused, or failed on), and a determinism
check: every shared model and the bundled example compiled twice in separate processes with
different hash seeds, every generated file compared byte for byte. Prints a markdown table and
writes bench/results/reliability.json.
"""
from __future__ import annotations

import argparse
import filecmp
import re
import json
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from shared_models import DEFAULT_MODELS, MODELS, REPO

# (row label, test files, what passing means)
SUITES = [
    ("Invalid models", ["tests/test_validation.py", "tests/test_bad_input.py"],
     "refused before any code: exit 2, one paragraph naming model/node/op/reason, nothing written"),
    ("Odd but valid models", ["tests/test_always_builds.py"],
     "compile, build with gcc and clang -Wall -Wextra -Werror, match ONNX Runtime"),
    ("Output folders, interrupts", ["tests/test_output_safety.py"],
     "user files kept, writes atomic, FIFOs/devices refused, Ctrl-C exits 130 quietly"),
    ("NaN / inf / extremes per op", ["tests/test_special_values.py"],
     "float kernels agree with ONNX Runtime on special values; no UB casts"),
    ("Sanitizers on real models", ["tests/test_sanitizers.py"],
     "ASan + UBSan (float-cast-overflow) clean on NaN, inf, denormal, extreme, random inputs"),
    ("Reentrancy", ["tests/test_reentrancy.py"],
     "two threads with their own arenas under ThreadSanitizer: no race, same results"),
    ("Fuzz corpus", ["tests/test_fuzz_corpus.py"],
     "every case the fuzzer ever found stays fixed"),
    ("Fuzzer in CI", ["tests/test_fuzz.py"],
     "fixed-seed shards of valid-looking and mutated models (the bounded run every CI does)"),
]


@dataclass
class SuiteResult:
    label: str
    files: list[str]
    meaning: str
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def run_suite(label: str, files: list[str], meaning: str, jobs: int, env: dict[str, str] | None = None) -> SuiteResult:
    result = SuiteResult(label, files, meaning)
    present = [f for f in files if (REPO / f).exists()]
    if not present:
        return result
    with tempfile.TemporaryDirectory(prefix="aot-rel-") as tmp:
        xml = Path(tmp) / "junit.xml"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-n", str(jobs), f"--junitxml={xml}", *present],
                       cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})})
        result.seconds = time.perf_counter() - start
        for case in ET.parse(xml).getroot().iter("testcase"):
            result.tests += 1
            if case.find("skipped") is not None:
                result.skipped += 1
            elif case.find("failure") is not None or case.find("error") is not None:
                result.failed += 1
            else:
                result.passed += 1
    return result


def fuzz(examples: int, jobs: int, seed: int) -> SuiteResult:
    """tests/fuzz_long.py in ``jobs`` processes: half of the examples valid-looking (every accepted one
    built and run under ASan+UBSan), half mutated or corrupted; counts of accepted, refused, failed."""
    result = SuiteResult(f"Fuzzer ({examples:,} generated models)", ["tests/fuzz_long.py"],
                         "exit 0 with C that builds (-Werror) and runs ASan/UBSan-clean, or exit 2 with one "
                         "paragraph and nothing left behind; never a traceback, crash or hang")
    per_job = max(examples // (2 * jobs), 1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aot-fuzz-") as tmp:
        runs = [[sys.executable, str(REPO / "tests" / "fuzz_long.py"), "--examples", str(per_job),
                 "--seed", str(seed + k), "--out", str(Path(tmp) / f"findings{k}")] + (["--valid-only"] if k % 2 else [])
                for k in range(2 * jobs)]
        totals: dict[str, int] = {}
        for batch in range(0, len(runs), jobs):
            procs = [subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                     for cmd in runs[batch:batch + jobs]]
            for proc in tqdm(procs, desc=f"fuzz batch {batch // jobs + 1}", file=sys.stderr):
                out, _ = proc.communicate()
                final = next((line for line in reversed(out.splitlines()) if line.startswith("final:")), "")
                for kind, count in re.findall(r"(FAIL [^,]+?|accepted|refused) (\d+)", final):
                    totals[kind] = totals.get(kind, 0) + int(count)
    result.seconds = time.perf_counter() - start
    failed = sum(v for k, v in totals.items() if k.startswith("FAIL"))
    result.tests = sum(totals.values())
    result.passed, result.failed = result.tests - failed, failed
    result.extra = {"examples": result.tests, "compiled": totals.get("accepted", 0),
                    "refused": totals.get("refused", 0), "failures": {k: v for k, v in totals.items() if k.startswith("FAIL")}}
    return result


def determinism(models_dir: Path) -> SuiteResult:
    """Each model compiled twice in fresh processes with different PYTHONHASHSEEDs; every file equal."""
    result = SuiteResult("Determinism", [], "byte-identical output folders from two processes with different hash seeds")
    sources = [(name, models_dir / rel) for name, rel in MODELS if (models_dir / rel).exists()]
    sources.append(("demo_cnn", REPO / "examples" / "demo_cnn.onnx"))
    sources = [(n, p) for n, p in sources if p.exists()]
    files_compared = 0
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="aot-det-") as tmp:
        for name, path in tqdm(sources, desc="determinism", file=sys.stderr):
            outs = []
            for seed in ("1", "2"):
                out = Path(tmp) / f"{name}-{seed}"
                proc = subprocess.run([sys.executable, "-m", "aot", "compile", str(path), "-o", str(out)],
                                      capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
                outs.append(out if proc.returncode == 0 else None)
            result.tests += 1
            if None in outs:
                result.failed += 1
                continue
            a, b = outs
            names = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
            same = names == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and \
                all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)
            files_compared += len(names)
            result.passed += same
            result.failed += not same
    result.seconds = time.perf_counter() - start
    result.extra = {"models": len(sources), "files_compared": files_compared}
    return result


def table(results: list[SuiteResult]) -> str:
    lines = ["| probe | cases | passed | failed | skipped | what passing means |", "|---|---:|---:|---:|---:|---|"]
    for r in results:
        extra = ""
        if r.extra.get("examples"):
            e = r.extra
            extra = (f" ({e.get('compiled', 0):,} compiled, built and run under ASan+UBSan; "
                     f"{e.get('refused', 0):,} refused with exit 2)")
        if "files_compared" in r.extra:
            extra = f" ({r.extra['models']} models, {r.extra['files_compared']} files compared)"
        lines.append(f"| {r.label} | {r.tests:,} | {r.passed:,} | {r.failed:,} | {r.skipped:,} | {r.meaning}{extra} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz-examples", type=int, default=2000)
    parser.add_argument("--fuzz-seed", type=int, default=1000, help="first seed (CI's shards use 0..7)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--models", type=Path, default=DEFAULT_MODELS)
    opts = parser.parse_args(argv)
    results = []
    for label, files, meaning in tqdm(SUITES, desc="suites", file=sys.stderr):
        results.append(run_suite(label, files, meaning, opts.jobs))
    results.append(fuzz(opts.fuzz_examples, opts.jobs, opts.fuzz_seed))
    results.append(determinism(opts.models))
    print(table(results))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    out = REPO / "bench" / "results" / "reliability.json"
    out.write_text(json.dumps({"commit": commit, "results": [asdict(r) for r in results]}, indent=2) + "\n")
    print(f"\ncommit {commit}; wrote {out.relative_to(REPO)}", file=sys.stderr)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
