"""Compile, build, run on the host and compare with ONNX Runtime (and expected test data)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
from onnx import numpy_helper

from ..compiler import CompiledModel, CompileOptions, compile_model, write_library
from ..errors import AotError
from ..ir.formats import narrow_format
from .criteria import FLOAT_SAMPLES, INT8_SAMPLES, Criteria
from .input_files import input_samples
from .quant_check import QuantCheck, check_quantized, is_quantized
from ..reference import reference_name, run_reference
from ..targets.host import HostModel, load


@dataclass
class OutputCheck:
    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    mismatches: int
    against: str  # "onnxruntime", "onnx-ref" (the ONNX reference evaluator) or "expected"
    total: int = 0  # elements compared (over every sample)

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


@dataclass
class VerifyReport:
    checks: list[OutputCheck] = field(default_factory=list)
    lib_dir: Path | None = None
    atol: float = 1e-4
    rtol: float = 1e-4
    quant: "QuantCheck | None" = None
    samples: int = 1  # inputs the float outputs were compared on

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks) and (self.quant is None or self.quant.ok())

    def failures(self) -> list[str]:
        """The criteria not met, in words."""
        failed = [f"{c.name} vs {c.against}: {c.mismatches:,} of {c.total:,} elements beyond tolerance"
                  for c in self.checks if not c.ok]
        return failed + (self.quant.failures() if self.quant is not None else [])

    def table(self) -> str:
        if self.quant is not None:
            return self.quant.table() + (("\n" + self._float_table()) if self.checks else "")
        return self._float_table()

    def _float_table(self) -> str:
        rows = [f"samples: {self.samples}",
                f"{'output':<28} {'against':<12} {'shape':<16} {'max abs err':>12} {'max rel err':>12} "
                f"{'bad of compared':>20}  result"]
        for c in self.checks:
            bad = f"{c.mismatches:,} of {c.total:,}"
            rows.append(f"{c.name[:28]:<28} {c.against:<12} {'x'.join(map(str, c.shape)) or 'scalar':<16} "
                        f"{c.max_abs:>12.3g} {c.max_rel:>12.3g} {bad:>20}  {'ok' if c.ok else 'FAIL'}")
        rows.append(f"tolerance: |c - ref| <= {self.atol:g} + {self.rtol:g} * |ref|")
        if any(c.against == "float API" for c in self.checks):
            rows.append("float API: run_float(x) == dequantize(run(quantize(x))) bit for bit (--io float)")
        return "\n".join(rows)


def compare(name: str, got: np.ndarray, ref: np.ndarray, atol: float, rtol: float, against: str) -> OutputCheck:
    got = np.asarray(got)
    ref = np.asarray(ref).reshape(got.shape)
    if narrow_format(got.dtype.name) is not None and not narrow_format(got.dtype.name).is_float:
        got, ref = got.astype(np.int8), ref.astype(np.int8)  # int4/int2: compared as the integers they are
    if got.dtype.kind in "iub" and ref.dtype.kind in "iub":
        diff = np.abs(got.astype(np.int64) - ref.astype(np.int64)).astype(np.float64)
        bad = int(np.count_nonzero(diff > atol))
        scale = np.abs(ref.astype(np.float64))
    else:
        g, r = got.astype(np.float64), ref.astype(np.float64)
        diff = np.abs(g - r)
        scale = np.abs(r)
        bad = int(np.count_nonzero(~np.isclose(g, r, atol=atol, rtol=rtol, equal_nan=True)))
    rel = diff / np.maximum(scale, 1e-12)
    return OutputCheck(name, tuple(got.shape), float(np.nanmax(diff, initial=0.0)),
                       float(np.nanmax(np.where(scale > 0, rel, 0.0), initial=0.0)), bad, against, int(got.size))


def random_inputs(model: HostModel, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for spec in model.inputs:
        dtype = np.dtype(spec["dtype"])
        fmt = narrow_format(spec["dtype"])  # bfloat16, float8, int4...: ml_dtypes kinds are "V"
        if dtype.kind == "f" or (fmt is not None and fmt.is_float):
            value = rng.standard_normal(spec["shape"]).astype(dtype)
        elif dtype == np.bool_:
            value = rng.integers(0, 2, spec["shape"]).astype(dtype)
        else:
            info = ml_dtypes.iinfo(dtype) if fmt is not None else np.iinfo(dtype)
            value = rng.integers(max(info.min, -128), min(info.max, 127) + 1, spec["shape"]).astype(dtype)
        feeds[spec["onnx_name"]] = value
    return feeds


def load_test_data(folder: Path) -> tuple[list[str], list[np.ndarray]]:
    """An ONNX test_data_set folder: input_*.pb files and the expected output_*.pb arrays."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AotError(f"test data folder '{folder}' does not exist")
    inputs = sorted(folder.glob("input_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    outputs = sorted(folder.glob("output_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    return [str(p) for p in inputs], [numpy_helper.to_array(onnx.load_tensor(str(p))) for p in outputs]


def verify_model(model_path: str | Path, *, options: CompileOptions | None = None, inputs: list[str] | None = None,
                 test_data: Path | None = None, seed: int = 0, atol: float = 1e-4, rtol: float = 1e-4,
                 cc: str = "cc", cflags: str = "-O2", keep_dir: Path | None = None, samples: int | None = None,
                 progress: bool = False, criteria: Criteria | None = None) -> VerifyReport:
    """Float models: every output within atol + rtol * |ref| of ONNX Runtime (and of --test-data's
    expected outputs) on ``samples`` random inputs, or on the given ones. Int8 models: ``criteria``."""
    compiled = compile_model(model_path, options)
    if samples is not None and samples < 1:
        raise AotError(f"--samples must be at least 1, got {samples}")
    if is_quantized(compiled.graph):
        report = _verify_quantized(model_path, compiled, options, inputs, seed, cc, cflags, samples or INT8_SAMPLES,
                                   keep_dir, progress, criteria)
        if compiled.options.io_api == "float":  # --io float: run_float against run, bit for bit
            from .float_api import check_float_api, float_api_samples
            batches = float_api_samples(compiled, inputs, seed, str(model_path), samples or INT8_SAMPLES)
            report.checks += check_float_api(compiled, batches, cc, cflags)
            report.samples = len(batches)
        return report
    with tempfile.TemporaryDirectory(prefix="aot-verify-") as tmp:
        lib_dir = write_library(compiled, keep_dir or Path(tmp) / "lib", force=False)
        model = load(lib_dir, cc=cc, cflags=cflags)
        expected: list[np.ndarray] = []
        if test_data is not None:
            paths, expected = load_test_data(test_data)
            batches = _by_name(input_samples(paths, compiled.graph, str(model_path)), compiled.graph)
        elif inputs:
            batches = _by_name(input_samples(inputs, compiled.graph, str(model_path)), compiled.graph)
        else:
            batches = [random_inputs(model, seed + i) for i in range(samples or FLOAT_SAMPLES)]
        got = _stacked([model.run(feeds) for feeds in batches])
        ref = _stacked([run_reference(model_path, {**compiled.graph.fixed_inputs, **feeds}) for feeds in batches])
        report = VerifyReport(lib_dir=lib_dir if keep_dir else None, atol=atol, rtol=rtol, samples=len(batches))
        oracle = reference_name(model_path)
        for spec, g, r in zip(model.outputs, got, ref):
            report.checks.append(compare(spec["onnx_name"], g, r, atol, rtol, oracle))
        for spec, g, e in zip(model.outputs, got, expected):
            report.checks.append(compare(spec["onnx_name"], g, e, atol, rtol, "expected"))
        if compiled.options.io_api == "float":
            from .float_api import check_float_api
            order = [spec["onnx_name"] for spec in model.inputs]
            report.checks += check_float_api(compiled, [[feeds[n] for n in order] for feeds in batches], cc, cflags)
        return report


def _by_name(samples: list[list[np.ndarray]], graph) -> list[dict[str, np.ndarray]]:
    """Per sample, the arrays keyed by input name (what the host model and the reference take)."""
    names = [graph.tensors[i].onnx_name or i for i in graph.inputs]
    return [dict(zip(names, sample)) for sample in samples]


def _stacked(runs: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Per output, the results of every sample stacked (one sample: the result itself, so the shape
    in the report stays the output's)."""
    if len(runs) == 1:
        return [np.asarray(a) for a in runs[0]]
    return [np.stack([np.asarray(r[i]) for r in runs]) for i in range(len(runs[0]))]


def _verify_quantized(model_path: str | Path, compiled: CompiledModel, options: CompileOptions | None,
                      inputs: list[str] | None, seed: int, cc: str, cflags: str, samples: int, keep_dir: Path | None,
                      progress: bool, criteria: Criteria | None) -> VerifyReport:
    """Integer models: C against the golden model bit for bit, and against ONNX Runtime in LSB."""
    batches = input_samples(inputs, compiled.graph, str(model_path)) if inputs else None
    check = check_quantized(model_path, options=options, samples=samples, inputs=batches, seed=seed, cc=cc,
                            cflags=cflags, progress=progress, criteria=criteria)
    if keep_dir is not None:
        write_library(compiled, keep_dir)
    return VerifyReport(quant=check, lib_dir=keep_dir)
