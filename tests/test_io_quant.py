"""Quantized inputs and outputs made visible to a firmware (docs/io.md): model.h's per-I/O dtype, scale,
zero point and layout macros, its quantize/dequantize helpers (exactly the golden model's rounding and
saturation), the float API of ``--io float``, the label table of ``--labels``, metadata.json's fields,
and what ``aot run`` prints about the outputs."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.float_api import check_float_api
from aot.flows.quant_check import input_quant
from aot.flows.output_summary import describe_outputs, format_outputs
from aot.quant.golden_runner import run_golden
from aot.quant.kernel_params import ort_quantize
from aot.targets.host import build_shared, load

from conftest import REPO, make_model, require_tool

IN_SCALE, IN_ZP = 0.25, 3  # a power of two: x / scale is exact, so ties really are ties
OUT_SCALE, OUT_ZP = 0.0731, -5
# Labels C must escape: quotes, backslashes, a trigraph, UTF-8.
LABELS = ["cat", 'say "hi"', "back\\slash", "what??=", "café", "日本"] + [f"class {i}" for i in range(6, 16)]


def nhwc_int8_model() -> onnx.ModelProto:
    """tf2onnx's shape: an int8 NHWC image -> Transpose to NCHW -> DQ -> 1x1 Conv -> Q -> Reshape -> [1, 16]."""
    rng = np.random.default_rng(0)
    inits = {"s_in": np.float32(IN_SCALE), "z_in": np.int8(IN_ZP), "w": rng.integers(-127, 128, (4, 2, 1, 1)).astype(np.int8),
             "ws": np.float32(0.02), "wz": np.int8(0), "s_out": np.float32(OUT_SCALE), "z_out": np.int8(OUT_ZP),
             "shape": np.array([1, 16], np.int64)}
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             helper.make_node("DequantizeLinear", ["xt", "s_in", "z_in"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"]),
             helper.make_node("Conv", ["xf", "wf"], ["y"], name="conv"),
             helper.make_node("QuantizeLinear", ["y", "s_out", "z_out"], ["yq"]),
             helper.make_node("Reshape", ["yq", "shape"], ["out"])]
    return make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 2, 2, 2])],
                      [helper.make_tensor_value_info("out", TensorProto.INT8, [1, 16])], inits, name="nhwc_int8")


def plain_edges_model(in_type: int, out_type: int, in_zp, out_zp) -> onnx.ModelProto:
    """Integer codes in and out around float arithmetic (plain Q/DQ kernels): uint8, int16, uint16 edges."""
    inits = {"s": np.float32(0.013), "z": in_zp, "so": np.float32(0.5), "zo": out_zp}
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
             helper.make_node("Relu", ["xf"], ["r"]),
             helper.make_node("QuantizeLinear", ["r", "so", "zo"], ["y"])]
    return make_model(nodes, [helper.make_tensor_value_info("x", in_type, [1, 8])],
                      [helper.make_tensor_value_info("y", out_type, [1, 8])], inits, name="plain_edges", opset=21)


@pytest.fixture(scope="module")
def int8_lib(tmp_path_factory):
    """The NHWC int8 model with --io float and labels, in the arena, built with gcc (-Werror)."""
    proto = nhwc_int8_model()
    compiled = compile_model(proto, CompileOptions(io_api="float", labels=LABELS))
    lib = write_library(compiled, tmp_path_factory.mktemp("io") / "lib")
    return proto, compiled, lib, build_shared(lib, "gcc")


def macros(header: Path) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+)$", header.read_text(), re.M))


# -- model.h and metadata.json ------------------------------------------------------------------------
def test_model_h_and_metadata_give_dtype_scale_zero_point_layout(int8_lib):
    _, compiled, lib, _ = int8_lib
    m = macros(lib / "model.h")
    assert m["MODEL_INPUT_0_DTYPE"] == '"int8"' and m["MODEL_INPUT_0_DTYPE_CODE"] == str(TensorProto.INT8)
    # The scale sits on the tensor after the Transpose; the layout comes back through the Transpose.
    assert float(m["MODEL_INPUT_0_SCALE"].rstrip("f")) == IN_SCALE and m["MODEL_INPUT_0_ZERO_POINT"] == str(IN_ZP)
    assert m["MODEL_INPUT_0_LAYOUT"] == '"NHWC"' and m["MODEL_INPUT_0_QUANTIZED"] == "1"
    assert np.float32(m["MODEL_OUTPUT_0_SCALE"].rstrip("f")) == np.float32(OUT_SCALE)
    assert m["MODEL_OUTPUT_0_ZERO_POINT"] == str(OUT_ZP)  # found back through the Reshape
    assert m["MODEL_NUM_LABELS"] == str(len(LABELS))
    meta = json.loads((lib / "metadata.json").read_text())
    (x,), (y,) = meta["inputs"], meta["outputs"]
    assert (x["dtype"], x["scale"], x["zero_point"], x["layout"]) == ("int8", IN_SCALE, IN_ZP, "NHWC")
    assert (y["dtype"], np.float32(y["scale"]), y["zero_point"]) == ("int8", np.float32(OUT_SCALE), OUT_ZP)
    assert y["labels"] == LABELS


def test_float_edges_have_null_scale_and_a_layout_through_quantize_linear():
    """ONNX Runtime's quantizer style: float in and out, Q/DQ inside."""
    rng = np.random.default_rng(1)
    inits = {"s": np.float32(0.02), "z": np.int8(0), "w": rng.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8),
             "ws": np.float32(0.01), "so": np.float32(0.05)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["xq"]),
             helper.make_node("DequantizeLinear", ["xq", "s", "z"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "z"], ["wf"]),
             helper.make_node("Conv", ["xf", "wf"], ["c"], name="conv"),
             helper.make_node("QuantizeLinear", ["c", "so", "z"], ["cq"]),
             helper.make_node("DequantizeLinear", ["cq", "so", "z"], ["y"])]
    proto = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 3, 3])], inits)
    compiled = compile_model(proto)
    (x,), (y,) = compiled.metadata["inputs"], compiled.metadata["outputs"]
    assert (x["dtype"], x["scale"], x["zero_point"], x["layout"]) == ("float32", None, None, "NCHW")
    assert (y["scale"], y["zero_point"]) == (None, None)
    assert macros_text(compiled.files["model.h"])["MODEL_INPUT_0_QUANTIZED"] == "0"
    assert "MODEL_INPUT_0_SCALE" not in compiled.files["model.h"] and "run_float" not in compiled.files["model.h"]
    with_float_api = compile_model(proto, CompileOptions(io_api="float"))
    assert "int model_run_float(const float* x, float* y);" in with_float_api.files["model.h"]
    assert any("no input or output of this model is quantized" in n for n in with_float_api.graph.notes)


def macros_text(text: str) -> dict[str, str]:
    return dict(re.findall(r"^#define (\w+) (.+)$", text, re.M))


# -- the quantize/dequantize helpers against the golden model's numpy ------------------------------
def edge_values(scale: float, zp: int, lo: int, hi: int) -> np.ndarray:
    """Ties (k + 0.5 on both sides of 0 and of the saturation bounds), saturation, 2^16 around the early
    exit, infinities, NaN, signed zeros, and random values over the range."""
    s = np.float32(scale)
    k = np.arange(-6, 7)
    levels = np.concatenate([k + 0.5, k, lo - zp + np.array([-1.5, -0.5, 0.5]), hi - zp + np.array([-0.5, 0.5, 1.5]),
                             [65535.5, 65536, 65537, -65535.5, -65536, -65537, 1e9, -1e9]])
    rng = np.random.default_rng(2)
    special = np.array([np.inf, -np.inf, np.nan, -np.nan, 0.0, -0.0, 1e-30, -1e-30, 3e38, -3e38], np.float32)
    random = rng.uniform((lo - zp - 3) * scale, (hi - zp + 3) * scale, 200).astype(np.float32)
    return np.concatenate([(levels * s).astype(np.float32), special, random])


def numpy_quantize(x: np.ndarray, scale: float, zp: int, lo: int, hi: int) -> np.ndarray:
    """QuantizeLinear as the plain kernels compute it: float32 division, half to even, saturate, NaN -> lo."""
    with np.errstate(all="ignore"):
        r = np.rint(x.astype(np.float32) / np.float32(scale)) + np.float32(zp)
    return np.where(np.isnan(r), lo, np.clip(r, lo, hi)).astype(np.int64)


SHIM = """#include "model.h"
void quantize_all(const float* x, {ct}* q, int n) {{ int i; for (i = 0; i < n; ++i) q[i] = model_{kind}_0_quantize(x[i]); }}
void dequantize_all(const {ct}* q, float* x, int n) {{ int i; for (i = 0; i < n; ++i) x[i] = model_{kind}_0_dequantize(q[i]); }}
"""


def build_shim(lib: Path, kind: str, ctype: str, cc: str, out: Path) -> ctypes.CDLL:
    src = out.with_suffix(".c")
    src.write_text(SHIM.format(ct=ctype, kind=kind))
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2", "-ffp-contract=off", "-shared",
                    "-fPIC", "-I", str(lib), str(src), "-o", str(out)], check=True, capture_output=True, text=True)
    return ctypes.CDLL(str(out))


def check_helpers(lib: Path, spec: dict, kind: str, cc: str, tmp: Path, golden=None) -> None:
    np_type = np.dtype(spec["dtype"])
    ct = f"{spec['dtype']}_t"
    shim = build_shim(lib, kind, ct, cc, tmp / f"shim_{kind}_{spec['dtype']}_{cc}.so")
    lo, hi = spec["qmin"], spec["qmax"]
    x = edge_values(spec["scale"], spec["zero_point"], lo, hi)
    got = np.zeros(x.size, np_type)
    shim.quantize_all(x.ctypes.data_as(ctypes.c_void_p), got.ctypes.data_as(ctypes.c_void_p), x.size)
    want = numpy_quantize(x, spec["scale"], spec["zero_point"], lo, hi)
    np.testing.assert_array_equal(got.astype(np.int64), want)
    if golden is not None:  # int8: the golden model's own quantize
        np.testing.assert_array_equal(got, golden(x, spec["scale"], spec["zero_point"]))
    codes = np.arange(lo, hi + 1).astype(np_type)
    real = np.zeros(codes.size, np.float32)
    shim.dequantize_all(codes.ctypes.data_as(ctypes.c_void_p), real.ctypes.data_as(ctypes.c_void_p), codes.size)
    want_real = (codes.astype(np.int32) - spec["zero_point"]).astype(np.float32) * np.float32(spec["scale"])
    np.testing.assert_array_equal(real, want_real)


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_int8_helpers_round_and_saturate_like_the_golden_model(int8_lib, cc, tmp_path):
    require_tool(cc)
    _, compiled, lib, _ = int8_lib
    meta = compiled.metadata
    check_helpers(lib, meta["inputs"][0], "input", cc, tmp_path, golden=ort_quantize)
    check_helpers(lib, meta["outputs"][0], "output", cc, tmp_path, golden=ort_quantize)


def test_uint8_int16_uint16_helpers_match_numpy(tmp_path):
    for in_type, out_type, in_zp, out_zp in ((TensorProto.UINT8, TensorProto.INT16, np.uint8(131), np.int16(-300)),
                                             (TensorProto.INT16, TensorProto.UINT16, np.int16(-7), np.uint16(1000))):
        compiled = compile_model(plain_edges_model(in_type, out_type, in_zp, out_zp))
        lib = tmp_path / f"lib{in_type}"
        lib.mkdir()
        for name in ("model.h", "aot_layer.h"):  # the helpers are header-only; model.h includes aot_layer.h
            (lib / name).write_text(compiled.files[name])
        (x,), (y,) = compiled.metadata["inputs"], compiled.metadata["outputs"]
        assert (x["scale"], x["zero_point"], y["zero_point"]) == (float(np.float32(0.013)), int(in_zp), int(out_zp))
        check_helpers(lib, x, "input", "gcc", tmp_path)
        check_helpers(lib, y, "output", "gcc", tmp_path)


def test_uint8_edges_of_int8_layers_shift_the_zero_point():
    """uint8 codes become int8 inside (aot/quant/uint8_qdq.py): the caller's zero point stays the uint8 one."""
    rng = np.random.default_rng(3)
    inits = {"s": np.float32(0.03), "z": np.uint8(131), "w": rng.integers(-127, 128, (2, 2, 1, 1)).astype(np.int8),
             "ws": np.float32(0.01), "wz": np.int8(0), "so": np.float32(0.05), "zo": np.uint8(123)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
             helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"]),
             helper.make_node("Conv", ["xf", "wf"], ["c"], name="conv"),
             helper.make_node("QuantizeLinear", ["c", "so", "zo"], ["y"])]
    proto = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.UINT8, [1, 2, 3, 3])],
                       [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 2, 3, 3])], inits)
    compiled = compile_model(proto)
    (x,), (y,) = compiled.metadata["inputs"], compiled.metadata["outputs"]
    assert (x["dtype"], x["zero_point"], x["layout"]) == ("uint8", 131, "NCHW")
    assert (y["dtype"], y["zero_point"]) == ("uint8", 123)
    # Float data given for the uint8 input (aot verify/run --input) is quantized with the same parameters.
    q = input_quant(compiled.graph, compiled.graph.inputs[0])
    assert (float(q.scale[0]), int(q.zero_point[0])) == (float(np.float32(0.03)), 131)


# -- the float API ---------------------------------------------------------------------------------------
def float_inputs(n: int = 4) -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    s = np.float32(IN_SCALE)
    ties = ((rng.integers(-140, 140, (1, 2, 2, 2)) + 0.5 - IN_ZP) * s).astype(np.float32)
    return [rng.uniform(-40, 40, (1, 2, 2, 2)).astype(np.float32), ties,
            np.array([1e30, -1e30, np.nan, 0.0, -0.0, 31.9, -32.9, 0.125], np.float32).reshape(1, 2, 2, 2)][:n]


def call_float(so: Path, x: np.ndarray) -> np.ndarray:
    lib = ctypes.CDLL(str(so))
    out = np.zeros((1, 16), np.float32)
    status = lib.model_run_float(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p))
    assert status == 0
    return out


def expected_float(compiled, x: np.ndarray) -> np.ndarray:
    """quantize (golden) -> golden int8 model -> dequantize, in Python."""
    q = ort_quantize(x, IN_SCALE, IN_ZP)
    (y,) = run_golden(compiled.graph, [q])
    return (y.astype(np.int32) - OUT_ZP).astype(np.float32) * np.float32(OUT_SCALE)


def test_run_float_in_the_arena_equals_quantize_run_dequantize(int8_lib):
    _, compiled, _, so = int8_lib
    for x in float_inputs():
        np.testing.assert_array_equal(call_float(so, x), expected_float(compiled, x))


def test_run_float_with_separate_buffers_builds_with_clang(tmp_path):
    require_tool("clang")
    compiled = compile_model(nhwc_int8_model(), CompileOptions(io_api="float", io_buffers="separate"))
    so = build_shared(write_library(compiled, tmp_path / "lib"), "clang")
    assert "model_float_input_0[8]" in compiled.files["model.c"]  # the quantized copy the caller does not hold
    for x in float_inputs(3):
        np.testing.assert_array_equal(call_float(so, x), expected_float(compiled, x))


def test_labels_reach_c_unchanged(int8_lib):
    _, _, _, so = int8_lib
    table = (ctypes.c_char_p * len(LABELS)).in_dll(ctypes.CDLL(str(so)), "model_labels")
    assert [v.decode("utf-8") for v in table] == LABELS


def test_wrong_label_count_is_a_clear_error_and_writes_nothing(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    onnx.save(nhwc_int8_model(), model)
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    code = main(["compile", str(model), "-o", str(tmp_path / "out"), "--labels", str(tmp_path / "labels.txt")])
    err = capsys.readouterr().err
    assert code == 2 and "3 labels, but output 0 'out' [1, 16] has 16 classes" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    (tmp_path / "holes.txt").write_text("a\n\nb\n")
    assert main(["compile", str(model), "-o", str(tmp_path / "out"), "--labels", str(tmp_path / "holes.txt")]) == 2
    assert "line 2" in capsys.readouterr().err and not (tmp_path / "out").exists()


# -- what aot run prints --------------------------------------------------------------------------------
def test_output_summary_dequantizes_and_ranks_with_labels(int8_lib):
    _, compiled, _, _ = int8_lib
    specs = compiled.metadata["outputs"]
    codes = np.array([[-5, 100, -128, 127, 0, 3, 127, -7, 9, 10, 11, 12, 13, 14, 15, 16]], np.int8)
    (entry,) = describe_outputs(specs, [codes])
    want = (codes.astype(np.int32) - OUT_ZP).astype(np.float32) * np.float32(OUT_SCALE)
    assert entry["values"] == codes.reshape(-1).tolist()
    assert entry["dequantized"] == want.reshape(-1).tolist()
    assert [(t["index"], t["label"]) for t in entry["top"]] == [(3, "what??="), (6, "class 6"), (1, 'say "hi"'),
                                                                  (15, "class 15"), (14, "class 14")]
    text = format_outputs([entry])
    assert "#3 what??= (" in text and "scale 0.0731, zero point -5" in text
    json.dumps(entry, allow_nan=False)  # the JSON document stays standard JSON


def test_aot_run_json_reports_board_outputs_dequantized_with_labels(tmp_path, capsys):
    """One real run under QEMU (the smallest model and board): the document parses, its outputs are the
    board's (checked bit-exact against the host and the golden model by aot run itself) and they are
    dequantized with the output's scale and ranked with the labels."""
    require_tool("qemu-system-arm")
    model, labels = tmp_path / "m.onnx", tmp_path / "labels.txt"
    onnx.save(nhwc_int8_model(), model)
    labels.write_text("\n".join(LABELS) + "\n", encoding="utf-8")
    x = float_inputs(1)[0]
    np.save(tmp_path / "x.npy", ort_quantize(x, IN_SCALE, IN_ZP))
    code = main(["run", str(model), "--board", "cortex-m3", "--json", "--labels", str(labels),
                 "--input", str(tmp_path / "x.npy")])
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert code == 0 and doc["ok"] and doc["board"] == "cortex-m3"
    (entry,) = doc["outputs"]
    codes = np.array(entry["values"])
    want = (codes.astype(np.int32) - OUT_ZP).astype(np.float32) * np.float32(OUT_SCALE)
    assert entry["dequantized"] == want.tolist()
    np.testing.assert_array_equal(entry["dequantized"], expected_float(compile_model(nhwc_int8_model()), x).reshape(-1))
    best = int(np.argmax(want))
    assert entry["top"][0]["index"] == best and entry["top"][0]["label"] == LABELS[best]
    assert doc["instructions"] > 0 and doc["memory"]["arena_bytes"] > 0


@pytest.mark.parametrize("io_buffers", ["arena", "separate"])
def test_run_float_passes_float_inputs_and_outputs_through(io_buffers, tmp_path):
    """int8 x and float f in, int8 y and float sum out: only x and y are converted."""
    inits = {"s": np.float32(0.1), "z": np.int8(2), "so": np.float32(0.2), "zo": np.int8(-1)}
    nodes = [helper.make_node("DequantizeLinear", ["x", "s", "z"], ["xf"]),
             helper.make_node("Add", ["xf", "f"], ["sum"], name="add"),
             helper.make_node("QuantizeLinear", ["sum", "so", "zo"], ["y"])]
    proto = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.INT8, [1, 4]),
                               helper.make_tensor_value_info("f", TensorProto.FLOAT, [1, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.INT8, [1, 4]),
                        helper.make_tensor_value_info("sum", TensorProto.FLOAT, [1, 4])], inits, name="mixed")
    compiled = compile_model(proto, CompileOptions(io_api="float", io_buffers=io_buffers, allow_float_fallback=True))
    lib = ctypes.CDLL(str(build_shared(write_library(compiled, tmp_path / "lib"), "gcc")))
    x = np.array([[0.25, -13.0, 1e9, np.nan]], np.float32)
    f = np.array([[1.0, 0.5, -2.0, 0.125]], np.float32)
    y, total = np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32)
    ptr = [a.ctypes.data_as(ctypes.c_void_p) for a in (x, f, y, total)]
    assert lib.model_run_float(*ptr) == 0
    xq = ort_quantize(x, 0.1, 2)
    yq, want_total = np.zeros((1, 4), np.int8), np.zeros((1, 4), np.float32)
    assert lib.model_run(*[a.ctypes.data_as(ctypes.c_void_p) for a in (xq, f, yq, want_total)]) == 0
    np.testing.assert_array_equal(total, want_total)
    np.testing.assert_array_equal(y, (yq.astype(np.int32) + 1).astype(np.float32) * np.float32(0.2))


def test_verify_io_float_checks_run_float_and_catches_a_wrong_one(int8_lib, tmp_path, capsys):
    proto, compiled, _, _ = int8_lib
    samples = [[np.random.default_rng(i).integers(-128, 128, (1, 2, 2, 2)).astype(np.int8)] for i in range(3)]
    (good,) = check_float_api(compiled, samples, cc="gcc")
    assert good.ok and good.against == "float API" and good.total == 48
    # A float API dequantizing with another zero point is caught.
    header = compiled.files["model.h"].replace(f"(int32_t)q - ({OUT_ZP})", f"(int32_t)q - ({OUT_ZP - 1})")
    assert header != compiled.files["model.h"]
    broken = dataclasses.replace(compiled, files={**compiled.files, "model.h": header})
    (bad,) = check_float_api(broken, samples, cc="gcc")
    assert bad.mismatches == 48
    model = tmp_path / "m.onnx"
    onnx.save(proto, model)
    assert main(["verify", str(model), "--io", "float", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"out\s+float API\s+1x16 .* 0 of 32\s+ok", out), out


# -- the README's firmware snippet ----------------------------------------------------------------------
def readme_snippet() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Use it in your firmware"):]
    return section[section.index("```c\n") + 5:section.index("```\n", section.index("```c\n") + 5)]


def test_readme_firmware_snippet_builds_and_classifies(int8_lib, tmp_path):
    """The snippet of README's "Use it in your firmware", compiled as written against a library with
    int8 input and output (-Wall -Wextra -Werror), picks the class the host library's scores pick and
    gives its dequantized score."""
    _, compiled, lib, _ = int8_lib
    meta = compiled.metadata
    (x_spec,), (y_spec,) = meta["inputs"], meta["outputs"]
    features = np.random.default_rng(9).uniform(-20, 20, x_spec["size"]).astype(np.float32)
    main = tmp_path / "main.c"
    main.write_text(readme_snippet() + "\n#include <stdio.h>\nint main(void)\n{\n    static const float x[] = {"
                    + ", ".join(f"{v!r}f" for v in features.tolist()) + "};\n    float p = 0.0f;\n"
                    "    int best = classify(x, &p);\n    printf(\"%d %.9g\\n\", best, (double)p);\n    return 0;\n}\n")
    sources = [str(lib / s) for s in meta["library"]["sources"]]
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-I", str(lib), str(main), *sources,
                    "-o", str(tmp_path / "snippet")], check=True)
    best, p = subprocess.run([str(tmp_path / "snippet")], capture_output=True, text=True, check=True).stdout.split()
    codes = numpy_quantize(features, x_spec["scale"], x_spec["zero_point"], -128, 127)
    scores = load(lib).run([codes.reshape(x_spec["shape"])])[0].reshape(-1)
    assert int(best) == int(np.argmax(scores))
    assert float(p) == pytest.approx(y_spec["scale"] * (int(scores.max()) - y_spec["zero_point"]), rel=1e-6)
