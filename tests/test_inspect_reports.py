"""``aot inspect`` reports: the per-layer table (tensors with quantization, MACs, weight bytes, kernel
variant, full names), ``--json``, ``--memory-plot`` (SVG; PNG with matplotlib, ASCII without),
``--html`` rendered in headless Chromium, ``aot run --profile-json`` files, and ``--emit-onnx`` of an
int8 graph as QDQ that ONNX Runtime runs within one quantization step of aot's C."""
from __future__ import annotations

import contextlib
import io

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from aot.cli import main
from aot.compiler import CompileOptions, compile_model, write_library
from aot.flows.html_report import html_report
from aot.flows.memory_plot import memory_ascii, memory_svg, write_memory_plot
from aot.flows.profile_file import read_profile
from aot.flows.report_data import inspect_data
from aot.targets.host import load

PREFIX = "encoder_block_0/stage_1/residual_unit_2/"  # longer than the 32 characters names used to be cut to
OUT_SCALE = 0.1  # the Gemm output's scale: one quantization step of the compared output


def qdq_model() -> onnx.ModelProto:
    """x (float) -> Q -> Conv+Relu (int8 weights per channel, int32 bias) -> MaxPool -> Flatten -> Gemm
    -> y (float), each behind QuantizeLinear/DequantizeLinear, layers named with a long shared prefix."""
    rng = np.random.default_rng(0)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def qdq(x: str, scale: float, zero: int, out: str) -> None:
        nodes.append(helper.make_node("QuantizeLinear", [x, const(f"{out}_s", np.float32(scale)),
                                                         const(f"{out}_z", np.int8(zero))], [f"{out}_q"]))
        nodes.append(helper.make_node("DequantizeLinear", [f"{out}_q", f"{out}_s", f"{out}_z"], [out]))

    def dq_const(name: str, q: np.ndarray, scale, axis: int | None = None) -> str:
        zero = np.zeros(np.shape(scale), q.dtype)
        nodes.append(helper.make_node("DequantizeLinear", [const(name, q), const(f"{name}_s", scale),
                                                           const(f"{name}_z", zero)], [f"{name}_f"],
                                      **({"axis": axis} if axis is not None else {})))
        return f"{name}_f"

    qdq("x", 0.02, 3, "xd")
    w_scale = (rng.uniform(0.5, 1.5, 4) * 0.01).astype(np.float32)
    w = dq_const("w", rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), w_scale, axis=0)
    b = dq_const("b", rng.integers(-500, 500, 4).astype(np.int32), (w_scale * 0.02).astype(np.float32), axis=0)
    nodes.append(helper.make_node("Conv", ["xd", w, b], ["c"], pads=[1, 1, 1, 1], name=PREFIX + "conv"))
    nodes.append(helper.make_node("Relu", ["c"], ["r"], name=PREFIX + "relu"))
    qdq("r", 0.05, -128, "rd")
    nodes.append(helper.make_node("MaxPool", ["rd"], ["p"], kernel_shape=[2, 2], strides=[2, 2], name=PREFIX + "pool"))
    qdq("p", 0.05, -128, "pd")
    nodes.append(helper.make_node("Flatten", ["pd"], ["f"]))
    qdq("f", 0.05, -128, "fd")
    w2 = dq_const("w2", rng.integers(-127, 128, (5, 64)).astype(np.int8), np.float32(0.004))
    nodes.append(helper.make_node("Gemm", ["fd", w2], ["g"], transB=1, name=PREFIX + "dense"))
    qdq("g", OUT_SCALE, 2, "y")
    graph = helper.make_graph(nodes, "qdq_small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("reports") / "qdq_small.onnx"
    onnx.save(qdq_model(), str(path))
    return path


@pytest.fixture(scope="module")
def m4_data(model_path: Path) -> dict:
    """The report of the model compiled for the Cortex-M4 (arm-dsp kernels, a fit table)."""
    return inspect_data(compile_model(str(model_path), CompileOptions(board="cortex-m4")))


def layer(data: dict, suffix: str) -> dict:
    return next(x for x in data["layers"] if x["onnx_name"] == PREFIX + suffix)


# -- the table and --json ---------------------------------------------------------------------------
def test_text_report_rows(model_path, m4_data, capsys):
    assert main(["inspect", str(model_path), "--board", "cortex-m4"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line[:4].strip().isdigit()]
    assert len(rows) == len(m4_data["layers"])
    for suffix in ("conv", "pool", "dense"):  # full names: each row says which layer it is
        x = layer(m4_data, suffix)
        assert len(x["name"]) > 32 and x["name"][:32] == layer(m4_data, "conv")["name"][:32]  # once cut alike
        row = next(r for r in rows if r.split()[1] == x["name"])
        assert row.rstrip().endswith(" " + PREFIX + suffix), row  # and the ONNX name in full
        assert f" {x['macs']} " in row and f" {x['weight_bytes']} " in row
    conv, pool = layer(m4_data, "conv"), layer(m4_data, "pool")
    conv_row = next(r for r in rows if r.split()[1] == conv["name"])
    assert conv["variant"] == {"arm-dsp.weights": "int8"} and "arm-dsp.weights=int8" in conv_row
    assert pool["variant"] == {}  # arm-dsp's pooling reads no variant option
    # Input/output rows: the Conv's weight per channel, its output per tensor with scale and zero point.
    assert re.search(r"^\s+in\s+w\s+int8\s+4x3x3x3\s+OIHW\s+const\s+108 B\s+scale=\[[0-9.e-]+\.\.[0-9.e-]+\]\(4\) "
                     r"zp=0 axis=0$", out, flags=re.M), out
    conv_out = conv["outputs"][0]
    assert conv_out["quant"] == {"scale": [pytest.approx(0.05)], "zero_point": [-128], "axis": None}
    assert re.search(rf"^\s+out\s+{conv_out['name']}\s+int8\s+1x4x8x8\s+NCHW\s+arena@{conv_out['offset']}\s+256 B\s+"
                     rf"scale=0.05 zp=-128$", out, flags=re.M), out
    assert "fit on board 'cortex-m4':" in out


def test_json_is_one_document_with_the_same_figures(model_path, m4_data, capsys):
    assert main(["inspect", str(model_path), "--board", "cortex-m4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["layers"] == m4_data["layers"] and data["memory"] == m4_data["memory"]
    assert data["fit"]["board"] == "cortex-m4" and data["fit"]["ok"]
    assert data["totals"]["macs"] == sum(x["macs"] for x in data["layers"]) > 0
    # No weight is shared here, so the layers' weight bytes add up to the model's.
    assert sum(x["weight_bytes"] for x in data["layers"]) == data["memory"]["weights_bytes"]
    conv = layer(data, "conv")
    assert conv["macs"] == 4 * 8 * 8 * 3 * 3 * 3
    assert conv["inputs"][1]["quant"]["axis"] == 0 and len(conv["inputs"][1]["quant"]["scale"]) == 4
    # Buffers alive at the same step never overlap in the arena; live bytes are what the plot draws.
    buffers = data["memory"]["buffers"]
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a["first"] <= b["last"] and b["first"] <= a["last"]:
                assert a["offset"] + a["bytes"] <= b["offset"] or b["offset"] + b["bytes"] <= a["offset"]
    peak = data["memory"]["peak_step"]
    assert data["memory"]["peak_live_bytes"] == max(x["live_bytes"] for x in data["layers"])
    assert data["layers"][peak]["live_bytes"] == data["memory"]["peak_live_bytes"] <= data["memory"]["arena_bytes"]


# -- the memory plot --------------------------------------------------------------------------------
def test_svg_boxes_are_the_buffers(m4_data):
    memory = m4_data["memory"]
    root = ET.fromstring(memory_svg(memory, width=900, height=420))
    ns = "{http://www.w3.org/2000/svg}"
    boxes = [r for r in root.iter(f"{ns}rect") if r.get("class") == "buffer"]
    assert [b.get("data-name") for b in boxes] == [b["name"] for b in memory["buffers"]]
    ph = 420 - 30 - 40  # plot height (memory_svg's margins)
    for box, b in zip(boxes, memory["buffers"]):  # height proportional to bytes, y to the offset
        assert float(box.get("height")) == pytest.approx(max(b["bytes"] * ph / memory["arena_bytes"], 0.5), abs=0.01)
        assert float(box.get("y")) == pytest.approx(30 + ph - (b["offset"] + b["bytes"]) * ph / memory["arena_bytes"],
                                                    abs=0.01)
    assert len([r for r in root.iter(f"{ns}rect") if r.get("class") == "peak"]) == 1


def test_memory_plot_files_and_ascii_fallback(model_path, m4_data, tmp_path, capsys, monkeypatch):
    assert main(["inspect", str(model_path), "--memory-plot", str(tmp_path / "plan.svg")]) == 0
    assert ET.parse(tmp_path / "plan.svg").getroot().tag.endswith("svg")
    assert main(["inspect", str(model_path), "--memory-plot", str(tmp_path / "plan.jpg")]) == 2
    assert "--memory-plot" in capsys.readouterr().err and not (tmp_path / "plan.jpg").exists()
    chart = memory_ascii(m4_data["memory"])
    lines = chart.splitlines()
    assert lines[0].index("v") - 10 == m4_data["memory"]["peak_step"]  # the peak column is marked
    assert all(f" {b['name']}: {b['bytes']} B" in chart for b in m4_data["memory"]["buffers"])
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    text = write_memory_plot(m4_data["memory"], tmp_path / "plan.png", "t")
    assert text is not None and "pip install 'aot[plot]'" in text and chart in text
    assert not (tmp_path / "plan.png").exists()


def test_memory_plot_png(m4_data, tmp_path):
    pytest.importorskip("matplotlib", reason="the PNG plot needs matplotlib (pip install 'aot[plot]')")
    path = tmp_path / "plan.png"
    assert write_memory_plot(m4_data["memory"], path, "t") is None
    import matplotlib.image
    pixels = matplotlib.image.imread(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pixels.shape[0] > 100
    assert np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0).shape[0] > 5  # drawn, not blank


# -- the HTML report and profiles -------------------------------------------------------------------
@pytest.fixture(scope="module")
def board_profile(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``aot run --profile --profile-json`` of the model on the Cortex-M4 (one QEMU run)."""
    from aot.targets.board import resolve_board
    missing = resolve_board("cortex-m4").missing_tools("gcc")
    assert not missing, f"{', '.join(missing)} not installed: run boards/install-toolchains.sh"
    path = tmp_path_factory.mktemp("profile") / "profile.json"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["run", str(model_path), "--board", "cortex-m4", "--profile", "--profile-json", str(path)]) == 0
    (path.parent / "stdout.txt").write_text(printed.getvalue())
    return path


def test_run_prints_full_layer_names_in_the_profile(board_profile, m4_data):
    """The profile table's rows end with the whole layer name (names cut to 32 characters read alike)."""
    rows = (board_profile.parent / "stdout.txt").read_text().splitlines()
    assert sum(len(layer["name"]) > 32 for layer in m4_data["layers"]) >= 3
    for layer in m4_data["layers"]:
        assert any(row.endswith("  " + layer["name"]) and row.split()[0] == str(layer["index"]) for row in rows), layer


def test_run_writes_the_profile_file(board_profile, m4_data):
    profile = read_profile(board_profile)
    assert profile["board"] == "cortex-m4" and profile["unit"] == "instructions"
    assert [x["name"] for x in profile["layers"]] == [x["name"] for x in m4_data["layers"]]
    assert all(x["cost"] > 0 for x in profile["layers"])
    assert sum(x["cost"] for x in profile["layers"]) <= profile["total"]  # the run's total has the call around them


def test_html_report_renders_in_chromium(m4_data, board_profile, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium): the HTML report is not rendered")
    profile = read_profile(board_profile)
    page = tmp_path / "report.html"
    page.write_text(html_report(m4_data, profile))
    assert "http://" not in page.read_text().replace("http://www.w3.org/2000/svg", "")  # nothing fetched
    dom = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    assert dom.count('<tr class="layer"') == len(m4_data["layers"])
    assert dom.count('class="buffer"') == len(m4_data["memory"]["buffers"])
    assert dom.count('class="profile-row"') == len(m4_data["layers"])
    widths = [float(w) for w in re.findall(r'class="bar" style="width:\s*([0-9.]+)px', dom)]
    costs = [x["cost"] for x in profile["layers"]]
    assert widths == pytest.approx([300 * c / max(costs) for c in costs], abs=0.06)  # bars as long as the costs
    assert (PREFIX + "dense") in dom and "arm-dsp.weights=int8" in dom


def test_profile_options_fail_clearly(model_path, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"layers": []}')
    code = main(["inspect", str(model_path), "--html", str(tmp_path / "r.html"), "--profile-json", str(bad)])
    assert code == 2 and "not a profile written by 'aot run --profile --profile-json'" in capsys.readouterr().err
    assert main(["inspect", str(model_path), "--profile-json", str(bad)]) == 2
    assert "needs --html" in capsys.readouterr().err
    assert main(["run", str(model_path), "--board", "cortex-m4", "--profile-json", str(bad)]) == 2
    assert "needs --profile too" in capsys.readouterr().err


# -- --emit-onnx of an int8 graph -------------------------------------------------------------------
def test_emit_onnx_of_int8_graph_runs_in_onnxruntime(model_path, tmp_path, capsys):
    emitted = tmp_path / "emitted.onnx"
    assert main(["compile", str(model_path), "-o", str(tmp_path / "lib"), "--emit-onnx", str(emitted)]) == 0
    model = onnx.load(str(emitted))
    onnx.checker.check_model(model)
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*model.graph.value_info, *model.graph.input]}
    inits = {i.name: i.data_type for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type in ("Conv", "Gemm", "MaxPool"):  # float ops: every input is a dequantized float
            assert all(types.get(i, inits.get(i, TensorProto.FLOAT)) == TensorProto.FLOAT for i in node.input), node
    dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear"]
    assert any(inits.get(n.input[0]) == TensorProto.INT8 and len(n.input) == 3 for n in dq)  # weights with scales
    host = load(write_library(compile_model(str(model_path)), tmp_path / "c"))
    # ONNX Runtime as the QDQ is written (float requantization): its default optimizations fuse QDQ groups
    # into integer kernels that, on this model, differ from the written semantics by up to 19 steps.
    plain = ort.SessionOptions()
    plain.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(str(emitted), plain)
    source = ort.InferenceSession(model_path.read_bytes(), plain)
    rng = np.random.default_rng(3)
    for _ in range(4):
        x = rng.standard_normal((1, 3, 8, 8)).astype(np.float32) * 2
        got = session.run(None, {"x": x})[0]
        assert np.abs(got - host.run([x])[0]).max() <= OUT_SCALE * (1 + 1e-5)  # within one quantization step
        assert np.abs(got - source.run(None, {"x": x})[0]).max() <= OUT_SCALE * (1 + 1e-5)
