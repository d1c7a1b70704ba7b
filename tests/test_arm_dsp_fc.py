"""arm-dsp fully connected layers on weights packed at compile time (aot/backends/arm_dsp/fc_packing.py,
templates/arm-dsp/int8/fc_packed.c.j2): the packed words, run through the instructions' arithmetic in
numpy, give every dot product exactly (int8 rows paired per word, int16 weights); under QEMU the kernel
equals the host build and the golden model bit for bit for shapes that exercise every pass shape, the
K % 4 tail, batches, per-channel requantization and the extremes of the pairing bound; rows beyond the
bound fall back to the unpacked kernel; the option is checked."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aot.backends.arm_dsp import fc_packing
from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError
from aot.flows.board_run import run_on_board
from aot.targets.board import resolve_board
from aot.targets.cross import build_library

from conftest import require_tool
from test_int8_ops import QdqModel, f32, weights

Q_IN = (f32(2.0 ** -4), -3)


def _wrap(v: np.ndarray) -> np.ndarray:
    """int64 values as the int32 registers hold them (two's complement wrap-around)."""
    return ((v.astype(np.int64) + (1 << 31)) % (1 << 32)) - (1 << 31)


def _lanes(word: int, signed: bool = True) -> np.ndarray:
    """The two 16-bit lanes of a word: signed (SMLAD's view) or the low bytes alone (UXTB16)."""
    u = word & 0xFFFFFFFF
    if not signed:
        return np.array([u & 0xFF, (u >> 16) & 0xFF], np.int64)
    lo, hi = u & 0xFFFF, u >> 16
    return np.array([lo - (lo >> 15 << 16), hi - (hi >> 15 << 16)], np.int64)


def emulate(w: np.ndarray, x: np.ndarray, mode: str) -> np.ndarray:
    """What the kernel computes for sum_k w[n, k] * x[k] over the 4 * (K // 4) first k, walking the
    packed words in the order it loads them and wrapping every accumulator to int32 as SMLAD does."""
    words = iter(fc_packing.pack(w, mode))
    n, k4 = w.shape[0], w.shape[1] // 4
    xe = [np.array([x[4 * b], x[4 * b + 2]], np.int64) for b in range(k4)]
    xo = [np.array([x[4 * b + 1], x[4 * b + 3]], np.int64) for b in range(k4)]
    sx = int(x[: 4 * k4].astype(np.int64).sum())
    out = np.zeros(n, np.int64)
    for p in fc_packing.passes(n, mode):
        for g in range(p.count):
            first = p.first + g * p.rows
            if p.kind == "pairs":
                h = np.full(p.rows // 2, -128 * sx, np.int64)
                lo = h.copy()
                for b in range(k4):
                    for j in range(p.rows // 2):
                        a, c = next(words), next(words)
                        h[j] = _wrap(h[j] + _lanes(a) @ xe[b] + _lanes(c) @ xo[b])
                        lo[j] = _wrap(lo[j] + _lanes(a, False) @ xe[b] + _lanes(c, False) @ xo[b])
                for j in range(p.rows // 2):
                    out[first + 2 * j] = _wrap(np.array(h[j] - lo[j])) >> 8
                    out[first + 2 * j + 1] = lo[j]
            else:
                acc = np.zeros(p.rows, np.int64)
                for b in range(k4):
                    for r in range(p.rows):
                        if p.kind == "wide":
                            a, c = next(words), next(words)
                            acc[r] = _wrap(acc[r] + _lanes(a) @ xe[b] + _lanes(c) @ xo[b])
                        else:
                            v = np.frombuffer(np.int32(next(words)).tobytes(), np.int8).astype(np.int64)
                            acc[r] = _wrap(acc[r] + v[[0, 2]] @ xe[b] + v[[1, 3]] @ xo[b])
                out[first: first + p.rows] = acc
    assert next(words, None) is None, "words left over: the kernel and the packing disagree on the layout"
    return out


@pytest.mark.parametrize("mode", fc_packing.CHOICES)
@pytest.mark.parametrize("n, k", [(1, 4), (2, 8), (7, 12), (13, 61), (17, 128), (64, 36)])
def test_packed_words_give_the_dot_products(mode, n, k):
    rng = np.random.default_rng(n * 1000 + k)
    w = weights(rng, (n, k))
    for x in (rng.integers(-128, 128, k), np.full(k, -128), np.full(k, 127)):
        want = w[:, : k // 4 * 4].astype(np.int64) @ x[: k // 4 * 4].astype(np.int64)
        np.testing.assert_array_equal(emulate(w, x.astype(np.int8), mode), want)


def test_pairing_is_exact_up_to_its_bound():
    """All -128 over 511 k: 128 * sum |w| = 2^23 - 16384, the largest dot a high row may hold; one
    more k reaches 2^23 and the layer is refused (it then runs unpacked)."""
    w = np.full((2, 511), -128, np.int8)
    assert fc_packing.pairs_fit(w) and not fc_packing.pairs_fit(np.full((2, 512), -128, np.int8))
    for value in (-128, 127):
        x = np.full(511, value, np.int8)
        np.testing.assert_array_equal(emulate(w, x, "int8"), w[:, :508].astype(np.int64) @ x[:508].astype(np.int64))


@pytest.mark.parametrize("n", [1, 2, 5, 6, 11, 12, 13, 40])
def test_passes_cover_every_row_once(n):
    for mode in fc_packing.CHOICES:
        rows = [r for p in fc_packing.passes(n, mode) for g in range(p.count)
                for r in range(p.first + g * p.rows, p.first + (g + 1) * p.rows)]
        assert rows == list(range(n))


def fc_model(n: int, k: int, m: int = 1, per_channel: bool = False, w: np.ndarray | None = None,
             seed: int = 0) -> QdqModel:
    rng = np.random.default_rng(seed)
    model = QdqModel()
    x = model.int8_input([m, k], Q_IN)
    sw = rng.uniform(1.5, 3.0, n if per_channel else 1) / (127 * np.sqrt(k))
    w = weights(rng, (n, k)) if w is None else w
    bias = model.bias(rng.integers(-2000, 2000, n).astype(np.int32), np.float32(Q_IN[0]) * sw.astype(np.float32))
    y = model.op("Gemm", [x, model.weight(w, sw.astype(np.float32), 0), bias], transB=1)
    model.quantized_output(model.op("Relu", [y]) if seed % 2 else y, (f32(2.0 ** -2), 5))
    return model


def _kernels(lib) -> list[str]:
    return [layer["kernel"] for layer in json.loads((lib / "metadata.json").read_text())["layers"]]


def _feeds(m: int, k: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(-128, 128, (m, k)).astype(np.int8)], [np.full((m, k), -128, np.int8)],
            [np.full((m, k), 127, np.int8)]]


CASES = [  # n, k, m, per_channel: every pass shape, K % 4 = 0..3, batches, per-channel multipliers
    (13, 61, 1, False), (8, 4, 1, True), (21, 130, 2, True), (6, 7, 3, False), (640, 128, 1, False),
]


@pytest.mark.parametrize("mode", fc_packing.CHOICES)
@pytest.mark.parametrize("n, k, m, per_channel", CASES)
def test_packed_fc_bit_exact_on_qemu(mode, n, k, m, per_channel, tmp_path):
    proto = fc_model(n, k, m, per_channel, seed=n + k).proto()
    options = CompileOptions(backend_options={"arm-dsp": {"weights": mode}})
    for i, feeds in enumerate(_feeds(m, k, n)):
        keep = tmp_path / str(i)
        report = run_on_board(proto, "cortex-m4", feeds=feeds, options=options, keep_dir=keep, timeout=60)
        assert report.ok, report.table()
        assert _kernels(keep / "lib") == [f"int8/fc_packed_{mode}_dsp"]


def test_pairing_bound_extremes_on_qemu(tmp_path):
    """Rows of -128 over 511 k (the bound's edge, every x -128 or 127) run paired and exactly; 512 k
    leave the bound and run on the unpacked kernel."""
    for k, kernel in ((511, "int8/fc_packed_int8_dsp"), (512, "int8/fully_connected_dsp")):
        w = np.full((3, k), -128, np.int8)
        w[1, ::2] = 127
        proto = fc_model(3, k, w=w).proto()
        for i, feeds in enumerate(_feeds(1, k, k)):
            keep = tmp_path / f"{k}_{i}"
            report = run_on_board(proto, "cortex-m4", feeds=feeds, keep_dir=keep, timeout=60)
            assert report.ok, report.table()
            assert _kernels(keep / "lib") == [kernel]


@pytest.mark.parametrize("mode", fc_packing.CHOICES)
def test_packed_fc_builds_clean_with_clang(mode, tmp_path):
    require_tool("clang")
    options = CompileOptions(board="cortex-m4", backend_options={"arm-dsp": {"weights": mode}})
    lib = write_library(compile_model(fc_model(13, 61, 2).proto(), options), tmp_path / "lib")
    build_library(lib, resolve_board("cortex-m4"), "clang", "-O2")  # -Wall -Wextra -Werror


def test_int16_weights_take_twice_the_flash():
    """The packed tables replace the passed weights (metadata.json counts them): int8 keeps the model's
    bytes, int16 doubles them."""
    proto = fc_model(13, 61).proto()
    sizes = {}
    for mode in fc_packing.CHOICES:
        compiled = compile_model(proto, CompileOptions(board="cortex-m4", backend_options={"arm-dsp": {"weights": mode}}))
        sizes[mode] = fc_packing.pack_bytes(13, 61, mode)
        assert compiled.metadata["memory"]["weights_bytes"] == sizes[mode]
        assert f"static const int32_t wp[{(sizes[mode] - 13 * 1) // 4}]" in compiled.files["kernels_arm-dsp.c"]
    assert sizes == {"int8": 13 * 61, "int16": 13 * 60 * 2 + 13}


def test_bad_option_value_is_an_error():
    options = CompileOptions(board="cortex-m4", backend_options={"arm-dsp": {"weights": "int4"}})
    with pytest.raises(AotError, match=r"arm-dsp\.weights=int4: expected one of int8, int16"):
        compile_model(fc_model(8, 16).proto(), options)
    with pytest.raises(AotError, match=r"backend 'arm-dsp' has no option 'fc_weight'"):
        compile_model(fc_model(8, 16).proto(), CompileOptions(board="cortex-m4",
                                                              backend_options={"arm-dsp": {"fc_weight": "int16"}}))
