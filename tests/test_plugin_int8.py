"""A plug-in backend from outside the package (tests/plugins/lut8.py) claims an int8 op the reference
backend lacks (Sigmoid) and a two-node int8 pattern (x * Sigmoid(x)); QDQ lowering asks the registry
instead of refusing them, the partitioner wraps the pattern into one composite, both backends' code
runs in the library, on the host and under QEMU, bit for bit equal to the golden model (the plug-in's
kernels bring their own), and close to ONNX Runtime."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot import plugins
from aot.backends import REGISTRY
from aot.compiler import CompileOptions, compile_model, write_library
from aot.quant import golden
from aot.quant.golden_runner import run_golden
from aot.reference import run_reference
from aot.flows.board_run import run_on_board
from aot.targets.host import load
from aot.flows.verify import verify_model

PLUGIN = Path(__file__).resolve().parent / "plugins" / "lut8.py"
X_SCALE, Y_SCALE, Y_ZP = 0.05, 0.03, -40


def qdq_model(silu: bool) -> onnx.ModelProto:
    """float x -> Q -> DQ -> Sigmoid -> Q -> DQ [-> Mul with DQ(x) -> Q -> DQ] -> float y."""
    inits = {}

    def const(name, value):
        inits[name] = np.asarray(value)
        return name

    def qdq(x, out, scale, zp):
        s, z = const(out + "_s", np.float32(scale)), const(out + "_z", np.int8(zp))
        return [helper.make_node("QuantizeLinear", [x, s, z], [out + "_q"], name=out + "_quantize"),
                helper.make_node("DequantizeLinear", [out + "_q", s, z], [out], name=out + "_dequantize")]

    nodes = qdq("x", "xd", X_SCALE, 0)
    nodes.append(helper.make_node("Sigmoid", ["xd"], ["sig"], name="sigmoid"))
    if silu:
        nodes += qdq("sig", "sd", 1 / 256, -128)
        nodes.append(helper.make_node("Mul", ["xd", "sd"], ["silu"], name="silu"))
        nodes += qdq("silu", "y", Y_SCALE, Y_ZP)
    else:
        nodes += qdq("sig", "y", 1 / 256, -128)
    graph = helper.make_graph(nodes, "lut8_" + ("silu" if silu else "sigmoid"),
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture
def lut8():
    plugins.load_plugin(str(PLUGIN))
    yield REGISTRY.get("lut8")
    REGISTRY.unregister("lut8")
    plugins._loaded.discard(str(PLUGIN))


def inputs(n: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.uniform(-6.4, 6.35, (1, 4, 8, 8)).astype(np.float32) for _ in range(n)]


def test_without_the_plugin_silu_runs_as_two_ref_layers():
    """The ref backend runs int8 Sigmoid as its own lookup table and the Mul on its own; only the
    plug-in fuses them into one table."""
    compiled = compile_model(qdq_model(True))
    layers = [(layer["op_type"], layer["backend"], layer["kernel"]) for layer in compiled.metadata["layers"]]
    assert ("Sigmoid", "ref", "int8/lookup") in layers and any(op == "Mul" for op, _, _ in layers), layers


@pytest.mark.parametrize("silu", [False, True], ids=["sigmoid", "silu_pattern"])
def test_plugin_int8_kernels_run_bit_exact_on_host(lut8, silu, tmp_path):
    model = qdq_model(silu)
    compiled = compile_model(model, CompileOptions(backends=["lut8", "ref"]))
    layers = {layer["name"]: (layer["op_type"], layer["backend"]) for layer in compiled.metadata["layers"]}
    lut_layer = ("lut8_silu" if silu else "Sigmoid", "lut8")
    assert lut_layer in layers.values(), layers
    assert {b for _, b in layers.values()} == {"lut8", "ref"}  # Q/DQ edges stay on ref
    if silu:  # Sigmoid and Mul became one composite: no int8 Sigmoid or Mul layer of their own
        assert not {"Sigmoid", "Mul"} & {op for op, _ in layers.values()}
        composite = next(n for n in compiled.graph.nodes if n.op_type == "lut8_silu")
        assert [n.op_type for n in composite.meta["body"].nodes] == ["Sigmoid", "Mul"]
    # The backend's own runtime source and include folder are part of the library and its build.
    assert {"lut8/lut8.c", "lut8/include/lut8.h"} <= set(compiled.files)
    assert '#include "lut8.h"' in compiled.files["kernels_lut8.c"]
    host = load(write_library(compiled, tmp_path / "lib"))
    for x in inputs(5):
        got = host.run([x])[0]
        golden = run_golden(compiled.graph, [x])[0]
        np.testing.assert_array_equal(got, golden)
        ref = run_reference(model, {"x": x})[0]
        # Fused into one table, SiLU skips the intermediate rounding to 1/256 ONNX Runtime does.
        lsb = Y_SCALE if silu else 1 / 256
        assert np.abs(got - ref).max() <= (2 if silu else 1) * lsb + 1e-6
        assert len(np.unique(got)) > 20, "degenerate test: outputs barely vary"


def test_a_kernel_differing_from_its_golden_fails_verify(lut8, monkeypatch, tmp_path):
    """The check is not vacuous: a golden one LSB off the table the C uses is reported as a mismatch."""
    model = tmp_path / "silu.onnx"
    onnx.save(qdq_model(True), str(model))
    options = CompileOptions(backends=["lut8", "ref"])
    assert verify_model(model, options=options, samples=3).ok
    kernel = next(k for k in lut8.kernels if k.op_types == ("lut8_silu",))
    right = kernel.golden
    monkeypatch.setattr(kernel, "golden", lambda node, graph, x: np.clip(right(node, graph, x).astype(np.int16) + 1,
                                                                          -128, 127).astype(np.int8))
    report = verify_model(model, options=options, samples=3)
    assert not report.ok and not report.quant.bit_exact


def test_int8_op_without_golden_is_an_error(lut8, monkeypatch):
    """No silent float fallback in the golden model for an integer kernel that brings no golden."""
    compiled = compile_model(qdq_model(False), CompileOptions(backends=["lut8", "ref"]))
    monkeypatch.setattr(next(k for k in lut8.kernels if k.op_types == ("Sigmoid",)), "golden", None)
    # as for an op only the plug-in runs in int8: aot's golden model has no integer form of it either
    monkeypatch.delitem(golden.INT8_KERNELS, "Sigmoid")
    with pytest.raises(ValueError, match="no golden model"):
        run_golden(compiled.graph, inputs(1))


def test_plugin_runs_under_qemu(lut8):
    report = run_on_board(qdq_model(True), "cortex-m4", options=CompileOptions(backends=["lut8", "ref"]),
                          feeds=inputs(1))
    assert report.ok and report.quantized, report.table()
    assert {c.against for c in report.checks} == {"host", "golden model"}
    assert all(c.max_abs == 0 for c in report.checks), report.table()


def test_plugin_from_the_command_line(tmp_path):
    model = tmp_path / "silu.onnx"
    onnx.save(qdq_model(True), str(model))
    out = tmp_path / "lib"
    run = subprocess.run([sys.executable, "-m", "aot", "compile", str(model), "--plugin", str(PLUGIN),
                          "--backend", "lut8", "--backend", "ref", "-o", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    layers = json.loads((out / "metadata.json").read_text())["layers"]
    assert [(layer["op_type"], layer["backend"]) for layer in layers] == [
        ("QuantizeLinear", "ref"), ("lut8_silu", "lut8"), ("DequantizeLinear", "ref")]
    run = subprocess.run([sys.executable, "-m", "aot", "verify", str(model), "--plugin", str(PLUGIN),
                          "--backend", "lut8", "--backend", "ref"], capture_output=True, text=True)
    assert run.returncode == 0 and "C == golden model (bit for bit): yes" in run.stdout, run.stdout + run.stderr
    bad = subprocess.run([sys.executable, "-m", "aot", "compile", str(model), "--plugin", str(tmp_path / "nope.py"),
                          "-o", str(tmp_path / "x")], capture_output=True, text=True)
    assert bad.returncode == 2 and "plug-in" in bad.stderr and "Traceback" not in bad.stderr


def test_a_composite_its_kernel_refuses_falls_back_to_single_ops(lut8, monkeypatch, tmp_path):
    """A match whose kernel check fails is dissolved again: Sigmoid on lut8, Mul on ref, still exact."""
    kernel = next(k for k in lut8.kernels if k.op_types == ("lut8_silu",))
    monkeypatch.setattr(kernel, "check", lambda node, graph: "not today")
    compiled = compile_model(qdq_model(True), CompileOptions(backends=["lut8", "ref"]))
    placed = [(c.node.op_type, c.backend) for c in compiled.calls]
    assert ("Sigmoid", "lut8") in placed and ("Mul", "ref") in placed, placed
    mul = next(n for n in compiled.graph.nodes if n.op_type == "Mul")
    assert mul.meta["pattern_rejections"] == ["lut8/lut8_silu: not today"]
    host = load(write_library(compiled, tmp_path / "lib"))
    x = inputs(1)[0]
    np.testing.assert_array_equal(host.run([x])[0], run_golden(compiled.graph, [x])[0])


def test_plugin_from_an_installed_entry_point(tmp_path, monkeypatch):
    """An installed package's ``aot.plugins`` entry point loads with the other plug-ins."""
    dist = tmp_path / "lut8_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lut8-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[aot.plugins]\nlut8 = lut8\n")
    monkeypatch.syspath_prepend(str(PLUGIN.parent))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "lut8" not in REGISTRY.names()
    try:
        plugins.load_plugins(rescan=True)
        assert "lut8" in REGISTRY.names()
        compiled = compile_model(qdq_model(True), CompileOptions(backends=["lut8", "ref"]))
        assert "lut8" in {c.backend for c in compiled.calls}
    finally:
        REGISTRY.unregister("lut8")
        plugins._loaded.discard("entry-point:lut8")
        sys.modules.pop("lut8", None)
