"""The real models of issue 2 item 9: each verifies against ONNX Runtime (mnist also against its three
reference data sets) and its library builds with clang -Werror."""
from __future__ import annotations

import subprocess

import pytest

from aot.flows.verify import verify_model

from conftest import require_tool

ATOL = RTOL = 1e-4
MODELS = [
    "sine/model.onnx",
    "mlperf_tiny/ad01_fp32.onnx",
    "mlperf_tiny/kws_ref_model_float32.onnx",
    "mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx",
]


def assert_ok(report) -> None:
    assert report.checks, "nothing was compared"
    assert report.ok, "\n" + report.table()


def build_with_clang(lib_dir) -> None:
    require_tool("clang")
    proc = subprocess.run(["make", "-s", "-C", str(lib_dir), "CC=clang", "CFLAGS=-O1 -Werror"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (lib_dir / "libmodel.a").stat().st_size > 0


@pytest.mark.parametrize("relative", MODELS)
def test_real_model_verifies_and_builds_with_clang(relative, shared_model, tmp_path):
    require_tool("gcc")
    lib_dir = tmp_path / "lib"
    report = verify_model(shared_model(relative), seed=0, atol=ATOL, rtol=RTOL, cc="gcc", keep_dir=lib_dir)
    assert_ok(report)
    assert all(c.against == "onnxruntime" for c in report.checks)
    build_with_clang(lib_dir)


@pytest.mark.parametrize("data_set", [0, 1, 2])
def test_mnist_matches_its_reference_data(data_set, shared_model, tmp_path):
    model = shared_model("mnist/model.onnx")
    folder = model.parent / f"test_data_set_{data_set}"
    if not folder.is_dir():
        pytest.skip(f"reference data folder {folder} is missing")
    lib_dir = tmp_path / "lib"
    report = verify_model(model, test_data=folder, atol=ATOL, rtol=RTOL, cc="gcc", keep_dir=lib_dir)
    assert_ok(report)
    assert sorted(c.against for c in report.checks) == ["expected", "onnxruntime"]
    if data_set == 0:
        build_with_clang(lib_dir)
