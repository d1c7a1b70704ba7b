"""The generated C is clean under -std=c99 -Wall -Wextra -Wcast-align=strict -Wsign-conversion
-Wconversion -Wshadow -Werror: gcc and clang on the host (ref, x86-avx2, x86-sse4, cmsis-nn glue),
arm-none-eabi-gcc (and clang) for cortex-m4 (arm-dsp) and cortex-m55 (helium), compile only
(tests/strict_build.py).

The models are the op-family builders of the other tests (int8 Conv/pool/Gemm variants of every
instruction-set backend, a float model chaining most ref kernels) and a few shared real models. A
probe file checks that the flags really reach the compiler: each flag's warning is reported.
tests/strict_sweep.py runs the broader sweep by hand (every configuration, all shared models, ONNX
node tests)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from aot.compiler import CompileOptions, compile_model, write_library
from conftest import SHARED_MODELS, require_tool, tiny_cnn_model
from strict_build import compile_strict, warnings_by_flag

NHWC = {"desired_layouts": {"Conv": ["NHWC", "OHWI"]}, "layout_skip_layers": [0, 1, 2, 3]}
CMSIS_NN = SHARED_MODELS.parent / "third_party" / "CMSIS-NN"


def _isa() -> onnx.ModelProto:
    from test_isa_backends import isa_model
    return isa_model().proto()


def _x86_int8() -> onnx.ModelProto:
    from test_x86_int8 import x86_model
    return x86_model().proto()


def _mixed() -> onnx.ModelProto:
    from test_ops_float import mixed_model
    return mixed_model().proto()


def _cmsis_usual() -> onnx.ModelProto:
    from test_cmsis_nn import usual_layers
    return usual_layers(np.random.default_rng(3)).proto()


def _shared(relative: str):
    def load() -> onnx.ModelProto | str:
        path = SHARED_MODELS / relative
        if not path.exists():
            pytest.skip(f"shared model {path} is missing")
        return str(path)
    return load


# id -> (model, board, compile options, compilers)
CASES = {
    "ref-float": (_mixed, "host", {}, ("gcc", "clang")),
    "ref-int8": (_x86_int8, "host", {}, ("gcc", "clang")),
    "ref-io-separate": (tiny_cnn_model, "host", {"io_buffers": "separate"}, ("gcc", "clang")),
    "x86-avx2": (_x86_int8, "host-avx2", {}, ("gcc", "clang")),
    "x86-avx2-float": (_mixed, "host-avx2", {}, ("clang",)),
    "x86-sse4": (_x86_int8, "host-sse4", {}, ("gcc", "clang")),
    "arm-dsp": (_isa, "cortex-m4", NHWC, ("gcc", "clang")),
    "arm-dsp-int16": (_x86_int8, "cortex-m4", {"backend_options": {"arm-dsp": {"weights": "int16"}}}, ("gcc",)),
    "helium": (_isa, "cortex-m55", NHWC, ("gcc", "clang")),
    "cmsis-nn": (_cmsis_usual, "host", {"backends": ["cmsis-nn", "ref"]}, ("gcc",)),
    "kws-int8-arm-dsp": (_shared("mlperf_tiny/kws_ref_model_int8.onnx"), "cortex-m4", {}, ("gcc",)),
    "ad-float": (_shared("mlperf_tiny/ad01_fp32.onnx"), "host", {}, ("clang",)),
}
PARAMS = [pytest.param(case, cc, id=f"{case}-{cc}") for case, (_, _, _, ccs) in CASES.items() for cc in ccs]


@pytest.fixture(scope="module")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each case's library, compiled once for all its compilers."""
    return {"root": tmp_path_factory.mktemp("strict")}


def _library(libraries: dict, case: str) -> Path:
    if case not in libraries:
        build, board, extra, _ = CASES[case]
        extra = dict(extra)
        if "cmsis-nn" in extra.get("backends", []):
            if not CMSIS_NN.is_dir():
                pytest.skip(f"CMSIS-NN not found at {CMSIS_NN}")
            extra["backend_options"] = {"cmsis-nn": {"path": str(CMSIS_NN)}}
        compiled = compile_model(build(), CompileOptions(board=board, **extra))
        libraries[case] = write_library(compiled, libraries["root"] / case)
    return libraries[case]


@pytest.mark.parametrize("case, cc", PARAMS)
def test_generated_c_is_clean_under_strict_warnings(case, cc, libraries):
    board = CASES[case][1]
    require_tool("arm-none-eabi-gcc" if board.startswith("cortex") and cc == "gcc" else cc)
    lib = _library(libraries, case)
    proc = compile_strict(lib, board, cc)
    assert proc.returncode == 0 and not warnings_by_flag(proc.stderr), \
        f"{case} ({board}, {cc}): {dict(warnings_by_flag(proc.stderr))}\n{proc.stderr[:6000]}"


PROBE = """#include <stdint.h>
int32_t probe_cast_align(const int8_t* p) { return *(const int32_t*)p; }
int8_t probe_conversion(int32_t x) { return x; }
uint32_t probe_sign_conversion(int32_t x) { return x; }
int probe_shadow(int x) { int r = x; { int r = 2; x += r; } return r + x; }
"""


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_every_strict_flag_reaches_the_compiler(cc, libraries):
    """A file breaking each rule once, compiled by the same command: each flag reports it (and
    -Werror fails the build), so a clean library is clean because of its code, not of the command."""
    require_tool(cc)
    lib = libraries["root"] / f"probe-{cc}"
    lib.mkdir()
    (lib / "metadata.json").write_text('{"prefix": "probe"}')
    (lib / "probe.c").write_text(PROBE)
    proc = compile_strict(lib, "host", cc)
    assert proc.returncode != 0
    flags = set(warnings_by_flag(proc.stderr))
    # clang names -Wconversion's narrowing by its member flag, -Wimplicit-int-conversion
    conversion = "-Wimplicit-int-conversion" if cc == "clang" else "-Wconversion"
    assert flags == {"-Wcast-align", conversion, "-Wsign-conversion", "-Wshadow"}, proc.stderr
