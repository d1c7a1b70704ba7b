"""ONNX backend node tests (shipped in the onnx<=1.22.0 wheel) compiled, built and run on the host.

A test is collected when its ops are all supported by the ref backend and its data tensors are
float32 or a narrow format (float16, bfloat16, float8, float4, int4, int2); its model runs at its own opset (aot reads opsets up to the installed onnx's newest; a
model newer still would be brought down by onnx.version_converter). Graph inputs that a kernel consumes at compile
time (Reshape shape, Slice starts, Pad pads, Clip bounds, BatchNormalization statistics...) are
frozen as constants; which ones follows from the kernels' ``static_inputs``, never from the test. A few
numbers given as a graph input (an axis, a size, a target shape) that an output shape depends on are fixed
too, as a user does with ``aot compile --fix-input`` (``compile_fixing_parameters``); data inputs never are.

Tolerance: outputs match the expected output_*.pb within rtol 1e-3 + atol 1e-5 (the node tests'
expected values come from numpy in float64/float32, so a tighter bound would measure numpy's rounding).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper, version_converter

from aot.backends.ref import REF
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import UnsupportedOpError
from aot.frontend.control_flow import COMPILE_TIME_INPUTS, EXPANDED_OPS
from aot.frontend.loader import MAX_OPSET
from aot.ir.formats import FORMATS, to_storage
from aot.targets.host import load

NODE_DIR = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
RTOL, ATOL = 1e-3, 1e-5
# Element types of collected tests' data: float32, and the narrow formats computed as float32/int8 with
# their bits at the graph boundary (aot/ir/formats.py)
DATA_TYPES = frozenset({onnx.TensorProto.FLOAT} | {f.elem_type for f in FORMATS.values()})
CFLAGS = "-O1"  # node tests are tiny: build time dominates, not run time

# Tests that are collected but still fail, with why. Each is xfail(strict=True): it fails the suite
# the day it starts passing, so the list cannot go stale.
KNOWN_FAILURES: dict[str, str] = {
    # Training-mode Dropout draws a random mask (numpy's generator in the expected data); the
    # kernel is inference-only and rejects training mode unless the ratio is 0.
    "test_training_dropout": "random training-mode Dropout is not compiled",
    "test_training_dropout_default": "random training-mode Dropout is not compiled",
    # align_corners when shrinking: ONNX Runtime maps output x to x * (in - 1) / (out - 1) with the whole
    # output length, the ONNX reference (and these expected outputs) with scale * in - 1; aot follows
    # ONNX Runtime, as for every float kernel (ORT gives [1, 4] where the test expects [1, 3.14]).
    "test_resize_downsample_scales_linear_align_corners": "ONNX Runtime's align_corners, not the reference's",
    "test_resize_downsample_scales_cubic_align_corners": "ONNX Runtime's align_corners, not the reference's",
}


@dataclass
class Case:
    name: str
    folder: Path
    opset: int
    ops: tuple[str, ...]
    freeze: tuple[str, ...]  # graph inputs frozen as constants
    data_sets: list[Path] = field(default_factory=list)


def default_opset(model: onnx.ModelProto) -> int:
    return max([o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] or [1])


@functools.lru_cache(maxsize=None)
def static_positions(op_type: str) -> frozenset[int]:
    """Input positions of ``op_type`` that every ref kernel for it (or the importer, for control
    flow it unrolls) reads at compile time."""
    if op_type in COMPILE_TIME_INPUTS:
        return COMPILE_TIME_INPUTS[op_type]
    sets = [set(k.static_inputs) for k in REF.kernels if op_type in k.op_types]
    return frozenset(set.intersection(*sets)) if sets else frozenset()


def inputs_to_freeze(model: onnx.ModelProto) -> list[str]:
    """Graph inputs used only where a kernel needs a compile-time constant."""
    inits = {i.name for i in model.graph.initializer}
    uses: dict[str, list[bool]] = {}
    for node in model.graph.node:
        static = static_positions(node.op_type)
        for pos, name in enumerate(node.input):
            if name:
                uses.setdefault(name, []).append(pos in static)
    return [i.name for i in model.graph.input if i.name not in inits and uses.get(i.name) and all(uses[i.name])]


def _elem_type(vi: onnx.ValueInfoProto) -> int:
    return vi.type.tensor_type.elem_type if vi.type.HasField("tensor_type") else 0


def load_case_model(folder: Path) -> onnx.ModelProto:
    """The test's model at an opset the frontend reads (down-converted when newer than 21)."""
    model = onnx.load(str(folder / "model.onnx"))
    if default_opset(model) > MAX_OPSET:
        model = version_converter.convert_version(model, MAX_OPSET)
    return model


def case_of(folder: Path, model: onnx.ModelProto | None = None) -> Case:
    """Any node test as a Case, supported or not (bench/conformance.py runs all of them)."""
    if model is None:
        model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    ops = tuple(sorted({n.op_type for n in model.graph.node}))
    return Case(folder.name, folder, default_opset(model), ops, tuple(inputs_to_freeze(model)),
                sorted(folder.glob("test_data_set_*")))


def describe(folder: Path, supported: set[str]) -> Case | None:
    """The test as a Case when it is applicable, else None."""
    model = onnx.load(str(folder / "model.onnx"), load_external_data=False)
    case = case_of(folder, model)
    if not case.ops or any(n.domain not in ("", "ai.onnx") for n in model.graph.node) or not set(case.ops) <= supported:
        return None
    inits = {i.name for i in model.graph.initializer}
    data_inputs = [i for i in model.graph.input if i.name not in inits and i.name not in case.freeze]
    if any(_elem_type(vi) not in DATA_TYPES for vi in data_inputs + list(model.graph.output)):
        return None
    if case.opset > MAX_OPSET:
        try:
            load_case_model(folder)
        except Exception:  # no down-conversion adapter for one of its ops: not runnable here
            return None
    return case if case.data_sets else None


def discover() -> list[Case]:
    if not NODE_DIR.is_dir():
        return []
    supported = set(REF.supported_ops()) | set(EXPANDED_OPS)  # control flow compiles by expansion at import
    return [c for c in (describe(f, supported) for f in sorted(NODE_DIR.iterdir()) if f.is_dir()) if c]


def read_tensors(data_set: Path, kind: str) -> list[np.ndarray]:
    files = sorted(data_set.glob(f"{kind}_*.pb"), key=lambda p: int(p.stem.split("_")[1]))
    return [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in files]


@dataclass
class Progress:
    """The step run_case is in, so a caller that catches its exception knows which step failed."""
    stage: str = "convert"
    fixed: list[str] = field(default_factory=list)  # inputs fixed because an output shape depends on them


# A graph input is a parameter (an axis, a size, a frame length, a target shape) rather than data when it
# holds a few numbers; only parameters are fixed at compile time when an output shape depends on them, as a
# user does with `aot compile --fix-input`. Data inputs (NonMaxSuppression's boxes, Unique's values) are not.
MAX_PARAMETER_VALUES = 8


def is_parameter(value: np.ndarray) -> bool:
    return value.size <= MAX_PARAMETER_VALUES and (value.ndim == 0 or np.issubdtype(value.dtype, np.integer))


def compile_fixing_parameters(model: onnx.ModelProto, values: dict[str, np.ndarray], frozen: dict[str, np.ndarray],
                              progress: Progress):
    """compile_model with ``frozen`` inputs, fixing parameter inputs that decide an output shape as well."""
    while True:
        shapes = {n: v.shape for n, v in values.items() if n not in frozen}
        try:
            return compile_model(model, CompileOptions(freeze_inputs=frozen, input_shapes=shapes)), frozen
        except UnsupportedOpError as exc:
            deciding = {i for b in exc.blockers for i in b.deciding_inputs}
            more = sorted(i for i in deciding if i not in frozen and i in values and is_parameter(values[i]))
            if not more:
                raise
            progress.fixed.extend(more)
            frozen = {**frozen, **{i: values[i] for i in more}}


def mismatch(got: np.ndarray, want: np.ndarray, exact: bool = False) -> str | None:
    """Why ``got`` is not the expected output, or None. Floats within rtol + atol; other types exactly.
    Narrow float formats (float16, bfloat16, float8, float4) bit for bit when ``exact`` (the output of a
    Cast, which rounds once; NaN payloads aside), else within the tolerance like float32."""
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    if got.dtype != want.dtype:  # a conforming library returns the declared element type
        return f"dtype {got.dtype}, expected {want.dtype}"
    fmt = FORMATS.get(want.dtype.name)
    if fmt is not None and fmt.is_float:
        nan = np.isnan(want.astype(np.float32))
        if exact:
            same = (to_storage(got) == to_storage(want)) | (np.isnan(got.astype(np.float32)) & nan)
            return None if same.all() else f"{int(np.sum(~same))} of {want.size} {fmt.name} codes differ"
        got, want = got.astype(np.float32), want.astype(np.float32)
    if not np.issubdtype(want.dtype, np.floating):
        return None if np.array_equal(got, want) else f"{int(np.sum(got != want))} of {want.size} values differ"
    if np.allclose(got, want, rtol=RTOL, atol=ATOL, equal_nan=True):
        return None
    err = np.abs(got.astype(np.float64) - want)
    return f"max abs error {np.nanmax(err):.3g}"


def run_case(case: Case, workdir: Path, cc: str = "gcc", progress: Progress | None = None) -> list[str]:
    """Compile, build and run one node test on each data set; the mismatches found (empty: pass)."""
    progress = progress or Progress()
    progress.stage = "convert"
    model = load_case_model(case.folder)
    inits = {i.name for i in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in inits]
    problems: list[str] = []
    built: dict[bytes, object] = {}
    for data_set in case.data_sets:
        progress.stage = "read data"
        values = dict(zip(input_names, read_tensors(data_set, "input")))
        frozen = {n: values[n] for n in case.freeze + tuple(progress.fixed)}
        key = b"".join(v.tobytes() + str(v.shape).encode() for v in frozen.values())
        if key not in built:  # data sets that freeze other values need their own library
            # The data set's shapes are the static shapes (some models leave dimensions symbolic).
            progress.stage = "compile"
            compiled, frozen = compile_fixing_parameters(model, values, frozen, progress)
            lib = write_library(compiled, workdir / f"lib{len(built)}")
            progress.stage = "build"
            built[key] = load(lib, cc=cc, cflags=CFLAGS)
        host = built[key]
        progress.stage = "run"
        outputs = host.run({n: v for n, v in values.items() if n not in frozen})
        progress.stage = "compare"
        expected = read_tensors(data_set, "output")
        if len(outputs) != len(expected):
            problems.append(f"{data_set.name}: {len(outputs)} outputs, expected {len(expected)}")
            continue
        exact = set(case.ops) <= {"Cast", "CastLike"}  # casts round once: their results are exact
        for idx, (got, want) in enumerate(zip(outputs, expected)):
            why = mismatch(got, want, exact)
            if why:
                problems.append(f"{data_set.name} output {idx}: {why}")
    return problems


CASES = discover()


def _param(case: Case):
    marks = []
    if case.name in KNOWN_FAILURES:
        marks.append(pytest.mark.xfail(reason=KNOWN_FAILURES[case.name], strict=True))
    return pytest.param(case, id=case.name, marks=marks)


def test_cases_were_found():
    assert NODE_DIR.is_dir(), f"{NODE_DIR} is missing: install onnx<=1.22.0, whose wheel ships the node tests"
    assert len(CASES) > 100, f"only {len(CASES)} applicable node tests found"
    assert not set(KNOWN_FAILURES) - {c.name for c in CASES}, "KNOWN_FAILURES names tests that are not collected"


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_node(case: Case, tmp_path: Path) -> None:
    problems = run_case(case, tmp_path)
    assert not problems, (f"{case.name} ({', '.join(case.ops)}, opset {case.opset}, {case.folder}): " +
                          "; ".join(problems))
