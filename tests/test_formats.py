"""Narrow number formats: runtime_c/aot_formats.h against its numpy twin aot/ir/formats.py (ml_dtypes and
onnx's reference Cast, the oracle of the ONNX node tests), exhaustively over every code of each format and
over a dense sample of float32 values; then compiled models with float16 I/O against ONNX Runtime."""
from __future__ import annotations

import ctypes
import subprocess
from pathlib import Path

import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.ir.formats import FORMATS, decode, encode, from_storage, round_to, to_storage
from aot.targets.host import load

RUNTIME = Path(__file__).resolve().parents[1] / "runtime_c"
FLOAT_FORMATS = [f for f in FORMATS.values() if f.is_float]
INT_FORMATS = [f for f in FORMATS.values() if not f.is_float]


@pytest.fixture(scope="module")
def clib(tmp_path_factory) -> ctypes.CDLL:
    """The header's functions over arrays, built with -Wall -Wextra -Werror."""
    lines = ['#include "aot_formats.h"']
    for f in FLOAT_FORMATS:
        s, store = f.c_suffix, "uint16_t" if f.storage == "uint16" else "uint8_t"
        lines.append(f"void dec_{s}(const uint32_t* c, float* y, int n) "
                     f"{{ for (int i = 0; i < n; ++i) y[i] = aot_decode_{s}(({store})c[i]); }}")
        enc = "aot_encode_e8m0_mode(x[i], sat, mode)" if s == "e8m0" else f"aot_encode_{s}(x[i], sat)"
        lines.append(f"void enc_{s}(const float* x, uint32_t* c, int n, int sat, int mode) "
                     f"{{ (void)mode; for (int i = 0; i < n; ++i) c[i] = {enc}; }}")
        lines.append(f"void encd_{s}(const double* x, uint32_t* c, int n, int sat) "
                     f"{{ for (int i = 0; i < n; ++i) c[i] = aot_encode_{s}(aot_f32_round_odd(x[i]), sat); }}")
    for f in INT_FORMATS:
        s = f.c_suffix
        lines.append(f"void trunc_{s}(const float* x, int32_t* c, int n) "
                     f"{{ for (int i = 0; i < n; ++i) c[i] = aot_trunc_{s}(x[i]); }}")
        lines.append(f"void wrap_{s}(const int64_t* x, int32_t* c, int n) "
                     f"{{ for (int i = 0; i < n; ++i) c[i] = aot_wrap_{s}((uint64_t)x[i]); }}")
    folder = tmp_path_factory.mktemp("formats")
    (folder / "f.c").write_text("\n".join(lines) + "\n")
    so = folder / "libf.so"
    subprocess.run(["gcc", "-O1", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC", f"-I{RUNTIME}",
                    str(folder / "f.c"), "-o", str(so)], check=True)
    return ctypes.CDLL(str(so))


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def _c_decode(lib, fmt, codes: np.ndarray) -> np.ndarray:
    codes = np.ascontiguousarray(codes, np.uint32)
    out = np.zeros(codes.size, np.float32)
    getattr(lib, f"dec_{fmt.c_suffix}")(_ptr(codes), _ptr(out), codes.size)
    return out


def _c_encode(lib, fmt, x: np.ndarray, saturate: bool, mode: int = 0) -> np.ndarray:
    x = np.ascontiguousarray(x, np.float32)
    out = np.zeros(x.size, np.uint32)
    getattr(lib, f"enc_{fmt.c_suffix}")(_ptr(x), _ptr(out), x.size, int(saturate), mode)
    return out


def _same_bits_or_both_nan(got: np.ndarray, want: np.ndarray, fmt) -> np.ndarray:
    """Codes equal, or both NaN (ONNX leaves NaN payloads open)."""
    g, w = from_storage(got.astype(fmt.storage), fmt).astype(np.float32), from_storage(want, fmt).astype(np.float32)
    return (got.astype(np.int64) == want.astype(np.int64)) | (np.isnan(g) & np.isnan(w))


@pytest.mark.parametrize("fmt", FLOAT_FORMATS, ids=lambda f: f.name)
def test_decode_every_code(clib, fmt):
    codes = np.arange(2 ** (16 if fmt.storage == "uint16" else 8), dtype=np.uint32)
    if fmt.c_suffix == "e2m1":
        codes = codes[:16]
    got = _c_decode(clib, fmt, codes)
    want = decode(codes.astype(fmt.storage), fmt)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))  # -0 included
    # and back: every non-NaN code is its own encoding (saturating turns infinities into the largest
    # finite value; E8M0 rounds 2^-127, a float32 subnormal, up unless round_mode is "down")
    mode = 1 if fmt.c_suffix == "e8m0" else 0
    for saturate in (False, True):
        keep = ~nan & ~(saturate & np.isinf(got)) if fmt.is_float8 else ~nan
        back = _c_encode(clib, fmt, got[keep], saturate, mode)
        assert np.array_equal(back, codes[keep]), fmt.name


def _float32_sample() -> np.ndarray:
    """Every float32 whose low 13 bits take one of a few values (all exponents, signs, rounding ties and
    their neighbours for every format) plus specials."""
    high = np.arange(2 ** 19, dtype=np.uint32) << 13
    lows = np.array([0, 1, 0x7FF, 0x800, 0x801, 0xFFF, 0x1000, 0x1001, 0x1FFF], np.uint32)
    bits = (high[:, None] | lows[None, :]).reshape(-1)
    return bits.view(np.float32)


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("fmt", FLOAT_FORMATS, ids=lambda f: f.name)
def test_encode_matches_onnx_cast(clib, fmt, saturate):
    x = _float32_sample()
    modes = ["up", "down", "nearest"] if fmt.c_suffix == "e8m0" else ["up"]
    for mode_index, mode in enumerate(modes):
        got = _c_encode(clib, fmt, x, saturate, mode_index)
        want = encode(x, fmt, saturate=saturate, round_mode=mode)
        if fmt.c_suffix == "e2m1":
            want = want & 0xF
        ok = _same_bits_or_both_nan(got, want, fmt)
        if fmt.c_suffix == "e8m0":
            ok |= np.signbit(x)  # negative values are undefined for E8M0
        bad = np.flatnonzero(~ok)
        assert bad.size == 0, (f"{fmt.name} saturate={saturate} {mode}: {bad.size} differ, e.g. "
                               f"{x[bad[:4]].tolist()} -> {got[bad[:4]].tolist()} != {want[bad[:4]].tolist()}")


@pytest.mark.parametrize("fmt", [f for f in FLOAT_FORMATS if f.c_suffix != "e8m0"], ids=lambda f: f.name)
def test_encode_from_double_rounds_once(clib, fmt):
    """float64 -> format goes through float32 rounded to odd: no double rounding at ties."""
    rng = np.random.default_rng(0)
    f = from_storage(np.arange(2 ** (16 if fmt.storage == "uint16" else 8)).astype(fmt.storage), fmt).astype(np.float64)
    f = f[np.isfinite(f)]
    f = np.unique(f)
    mid = (f[:-1] + f[1:]) / 2  # exact ties and values a hair beside them
    x = np.ascontiguousarray(np.concatenate([mid, np.nextafter(mid, np.inf), np.nextafter(mid, -np.inf),
                                             rng.normal(0, 10, 1000)]))
    out = np.zeros(x.size, np.uint32)
    clib[f"encd_{fmt.c_suffix}"](_ptr(x), _ptr(out), x.size, 1)
    want = encode(x, fmt, saturate=True)
    if fmt.c_suffix == "e2m1":
        want = want & 0xF
    assert _same_bits_or_both_nan(out, want, fmt).all()


@pytest.mark.parametrize("fmt", INT_FORMATS, ids=lambda f: f.name)
def test_small_integers(clib, fmt):
    x = np.concatenate([np.arange(-40, 40, 0.25, dtype=np.float32), np.float32([np.nan, np.inf, -np.inf, 1e30])])
    got = np.zeros(x.size, np.int32)
    clib[f"trunc_{fmt.c_suffix}"](_ptr(x), _ptr(got), x.size)
    assert got.tolist() == encode(x, fmt).astype(np.int32).tolist()
    ints = np.arange(-300, 300, dtype=np.int64)
    got = np.zeros(ints.size, np.int32)
    clib[f"wrap_{fmt.c_suffix}"](_ptr(ints), _ptr(got), ints.size)
    assert got.tolist() == encode(ints, fmt).astype(np.int32).tolist()


def test_special_values():
    """The ONNX Cast tables, spelled out (the oracle itself, so a change of it shows here)."""
    e4m3fn, e5m2 = FORMATS["float8_e4m3fn"], FORMATS["float8_e5m2"]
    specials = np.float32([np.inf, -np.inf, 1e6, -0.0])
    assert encode(specials, e4m3fn).tolist() == [0x7E, 0xFE, 0x7E, 0x80]  # saturate: +-448
    assert np.isnan(round_to(specials[:3], e4m3fn, saturate=False)).all()
    assert round_to(specials, e5m2, saturate=False)[:2].tolist() == [np.inf, -np.inf]
    assert encode(np.float32([-0.0]), FORMATS["float8_e4m3fnuz"]).tolist() == [0]  # no -0
    assert round_to(np.float32([65520.0, 2.0 ** -24, 2.0 ** -25]), FORMATS["float16"]).tolist() == \
        [np.inf, 2.0 ** -24, 0.0]  # overflow to inf, smallest subnormal, half of it rounds to even (0)


# -- compiled models with narrow-format I/O -------------------------------------------------------------

def _model(nodes, inputs, outputs, opset=21, initializers=()):
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                              [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs],
                              initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _build(model, tmp_path):
    return load(write_library(compile_model(model, CompileOptions()), tmp_path / "lib"), cc="gcc",
                cflags="-O1 -Wall -Wextra -Werror")


def test_cast_chain_with_float16_io(tmp_path):
    """float16 in -> float8 (saturating and not) -> bfloat16 -> int4 -> float16 out, every step against
    the ONNX reference evaluator."""
    F16, F = TensorProto.FLOAT16, TensorProto.FLOAT
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=F),
             helper.make_node("Mul", ["a", "k"], ["b"]),
             helper.make_node("Cast", ["b"], ["c"], to=TensorProto.FLOAT8E4M3FN, saturate=0),
             helper.make_node("Cast", ["b"], ["d"], to=TensorProto.FLOAT8E5M2),
             helper.make_node("Cast", ["c"], ["e"], to=TensorProto.BFLOAT16),
             helper.make_node("Cast", ["d"], ["f"], to=TensorProto.INT4),
             helper.make_node("Cast", ["e"], ["y"], to=F16),
             helper.make_node("Cast", ["f"], ["z"], to=F16)]
    k = onnx.numpy_helper.from_array(np.float32([3.0]), "k")
    model = _model(nodes, [("x", F16, [64])], [("y", F16, [64]), ("z", F16, [64]), ("c", TensorProto.FLOAT8E4M3FN, [64])],
                   initializers=[k])
    x = np.concatenate([np.linspace(-200, 200, 60), [np.inf, -np.inf, np.nan, -0.0]]).astype(np.float16)
    from onnx.reference import ReferenceEvaluator
    reference = ReferenceEvaluator(model)
    want = reference.run(None, {"x": x})
    # float -> int4 out of range: the node tests' wrap-around, not the installed ml_dtypes' 0 (formats.py)
    d = reference.run(["d"], {"x": x})[0]
    want[1] = from_storage(encode(d.astype(np.float32), FORMATS["int4"]), FORMATS["int4"]).astype(np.float16)
    got = _build(model, tmp_path).run({"x": x})
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        bits = to_storage(g).astype(np.int64) == to_storage(w).astype(np.int64)
        assert (bits | (np.isnan(g.astype(np.float32)) & np.isnan(w.astype(np.float32)))).all(), (g, w)


def test_float16_matmul_matches_onnxruntime(tmp_path):
    """A float16 model (MatMul + Add + Relu, float16 weights): computed in float32, rounded at the output;
    ONNX Runtime computes in float16 (rounding between ops), so they agree within float16 precision."""
    ort = pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(1)
    w = onnx.numpy_helper.from_array(rng.normal(0, 0.3, (16, 8)).astype(np.float16), "w")
    b = onnx.numpy_helper.from_array(rng.normal(0, 0.3, (8,)).astype(np.float16), "b")
    F16 = TensorProto.FLOAT16
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    model = _model(nodes, [("x", F16, [4, 16])], [("y", F16, [4, 8])], opset=17, initializers=[w, b])
    x = rng.normal(0, 1, (4, 16)).astype(np.float16)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = _build(model, tmp_path).run({"x": x})[0]
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3)
    exact = (x.astype(np.float32) @ onnx.numpy_helper.to_array(w).astype(np.float32) +
             onnx.numpy_helper.to_array(b).astype(np.float32))
    assert np.array_equal(got, np.maximum(exact, 0).astype(np.float16))  # float32 math, one rounding


def test_bfloat16_and_int4_graph_io(tmp_path):
    """Inputs and outputs of other narrow formats exchange their bits: bfloat16 in uint16_t, int4 in int8_t."""
    BF16, I4 = TensorProto.BFLOAT16, TensorProto.INT4
    nodes = [helper.make_node("Cast", ["x"], ["y"], to=I4), helper.make_node("Cast", ["i"], ["z"], to=BF16)]
    model = _model(nodes, [("x", BF16, [6]), ("i", I4, [6])], [("y", I4, [6]), ("z", BF16, [6])])
    lib = write_library(compile_model(model, CompileOptions()), tmp_path / "lib")
    header = (lib / "model.h").read_text()
    assert "const uint16_t* x" in header and "const int8_t* i" in header and "int8_t* y" in header
    x = np.array([-9.5, -3.7, 0.5, 2.2, 7.9, 100], ml_dtypes.bfloat16)
    i = np.array([-8, -1, 0, 1, 6, 7], ml_dtypes.int4)
    y, z = load(lib, cc="gcc", cflags="-O1 -Wall -Wextra -Werror").run({"x": x, "i": i})
    assert y.dtype == np.dtype(ml_dtypes.int4) and z.dtype == np.dtype(ml_dtypes.bfloat16)
    assert y.astype(int).tolist() == encode(x, FORMATS["int4"]).tolist()
    assert z.astype(np.float32).tolist() == i.astype(np.float32).tolist()


def test_export_spells_in_graph_rounding_as_two_casts():
    """The IR computes a Cast to float8 in float32; exported, it is the Cast to float8 and back, so ONNX
    Runtime (calibration, aot inspect) runs the model and agrees with the source model."""
    from aot.frontend.importer import import_onnx
    from aot.ir.export import to_onnx
    from aot.reference import run_reference
    pytest.importorskip("onnxruntime")
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=TensorProto.FLOAT),
             helper.make_node("Cast", ["a"], ["b"], to=TensorProto.FLOAT8E4M3FN),
             helper.make_node("Cast", ["b"], ["c"], to=TensorProto.FLOAT), helper.make_node("Add", ["c", "z"], ["y"])]
    model = _model(nodes, [("x", TensorProto.FLOAT16, [4]), ("z", TensorProto.FLOAT, [4])], [("y", TensorProto.FLOAT, [4])])
    exported = to_onnx(import_onnx(model))
    onnx.checker.check_model(exported, full_check=True)
    feeds = {"x": np.array([1.1, 300, -2, 1000], np.float16), "z": np.ones(4, np.float32)}
    assert np.array_equal(run_reference(exported, feeds)[0], run_reference(model, feeds)[0])


@pytest.mark.parametrize("elem_type, zero_points", [
    (TensorProto.FLOAT8E4M3FN, [0, 0, 0]), (TensorProto.FLOAT8E5M2, [0, 0, 0]), (TensorProto.FLOAT4E2M1, [0, 0, 0]),
    (TensorProto.INT4, [1, -2, 0]), (TensorProto.UINT2, [1, 2, 0])])
def test_narrow_quantize_dequantize_per_axis(tmp_path, elem_type, zero_points):
    """QuantizeLinear to float8/float4/int4/int2 then DequantizeLinear, per-axis scales and zero points,
    against the ONNX reference: the import spells them as float ops (Div, Round, Clip to the format's
    range, Cast; Cast, Sub, Mul), computed in float32; values beyond the range saturate."""
    from onnx.reference import ReferenceEvaluator
    F = TensorProto.FLOAT
    scale = onnx.numpy_helper.from_array(np.float32([0.5, 2.0, 0.125]), "s")
    zero = helper.make_tensor("zp", elem_type, [3], zero_points)
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], axis=1),
             helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], axis=1)]
    model = _model(nodes, [("x", F, [2, 3, 4])], [("y", F, [2, 3, 4]), ("q", elem_type, [2, 3, 4])],
                   initializers=[scale, zero])
    x = np.random.default_rng(2).normal(0, 40, (2, 3, 4)).astype(np.float32)
    want = ReferenceEvaluator(model).run(None, {"x": x})
    got = _build(model, tmp_path).run({"x": x})
    assert np.array_equal(got[0], want[0])
    assert np.array_equal(to_storage(got[1]), to_storage(want[1]))


def test_bitcast_of_a_narrow_format_is_refused_with_the_reason():
    """The IR holds float16 widened, so reinterpreting its bits cannot be compiled: a clear refusal,
    never a silent reinterpretation of float32 bits."""
    from aot.errors import AotError
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.UINT16)
    model = _model([node], [("x", TensorProto.FLOAT16, [5])], [("y", TensorProto.UINT16, [5])], opset=26)
    with pytest.raises(AotError, match="BitCast from or to float16"):
        compile_model(model, CompileOptions())


def test_a_float16_input_that_is_also_an_output(tmp_path):
    """The input's bits are decoded for the graph and encoded again for the output of the same name."""
    F16 = TensorProto.FLOAT16
    model = _model([helper.make_node("Identity", ["x"], ["y"])], [("x", F16, [3])], [("y", F16, [3]), ("x", F16, [3])])
    x = np.array([1.5, -2, np.inf], np.float16)
    y, x_out = _build(model, tmp_path).run({"x": x})
    assert to_storage(y).tolist() == to_storage(x).tolist() == to_storage(x_out).tolist()


@pytest.mark.parametrize("io_type", [TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.INT4])
def test_aot_verify_with_narrow_io(tmp_path, capsys, io_type):
    """aot verify feeds random values of the format and compares with the ONNX reference evaluator where
    ONNX Runtime's Python API cannot exchange the type."""
    from aot.cli import main
    F = TensorProto.FLOAT
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=F), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Cast", ["r"], ["y"], to=io_type)]
    path = tmp_path / "narrow.onnx"
    onnx.save(_model(nodes, [("x", io_type, [2, 3])], [("y", io_type, [2, 3])]), str(path))
    assert main(["verify", str(path)]) == 0, capsys.readouterr().err
    assert "verify: PASS" in capsys.readouterr().out


@pytest.mark.parametrize("board, io_type", [("cortex-m3", TensorProto.FLOAT16), ("riscv32", TensorProto.INT4)])
def test_narrow_io_on_an_emulated_board(tmp_path, capsys, board, io_type):
    """The firmware exchanges the format's bits (soft-float Cortex-M3, RISC-V) and matches host and
    reference; the boards' cross toolchains and QEMU are part of the install."""
    from aot.cli import main
    from aot.targets.board import resolve_board
    assert not resolve_board(board).missing_tools("gcc"), "run boards/install-toolchains.sh"
    F = TensorProto.FLOAT
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=F), helper.make_node("Mul", ["a", "k"], ["m"]),
             helper.make_node("Cast", ["m"], ["y"], to=io_type)]
    k = onnx.numpy_helper.from_array(np.float32(10.0), "k")  # int4: beyond its range, where it wraps
    path = tmp_path / "narrow.onnx"
    onnx.save(_model(nodes, [("x", TensorProto.FLOAT16, [8])], [("y", io_type, [8])], initializers=[k]), str(path))
    assert main(["run", "--board", board, str(path)]) == 0, capsys.readouterr().err
    assert "run: PASS" in capsys.readouterr().out
