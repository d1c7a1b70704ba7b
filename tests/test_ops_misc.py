"""Ops and dtype variants without a family test of their own: BitCast, Clip on integers, Identity on any
dtype, Dropout's mask, ReduceMax/ReduceMin of bool, MaxPool of plain int8/uint8 and its indices, the
ai.onnx.preview.training optimizers and the ai.onnx.ml ops. Each is compiled, built and run against
ONNX Runtime or, where ONNX Runtime has no kernel (the training domain), the ONNX reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from aot.compiler import compile_model, write_library
from aot.errors import AotError
from aot.reference import run_reference
from aot.targets.host import load

RNG = np.random.default_rng(5)


def model_of(nodes: list, feeds: dict[str, np.ndarray], outputs: list[str], opsets: dict[str, int],
             constants: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), list(v.shape))
              for k, v in feeds.items()]
    graph = helper.make_graph(nodes, "misc", inputs, [helper.make_tensor_value_info(o, TensorProto.UNDEFINED, None)
                                                      for o in outputs],
                              [numpy_helper.from_array(v, k) for k, v in (constants or {}).items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()])
    model.ir_version = 9
    return onnx.shape_inference.infer_shapes(model, strict_mode=True)


def run_aot(model: onnx.ModelProto, feeds: dict[str, np.ndarray], tmp_path: Path) -> list[np.ndarray]:
    return load(write_library(compile_model(model), tmp_path / "lib")).run(feeds)


def same(got: list[np.ndarray], want: list[np.ndarray], rtol: float = 1e-6, atol: float = 1e-6) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        w = np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, w.dtype, g.shape, w.shape)
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


# -- BitCast ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("src,dst", [(np.float32, np.int32), (np.int32, np.float32), (np.float64, np.uint64),
                                     (np.int8, np.uint8), (np.uint16, np.int16), (np.bool_, np.uint8)])
def test_bitcast_keeps_the_bytes(src, dst, tmp_path):
    x = (RNG.standard_normal((3, 5)) * 100).astype(src)
    x.reshape(-1)[:2] = [0, 1] if src != np.float32 else [np.inf, np.nan]
    model = model_of([helper.make_node("BitCast", ["x"], ["y"], to=helper.np_dtype_to_tensor_dtype(np.dtype(dst)))],
                     {"x": x}, ["y"], {"": 26})
    got = run_aot(model, {"x": x}, tmp_path)[0]
    assert got.dtype == np.dtype(dst) and got.tobytes() == x.tobytes()


def test_bitcast_between_widths_is_refused(tmp_path):
    x = np.zeros(4, np.float32)
    node = helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT64)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 26)])
    with pytest.raises(AotError, match="width|BitCast"):
        run_aot(model, {"x": x}, tmp_path)


# -- Clip, Identity, Dropout, ReduceMax/Min ------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.int64, np.float64])
@pytest.mark.parametrize("bounds", [(-5, 20), (None, 7), (3, None), (9, 2)])
def test_clip_of_integers_and_doubles(dtype, bounds, tmp_path):
    x = RNG.integers(0 if np.dtype(dtype).kind == "u" else -30, 30, (4, 6)).astype(dtype)
    lo, hi = bounds
    if lo is not None and np.dtype(dtype).kind == "u":
        lo = abs(lo)
    constants = {k: np.array(v, dtype) for k, v in (("lo", lo), ("hi", hi)) if v is not None}
    node = helper.make_node("Clip", ["x", "lo" if lo is not None else "", "hi" if hi is not None else ""], ["y"])
    model = model_of([node], {"x": x}, ["y"], {"": 13}, constants)
    same(run_aot(model, {"x": x}, tmp_path), run_reference(model, {"x": x}))


@pytest.mark.parametrize("dtype", [np.int8, np.uint64, np.bool_, np.float64])
def test_identity_of_any_dtype(dtype, tmp_path):
    x = (RNG.standard_normal((2, 3)) * 50).astype(dtype)
    model = model_of([helper.make_node("Identity", ["x"], ["y"])], {"x": x}, ["y"], {"": 16})
    same(run_aot(model, {"x": x}, tmp_path), [x])


@pytest.mark.parametrize("training", [None, False, True])
def test_dropout_mask_at_inference_is_all_true(training, tmp_path):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    constants = {"ratio": np.array(0.0 if training else 0.4, np.float32)}
    inputs = ["x", "ratio"]
    if training is not None:
        constants["training"] = np.array(training)
        inputs.append("training")
    model = model_of([helper.make_node("Dropout", inputs, ["y", "mask"])], {"x": x}, ["y", "mask"], {"": 13}, constants)
    got = run_aot(model, {"x": x}, tmp_path)
    same(got, [x, np.ones(x.shape, bool)])
    same(got, run_reference(model, {"x": x}))


def test_training_dropout_with_a_ratio_is_refused(tmp_path):
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    model = model_of([helper.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"])], {"x": x}, ["y", "mask"],
                     {"": 13}, {"ratio": np.array(0.5, np.float32), "training": np.array(True)})
    with pytest.raises(AotError, match="training mode"):
        run_aot(model, {"x": x}, tmp_path)


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
@pytest.mark.parametrize("axes,keepdims", [([1], 1), ([0, 2], 0), (None, 1), ([], 0)])
def test_reduce_max_min_of_bool(op, axes, keepdims, tmp_path):
    x = RNG.random((3, 4, 5)) < 0.3
    x[0] = True
    constants = {"axes": np.array(axes, np.int64)} if axes is not None else {}
    node = helper.make_node(op, ["x"] + (["axes"] if axes is not None else []), ["y"], keepdims=keepdims)
    model = model_of([node], {"x": x}, ["y"], {"": 20}, constants)
    same(run_aot(model, {"x": x}, tmp_path), run_reference(model, {"x": x}))


# -- MaxPool --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.float32, np.float64])
@pytest.mark.parametrize("attrs", [dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
                                   dict(kernel_shape=[2, 3], dilations=[2, 1]),
                                   dict(kernel_shape=[2, 2], storage_order=1, pads=[0, 1, 1, 0])])
def test_maxpool_plain_integers_and_indices(dtype, attrs, tmp_path):
    x = RNG.permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6)  # distinct values: one argmax per window
    x = (x % 250).astype(dtype) if np.dtype(dtype).kind in "iu" else x.astype(dtype)
    if dtype == np.int8:
        x = (x.astype(np.int16) - 120).astype(np.int8)
    outputs = ["y", "i"] if np.dtype(dtype).kind == "f" or dtype == np.uint8 else ["y"]
    model = model_of([helper.make_node("MaxPool", ["x"], outputs, **attrs)], {"x": x}, outputs, {"": 12})
    got = run_aot(model, {"x": x}, tmp_path)
    want = run_reference(model, {"x": x})
    same(got[:1], want[:1])
    if len(outputs) == 2:
        assert got[1].dtype == np.int64
        if np.dtype(dtype).kind == "f":  # distinct values: ONNX Runtime's indices exactly
            np.testing.assert_array_equal(got[1], want[1])
        # (the uint8 values repeat: a tie may pick another index of the same value) each index holds its maximum
        flat = got[1]
        if attrs.get("storage_order") == 1:  # column-major within each image: h + w * H
            plane, rest = np.divmod(flat, 7 * 6)
            w, h = np.divmod(rest, 7)
            flat = plane * 7 * 6 + h * 6 + w
        np.testing.assert_array_equal(x.reshape(-1)[flat], want[0])


def test_maxpool_1d_and_3d_indices(tmp_path):
    for shape, kernel in (((1, 2, 9), [3]), ((1, 2, 4, 5, 6), [2, 2, 3])):
        x = RNG.standard_normal(shape).astype(np.float32)
        model = model_of([helper.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=kernel)], {"x": x}, ["y", "i"],
                         {"": 12})
        same(run_aot(model, {"x": x}, tmp_path / str(len(shape))), run_reference(model, {"x": x}))


# -- ai.onnx.preview.training -----------------------------------------------------------------------------
TRAINING = {"ai.onnx.preview.training": 1, "": 17}


def optimizer_case(op: str, n: int, step: int, **attrs):
    states = {"Adagrad": ["H"], "Momentum": ["V"], "Adam": ["V", "H"]}[op]
    feeds = {"R": np.array(0.05, np.float32), "T": np.array(step, np.int64)}
    for kind in ["X", "G"] + states:
        for i in range(n):
            shape = (3, i + 2)
            value = RNG.standard_normal(shape).astype(np.float32)
            feeds[f"{kind}{i}"] = np.abs(value) if kind == "H" else value
    outs = [f"{k}{i}_new" for k in ["X"] + states for i in range(n)]
    node = helper.make_node(op, list(feeds), outs, domain="ai.onnx.preview.training", **attrs)
    return model_of([node], feeds, outs, TRAINING), feeds


@pytest.mark.parametrize("op,attrs", [
    ("Adagrad", dict(decay_factor=0.1, epsilon=1e-5, norm_coefficient=0.001)),
    ("Adagrad", {}),
    ("Momentum", dict(alpha=0.9, beta=0.5, mode="standard", norm_coefficient=0.01)),
    ("Momentum", dict(alpha=0.9, beta=0.5, mode="nesterov", norm_coefficient=0.0)),
    ("Adam", dict(alpha=0.9, beta=0.99, epsilon=1e-6, norm_coefficient=0.01, norm_coefficient_post=0.02)),
    ("Adam", {}),
])
@pytest.mark.parametrize("n,step", [(1, 0), (2, 3)])
def test_optimizers_match_the_onnx_reference(op, attrs, n, step, tmp_path):
    model, feeds = optimizer_case(op, n, step, **attrs)
    want = [np.asarray(w, np.float32) for w in ReferenceEvaluator(model).run(None, feeds)]
    same(run_aot(model, feeds, tmp_path), want, rtol=1e-5, atol=1e-6)


def test_optimizer_with_mismatched_shapes_is_refused(tmp_path):
    feeds = {"R": np.array(0.1, np.float32), "T": np.array(1, np.int64), "X": np.zeros(3, np.float32),
             "G": np.zeros(4, np.float32), "H": np.zeros(3, np.float32)}
    node = helper.make_node("Adagrad", list(feeds), ["X_new", "H_new"], domain="ai.onnx.preview.training")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype),
                                                                          list(v.shape)) for k, v in feeds.items()],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, [3]) for o in ("X_new", "H_new")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in TRAINING.items()])
    with pytest.raises(AotError, match="shapes"):
        run_aot(model, feeds, tmp_path)


# -- ai.onnx.ml ---------------------------------------------------------------------------------------------
ML = {"ai.onnx.ml": 5, "": 21}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_binarizer(dtype, tmp_path):
    x = (RNG.standard_normal((4, 5)) * 3).astype(dtype)
    model = model_of([helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=0.5)], {"x": x},
                     ["y"], ML)
    # ONNX Runtime's Binarizer takes float32 only
    want = run_reference(model, {"x": x}) if dtype == np.float32 else ReferenceEvaluator(model).run(None, {"x": x})
    same(run_aot(model, {"x": x}, tmp_path), want)


@pytest.mark.parametrize("shape,indices", [((3, 4), [0, 3, 1]), ((2, 3, 5), [4]), ((6,), [5, 0, -1, 9])])
def test_array_feature_extractor(shape, indices, tmp_path):
    x = RNG.standard_normal(shape).astype(np.float32)
    i = np.array(indices, np.int64)
    model = model_of([helper.make_node("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")],
                     {"x": x, "i": i}, ["y"], ML)
    got = run_aot(model, {"x": x, "i": i}, tmp_path)[0]
    # a runtime index outside the axis wraps once when negative and is clamped (aot's rule for every gather)
    clamped = np.clip(np.where(i < 0, i + shape[-1], i), 0, shape[-1] - 1)
    np.testing.assert_array_equal(got.reshape(-1, len(indices)), x.reshape(-1, shape[-1])[:, clamped])
    if (i >= 0).all() and (i < shape[-1]).all():
        same([got], run_reference(model, {"x": x, "i": i}))


@pytest.mark.parametrize("keys,values,default", [
    ({"keys_int64s": [3, 7, -1]}, {"values_floats": [0.5, 1.5, 2.5]}, {"default_float": 9.0}),
    ({"keys_floats": [0.5, np.nan, 2.0]}, {"values_int64s": [10, 20, 30]}, {}),
    ({"keys_int64s": [1, 2]}, {"values_int64s": [100, 200]}, {"default_int64": 7}),
])
def test_numeric_label_encoder(keys, values, default, tmp_path):
    floats = "keys_floats" in keys
    x = np.array([0.5, np.nan, 2.0, 4.0, -1.0], np.float32) if floats else np.array([3, 7, -1, 1, 2, 0], np.int64)
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", **keys, **values, **default)
    model = model_of([node], {"x": x}, ["y"], {"ai.onnx.ml": 2, "": 17})
    got = run_aot(model, {"x": x}, tmp_path)
    same(got, run_reference(model, {"x": x}))


def test_string_label_encoder_is_refused_cleanly(tmp_path):
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_strings=["a", "b"],
                            values_int64s=[1, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.STRING, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 2), helper.make_opsetid("", 17)])
    with pytest.raises(AotError, match="STRING"):
        compile_model(model)


def tree_node(dtype, aggregate: int = 1, tracks: list[int] | None = None, **overrides):
    """Two trees over 3 features: tree 0 (nodes 0-2) uses <=, set membership and >; tree 1 (nodes 3-4)
    uses <, ==; four targets."""
    attrs = dict(
        nodes_featureids=[0, 1, 2, 2, 0], nodes_modes=np.array([0, 6, 3, 1, 4], np.uint8),
        nodes_splits=np.array([0.0, np.nan, 0.5, -0.2, 1.0], dtype),
        nodes_truenodeids=[1, 0, 2, 4, 3], nodes_trueleafs=[0, 1, 1, 0, 1],
        nodes_falsenodeids=[2, 1, 3, 4, 4], nodes_falseleafs=[0, 1, 1, 1, 1],
        leaf_targetids=[0, 1, 2, 3, 0, 1], leaf_weights=np.array([1.5, -2.0, 4.0, 0.25, 8.0, -1.0], dtype),
        membership_values=np.array([1.0, 2.0, np.nan], dtype), tree_roots=[0, 3], n_targets=4,
        aggregate_function=aggregate, post_transform=0)
    if tracks is not None:
        attrs["nodes_missing_value_tracks_true"] = tracks
    attrs.update(overrides)
    attrs = {k: numpy_helper.from_array(v) if isinstance(v, np.ndarray) else v for k, v in attrs.items()}
    return helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
@pytest.mark.parametrize("tracks", [None, [1, 0, 1, 1, 0]])
def test_tree_ensemble_matches_the_onnx_reference(dtype, aggregate, tracks, tmp_path):
    x = RNG.choice([-1.0, 0.0, 0.3, 1.0, 2.0, np.nan], size=(12, 3)).astype(dtype)
    model = model_of([tree_node(dtype, aggregate, tracks)], {"x": x}, ["y"], ML)
    same(run_aot(model, {"x": x}, tmp_path), ReferenceEvaluator(model).run(None, {"x": x}))


@pytest.mark.parametrize("overrides,reason", [
    (dict(nodes_truenodeids=[1, 0, 2, 3, 3], nodes_trueleafs=[0, 1, 1, 0, 0]), "cycle"),
    (dict(nodes_featureids=[0, 1, 7, 2, 0]), "features"),
    (dict(post_transform=1), "post_transform"),
    (dict(leaf_targetids=[0, 1, 2, 3, 0, 4]), "targets"),
])
def test_bad_tree_ensembles_are_refused(overrides, reason, tmp_path):
    x = np.zeros((2, 3), np.float32)
    node = tree_node(np.float32, **overrides)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in ML.items()])
    with pytest.raises(AotError, match=reason):
        run_aot(model, {"x": x}, tmp_path)


def test_label_encoder_keys_of_another_type_than_the_input_are_refused(tmp_path):
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_floats=[1.5, 2.5],
                            values_int64s=[1, 2])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.INT64, [3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("ai.onnx.ml", 2), helper.make_opsetid("", 17)])
    with pytest.raises(AotError):
        compile_model(model)
