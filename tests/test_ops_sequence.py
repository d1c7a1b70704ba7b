"""Normalisation, recurrent and transposed-convolution ops (issue 10) against ONNX Runtime.

Each test builds one model holding several independent cases, so one C build covers them (see
test_ops_float.py). ONNX Runtime is the reference where it runs the op; where it does not (batchwise
``layout=1`` recurrent layers, even LRN sizes, opset-23 RMSNormalization) the reference is ONNX Runtime
on the equivalent layout-0 model, the ONNX reference evaluator, or the ONNX node test's data.
Tolerance: abs 1e-4 + rel 1e-4. The last tests run an LSTM keyword spotter, a GRU and a ConvTranspose
autoencoder with ``aot run --board cortex-m4`` under QEMU (the cross toolchain is part of the install).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from aot.compiler import CompileOptions, compile_model, write_library
from aot.errors import AotError, ShapeError
from aot.reference import run_reference
from aot.targets.host import load
from test_ops_float import ATOL, RTOL, Model, check

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


class SeqModel(Model):
    """Model whose outputs may be given shapes (ONNX shape inference does not see through function
    ops such as GroupNormalization, and the checker needs them)."""

    def op(self, op_type: str, inputs: list[str], outputs: int = 1, output: bool = True,
           shapes: list[tuple[int, ...]] | None = None, **attrs) -> list[str]:
        names = super().op(op_type, inputs, outputs, output=False, **attrs)
        if output:
            for k, name in enumerate(names):
                shape = list(shapes[k]) if shapes else None
                self.outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
        return names

    def recurrent(self, op: str, seq: int = 5, batch: int = 2, inputs: int = 3, hidden: int = 4,
                  direction: str = "forward", layout: int = 0, outputs: int = 3, bias: bool = True,
                  h0: bool = False, c0: bool = False, peepholes: bool = False, **attrs) -> list[str]:
        """A recurrent layer with random weights; its present outputs become graph outputs."""
        dirs = 2 if direction == "bidirectional" else 1
        g = GATES[op]
        x = self.input((batch, seq, inputs) if layout else (seq, batch, inputs))
        ins = [x, self.weight((dirs, g * hidden, inputs)), self.weight((dirs, g * hidden, hidden)),
               self.weight((dirs, 2 * g * hidden)) if bias else ""]
        state = (batch, dirs, hidden) if layout else (dirs, batch, hidden)
        if h0 or c0 or peepholes:
            ins += ["", self.input(state) if h0 else ""]
        if op == "LSTM" and (c0 or peepholes):
            ins.append(self.input(state) if c0 else "")
        if peepholes:
            ins.append(self.weight((dirs, 3 * hidden)))
        count = min(outputs, 3 if op == "LSTM" else 2)
        return self.op(op, ins, outputs=count, hidden_size=hidden, direction=direction, **({"layout": layout} if layout else {}), **attrs)


def build(model: onnx.ModelProto, path: Path, cc: str = "gcc", **options):
    return load(write_library(compile_model(model, CompileOptions(**options)), path), cc=cc)


def assert_close(got: list[np.ndarray], want: list[np.ndarray], what: str = "") -> None:
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape, f"{what} output {k}: shape {g.shape}, expected {w.shape}"
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=f"{what} output {k}")


# -- recurrent ------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_directions_and_options(op, tmp_path):
    m = SeqModel(opset=14, seed=1)
    m.recurrent(op)
    m.recurrent(op, direction="bidirectional", h0=True, c0=True)
    m.recurrent(op, direction="reverse", h0=True)
    m.recurrent(op, clip=0.5, bias=False)
    m.recurrent(op, outputs=1, seq=1, batch=1, hidden=7)  # Y only, one step
    m.recurrent(op, inputs=9, hidden=3, batch=3, direction="bidirectional", clip=2.5)
    if op == "LSTM":
        m.recurrent(op, peepholes=True, h0=True, c0=True, direction="bidirectional")
        m.recurrent(op, input_forget=1, peepholes=True)
        m.recurrent(op, input_forget=1, direction="reverse", clip=1.0)
    if op == "GRU":
        m.recurrent(op, linear_before_reset=1, direction="bidirectional", h0=True)
        m.recurrent(op, linear_before_reset=1, bias=False, clip=0.3)
    check(m, tmp_path, syntax=True)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_recurrent_activations(op, tmp_path):
    """Every activation ONNX lists, with alpha/beta consumed in order by the functions that take
    them (ONNX Runtime's rule)."""
    m = SeqModel(opset=14, seed=2)
    lists = {
        "LSTM": [(["HardSigmoid", "LeakyRelu", "Softsign"], [0.3, 0.2], [0.4]),
                 (["Sigmoid", "Elu", "Softplus", "Relu", "ScaledTanh", "Affine"], [0.7, 0.9, 0.5], [1.2, 0.1]),
                 (["sigmoid", "tanh", "thresholdedrelu"], [0.1], [])],
        "GRU": [(["Relu", "Elu", "Softplus", "ScaledTanh"], [0.5, 0.7], [1.3]),
                (["HardSigmoid", "LeakyRelu"], [], []), (["Affine", "Softsign"], [0.6], [0.2])],
        "RNN": [(["ThresholdedRelu"], [0.1], []), (["Affine", "Sigmoid"], [0.5], [0.2]),
                (["Relu"], [], []), (["LeakyRelu"], [0.2], []), (["HardSigmoid"], [], []), (["Elu"], [], []),
                (["Softplus"], [], []), (["Softsign"], [], []), (["ScaledTanh"], [0.8], [1.5])],
    }[op]
    per_direction = {"LSTM": 3, "GRU": 2, "RNN": 1}[op]
    for names, alphas, betas in lists:
        direction = "bidirectional" if len(names) == 2 * per_direction else "forward"
        attrs = {"activation_alpha": alphas} if alphas else {}
        if betas:
            attrs["activation_beta"] = betas
        m.recurrent(op, direction=direction, activations=names, h0=True, **attrs)
    check(m, tmp_path, cc="clang" if op == "GRU" else "gcc")


ALL_ACTIVATIONS = ["Relu", "Tanh", "Sigmoid", "Affine", "LeakyRelu", "ThresholdedRelu", "ScaledTanh", "HardSigmoid",
                   "Elu", "Softsign", "Softplus"]


def test_recurrent_special_values(tmp_path):
    """NaN, infinities and huge inputs through every activation: ONNX Runtime's LSTM and GRU clip
    the gates (to +-FLT_MAX by default) with a NaN going to the upper bound; its RNN lets it through."""
    m = SeqModel(opset=14, seed=3)
    for op, count in [("RNN", 1), ("GRU", 2), ("LSTM", 3)]:
        for name in ALL_ACTIVATIONS:
            m.recurrent(op, activations=[name] * count, seq=2, batch=1, hidden=3, inputs=4, h0=True,
                        activation_alpha=[0.5] * 3, activation_beta=[0.3] * 3)
    special = np.float32([np.nan, np.inf, -np.inf, 1e30])
    for k in m.feeds:
        m.feeds[k] = m.feeds[k] * 40
        flat = m.feeds[k].reshape(-1)
        flat[:4] = special[:flat.size]
    model = m.proto()
    got = build(model, tmp_path / "lib").run(m.feeds)
    want = run_reference(model, m.feeds)
    assert any(np.isnan(w).any() for w in want) and any(np.isinf(w).any() for w in want)
    for k, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, equal_nan=True, err_msg=model.graph.output[k].name)


def _layout0_reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """ONNX Runtime has no batchwise (layout=1) recurrent kernels: run the layout-0 form of the
    model on transposed inputs and transpose its outputs back."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    feeds = dict(feeds)
    perms = {}
    for node in model.graph.node:
        for a in node.attribute:
            if a.name == "layout":
                a.i = 0
        for pos in (0, 5, 6):  # X, initial_h, initial_c
            if pos < len(node.input) and node.input[pos] in feeds:
                feeds[node.input[pos]] = np.ascontiguousarray(np.swapaxes(feeds[node.input[pos]], 0, 1))
        for pos, name in enumerate(node.output):
            perms[name] = (2, 0, 1, 3) if pos == 0 else (1, 0, 2)
    for out in model.graph.output:
        out.type.tensor_type.ClearField("shape")
    for inp in model.graph.input:
        if inp.name in feeds:
            del inp.type.tensor_type.shape.dim[:]
            for d in feeds[inp.name].shape:
                inp.type.tensor_type.shape.dim.add().dim_value = d
    outs = run_reference(model, feeds)
    return [np.transpose(o, perms[vi.name]) for vi, o in zip(model.graph.output, outs)]


def test_recurrent_batchwise_layout(tmp_path):
    m = SeqModel(opset=14, seed=3)
    m.recurrent("LSTM", layout=1, direction="bidirectional", h0=True, c0=True, peepholes=True)
    m.recurrent("GRU", layout=1, direction="reverse", h0=True, linear_before_reset=1)
    m.recurrent("RNN", layout=1, direction="bidirectional", batch=3, seq=4)
    model = m.proto()
    got = build(model, tmp_path / "lib").run(m.feeds)
    assert_close(got, _layout0_reference(model, m.feeds), "layout=1")


def _streaming_model(op: str, seq: int, seed: int = 4) -> tuple[onnx.ModelProto, list[str]]:
    """A forward layer with initial states as inputs and Y, Y_h (and Y_c) as outputs."""
    rng = np.random.default_rng(seed)
    batch, inputs, hidden, g = 2, 3, 5, GATES[op]
    inits = {"W": rng.standard_normal((1, g * hidden, inputs)) * 0.5, "R": rng.standard_normal((1, g * hidden, hidden)) * 0.5,
             "B": rng.standard_normal((1, 2 * g * hidden)) * 0.5}
    names = ["X", "W", "R", "B", "", "h0"] + (["c0"] if op == "LSTM" else [])
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    state = [1, batch, hidden]
    inputs_vi = [helper.make_tensor_value_info("X", TensorProto.FLOAT, [seq, batch, inputs])] + \
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in names[5:]]
    outputs_vi = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [seq, 1, batch, hidden])] + \
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, state) for n in outs[1:]]
    node = helper.make_node(op, names, outs, hidden_size=hidden)
    graph = helper.make_graph([node], "stream", inputs_vi, outputs_vi,
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model, names[5:]


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_streaming_in_two_halves_equals_one_run(op, tmp_path):
    """Frame by frame: the second half starts from the first half's Y_h (and Y_c)."""
    seq = 6
    full, states = _streaming_model(op, seq)
    half, _ = _streaming_model(op, seq // 2)
    rng = np.random.default_rng(9)
    x = rng.uniform(-2, 2, (seq, 2, 3)).astype(np.float32)
    start = {n: rng.uniform(-1, 1, (1, 2, 5)).astype(np.float32) for n in states}
    whole = build(full, tmp_path / "full").run({"X": x, **start})
    assert_close(whole, run_reference(full, {"X": x, **start}), f"{op} full")
    step = build(half, tmp_path / "half")
    first = step.run({"X": x[:seq // 2], **start})
    second = step.run({"X": x[seq // 2:], **dict(zip(states, first[1:]))})
    np.testing.assert_allclose(np.concatenate([first[0], second[0]]), whole[0], atol=1e-6, rtol=1e-6)
    for got, want in zip(second[1:], whole[1:]):
        np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-6)
    assert not np.allclose(first[1], second[1])  # the state moved: the test can tell


def test_sequence_lens_full_length_is_accepted_other_lengths_refused(tmp_path):
    m = SeqModel(opset=14, seed=5)
    x = m.input((4, 2, 3))
    w, r = m.weight((1, 8, 3)), m.weight((1, 8, 2))
    m.op("LSTM", [x, w, r, "", m.const([4, 4], np.int32)], outputs=2, hidden_size=2)
    check(m, tmp_path)

    m = SeqModel(opset=14, seed=5)
    x = m.input((4, 2, 3))
    m.op("GRU", [x, m.weight((1, 6, 3)), m.weight((1, 6, 2)), "", m.const([4, 3], np.int32)], hidden_size=2)
    with pytest.raises(AotError, match=r"sequence_lens \[4, 3\] differ from the sequence length 4"):
        compile_model(m.proto(), CompileOptions())

    m = SeqModel(opset=14, seed=5)
    seq_lens = "lens"
    m.inputs.append(helper.make_tensor_value_info(seq_lens, TensorProto.INT32, [2]))
    x = m.input((4, 2, 3))
    m.op("RNN", [x, m.weight((1, 2, 3)), m.weight((1, 2, 2)), "", seq_lens], hidden_size=2)
    with pytest.raises(AotError, match="must be a compile-time constant"):
        compile_model(m.proto(), CompileOptions())


# -- normalisations -------------------------------------------------------------------------------
def test_normalizations(tmp_path):
    m = SeqModel(opset=21, seed=6)
    m.op("LayerNormalization", [m.input((2, 3, 4, 5)), m.weight((5,)), m.weight((5,))], outputs=3, epsilon=1e-3)
    m.op("LayerNormalization", [m.input((2, 3, 4)), m.weight((3, 4))], axis=1)
    m.op("LayerNormalization", [m.input((2, 3, 4)), m.weight((3, 1)), m.weight((1,))], axis=-2)  # broadcast
    m.op("LayerNormalization", [m.input((6, 7)), m.weight((6, 7)), m.weight((7,))], outputs=3, axis=0)
    ln = m.op("LayerNormalization", [m.input((3, 8)), m.weight((8,))], outputs=3, output=False)
    m.output(ln[0])
    m.output(ln[2])  # InvStdDev without Mean
    m.op("LayerNormalization", [m.input((2, 4), 50.0, 50.5), m.weight((4,))])  # large mean, small spread
    m.op("GroupNormalization", [m.input((2, 6, 3, 2)), m.weight((6,)), m.weight((6,))], num_groups=3,
         shapes=[(2, 6, 3, 2)])
    m.op("GroupNormalization", [m.input((1, 4, 5)), m.weight((4,)), m.weight((4,))], num_groups=4, epsilon=1e-2,
         shapes=[(1, 4, 5)])
    m.op("GroupNormalization", [m.input((2, 4, 2, 2, 2)), m.weight((4,)), m.weight((4,))], num_groups=1,
         shapes=[(2, 4, 2, 2, 2)])
    m.op("InstanceNormalization", [m.input((2, 3, 4, 5)), m.weight((3,)), m.weight((3,))], epsilon=1e-3)
    m.op("InstanceNormalization", [m.input((1, 2, 7)), m.weight((2,)), m.weight((2,))])
    m.op("LRN", [m.input((2, 5, 3, 3))], size=3, alpha=0.01, beta=0.6, bias=1.5)
    m.op("LRN", [m.input((1, 6, 2, 2))], size=5)
    check(m, tmp_path, syntax=True)


def test_normalizations_special_values(tmp_path):
    """NaN and infinities as ONNX Runtime computes them: LayerNormalization's Mean is NaN when an
    infinity is not the row's last element (its running mean), LRN's running channel sum carries a
    NaN into the channels after it."""
    m = SeqModel(opset=21, seed=6)
    m.op("LayerNormalization", [m.input((5, 4)), m.weight((4,)), m.weight((4,))], outputs=3)
    m.op("GroupNormalization", [m.input((2, 4, 3)), m.weight((4,)), m.weight((4,))], num_groups=2, shapes=[(2, 4, 3)])
    m.op("InstanceNormalization", [m.input((2, 3, 4)), m.weight((3,)), m.weight((3,))])
    m.op("LRN", [m.input((1, 5, 2, 2))], size=3)
    m.op("ConvTranspose", [m.input((1, 2, 3, 3)), m.weight((2, 2, 2, 2))], strides=[2, 2])
    for k in m.feeds:
        flat = m.feeds[k].reshape(-1)
        for index, value in zip([0, 7, 13, 19], [np.nan, np.inf, -np.inf, np.inf]):
            if index < flat.size:
                flat[index] = value
    model = m.proto()
    got = build(model, tmp_path / "lib", cc="clang").run(m.feeds)
    want = run_reference(model, m.feeds)
    assert np.isinf(want[1]).any()  # a Mean that stays infinite (the infinity came last)
    for vi, g, w in zip(model.graph.output, got, want):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, equal_nan=True, err_msg=vi.name)


def _onnx_reference(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [np.asarray(o) for o in ReferenceEvaluator(model).run(None, feeds)]


def test_group_norm_opset18_per_group(tmp_path):
    """Opset 18's GroupNormalization scales per group (the onnx checker calls that version deprecated
    and ONNX Runtime has no kernel for it): the ONNX reference evaluator is the reference."""
    m = SeqModel(opset=18, seed=7)
    m.op("GroupNormalization", [m.input((2, 6, 3)), m.weight((3,)), m.weight((3,))], num_groups=3, shapes=[(2, 6, 3)])
    m.op("GroupNormalization", [m.input((1, 4, 2, 2)), m.weight((2,)), m.weight((2,))], num_groups=2, epsilon=0.1,
         shapes=[(1, 4, 2, 2)])
    graph = helper.make_graph(m.nodes, "ops", m.inputs, m.outputs, m.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    got = build(model, tmp_path / "lib").run(m.feeds)
    assert_close(got, _onnx_reference(model, m.feeds), "opset 18")


def _lrn(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0) -> np.ndarray:
    """ONNX's LRN formula. ONNX Runtime runs only odd sizes on 4-D inputs, and the onnx 1.22 reference
    evaluator sums the wrong channels (it loops over the batch axis)."""
    x64, c = x.astype(np.float64), x.shape[1]
    sq = np.zeros_like(x64)
    for ch in range(c):
        lo, hi = max(0, ch - (size - 1) // 2), min(c - 1, ch + size // 2)
        sq[:, ch] = (x64[:, lo:hi + 1] ** 2).sum(axis=1)
    return (x64 / (bias + alpha / size * sq) ** beta).astype(np.float32)


def test_lrn_even_sizes_and_other_ranks(tmp_path):
    m = SeqModel(opset=17, seed=12)
    cases = [((1, 6, 2, 3), {"size": 4, "alpha": 0.2, "beta": 0.5, "bias": 2.0}), ((2, 3, 2), {"size": 2}),
             ((1, 3, 4), {"size": 1, "alpha": 0.5}),
             ((1, 4, 2, 1, 2), {"size": 3, "beta": 0.5, "bias": 2.0})]
    for shape, attrs in cases:
        m.op("LRN", [m.input(shape)], **attrs)
    got = build(m.proto(), tmp_path / "lib").run(m.feeds)
    want = [_lrn(m.feeds[n.input[0]], **attrs) for n, (_, attrs) in zip(m.nodes, cases)]
    assert_close(got, want, "LRN")


def test_rms_normalization(tmp_path):
    if not onnx.defs.has("RMSNormalization"):
        pytest.skip(f"onnx {onnx.__version__} does not define RMSNormalization (opset 23)")
    m = SeqModel(opset=23, seed=8)
    m.op("RMSNormalization", [m.input((2, 3, 4)), m.weight((4,))], epsilon=1e-3)
    m.op("RMSNormalization", [m.input((2, 3, 4)), m.weight((3, 4))], axis=1)
    m.op("RMSNormalization", [m.input((5, 2)), m.weight((1,))], axis=0)
    m.op("RMSNormalization", [m.input((2, 3, 4)), m.weight((3, 1))], axis=-2)
    model = m.proto()
    got = build(model, tmp_path / "lib").run(m.feeds)
    assert_close(got, _onnx_reference(model, m.feeds), "RMSNormalization")


RMS_NODE_TESTS = sorted(p.name for p in (Path(onnx.__file__).parent / "backend/test/data/node").glob("test_rms_normalization_*")
                        if not p.name.endswith("_expanded"))


@pytest.mark.parametrize("name", RMS_NODE_TESTS)
def test_rms_normalization_node_tests(name, tmp_path):
    """The opset-23 node tests, which test_onnx_conformance does not collect: the frontend reads a
    ModelProto of opset 23 for this op, but onnx.version_converter cannot take it down to 21."""
    folder = Path(onnx.__file__).parent / "backend/test/data/node" / name
    model = onnx.load(str(folder / "model.onnx"))
    host = build(model, tmp_path / "lib", cc="gcc")
    for data_set in sorted(folder.glob("test_data_set_*")):
        feeds = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in sorted(data_set.glob("input_*.pb"))]
        want = [numpy_helper.to_array(onnx.load_tensor(str(f))) for f in sorted(data_set.glob("output_*.pb"))]
        got = host.run(feeds)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-3, atol=1e-5)


# -- ConvTranspose --------------------------------------------------------------------------------
@pytest.mark.parametrize("compiler", ["gcc", "clang"])
def test_conv_transpose(compiler, tmp_path):
    m = SeqModel(opset=17, seed=10)

    def ct(x, w, bias=True, **attrs):
        ins = [m.input(x), m.weight(w)] + ([m.weight((w[1] * attrs.get("group", 1),))] if bias else [])
        m.op("ConvTranspose", ins, **attrs)

    ct((1, 2, 5), (2, 3, 3), strides=[2])
    ct((1, 3, 6), (3, 2, 4), bias=False, pads=[1, 2], dilations=[2])
    ct((2, 3, 4, 4), (3, 2, 3, 3), strides=[2, 2], pads=[1, 0, 1, 1], output_padding=[1, 0])
    ct((1, 4, 3, 5), (4, 1, 3, 2), group=2, bias=False, dilations=[2, 1])
    ct((1, 4, 3, 3), (4, 2, 2, 2), group=4, strides=[3, 2])  # depthwise-style, channel multiplier 2
    ct((1, 2, 3, 3), (2, 2, 3, 3), strides=[2, 2], auto_pad="SAME_UPPER")
    ct((1, 2, 3, 4), (2, 2, 4, 3), strides=[2, 3], auto_pad="SAME_LOWER")
    ct((1, 2, 3, 3), (2, 2, 3, 3), strides=[2, 2], output_shape=[6, 8])  # odd padding, one bias-only column
    ct((1, 2, 3, 3), (2, 2, 2, 2), auto_pad="VALID", strides=[2, 2])
    ct((1, 1, 3, 3), (1, 1, 3, 3), pads=[2, 2, 2, 2])  # padding larger than the output's reach
    ct((1, 2, 2, 3, 2), (2, 1, 2, 2, 2), strides=[2, 1, 2], pads=[0, 1, 0, 1, 0, 0])
    ct((1, 2, 2, 2, 2), (2, 3, 2, 3, 2), strides=[1, 2, 2], output_padding=[0, 1, 1])
    check(m, tmp_path, cc=compiler, syntax=compiler == "gcc")


# -- validation ----------------------------------------------------------------------------------
def _single(op: str, inputs: dict[str, tuple], consts: dict[str, np.ndarray], outputs: int = 1, opset: int = 17,
            **attrs) -> onnx.ModelProto:
    """An unchecked one-node model: the point is what aot says about it."""
    names = list(inputs) + list(consts)
    node = helper.make_node(op, names, [f"y{k}" for k in range(outputs)], **attrs)
    graph = helper.make_graph([node], "bad", [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))
                                              for n, s in inputs.items()],
                              [helper.make_tensor_value_info(f"y{k}", TensorProto.FLOAT, None) for k in range(outputs)],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def _w(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


INVALID = [
    ("ConvTranspose", {"x": (1, 2, 3, 3)}, {"w": _w(2, 2, 3, 3)}, {"strides": [2, 2], "output_padding": [2, 0]},
     "output_padding [2, 0]: 2 on spatial axis 0 must be at least 0 and less than its stride 2"),
    ("ConvTranspose", {"x": (1, 3, 3, 3)}, {"w": _w(3, 2, 3, 3)}, {"group": 2},
     "group 2 must be at least 1 and divide the input channels (3)"),
    ("ConvTranspose", {"x": (1, 2, 3, 3)}, {"w": _w(2, 2, 3, 3), "b": _w(3)}, {},
     "bias shape [3] must be [2]"),
    ("ConvTranspose", {"x": (1, 2, 3, 3)}, {"w": _w(2, 2, 3, 3)}, {"strides": [2, 2], "output_shape": [12, 7]},
     "output_shape [12, 7]: 12 on spatial axis 0 exceeds the full output 7"),
    ("LSTM", {"x": (3, 1, 2)}, {"w": _w(1, 8, 2), "r": _w(1, 8, 2)}, {"hidden_size": 3},
     "hidden_size 3 disagrees with W shape [1, 8, 2]"),
    ("GRU", {"x": (3, 1, 2)}, {"w": _w(1, 6, 2), "r": _w(1, 6, 2)}, {"activations": ["Sigmoid", "Gelu"]},
     "activations ['Gelu'] are not RNN activations"),
    ("RNN", {"x": (3, 1, 2)}, {"w": _w(1, 2, 2), "r": _w(1, 2, 2)}, {"clip": -1.0}, "clip -1.0 must be positive"),
    ("LSTM", {"x": (3, 1, 2)}, {"w": _w(1, 8, 2), "r": _w(1, 8, 2)}, {"activations": ["Sigmoid", "Tanh"]},
     "activations lists 2 functions; LSTM takes 3 per direction, 3 for a forward layer"),
    ("LayerNormalization", {"x": (2, 3)}, {"s": _w(2)}, {"axis": -1},
     "Scale shape [2] does not broadcast to the normalised shape [3]"),
    ("InstanceNormalization", {"x": (1, 3, 4)}, {"s": _w(2), "b": _w(3)}, {},
     "scale shape [2] must be [3] (one value per channel)"),
]


@pytest.mark.parametrize("op, inputs, consts, attrs, reason", INVALID, ids=[f"{c[0]}-{i}" for i, c in enumerate(INVALID)])
def test_invalid_attributes_are_refused_with_a_reason(op, inputs, consts, attrs, reason):
    with pytest.raises(ShapeError) as err:
        compile_model(_single(op, inputs, consts, **attrs), CompileOptions())
    assert reason in str(err.value), str(err.value)


# -- on a board -----------------------------------------------------------------------------------
def _kws_lstm() -> onnx.ModelProto:
    """A keyword spotter's shape: 49 frames of 10 MFCCs -> LSTM(32) -> last state -> Gemm -> Softmax."""
    rng = np.random.default_rng(11)
    seq, feat, hidden, classes = 49, 10, 32, 12
    inits = {"W": rng.standard_normal((1, 4 * hidden, feat)) * 0.3, "R": rng.standard_normal((1, 4 * hidden, hidden)) * 0.2,
             "B": rng.standard_normal((1, 8 * hidden)) * 0.1, "fc.w": rng.standard_normal((hidden, classes)) * 0.3,
             "fc.b": rng.standard_normal(classes) * 0.1, "flat": np.array([1, hidden])}
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=hidden),
             helper.make_node("Reshape", ["h", "flat"], ["hf"]),
             helper.make_node("Gemm", ["hf", "fc.w", "fc.b"], ["logits"]),
             helper.make_node("Softmax", ["logits"], ["probs"], axis=1)]
    return _board_model(nodes, [("x", [seq, 1, feat])], [("probs", [1, classes])], inits)


def _gru() -> onnx.ModelProto:
    """A bidirectional GRU (linear_before_reset) over 20 frames from a given initial state: Y and Y_h."""
    rng = np.random.default_rng(12)
    seq, feat, hidden = 20, 8, 16
    inits = {"W": rng.standard_normal((2, 3 * hidden, feat)) * 0.3, "R": rng.standard_normal((2, 3 * hidden, hidden)) * 0.2,
             "B": rng.standard_normal((2, 6 * hidden)) * 0.1}
    nodes = [helper.make_node("GRU", ["x", "W", "R", "B", "", "h0"], ["y", "h"], hidden_size=hidden,
                              direction="bidirectional", linear_before_reset=1)]
    return _board_model(nodes, [("x", [seq, 1, feat]), ("h0", [2, 1, hidden])],
                        [("y", [seq, 2, 1, hidden]), ("h", [2, 1, hidden])], inits)


def _autoencoder() -> onnx.ModelProto:
    """Conv (stride 2) encoder, ConvTranspose decoder with output_padding, InstanceNormalization and LRN."""
    rng = np.random.default_rng(13)
    inits = {"e1": rng.standard_normal((8, 1, 3, 3)) * 0.4, "e1b": rng.standard_normal(8) * 0.1,
             "e2": rng.standard_normal((16, 8, 3, 3)) * 0.2, "d1": rng.standard_normal((16, 8, 3, 3)) * 0.2,
             "d1b": rng.standard_normal(8) * 0.1, "d2": rng.standard_normal((8, 1, 3, 3)) * 0.3,
             "in.s": rng.uniform(0.5, 1.5, 8), "in.b": rng.standard_normal(8) * 0.1}
    nodes = [helper.make_node("Conv", ["x", "e1", "e1b"], ["c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "e2"], ["c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("ConvTranspose", ["r2", "d1", "d1b"], ["t1"], strides=[2, 2], pads=[1, 1, 1, 1],
                              output_padding=[1, 1]),
             helper.make_node("InstanceNormalization", ["t1", "in.s", "in.b"], ["n1"]),
             helper.make_node("LRN", ["n1"], ["l1"], size=3),
             helper.make_node("Relu", ["l1"], ["r3"]),
             helper.make_node("ConvTranspose", ["r3", "d2"], ["t2"], strides=[2, 2], auto_pad="SAME_UPPER"),
             helper.make_node("Sigmoid", ["t2"], ["y"])]
    return _board_model(nodes, [("x", [1, 1, 16, 16])], [("y", [1, 1, 16, 16])], inits)


def _board_model(nodes, inputs, outputs, inits) -> onnx.ModelProto:
    consts = [numpy_helper.from_array(np.asarray(v, np.int64 if k == "flat" else np.float32), k) for k, v in inits.items()]
    graph = helper.make_graph(nodes, "seq", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in outputs], consts)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="aot-tests")
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


BOARD_MODELS = {"lstm_kws": _kws_lstm, "gru_bidirectional": _gru, "convtranspose_autoencoder": _autoencoder}


@pytest.mark.parametrize("name", sorted(BOARD_MODELS))
def test_aot_run_on_cortex_m4(name, tmp_path, capsys):
    from aot.cli.board import add_board_commands
    from aot.targets.board import resolve_board
    missing = resolve_board("cortex-m4").missing_tools("gcc")
    # as tests/test_qemu_models.py: the cross toolchain is part of the install, its absence a failure
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    path = tmp_path / f"{name}.onnx"
    onnx.save(BOARD_MODELS[name](), str(path))
    parser = argparse.ArgumentParser(prog="aot")
    add_board_commands(parser.add_subparsers())
    args = parser.parse_args(["run", str(path), "--board", "cortex-m4"])
    status = args.func(args)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "run: PASS" in out and "onnxruntime" in out
