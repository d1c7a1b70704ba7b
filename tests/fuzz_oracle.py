"""What the fuzzer asserts of every model file (issue 9, item 8), shared by tests/test_fuzz.py, the
corpus replay (tests/test_fuzz_corpus.py) and long local runs:

* ``aot compile`` (in a forked child, under a time limit) returns 0 or 2, never raises nor crashes;
* exit 2: stderr is one ``aot: error: ...`` paragraph naming the model; no output folder, and no
  staging or backup folder (``.<out>.tmp-*``, ``.<out>.old-*``) is left beside it;
* exit 0: the folder builds with its own Makefile under clang's AddressSanitizer and
  UndefinedBehaviorSanitizer (-Werror stays on) and runs clean on random, NaN, infinite and extreme
  inputs in a driver process.

A failed check raises ``FuzzFailure`` whose ``kind`` sorts findings (the long runs group by it).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import re
import select
import signal
import subprocess
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

import aot.compiler
from aot.cli import main
from conftest import tiny_cnn_model
from sanitized_build import build_sanitized

INT_MAX = 2 ** 31 - 1
COMPILE_SECONDS = 30.0  # a tiny model compiles in well under a second; more is a hang
RUN_SECONDS = 60.0
# -O0: the fuzzer's models are tiny and mostly build time matters; the sanitizers work at any level.
FLAGS = "-O0 -g -fno-omit-frame-pointer -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all"


class FuzzFailure(AssertionError):
    def __init__(self, kind: str, detail: str):
        self.kind = kind
        super().__init__(f"{kind}: {detail}")


def _compile_here(model: Path, out: Path) -> dict:
    """The compile itself, in the forked child: its exit code and stderr, or the escaping exception."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy's overflow warnings while folding are not failures
            code = main(["compile", str(model), "-o", str(out)])
    except BaseException as exc:  # noqa: B036 -- reported to the parent, which fails the check
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        return {"exception": f"{type(exc).__name__} at {Path(tb.filename).name}:{tb.lineno}",
                "traceback": "".join(traceback.format_exception(exc))[-4000:]}
    return {"code": code, "stderr": err.getvalue()}


_warm = False


def _warm_up() -> None:
    """One compile in this process before the first fork: aot, onnx and numpy import much lazily (the
    writer, onnx's reference ops), and a child would pay for those imports on every model."""
    global _warm
    if not _warm:
        aot.compiler.compile_model(tiny_cnn_model())
        _warm = True


def compile_model_file(model: Path, out: Path, timeout: float = COMPILE_SECONDS) -> tuple[int, str]:
    """``aot compile model -o out`` in a forked child of this process (the imports are already done, so
    this costs milliseconds, and a crash inside a native library such as onnx's C++ is reported rather
    than killing the test run): (exit code, stderr). Raises FuzzFailure on an exception escaping main
    (the user would see a traceback), a crash, or running past ``timeout``."""
    _warm_up()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compile, send the result, leave without running the parent's cleanup
        os.close(read_end)
        try:
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(json.dumps(_compile_here(model, out)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:
            ready, _, _ = select.select([pipe], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise FuzzFailure("hang", f"aot compile ran for more than {timeout:.0f} s")
            chunk = pipe.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        raise FuzzFailure(f"crash {name}", f"aot compile died of {name} (a native library crashed)")
    result = json.loads(b"".join(chunks) or b"{}")
    if "exception" in result:
        raise FuzzFailure(f"traceback {result['exception']}", result["traceback"])
    return result["code"], result["stderr"]


# The one multi-line error: every blocker of an unsupported model, one indented line per op and reason
# under a summary line, then the hint (aot/errors.py unsupported_models_error).
BLOCKER_LIST = re.compile(r"aot: error: .* cannot be compiled; every blocker, by op:\n(  \S.*\n)+`aot ops` lists what "
                          r"each backend supports\.")


def check_refusal(model: Path, out: Path, stderr: str) -> None:
    text = stderr.strip()
    one_paragraph = "\n" not in text or BLOCKER_LIST.fullmatch(text) is not None
    if not text.startswith("aot: error: ") or not one_paragraph or "Traceback" in text:
        raise FuzzFailure("error message", f"not one 'aot: error:' paragraph:\n{stderr[-2000:]}")
    if str(model) not in text:
        raise FuzzFailure("error message", f"does not name the model file: {text[:500]}")
    check_no_leftovers(out)


def check_no_leftovers(out: Path) -> None:
    if out.exists():
        raise FuzzFailure("leftovers", f"{out} exists after a refused compile")
    staged = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    if staged:
        raise FuzzFailure("leftovers", f"staging folders left beside {out}: {staged}")


def random_inputs(meta: dict, seed: int = 0) -> tuple[bytes, int]:
    """Records for the driver: every input filled with normal, special (NaN, inf, denormal, huge) and
    extreme values in turn; integer inputs with random codes and their range's ends."""
    rng = np.random.default_rng(seed)
    records = []
    for mode in range(4):
        parts = []
        for spec in meta["inputs"]:
            n, dtype = max(spec["size"], 1), np.dtype(spec["dtype"])
            if dtype.kind == "f":
                specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40, 3e38, -3e38], dtype)
                values = [rng.standard_normal(n).astype(dtype), np.resize(specials, n),
                          np.full(n, np.nan, dtype), rng.choice([3e38, -3e38, 1e-45], n).astype(dtype)][mode]
            elif dtype.kind == "b":
                values = rng.integers(0, 2, n).astype(dtype)
            else:
                info = np.iinfo(dtype)
                values = [rng.integers(info.min, info.max, n, endpoint=True, dtype=dtype), np.full(n, info.min, dtype),
                          np.full(n, info.max, dtype), rng.integers(-2, 3, n).astype(dtype)][mode]
            parts.append(np.ascontiguousarray(values).tobytes())
        records.append(b"".join(parts))
    return b"".join(records), len(records)


def check_library(lib: Path, work: Path, cc: str = "clang") -> None:
    """Build ``lib`` under the sanitizers and run it on random and special inputs."""
    meta = json.loads((lib / "metadata.json").read_text())
    huge = [t["name"] for t in meta["inputs"] + meta["outputs"] if t["size"] > INT_MAX]
    if huge:  # C indexes with int: such a library cannot be right, and its driver would not link
        raise FuzzFailure("accepted huge tensor", f"inputs/outputs {huge} hold more than INT_MAX elements")
    try:
        exe = build_sanitized(lib, meta, cc, FLAGS, timeout=RUN_SECONDS)
    except AssertionError as exc:
        raise FuzzFailure("C build", str(exc)[-3000:]) from None
    except subprocess.TimeoutExpired:
        raise FuzzFailure("hang", "building the library took more than a minute") from None
    data, records = random_inputs(meta)
    (work / "in.bin").write_bytes(data)
    try:
        run = subprocess.run([str(exe), str(work / "in.bin"), str(work / "out.bin"), str(records)],
                             capture_output=True, text=True, timeout=RUN_SECONDS)
    except subprocess.TimeoutExpired:
        raise FuzzFailure("hang", f"the library ran for more than {RUN_SECONDS:.0f} s") from None
    if run.returncode != 0 or "runtime error" in run.stderr or "Sanitizer" in run.stderr:
        first = next((line for line in run.stderr.splitlines() if "runtime error" in line or "ERROR:" in line), "")
        raise FuzzFailure(f"sanitizer {first.split(': runtime error')[0].split('/')[-1][:60]}",
                          f"exit {run.returncode}\n{run.stderr[-3000:]}")
    expected = records * sum(max(o["size"], 1) * np.dtype(o["dtype"]).itemsize for o in meta["outputs"])
    size = (work / "out.bin").stat().st_size
    if size != expected:
        raise FuzzFailure("driver output", f"{size} bytes of outputs, expected {expected}")


def check_model_bytes(data: bytes, work: Path, *, build: bool = True, cc: str = "clang") -> str:
    """Every check on one model file written into the empty folder ``work``: 'accepted' or 'refused'."""
    model = work / "model.onnx"
    model.write_bytes(data)
    out = work / "out"
    code, stderr = compile_model_file(model, out)
    if code == 2:
        check_refusal(model, out, stderr)
        return "refused"
    if code != 0:
        raise FuzzFailure(f"exit code {code}", stderr[-2000:])
    if not (out / "metadata.json").is_file():
        raise FuzzFailure("output", f"exit 0 but {out} has no metadata.json")
    staged = [p.name for p in work.iterdir() if p.name.startswith(".out.")]
    if staged:
        raise FuzzFailure("leftovers", f"staging folders left after a successful compile: {staged}")
    if build:
        check_library(out, work, cc)
    return "accepted"
