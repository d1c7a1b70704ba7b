"""Models run on every emulated board and give the host's answers (issue 4 items 3, 4, 6).

A float and an int8 model built with onnx.helper run on every board with gcc, and with clang on
every Arm board and riscv32; the real models of ../shared/models run on cortex-m4, cortex-m55 and
riscv32 (the int8 ones also on cortex-m3). Int8 outputs must equal the host build and the golden
model bit for bit; float outputs stay within 1e-4 + 1e-4 * |ref| of the host build and of ONNX
Runtime. Each model is compiled and run on the host once (``host_baseline``); each board then
builds and runs it under QEMU (~0.5 s for a small model). Missing toolchains fail the tests with
the install hint: CI installs them (boards/install-toolchains.sh)."""
from __future__ import annotations

import argparse
import functools
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli.board import add_board_commands
from aot.errors import AotError
from aot.targets.board import resolve_board
from aot.flows.board_run import BoardReport, BoardRunError, HostBaseline, host_baseline, run_on_board

from conftest import tiny_cnn_model

BOARDS = ["cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55", "riscv32"]
ATOL = RTOL = 1e-4

FLOAT_MODELS = ["sine/model.onnx", "mnist/model.onnx", "mlperf_tiny/ad01_fp32.onnx",
                "mlperf_tiny/kws_ref_model_float32.onnx", "mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx"]
INT8_MODELS = ["mlperf_tiny/kws_ref_model_int8.onnx", "mlperf_tiny/ad01_int8.onnx",
               "mlperf_tiny/str_ww_ref_model.onnx", "mnist/mnist-8_qdq_int8.onnx"]
REAL_BOARDS = ["cortex-m4", "cortex-m55", "riscv32"]


def tiny_int8_model() -> onnx.ModelProto:
    """QDQ in the ONNX Runtime quantizer's style: float input and output, Conv (per-channel int8
    weights, int32 bias) + Relu, MaxPool, Reshape, Gemm; every compute node lowers to int8."""
    rng = np.random.default_rng(5)
    inits: dict[str, np.ndarray] = {}
    nodes = []

    def const(name: str, value) -> str:
        inits[name] = np.asarray(value)
        return name

    def q(x: str, out: str, scale: float, zp: int) -> str:
        nodes.append(helper.make_node("QuantizeLinear", [x, const(out + ".s", np.float32(scale)),
                                                         const(out + ".zp", np.int8(zp))], [out], name=out))
        return out

    def dq(x: str, out: str, scale, zp, axis: int | None = None) -> str:
        kw = {"axis": axis} if axis is not None else {}
        nodes.append(helper.make_node("DequantizeLinear", [x, const(out + ".s", np.asarray(scale, np.float32)),
                                                           const(out + ".zp", zp)], [out], name=out, **kw))
        return out

    xs, ws = 0.04, np.float32([0.02, 0.03, 0.025, 0.015])
    x = dq(q("input", "xq", xs, 0), "xd", xs, np.int8(0))
    w = dq(const("conv.w", rng.integers(-127, 128, (4, 1, 3, 3)).astype(np.int8)), "wd", ws, np.zeros(4, np.int8), 0)
    b = dq(const("conv.b", rng.integers(-300, 300, 4).astype(np.int32)), "bd", ws * xs, np.zeros(4, np.int32), 0)
    nodes.append(helper.make_node("Conv", [x, w, b], ["conv"], name="conv", pads=[1, 1, 1, 1]))
    nodes.append(helper.make_node("Relu", ["conv"], ["relu"], name="relu"))
    r = dq(q("relu", "rq", 0.05, -128), "rd", 0.05, np.int8(-128))
    nodes.append(helper.make_node("MaxPool", [r], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]))
    nodes.append(helper.make_node("Reshape", [q("pool", "pq", 0.05, -128), const("shape", np.array([1, 64], np.int64))],
                                  ["flat"], name="flatten"))
    f = dq("flat", "fd", 0.05, np.int8(-128))
    fw = dq(const("fc.w", rng.integers(-127, 128, (10, 64)).astype(np.int8)), "fwd", np.float32(0.01), np.int8(0))
    fb = dq(const("fc.b", rng.integers(-500, 500, 10).astype(np.int32)), "fbd", np.float32(0.05 * 0.01), np.int32(0))
    nodes.append(helper.make_node("Gemm", [f, fw, fb], ["fc"], name="fc", transB=1))
    dq(q("fc", "out_q", 0.1, 3), "output", 0.1, np.int8(3))
    graph = helper.make_graph(nodes, "tiny_int8", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="aot-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


@pytest.fixture(scope="module")
def tiny_float() -> HostBaseline:
    return host_baseline(tiny_cnn_model(), seed=1)


@pytest.fixture(scope="module")
def tiny_int8() -> HostBaseline:
    baseline = host_baseline(tiny_int8_model(), seed=1)
    graph = baseline.compiled.graph
    compute = [n for n in graph.nodes if n.op_type not in ("QuantizeLinear", "DequantizeLinear")]
    assert {n.op_type for n in compute} == {"Conv", "MaxPool", "Reshape", "Gemm"}
    assert all(graph.tensors[n.outputs[0]].dtype == "int8" for n in compute), "float fallback"
    assert len(np.unique(baseline.host_outputs[0])) > 3, "degenerate test: outputs barely vary"
    return baseline


def require_board(name: str, cc: str = "gcc"):
    board = resolve_board(name)
    missing = board.missing_tools(cc)
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    return board


def assert_matches(report: BoardReport) -> None:
    assert report.checks and report.ok, "\n" + report.table()
    against = {c.against for c in report.checks}
    assert against == {"host", "golden model" if report.quantized else "onnxruntime"}
    if report.quantized:
        assert all(c.max_abs == 0 for c in report.checks), report.table()
    board = report.board
    assert report.instructions > 0 and report.ticks > 0
    assert 0 < report.stack_used < report.stack_size
    assert report.library.text >= report.weights_bytes  # the weights are const data of the library
    assert report.firmware.bss >= report.arena_bytes + report.stack_size
    assert report.flash_used <= board.flash.size + (board.code.size if board.code else 0)
    assert report.ram_used <= board.ram.size


# -- every board, small models ----------------------------------------------------------------------
@pytest.mark.parametrize("name", BOARDS)
def test_tiny_float_model_on_every_board(name, tiny_float):
    report = run_on_board(tiny_float.source, require_board(name), baseline=tiny_float)
    assert_matches(report)
    assert not report.quantized


@pytest.mark.parametrize("name", BOARDS)
def test_tiny_int8_model_on_every_board(name, tiny_int8):
    report = run_on_board(tiny_int8.source, require_board(name), baseline=tiny_int8)
    assert_matches(report)
    assert report.quantized


@pytest.mark.parametrize("name", BOARDS)
def test_clang_build_runs_on_every_board(name, tiny_int8, tiny_float):
    board = require_board(name, "clang")
    assert_matches(run_on_board(tiny_int8.source, board, baseline=tiny_int8, cc="clang"))
    if name in ("cortex-m4", "cortex-m55", "riscv32"):  # float: newlib's libm (or aot's) linked by lld
        assert_matches(run_on_board(tiny_float.source, board, baseline=tiny_float, cc="clang"))


# -- real models ---------------------------------------------------------------------------------------
REAL_CASES = [(m, b) for m in FLOAT_MODELS for b in REAL_BOARDS] + \
             [(m, b) for m in INT8_MODELS for b in ["cortex-m3"] + REAL_BOARDS]


@functools.lru_cache(maxsize=None)
def real_baseline(path: str) -> HostBaseline:
    """Once per model and test process: the boards of one model share its compile and host run."""
    return host_baseline(path, seed=0)


@pytest.mark.parametrize("relative, name", REAL_CASES)
def test_real_model_on_board(shared_model, relative, name):
    baseline = real_baseline(str(shared_model(relative)))
    report = run_on_board(baseline.source, require_board(name), baseline=baseline)
    assert_matches(report)
    assert report.quantized == (relative in INT8_MODELS)


# -- cost, profile, determinism ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["cortex-m4", "riscv32"])
def test_repeat_runs_give_identical_counts(name, tiny_float):
    board = require_board(name)
    first, second = (run_on_board(tiny_float.source, board, baseline=tiny_float) for _ in range(2))
    assert first.instructions == second.instructions and first.ticks == second.ticks
    assert first.stack_used == second.stack_used


@pytest.mark.parametrize("name", ["cortex-m4", "riscv32"])
def test_profile_counts_each_layer(name, tiny_float):
    board = require_board(name)
    plain = run_on_board(tiny_float.source, board, baseline=tiny_float)
    profiled = run_on_board(tiny_float.source, board, baseline=tiny_float, profile=True)
    assert_matches(profiled)
    layers = tiny_float.compiled.metadata["layers"]
    assert [(x.name, x.op_type) for x in profiled.layers] == [(x["name"], x["op_type"]) for x in layers]
    assert all(x.instructions > 0 for x in profiled.layers)
    total = sum(x.instructions for x in profiled.layers)
    # The layers cover the inference: only the hooks' own work (and, on Arm, the SysTick
    # resolution of each reading) lies between their sum and the profiled total.
    slack = len(profiled.layers) * (60 + 2 * board.instructions_per_tick)
    assert 0 <= profiled.instructions - total <= slack, (profiled.instructions, total)
    # Off by default, the hooks cost nothing: the plain build runs fewer instructions.
    assert plain.instructions < profiled.instructions
    assert abs(plain.instructions - total) <= slack


def test_profile_hooks_are_compiled_out_by_default(tiny_float, tmp_path):
    board = require_board("cortex-m4")
    run_on_board(tiny_float.source, board, baseline=tiny_float, keep_dir=tmp_path)
    symbols = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "lib" / "model.o")], capture_output=True,
                             text=True, check=True).stdout
    assert "_run" in symbols and "aot_profile" not in symbols


@pytest.mark.parametrize("name", ["cortex-m4", "cortex-m33", "riscv32"])  # MPU guard, MSPLIM, PMP
def test_stack_overflow_is_a_clear_error(name, tiny_float):
    with pytest.raises(BoardRunError, match=f"stack overflow on {name}") as err:
        run_on_board(tiny_float.source, require_board(name), baseline=tiny_float, stack_bytes=64)
    assert err.value.status == 5


def test_firmware_too_big_for_ram_fails_at_link_time(tiny_float):
    """Past the compile-time check (which cannot see the firmware's own stack request), the link
    names the region and the excess."""
    board = require_board("cortex-m4")
    with pytest.raises(AotError, match=r"does not fit the board's RAM: [\d,]+ B too many"):
        run_on_board(tiny_float.source, board, baseline=tiny_float, stack_bytes=board.ram.size)


# -- the command ----------------------------------------------------------------------------------------
def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="aot")
    add_board_commands(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_aot_run_with_real_input_prints_report(shared_model, capsys):
    require_board("cortex-m4")
    model = shared_model("mlperf_tiny/kws_ref_model_int8.onnx")
    sample = shared_model("mlperf_tiny/samples/kws_int8.npy")
    assert run_cli(["run", str(model), "--board", "cortex-m4", "--input", str(sample), "--profile"]) == 0
    out = capsys.readouterr().out
    assert "run: PASS" in out and "golden model" in out
    assert "per inference (SysTick" in out and "stack" in out and "arena 9,152 B" in out
    assert out.count(" Conv ") >= 9  # per-layer rows


def test_aot_run_reports_stack_overflow_with_its_status(tiny_cnn_path, capsys):
    require_board("cortex-m55")
    assert run_cli(["run", str(tiny_cnn_path), "--board", "cortex-m55", "--stack", "64"]) == 5
    assert "stack overflow on cortex-m55" in capsys.readouterr().err
