"""Host board variants (issue 11 item 2): ``host`` stays portable, ``host-avx2`` runs the x86-avx2
backend, ``host-sse4`` the x86-sse4 one, ``native`` offers what the machine's compiler says it has;
``aot verify`` takes a host board and refuses the others; a backend needing AVX2 (or SSE4.1) is
refused on a board without it."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from aot.compiler import CompileOptions, compile_model, resolve_backends
from aot.errors import AotError
from aot.targets.board import X86_FEATURE_MACROS, detect_host_features, resolve_board


def test_native_features_are_what_the_compiler_enables():
    features = detect_host_features()
    assert set(features) <= set(X86_FEATURE_MACROS)
    macros = subprocess.run(["cc", "-march=native", "-dM", "-E", "-x", "c", "/dev/null"], capture_output=True,
                            text=True).stdout
    for name in features:
        assert f"#define {X86_FEATURE_MACROS[name]} 1" in macros
    assert resolve_board("native").features == features


def test_host_stays_portable_and_host_avx2_prefers_the_x86_backend():
    assert resolve_backends(resolve_board("host")) == ["ref"]
    assert resolve_backends(resolve_board("host-avx2")) == ["x86-avx2", "ref"]


def test_x86_backend_is_refused_on_the_portable_host(tiny_cnn_path):
    with pytest.raises(AotError, match=r"x86-avx2.*board 'host' does not have.*avx2"):
        compile_model(tiny_cnn_path, CompileOptions(board="host", backends=["x86-avx2", "ref"]))


def test_verify_refuses_a_board_it_cannot_run(tiny_cnn_path):
    proc = subprocess.run([sys.executable, "-m", "aot", "verify", str(tiny_cnn_path), "--board", "cortex-m4"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "must be a host board" in proc.stderr and "aot run" in proc.stderr


def test_verify_runs_on_the_avx2_board(tiny_cnn_path):
    if not {"avx2", "fma"} <= set(detect_host_features()):
        pytest.skip("this machine has no AVX2/FMA")
    proc = subprocess.run([sys.executable, "-m", "aot", "verify", str(tiny_cnn_path), "--board", "host-avx2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: PASS" in proc.stdout


def test_host_sse4_prefers_the_sse4_backend_and_refuses_avx2(tiny_cnn_path):
    assert resolve_backends(resolve_board("host-sse4")) == ["x86-sse4", "ref"]
    with pytest.raises(AotError, match=r"x86-avx2.*board 'host-sse4' does not have.*avx2"):
        compile_model(tiny_cnn_path, CompileOptions(board="host-sse4", backends=["x86-avx2", "ref"]))
    with pytest.raises(AotError, match=r"x86-sse4.*board 'host' does not have.*sse4\.1"):
        compile_model(tiny_cnn_path, CompileOptions(board="host", backends=["x86-sse4", "ref"]))


@pytest.mark.parametrize("features, expected", [
    (["sse4.1"], ["x86-sse4", "ref"]),  # x86-64-v2: no AVX2
    (["sse4.1", "avx2", "fma"], ["x86-avx2", "x86-sse4", "ref"]),  # AVX2 first, SSE4.1 for what it refuses
    ([], ["ref"]),
])
def test_native_offers_the_backends_its_features_allow(features, expected):
    native = dataclasses.replace(resolve_board("native"), features=features)
    assert resolve_backends(native) == expected


def test_verify_runs_on_the_sse4_board(tiny_cnn_path):
    if "sse4.1" not in detect_host_features():
        pytest.skip("this machine has no SSE4.1")
    proc = subprocess.run([sys.executable, "-m", "aot", "verify", str(tiny_cnn_path), "--board", "host-sse4"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verify: PASS" in proc.stdout
