"""Covers mixing layouts layer by layer (aot/tune/conversions.py, tuner.search_mixed): the conversion
benchmark transposes every crossing both ways as its own layer (and runs under QEMU); the mixed search
takes each layer in the layout it is cheapest in when the measured conversions cost less than they
save, and stays in one layout when they do not; the per-layer layouts name only the layers aot
converts; a mixed cover builds and runs bit-exact on the board."""
from __future__ import annotations

import json

import numpy as np
import pytest

from aot.compiler import CompileOptions, compile_model
from aot.flows.board_run import run_on_board
from aot.passes.layout_convert import CHANNELS_LAST
from aot.tune.conversions import Crossing, benchmark_model, crossing, transition_costs
from aot.tune.measure import ConfigResult, Configuration, LayerCost
from aot.tune.search import INPUT
from aot.tune.tuner import search_group, search_mixed

from test_isa_backends import isa_model


def test_crossings_are_channels_first_4d_tensors():
    assert crossing((1, 8, 5, 7), "int8", "NCHW") == Crossing((1, 8, 5, 7), "int8")
    assert crossing((1, 5, 7, 8), "float32", "NHWC") == Crossing((1, 8, 5, 7), "float32")
    assert crossing((1, 10), "int8", "NC") is None and crossing((1, 8, 5, 7), "int32", "NCHW") is None


def test_benchmark_transposes_each_crossing_both_ways(tmp_path):
    crossings = [Crossing((1, 8, 5, 7), "int8"), Crossing((1, 3, 4, 4), "float32"), Crossing((1, 8, 5, 7), "int8")]
    model = benchmark_model(crossings)
    names = [n.name for n in model.graph.node]
    assert sorted(names) == sorted({c.layer(a, b) for c in crossings for a, b in (("NCHW", "NHWC"), ("NHWC", "NCHW"))})
    path = tmp_path / "conv.onnx"
    path.write_bytes(model.SerializeToString())
    report = run_on_board(str(path), "cortex-m4", profile=True, keep_dir=tmp_path / "run", timeout=60)
    assert report.ok, report.table()
    assert sorted(layer.name for layer in report.layers) == sorted(names)


def _result(name: str, layers: list[tuple[str, str, float]]) -> ConfigResult:
    backends, layouts = name.split("/")
    rows = [LayerCost(n, "Conv", backends.split("+")[0], "k", layout, [n], "{}", cost) for n, layout, cost in layers]
    return ConfigResult(Configuration(tuple(backends.split("+")), layouts), "ok", "", sum(r.cost for r in rows), rows)


SHAPES = {INPUT: Crossing((1, 4, 8, 8), "int8"), "a": Crossing((1, 8, 8, 8), "int8"),
          "b": Crossing((1, 8, 8, 8), "int8"), "c": Crossing((1, 8, 4, 4), "int8")}


def _costs(per_transpose: float) -> dict[str, float]:
    return {c.layer(s, t): per_transpose for c in SHAPES.values() for s, t in (("NCHW", "NHWC"), ("NHWC", "NCHW"))}


@pytest.mark.parametrize("per_transpose, expected", [(10.0, ["NCHW", "NHWC", "NHWC"]), (500.0, ["NCHW"] * 3)])
def test_mixed_cover_pays_only_conversions_that_save(per_transpose, expected):
    first = _result("ref/default", [("a", "NCHW", 100), ("b", "NCHW", 400), ("c", "NCHW", 300)])
    last = _result("ref/channels-last", [("a", "NHWC", 150), ("b", "NHWC", 200), ("c", "NHWC", 200)])
    ops = {"a": "Conv", "b": "Conv", "c": "MaxPool"}
    cost, choices, layer_layouts = search_mixed(first, [first, last], transition_costs(_costs(per_transpose), SHAPES),
                                                ops)
    assert [c.layout for c in choices] == expected
    if expected[1] == "NHWC":  # a NCHW, b and c NHWC: one conversion in (after a), one out (after c)
        assert cost == 100 + 200 + 200 + 2 * per_transpose
        assert layer_layouts == {"b": CHANNELS_LAST["Conv"], "c": CHANNELS_LAST["MaxPool"]}
    else:
        assert cost == 800 and layer_layouts == {}


def test_a_group_cover_converts_only_the_layers_measured_channels_last():
    """One layout group whose configurations differ in layouts (as x86-avx2's channels-last float
    Convs beside NCHW int8 ones): the cover is built converting just the layers it took in NHWC."""
    mixed_policy = _result("x86+ref/default", [("a", "NHWC", 10), ("b", "NCHW", 400), ("c", "NCHW", 300)])
    plain = _result("ref/default", [("a", "NCHW", 100), ("b", "NCHW", 50), ("c", "NCHW", 300)])
    cost, choices, layer_layouts = search_group([mixed_policy, plain], {"a": "Conv", "b": "Conv", "c": "MaxPool"})
    assert cost == 10 + 50 + 300 and [c.layout for c in choices] == ["NHWC", "NCHW", "NCHW"]
    assert layer_layouts == {"a": CHANNELS_LAST["Conv"]}


def test_unmeasured_crossing_is_never_taken():
    first = _result("ref/default", [("a", "NCHW", 100), ("b", "NCHW", 400)])
    last = _result("ref/channels-last", [("a", "NHWC", 100), ("b", "NHWC", 1)])
    _, choices, _ = search_mixed(first, [first, last], transition_costs({}, SHAPES), {"a": "Conv", "b": "Conv"})
    assert [c.layout for c in choices] == ["NCHW", "NCHW"]


def test_a_mixed_cover_builds_and_runs_bit_exact(tmp_path):
    """Half the convolutions channels-last by name, as a mixed cover applies them (layer_layouts)."""
    proto = isa_model().proto()
    layers = compile_model(proto, CompileOptions(board="cortex-m4")).metadata["layers"]
    convs = [layer["name"] for layer in layers if layer["op_type"] == "Conv"][::2]
    options = CompileOptions(layer_layouts={name: CHANNELS_LAST["Conv"] for name in convs}, layouts_from_backends=False)
    report = run_on_board(proto, "cortex-m4", options=options, keep_dir=tmp_path, timeout=60,
                          feeds=[np.random.default_rng(1).integers(-128, 128, (1, 8, 11, 11)).astype(np.int8)])
    assert report.ok, report.table()
    mixed = json.loads((tmp_path / "lib" / "metadata.json").read_text())["layers"]
    kinds = {layer["name"]: layer["op_type"] for layer in mixed}
    assert "Transpose" in kinds.values() and all(name in kinds for name in convs)
