"""The x86 backends' float kernels (aot/backends/x86/float_kernels.py), x86-avx2 on the host-avx2 board
and x86-sse4 on host-sse4 (each test runs on both: the ``board`` fixture), against ONNX Runtime at abs
1e-4 + rel 1e-4: channels-last Conv (pointwise, strided, padded, dilated, 1-D, output channels that are
not a multiple of the vector width or panel, pixel counts that are not a multiple of the register
block), depthwise Conv, MaxPool/AveragePool and Gemm, with fused Relu/Clip, NaN and inf. Each case also
checks which kernel ran, so a change of the selection rules cannot leave a kernel or a remainder
untested, and that layers those kernels do not take stay on ref in their own layout."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from aot.compiler import CompileOptions, compile_model, write_library
from aot.reference import run_reference
from aot.targets.board import detect_host_features
from aot.targets.host import load
from test_ops_float import ATOL, RTOL, Model, check

@dataclass(frozen=True)
class X86Board:
    name: str  # the board
    backend: str
    suffix: str  # of its kernels' names
    features: frozenset
    lanes: int  # floats in a vector

    def kernel(self, family: str) -> str:
        return f"float/{family}_{self.suffix}"


X86_BOARDS = [X86Board("host-avx2", "x86-avx2", "avx2", frozenset({"avx2", "fma"}), 8),
              X86Board("host-sse4", "x86-sse4", "sse4", frozenset({"sse4.1"}), 4)]


@pytest.fixture(params=X86_BOARDS, ids=[b.name for b in X86_BOARDS])
def board(request) -> X86Board:
    """Each x86 board this machine can run (its C compiler's -march=native has the instruction sets)."""
    if not request.param.features <= set(detect_host_features()):
        pytest.skip(f"this machine has no {', '.join(sorted(request.param.features))}: {request.param.backend}'s "
                    "kernels cannot run here")
    return request.param


def kernel_names(board: X86Board) -> tuple[str, str, str, str]:
    return board.kernel("conv_nhwc"), board.kernel("conv_dw_nhwc"), board.kernel("pool_nhwc"), board.kernel("gemm")


def run_checked(m: Model, tmp_path: Path, board: X86Board, cc: str = "gcc", cflags: str = "-O2") -> list[dict]:
    """Compile for the board, build with ``cc``, compare every output with ONNX Runtime; the layers."""
    return check(m, tmp_path, cc=cc, board=board.name, cflags=cflags)


def kernels_of(layers: list[dict], op_type: str) -> list[str]:
    return [layer["kernel"] for layer in layers if layer["op_type"] == op_type]


# (input, weight, attrs): general Conv (groups of at least 8 outputs). Output channels: 16 (one full panel), 40 (two full
# panels + a tail of one vector), 13 / 5 / 3 (one masked vector), 24 (a full panel + one vector), 19
# (a full panel + a masked vector); pixel counts with and without a remainder of the register block.
CONV_CASES = [
    ((1, 12, 5, 7), (40, 12, 1, 1), {}),  # pointwise: 35 pixels = 5 blocks of 6 + 5
    ((1, 7, 9, 11), (13, 7, 1, 1), {}),  # pointwise, odd channels, 99 pixels = 12 blocks of 8 + 3
    ((2, 5, 3, 3), (24, 5, 1, 1), {}),  # batch of two
    ((1, 200, 7, 8), (19, 200, 1, 1), {}),  # pointwise in chunks of 24 pixels: 24 + 24 + 8
    ((1, 3, 17, 19), (16, 3, 3, 3), {"pads": [1, 1, 1, 1], "strides": [2, 2]}),
    ((1, 1, 49, 10), (64, 1, 10, 4), {"pads": [4, 1, 5, 1], "strides": [2, 2]}),  # the KWS stem
    ((1, 1, 28, 28), (8, 1, 5, 5), {"auto_pad": "SAME_UPPER"}),  # the mnist stem
    ((1, 6, 10, 12), (5, 6, 3, 3), {"pads": [2, 1, 0, 3], "dilations": [2, 3]}),
    ((1, 4, 7, 7), (3, 4, 3, 3), {"pads": [3, 3, 3, 3]}),  # taps wholly in the padding
    ((1, 9, 8, 9), (21, 9, 2, 4), {"strides": [3, 2]}),  # no padding, strides, no interior remainder
    ((1, 5, 23), (11, 5, 3), {"pads": [1, 2], "strides": [2]}),  # 1-D
    ((1, 3, 2, 2), (16, 3, 3, 3), {"pads": [1, 1, 1, 1]}),  # every column a border column
    ((1, 8, 9, 9), (24, 4, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),  # groups of 12 outputs: 8 + 4 masked
    ((2, 12, 6, 7), (32, 3, 1, 1), {"group": 4}),  # grouped pointwise, 8 outputs per group
    ((1, 3, 5, 6), (27, 1, 3, 3), {"group": 3, "pads": [0, 1, 0, 1]}),  # depth multiplier 9: not depthwise
]

# depthwise: channels 3, 13 (masked tails), 16, 40 (16 + 16 + 8), 72 (two wide blocks of 64 + 8)
DW_CASES = [
    ((1, 16, 13, 13), (16, 1, 3, 3), {"pads": [1, 1, 1, 1]}),
    ((1, 40, 25, 5), (40, 1, 3, 3), {"pads": [1, 1, 1, 1]}),  # narrow rows: interior shorter than a block
    ((1, 13, 15, 17), (13, 1, 3, 3), {"pads": [0, 0, 1, 1], "strides": [2, 2]}),
    ((1, 72, 9, 9), (72, 1, 5, 5), {"pads": [2, 2, 2, 2], "strides": [1, 3]}),
    ((1, 3, 7, 7), (3, 1, 3, 3), {"pads": [3, 3, 3, 3]}),
    ((2, 24, 11, 10), (24, 1, 3, 3), {"pads": [2, 2, 2, 2], "dilations": [2, 2]}),
    ((1, 8, 12), (8, 1, 3), {"pads": [1, 1]}),  # 1-D
]


@pytest.mark.parametrize("activation", ["Relu", "Relu6", "LeakyRelu", "HardSigmoid", "HardSwish", "none"])
def test_conv_kernels(activation, board, tmp_path):
    if board.name == "host-sse4" and activation in ("Relu", "HardSwish"):  # keeps the file's time in CI
        pytest.skip("host-sse4's fused Relu and HardSwish: see test_nan_and_inf_propagate_as_in_onnxruntime")
    CONV, DW, _, _ = kernel_names(board)
    m = Model(seed=21)
    for x, w, attrs in CONV_CASES + DW_CASES:
        group = {"group": x[1]} if w[1] == 1 and x[1] > 1 and "group" not in attrs else {}
        bias = [m.weight((w[0],))] if len(m.nodes) % 2 == 0 else []  # with and without a bias
        y = m.op("Conv", [m.input(x), m.weight(w)] + bias, output=activation == "none", **attrs, **group)
        if activation == "Relu":
            m.op("Relu", y)
        elif activation == "Relu6":
            m.op("Clip", y + [m.const(0.0), m.const(6.0)])
        elif activation == "LeakyRelu":
            m.op("LeakyRelu", y, alpha=0.1)
        elif activation == "HardSigmoid":
            m.op("HardSigmoid", y, alpha=0.3, beta=0.4)
        elif activation == "HardSwish":
            m.op("HardSwish", y)
    layers = run_checked(m, tmp_path, board)
    assert kernels_of(layers, "Conv") == [CONV] * len(CONV_CASES) + [DW] * len(DW_CASES)
    if activation != "none":
        assert all(layer["activation"] for layer in layers if layer["op_type"] == "Conv")


def test_conv_chain_stays_channels_last(board, tmp_path):
    """A CNN whose convolutions and pools all run here: one Transpose at each end, none between."""
    CONV, DW, POOL, _ = kernel_names(board)
    m = Model(seed=22)
    x = m.op("Conv", [m.input((1, 3, 20, 20)), m.weight((16, 3, 3, 3)), m.weight((16,))], output=False,
             pads=[1, 1, 1, 1], strides=[2, 2])
    x = m.op("Relu", x, output=False)
    x = m.op("Conv", [x[0], m.weight((16, 1, 3, 3))], output=False, group=16, pads=[1, 1, 1, 1])
    x = m.op("MaxPool", x, output=False, kernel_shape=[2, 2], strides=[2, 2])
    a = m.op("Conv", [x[0], m.weight((24, 16, 1, 1))], output=False)
    b = m.op("Conv", [a[0], m.weight((24, 24, 1, 1))], output=False)
    y = m.op("Add", [a[0], b[0]], output=False)  # a residual connection
    m.op("GlobalAveragePool", y)
    layers = run_checked(m, tmp_path, board)
    assert [layer["op_type"] for layer in layers].count("Transpose") == 2  # the input's, the output's
    assert kernels_of(layers, "Conv") == [CONV, DW, CONV, CONV] and kernels_of(layers, "MaxPool") == [POOL]


def test_layers_without_an_x86_kernel_keep_their_layout(board, tmp_path):
    m = Model(seed=23)
    per_group = board.lanes - 3  # fewer outputs a group than a vector's lanes
    m.op("Conv", [m.input((1, 4, 6, 6)), m.weight((2 * per_group, 2, 3, 3))], group=2, pads=[1, 1, 1, 1])
    y = m.op("Conv", [m.input((1, 3, 7, 7)), m.weight((4, 3, 3, 3))], output=False)
    m.op("Elu", y)  # fused, no vector form here
    m.op("Conv", [m.input((1, 2, 3, 4, 5)), m.weight((3, 2, 2, 2, 2))])  # 3-D
    m.op("MaxPool", [m.input((1, 3, 8, 8))], kernel_shape=[2, 2])  # no Conv before it
    layers = run_checked(m, tmp_path, board)
    assert all(layer["backend"] == "ref" for layer in layers)
    assert not any(layer["op_type"] == "Transpose" for layer in layers)


@pytest.mark.parametrize("op", ["MaxPool", "AveragePool"])
def test_pool_kernel(op, board, tmp_path):
    POOL = board.kernel("pool_nhwc")
    m = Model(seed=24)
    cases = [((1, 8, 28, 28), {"kernel_shape": [2, 2], "strides": [2, 2]}),
             ((1, 16, 14, 14), {"kernel_shape": [3, 3], "strides": [3, 3]}),
             ((1, 13, 9, 11), {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "strides": [2, 1]}),
             ((1, 72, 25, 5), {"kernel_shape": [25, 5]}),
             ((1, 5, 10, 10), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
             ((1, 6, 11, 11), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1})]
    if op == "MaxPool":
        cases = [(x, {k: v for k, v in a.items() if k != "count_include_pad"}) for x, a in cases]
        cases.append(((1, 7, 12, 12), {"kernel_shape": [3, 3], "dilations": [2, 2], "pads": [2, 2, 2, 2]}))
    for x, attrs in cases:  # each after a Conv, so both go channels-last
        y = m.op("Conv", [m.input(x), m.weight((x[1], x[1], 1, 1))], output=False)
        m.op(op, y, **attrs)
    layers = run_checked(m, tmp_path, board)
    assert kernels_of(layers, op) == [POOL] * len(cases)


def test_gemm_kernel(board, tmp_path):
    GEMM = board.kernel("gemm")
    m = Model(seed=25)
    cases = [  # (M, K, N, transA, transB, alpha, beta, C shape)
        (1, 640, 128, 0, 0, 1.0, 1.0, (128,)),  # the AD autoencoder's first layer
        (1, 37, 35, 0, 1, 0.5, 1.0, (35,)),  # a 32-column panel + one masked vector, odd K
        (3, 9, 5, 1, 0, 1.0, 2.0, (3, 5)),  # C differs per row
        (2, 64, 70, 0, 1, 1.0, 0.5, (1, 1)),
        (4, 8, 64, 1, 1, 2.0, 1.0, None),
        (1, 1, 13, 0, 0, 1.0, 1.0, (1, 13)),
    ]
    for M, K, N, ta, tb, alpha, beta, c in cases:
        a = m.input((K, M) if ta else (M, K))
        b = m.weight((N, K) if tb else (K, N))
        inputs = [a, b] + ([m.weight(c)] if c else [])
        m.op("Gemm", inputs, transA=ta, transB=tb, alpha=alpha, beta=beta)
    y = m.op("Gemm", [m.input((1, 20)), m.weight((20, 12)), m.weight((12,))], output=False)
    m.op("Relu", y)
    layers = run_checked(m, tmp_path, board)
    assert kernels_of(layers, "Gemm") == [GEMM] * (len(cases) + 1)


def test_matmul_kernel(board, tmp_path):
    m = Model(seed=29)
    m.op("MatMul", [m.input((2, 3, 17)), m.weight((17, 45))])  # batch rows share B; 32 + 13 columns
    m.op("MatMul", [m.input((9,)), m.weight((9, 8))])  # a 1-D A
    m.op("MatMul", [m.input((4, 6)), m.input((6, 5))])  # B at run time: ref
    m.op("MatMul", [m.input((2, 3, 6)), m.weight((2, 6, 5))])  # one B per batch: ref
    layers = run_checked(m, tmp_path, board)
    # (sorted: the compile may run these independent layers in another order to lower the peak memory)
    assert sorted(kernels_of(layers, "MatMul")) == sorted([board.kernel("matmul")] * 2 + ["matmul"] * 2)


def _specials(m: Model, name: str) -> None:
    flat = m.feeds[name].reshape(-1)
    flat[[3, 17, 40]] = [np.nan, np.inf, -np.inf]


def test_nan_and_inf_propagate_as_in_onnxruntime(board, tmp_path):
    m = Model(seed=26)
    x1, x2, x3, x4 = m.input((1, 8, 6, 6)), m.input((1, 16, 6, 6)), m.input((2, 24)), m.input((1, 16, 6, 6))
    for name in (x1, x2, x3):
        _specials(m, name)
    m.feeds[x4].reshape(-1)[[5, 30]] = [np.inf, -np.inf]
    y = m.op("Conv", [x1, m.weight((16, 8, 3, 3)), m.weight((16,))], output=False, pads=[1, 1, 1, 1])
    m.op("Relu", y)
    for op, attrs in (("LeakyRelu", {"alpha": 0.1}), ("HardSwish", {}), ("HardSigmoid", {})):
        y = m.op("Conv", [x1, m.weight((16, 8, 1, 1))], output=False)
        m.op(op, y, **attrs)
    y = m.op("Conv", [x2, m.weight((16, 1, 3, 3))], output=False, group=16, pads=[1, 1, 1, 1])
    m.op("Clip", y + [m.const(0.0), m.const(6.0)])
    y = m.op("Conv", [x2, m.weight((16, 16, 1, 1))], output=False)
    m.op("AveragePool", y, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    # MaxPool of NaN: ONNX Runtime's own kernels disagree (its channels-blocked MaxPool drops a NaN the
    # plain one keeps); test_maxpool_nan_rule_is_refs checks that case against ref
    y = m.op("Conv", [x4, m.weight((16, 16, 1, 1))], output=False)
    m.op("MaxPool", y, kernel_shape=[2, 2], strides=[2, 2])
    m.op("Gemm", [x3, m.weight((24, 10)), m.weight((10,))])
    layers = run_checked(m, tmp_path, board)
    assert {layer["backend"] for layer in layers if layer["op_type"] != "Transpose"} == {board.backend}


def test_maxpool_nan_rule_is_refs(board, tmp_path):
    """The first NaN in a window sticks, as ref's aot_max_nan_f (NaN then numbers, numbers then NaN)."""
    m = Model(seed=28)
    x = m.input((1, 16, 4, 4))
    m.feeds[x][0, :, 0, 0] = np.nan  # the window's first tap
    m.feeds[x][0, 3:9, 1, 3] = np.nan  # its last tap
    y = m.op("Conv", [x, m.const(np.eye(16).reshape(16, 16, 1, 1))], output=False)
    m.op("MaxPool", y, kernel_shape=[2, 2], strides=[2, 2])
    outputs = {}
    for name in ("host", board.name):
        compiled = compile_model(m.proto(), CompileOptions(board=name))
        outputs[name] = load(write_library(compiled, tmp_path / name)).run(m.feeds)[0]
        if name == board.name:
            assert board.kernel("pool_nhwc") in [layer["kernel"] for layer in compiled.metadata["layers"]]
    got = outputs[board.name]
    assert np.isnan(got[0, :, 0, 0]).all() and np.isnan(got[0, 3:9, 0, 1]).all()
    np.testing.assert_array_equal(got, outputs["host"])


def test_clang_builds_the_kernels_clean(board, tmp_path):
    CONV, DW, _, GEMM = kernel_names(board)
    m = Model(seed=27)
    for x, w, attrs in CONV_CASES[::3] + DW_CASES[::3]:
        group = {"group": x[1]} if w[1] == 1 and "group" not in attrs else {}
        m.op("Conv", [m.input(x), m.weight(w), m.weight((w[0],))], **attrs, **group)
    m.op("Gemm", [m.input((2, 9)), m.weight((9, 11))])
    layers = run_checked(m, tmp_path, board, cc="clang", cflags="-O2")  # -Wall -Wextra -Werror come from the Makefile
    assert {CONV, DW, GEMM} <= {layer["kernel"] for layer in layers}


def test_int8_layers_keep_their_layout(board, shared_model):
    """The channels-last conversion is for float layers: an int8 model's Convs keep theirs."""
    graph = compile_model(shared_model("mlperf_tiny/kws_ref_model_int8.onnx"), CompileOptions(board=board.name)).graph
    convs = [n for n in graph.nodes if n.op_type == "Conv"]
    assert convs and all(graph.tensors[n.inputs[0]].layout == "NCHW" for n in convs)
    assert not any(n.op_type == "Transpose" for n in graph.nodes)


@pytest.mark.parametrize("model", ["mnist/model.onnx", "mlperf_tiny/kws_ref_model_float32.onnx",
                                   "mobilenet/mobilenet_v2_0.35_128_tfs_channel_first.onnx"])
def test_shared_float_cnns_run_on_the_x86_kernels(model, board, shared_model, tmp_path):
    """Every Conv, pool and Gemm of the shared float CNNs on this backend, within tolerance of ONNX Runtime."""
    if board.name == "host-sse4" and model.startswith("mobilenet"):  # keeps the file's time in CI
        pytest.skip("on host-sse4, mnist and kws cover the same kernels (mobilenet: bench/host.py --board host-sse4)")
    from aot.flows.verify import verify_model
    report = verify_model(shared_model(model), options=CompileOptions(board=board.name), keep_dir=tmp_path / "lib")
    assert report.ok, report
    layers = json.loads((tmp_path / "lib" / "metadata.json").read_text())["layers"]
    assert all(layer["backend"] == board.backend for layer in layers
               if layer["op_type"] in ("Conv", "MaxPool", "AveragePool", "Gemm"))


def test_kernels_under_sanitizers(board, tmp_path):
    """ASan/UBSan: the kernels read no byte outside their inputs (the graph inputs are separate arrays
    in the driver, so a read past the first layer's input or a weight panel is caught), on random and
    special values; the outputs of the random record match ONNX Runtime."""
    import subprocess
    from conftest import require_tool
    from sanitized_build import SANITIZE, build_sanitized
    m = Model(seed=30)
    x = m.input((1, 5, 9, 7))  # the first layers read the graph input itself
    m.op("Conv", [x, m.weight((13, 5, 3, 3)), m.weight((13,))], pads=[1, 1, 1, 1])
    m.op("Conv", [x, m.weight((5, 1, 3, 3))], group=5, pads=[1, 2, 1, 2], strides=[2, 1])
    y = m.op("Conv", [x, m.weight((11, 5, 1, 1))], output=False)
    m.op("MaxPool", y, kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    m.op("AveragePool", y, kernel_shape=[2, 3])
    m.op("Gemm", [m.input((3, 19)), m.weight((19, 37)), m.weight((37,))])
    compiled = compile_model(m.proto(), CompileOptions(board=board.name))
    lib_dir = write_library(compiled, tmp_path / "lib")
    meta = compiled.metadata
    assert sum(layer["backend"] == board.backend for layer in meta["layers"]) == 6
    exe = build_sanitized(lib_dir, meta, require_tool("clang"), flags=SANITIZE)
    specs = meta["inputs"]
    records = [dict(m.feeds)]
    for value in (np.nan, np.inf, -np.inf):
        records.append({name: np.full_like(v, value) for name, v in m.feeds.items()})
    by_name = {spec["onnx_name"]: spec for spec in specs}
    (tmp_path / "in.bin").write_bytes(b"".join(
        np.ascontiguousarray(r[spec["onnx_name"]], np.float32).tobytes() for r in records for spec in specs))
    assert set(by_name) == set(m.feeds)
    run = subprocess.run([str(exe), str(tmp_path / "in.bin"), str(tmp_path / "out.bin"), str(len(records))],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "Sanitizer" not in run.stderr and "runtime error" not in run.stderr, run.stderr
    raw = np.frombuffer((tmp_path / "out.bin").read_bytes(), np.float32)
    sizes = [o["size"] for o in meta["outputs"]]
    assert raw.size == sum(sizes) * len(records)
    want = run_reference(m.proto(), m.feeds)
    pos = 0
    for o, w in zip(meta["outputs"], want):
        np.testing.assert_allclose(raw[pos:pos + o["size"]].reshape(w.shape), w, atol=ATOL, rtol=RTOL)
        pos += o["size"]
