"""The shared real models under AddressSanitizer and UndefinedBehaviorSanitizer (with float-cast-overflow):
each library is built with clang -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
and run in a small C driver process (an ASan library cannot be loaded into Python without LD_PRELOAD) on
NaN, infinities, denormals, extreme and random inputs. Any sanitizer report fails the run; special-value
results are compared with ONNX Runtime: the C output is NaN wherever ORT's is (it may have NaN where ORT
passes a NaN over in a MaxPool window, tests/test_special_values.py), and ordinary inputs agree.

Covered (about 30 s with -n 2): with clang, mnist float, sine float, ad01 float, mnist QDQ int8 (float input
quantized at the edge), kws int8 (int8 input: random and extreme codes); with gcc (same flags), mnist float
and mnist QDQ int8; mobilenet and the larger MLPerf models are left to
test_real_models (same kernels, ten times the build time under the sanitizers).
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from aot.compiler import compile_model, write_library
from aot.reference import run_reference

from conftest import require_tool
from sanitized_build import SANITIZE, build_sanitized

def float_modes(shape: list[int], rng: np.random.Generator) -> dict[str, np.ndarray]:
    size = int(np.prod(shape))
    normal = rng.standard_normal(size).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40, -1e-40, 3e38, -3e38, 1e30, -1e30], np.float32)
    sprinkled = normal.copy()
    where = rng.choice(size, size=max(1, size // 20), replace=False)
    sprinkled[where] = np.resize(specials, where.size)
    modes = {
        "random": normal,
        "uniform01": rng.uniform(0, 1, size).astype(np.float32),
        "nan": np.full(size, np.nan, np.float32),
        "one_nan": np.where(np.arange(size) == size // 2, np.float32(np.nan), normal).astype(np.float32),
        "inf": np.where(rng.random(size) < 0.5, np.inf, -np.inf).astype(np.float32),
        "plus_inf": np.full(size, np.inf, np.float32),
        "denormal": (rng.choice([-1, 1], size) * rng.uniform(1e-45, 1e-38, size)).astype(np.float32),
        "extreme": rng.choice([3.4e38, -3.4e38, 1e30, -1e30], size).astype(np.float32),
        "sprinkled": sprinkled,
    }
    return {k: v.reshape(shape) for k, v in modes.items()}


def int_modes(shape: list[int], dtype: str, rng: np.random.Generator) -> dict[str, np.ndarray]:
    info = np.iinfo(dtype)
    size = int(np.prod(shape))
    return {"random": rng.integers(info.min, info.max + 1, size).astype(dtype).reshape(shape),
            "min": np.full(shape, info.min, dtype), "max": np.full(shape, info.max, dtype),
            "alternating": np.where(np.arange(size) % 2, info.max, info.min).astype(dtype).reshape(shape)}


MODELS = ["mnist/model.onnx", "sine/model.onnx", "mlperf_tiny/ad01_fp32.onnx", "mnist/mnist-8_qdq_int8.onnx",
          "mlperf_tiny/kws_ref_model_int8.onnx"]


def sanitizer_compiler(name: str, tmp_path: Path) -> str:
    """The compiler; missing sanitizer runtimes fail the test (boards/install-toolchains.sh installs
    Debian's libclang-rt-14-dev, gcc brings libasan/libubsan)."""
    cc = require_tool(name)
    (tmp_path / "probe.c").write_text("int main(void) { return 0; }\n")
    probe = subprocess.run([cc, *SANITIZE.split(), str(tmp_path / "probe.c"), "-o", str(tmp_path / "probe")],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.fail(f"{name} cannot link sanitizer runtimes: run boards/install-toolchains.sh "
                    f"(libclang-rt-14-dev): {probe.stderr[-300:]}")
    return cc


@pytest.mark.parametrize("relative,compiler", [(m, "clang") for m in MODELS] + [(MODELS[0], "gcc"), (MODELS[3], "gcc")])
def test_real_model_under_sanitizers(relative, compiler, shared_model, tmp_path):
    cc = sanitizer_compiler(compiler, tmp_path)
    path = shared_model(relative)
    compiled = compile_model(path)
    lib_dir = write_library(compiled, tmp_path / "lib")
    meta = compiled.metadata
    exe = build_sanitized(lib_dir, meta, cc)
    rng = np.random.default_rng(0)
    (spec,) = meta["inputs"]  # the shared models have one input each
    modes = (float_modes(spec["shape"], rng) if spec["dtype"] == "float32"
             else int_modes(spec["shape"], spec["dtype"], rng))
    (tmp_path / "in.bin").write_bytes(b"".join(np.ascontiguousarray(v, spec["dtype"]).tobytes() for v in modes.values()))
    run = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), str(len(modes))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "runtime error" not in run.stderr and "Sanitizer" not in run.stderr, (
        f"{relative}: exit {run.returncode}\n{run.stderr[-3000:]}")
    raw = (tmp_path / "out.bin").read_bytes()
    out_specs = meta["outputs"]
    record = sum(o["size"] * np.dtype(o["dtype"]).itemsize for o in out_specs)
    assert len(raw) == record * len(modes)
    for k, (mode, x) in enumerate(modes.items()):
        pos, got = k * record, []
        for o in out_specs:
            n = o["size"] * np.dtype(o["dtype"]).itemsize
            got.append(np.frombuffer(raw[pos:pos + n], o["dtype"]).reshape(o["shape"]))
            pos += n
        with np.errstate(all="ignore"):
            ref = run_reference(path, {spec["onnx_name"]: x.astype(spec["dtype"])})
        for g, r in zip(got, ref):
            g = g.astype(np.float32)
            r = np.asarray(r).astype(np.float32).reshape(g.shape)
            if g.dtype.kind == "f" and spec["dtype"] == "float32" and out_specs[0]["dtype"] == "float32":
                assert not (np.isnan(r) & ~np.isnan(g)).any(), f"{relative} {mode}: ORT has NaN where C has not"
            if mode in ("random", "uniform01") and not np.isnan(r).any():
                scale = max(1.0, float(np.abs(r).max()))
                tol = 1e-3 * scale if spec["dtype"] == "float32" and out_specs[0]["dtype"] == "float32" else 0.15 * scale
                np.testing.assert_allclose(g, r, atol=tol, err_msg=f"{relative} {mode}")
    # int8 at the edge: NaN is quantized as -128, so the all-NaN input runs like the all -inf one
    if spec["dtype"] == "float32" and "qdq" in relative:
        nan_out = raw[list(modes).index("nan") * record:][:record]
        x = np.full(spec["shape"], -np.inf, np.float32)
        (tmp_path / "minf.bin").write_bytes(x.tobytes())
        run = subprocess.run([str(exe), str(tmp_path / "minf.bin"), str(tmp_path / "minf_out.bin"), "1"],
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr[-3000:]
        assert (tmp_path / "minf_out.bin").read_bytes() == nan_out
