"""Instruction sets are backends: arm-dsp (the Arm DSP extension) and helium (MVE) register variants
of ref's int8 kernels, boards declare the features they have, and the partitioner picks a backend per
layer from the board's preference list. The ref templates stay portable C; every variant equals the
golden model bit for bit under QEMU (cortex-m4: arm-dsp, cortex-m55: helium and arm-dsp)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from aot.backends import REGISTRY
from aot.cli import main as aot_main
from aot.compiler import CompileOptions, compile_model, resolve_backends, write_library
from aot.errors import AotError
from aot.resources import boards_dir, templates_dir
from aot.targets.board import detect_host_features, board_names, resolve_board
from aot.targets.cross import build_library
from aot.flows.board_run import run_on_board

from conftest import require_tool
from test_int8_ops import QdqModel, f32, weights

DEFAULTS = {"host": ["ref"], "cortex-m3": ["ref"], "riscv32": ["ref"], "cortex-m4": ["arm-dsp", "ref"],
            "cortex-m7": ["arm-dsp", "ref"], "cortex-m33": ["arm-dsp", "ref"],
            "cortex-m55": ["helium", "arm-dsp", "ref"], "host-avx2": ["x86-avx2", "ref"],
            "host-sse4": ["x86-sse4", "ref"],
            # the native board has what this machine has, the backend needing more first
            "native": (["x86-avx2"] if {"avx2", "fma"} <= set(detect_host_features()) else [])
            + (["x86-sse4"] if "sse4.1" in detect_host_features() else []) + ["ref"]}
NHWC = {"desired_layouts": {"Conv": ["NHWC", "OHWI"]}, "layout_skip_layers": [0, 1, 2, 3]}


def isa_model() -> QdqModel:
    """One layer for every instruction-set kernel and its remainders: a tiled Conv (121 pixels: a
    partial tile; K = 72: a looped DSP unroll), depthwise 3x3 (one Helium gather) and 5x5 dilated
    (no Helium load fits: arm-dsp on cortex-m55 too), a pointwise Conv (the DSP transposing gather),
    channels-last depthwise and tiled Convs (layers 4, 5 under NHWC), an average pool of 4-byte row
    runs (USADA8), a max pool (ref only) and a fully connected layer (K = 60: a predicated tail)."""
    rng = np.random.default_rng(7)
    m = QdqModel()
    q = (f32(2.0 ** -4), -3)
    x = m.int8_input([1, 8, 11, 11], q)

    def conv(x: str, cin: int, cout: int, k: int, group: int = 1, **attrs) -> str:
        # weight scales that keep the activations' spread from layer to layer (no all-zero layers)
        sw = (rng.uniform(1.5, 3.0, cout) / (127 * np.sqrt(cin // group * k * k))).astype(np.float32)
        bias = m.bias(rng.integers(-2000, 2000, cout).astype(np.int32), np.float32(q[0]) * sw)
        y = m.op("Conv", [x, m.weight(weights(rng, (cout, cin // group, k, k)), sw, 0), bias], group=group, **attrs)
        return m.dq(m.q(m.op("Relu", [y]), q), q)

    x = conv(x, 8, 16, 3, pads=[1, 1, 1, 1])
    x = conv(x, 16, 16, 3, group=16, pads=[1, 1, 1, 1])
    x = conv(x, 16, 16, 5, group=16, pads=[4, 4, 4, 4], dilations=[2, 2])
    x = conv(x, 16, 12, 1)
    x = conv(x, 12, 12, 3, group=12, pads=[1, 1, 1, 1])
    x = conv(x, 12, 12, 3, pads=[1, 1, 1, 1])
    x = m.dq(m.q(m.op("AveragePool", [x], kernel_shape=[2, 4], strides=[2, 4]), q), q)  # 12 x 5 x 2
    x = m.dq(m.op("Flatten", [m.q(m.op("MaxPool", [x], kernel_shape=[1, 2]), q)]), q)  # 60
    sw = (rng.uniform(1.5, 3.0, 10) / (127 * np.sqrt(60))).astype(np.float32)
    fc = m.op("Gemm", [x, m.weight(weights(rng, (10, 60)), sw, 0),
                       m.bias(rng.integers(-2000, 2000, 10).astype(np.int32), np.float32(q[0]) * sw)], transB=1)
    m.quantized_output(fc, (f32(2.0 ** -2), 5))
    return m


@pytest.fixture(scope="module")
def isa_path(tmp_path_factory):
    import onnx
    path = tmp_path_factory.mktemp("isa") / "isa.onnx"
    onnx.save(isa_model().proto(), str(path))
    return path


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default_backends_per_board(name):
    board = resolve_board(name)
    assert resolve_backends(board) == DEFAULTS[name]
    assert all(set(REGISTRY.get(b).features) <= set(board.features) for b in DEFAULTS[name])


def test_every_builtin_board_is_covered():
    assert set(board_names()) == set(DEFAULTS)


def test_default_derived_from_features(tmp_path):
    """A board without a backends list gets the instruction-set backends its features allow, then ref."""
    folder = tmp_path / "my-m4"
    folder.mkdir()
    text = (boards_dir() / "cortex-m4" / "board.toml").read_text()
    text = text.replace('name = "cortex-m4"', 'name = "my-m4"').replace('backends = ["arm-dsp", "ref"]\n', "")
    (folder / "board.toml").write_text(text)
    shutil.copy(boards_dir() / "cortex-m4" / "link.ld", folder / "link.ld")
    assert resolve_backends(resolve_board(str(folder))) == ["arm-dsp", "ref"]
    (folder / "board.toml").write_text(text.replace('features = ["dsp"]', 'features = ["dsp", "mve", "x"]'))
    assert resolve_backends(resolve_board(str(folder))) == ["arm-dsp", "helium", "ref"]  # ties: by name


@pytest.mark.parametrize("board, backend, missing", [("cortex-m3", "arm-dsp", "dsp"), ("cortex-m4", "helium", "mve"),
                                                     ("host", "helium", "mve"), ("riscv32", "arm-dsp", "dsp")])
def test_backend_refused_without_its_feature(board, backend, missing, isa_path, capsys):
    with pytest.raises(AotError, match=rf"backend '{backend}' needs .*{missing}.*board '{board}'"):
        compile_model(isa_path, CompileOptions(board=board, backends=[backend, "ref"]))
    with pytest.raises(AotError, match=rf"'{backend}' needs .*{missing}.*'{board}'"):  # chosen for one layer
        compile_model(isa_path, CompileOptions(board=board, layer_backend={"any": backend}))
    assert aot_main(["inspect", str(isa_path), "--board", board, "--backend", backend]) == 2
    err = capsys.readouterr().err
    assert board in err and missing in err


def test_ref_templates_are_portable_c():
    """No instruction-set macro, intrinsic or inline assembly in templates/ref: those are backends."""
    pattern = re.compile(r"__ARM_FEATURE|__ARM_|__riscv|__smla|__sxt|__usad|vmlad|vldr|vstr|__asm__|\basm\b")
    found = [f"{p.relative_to(templates_dir())}: {line.strip()}" for p in sorted((templates_dir() / "ref").rglob("*"))
             if p.is_file() for line in p.read_text().splitlines() if pattern.search(line)]
    assert found == []


def test_isa_kernels_refuse_other_targets(isa_path, tmp_path):
    """The arm-dsp and helium kernel files assume their instruction set: elsewhere #error says so."""
    lib = write_library(compile_model(isa_path, CompileOptions(board="cortex-m55")), tmp_path / "lib")
    cc = require_tool("cc")
    for backend, feature in (("arm-dsp", "DSP extension"), ("helium", "Helium")):
        proc = subprocess.run([cc, "-std=c99", "-fsyntax-only", f"kernels_{backend}.c"], cwd=lib,
                              capture_output=True, text=True)
        assert proc.returncode != 0 and feature in proc.stderr, proc.stderr


def _layers(meta: dict) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for layer in meta["layers"]:
        key = (layer["backend"], layer["kernel"])
        out[key] = out.get(key, 0) + 1
    return out


EXPECTED = {
    "cortex-m4": {("arm-dsp", "int8/conv_gemm_dsp"): 2, ("arm-dsp", "int8/conv_depthwise_dsp"): 2,
                  ("arm-dsp", "nhwc/conv_dw_s8_dsp"): 1, ("arm-dsp", "nhwc/conv_gemm_dsp"): 1,
                  ("arm-dsp", "int8/pool_dsp"): 1, ("arm-dsp", "int8/fc_packed_int8_dsp"): 1},
    "cortex-m55": {("helium", "int8/conv_gemm_mve"): 2, ("helium", "int8/conv_depthwise_mve"): 1,
                   ("arm-dsp", "int8/conv_depthwise_dsp"): 1, ("arm-dsp", "nhwc/conv_dw_s8_dsp"): 1,
                   ("helium", "nhwc/conv_gemm_mve"): 1, ("arm-dsp", "int8/pool_dsp"): 1,
                   ("helium", "int8/fully_connected_mve"): 1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_isa_kernels_bit_exact_on_qemu(name, isa_path, tmp_path):
    """Every split kernel runs on its board under QEMU and equals the portable host build (ref) and
    the golden model bit for bit; metadata.json names each layer's backend and kernel variant."""
    report = run_on_board(isa_path, name, options=CompileOptions(**NHWC), keep_dir=tmp_path, timeout=60)
    assert report.ok, report.table()
    meta = json.loads((tmp_path / "lib" / "metadata.json").read_text())
    layers = _layers(meta)
    isa = {k: v for k, v in layers.items() if k[0] != "ref"}
    assert isa == EXPECTED[name]
    assert ("ref", "int8/pool") in layers  # the max pool: no instruction set helps it
    files = sorted(p.name for p in (tmp_path / "lib").glob("kernels_*.c"))
    assert files == sorted(f"kernels_{b}.c" for b in {k[0] for k in layers})


@pytest.mark.parametrize("mode", ["int8", "int16"])
def test_arm_dsp_weights_option_bit_exact_on_qemu(mode, cc, isa_path, tmp_path):
    """--backend-option arm-dsp.weights=int8|int16 picks how the tiled Convs (NCHW and channels-last)
    and the fully connected layer hold their weights; both equal the golden model bit for bit with
    gcc and clang, and int16 takes more weight bytes (metadata.json) than int8."""
    options = CompileOptions(**NHWC, backend_options={"arm-dsp": {"weights": mode}})
    report = run_on_board(isa_path, "cortex-m4", cc=cc, options=options, keep_dir=tmp_path, timeout=60)
    assert report.ok, report.table()
    meta = json.loads((tmp_path / "lib" / "metadata.json").read_text())
    layers = _layers(meta)
    assert layers[("arm-dsp", f"int8/fc_packed_{mode}_dsp")] == 1
    assert layers[("arm-dsp", "int8/conv_gemm_dsp")] == 2 and layers[("arm-dsp", "nhwc/conv_gemm_dsp")] == 1
    step = "AOT_W16_POST" if mode == "int16" else "AOT_W8_POST"
    assert step in (tmp_path / "lib" / "kernels_arm-dsp.c").read_text()
    other = compile_model(isa_path, CompileOptions(board="cortex-m4", **NHWC, backend_options={
        "arm-dsp": {"weights": "int8" if mode == "int16" else "int16"}}))
    ours, theirs = meta["memory"]["weights_bytes"], other.metadata["memory"]["weights_bytes"]
    assert (ours > theirs) if mode == "int16" else (ours < theirs)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_isa_kernels_build_clean_with_clang(name, isa_path, tmp_path):
    require_tool("clang")
    lib = write_library(compile_model(isa_path, CompileOptions(board=name, **NHWC)), tmp_path / "lib")
    build_library(lib, resolve_board(name), "clang", "-O2")  # -Wall -Wextra -Werror


def test_inspect_shows_backend_and_variant(isa_path, capsys):
    assert aot_main(["inspect", str(isa_path), "--board", "cortex-m55"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\bConv\+Relu\s+helium\s+int8/conv_depthwise_mve\b", out), out
    assert re.search(r"\bConv\+Relu\s+arm-dsp\s+int8/conv_depthwise_dsp\b", out), out
    assert aot_main(["inspect", str(isa_path)]) == 0  # the host: ref only
    assert "helium" not in capsys.readouterr().out
