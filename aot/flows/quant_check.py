"""Checks of a quantized model: the C against the golden model (bit for bit) and against ONNX
Runtime running the same QDQ model (ONNX Runtime requantizes in float, so a few LSB may differ:
compare before the final softmax, in units of the tensor's scale, and compare argmax)."""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
from tqdm import tqdm

from ..compiler import CompileOptions, CompiledModel, compile_model, write_library
from ..frontend import load_onnx
from ..ir import Graph
from ..ir.dtypes import onnx_elem_type
from ..reference import ort_session
from ..targets.host import HostModel, load
from .criteria import Criteria, exact_percent
from ..quant.golden_runner import run_golden

MAX_CLASSES = 100  # outputs of shape [1, C] with 2 <= C <= this count as class scores for argmax


@dataclass
class QuantCheck:
    samples: int = 0
    golden_mismatches: dict[str, int] = field(default_factory=dict)  # output -> mismatching elements
    lsb_within_1: float = 1.0  # share of compared elements within 1 LSB of ONNX Runtime
    lsb_max: float = 0.0
    compared: str = ""  # which tensor the LSB figure is about
    argmax_agreement: float | None = None
    ort_classes: list[int] = field(default_factory=list)
    c_classes: list[int] = field(default_factory=list)
    criteria: Criteria = field(default_factory=Criteria)
    within_count: int = 0  # compared elements within 1 LSB, of ...
    compared_count: int = 0  # ... this many

    @property
    def bit_exact(self) -> bool:
        return not any(self.golden_mismatches.values())

    @property
    def argmax_count(self) -> int:
        return sum(c == o for c, o in zip(self.c_classes, self.ort_classes))

    def failures(self, criteria: Criteria | None = None) -> list[str]:
        """The criteria not met, in words (empty: the check passes)."""
        c = criteria or self.criteria
        failed = []
        if not self.bit_exact:
            failed.append("C differs from the golden model")
        if self.lsb_max > c.max_lsb:
            failed.append(f"max difference {self.lsb_max:g} LSB > {c.max_lsb:g}")
        if self.lsb_within_1 < c.min_within_1lsb:
            failed.append(f"within 1 LSB {exact_percent(self.within_count, self.compared_count)} "
                          f"< {100 * c.min_within_1lsb:g}%")
        if self.argmax_agreement is not None and self.argmax_agreement < c.min_argmax:
            failed.append(f"argmax agreement {exact_percent(self.argmax_count, len(self.c_classes))} "
                          f"< {100 * c.min_argmax:g}%")
        return failed

    def ok(self, min_within: float | None = None, min_argmax: float | None = None) -> bool:
        overrides = {k: v for k, v in (("min_within_1lsb", min_within), ("min_argmax", min_argmax)) if v is not None}
        return not self.failures(replace(self.criteria, **overrides))

    def table(self) -> str:
        rows = [f"samples                      {self.samples}",
                f"criteria: {self.criteria.describe()}",
                f"C == golden model (bit for bit): {'yes' if self.bit_exact else 'NO'}"
                + ("" if self.bit_exact else f"  mismatching elements: {self.golden_mismatches}"),
                f"vs ONNX Runtime on {self.compared}: {exact_percent(self.within_count, self.compared_count)} "
                f"of elements within 1 LSB (max {self.lsb_max:g} LSB)"]
        if self.argmax_agreement is not None:
            rows.append(f"argmax agreement with ONNX Runtime: {exact_percent(self.argmax_count, len(self.c_classes))}")
        return "\n".join(rows)


def is_quantized(graph: Graph) -> bool:
    return any(t.quant is not None for t in graph.tensors.values())


def pre_softmax_tensor(graph: Graph) -> str | None:
    """The int8 input of the last Softmax that produces a graph output (directly or via DQ)."""
    producers = graph.producers()
    for out in graph.outputs:
        node = producers.get(out)
        if node is not None and node.op_type == "DequantizeLinear":
            node = producers.get(node.inputs[0])
        if node is not None and node.op_type == "Softmax":
            return node.inputs[0]
    return None


def lsb_scale(graph: Graph, name: str) -> float:
    """The real value of one LSB of an output: 1 for integer outputs, the scale behind a float one."""
    if graph.tensors[name].dtype != "float32":
        return 1.0
    producer = graph.producers().get(name)
    if producer is not None and producer.op_type == "DequantizeLinear":
        return float(graph.tensors[producer.inputs[0]].quant.scale.reshape(-1)[0])
    return 1.0


def sample_inputs(graph: Graph, rng: np.random.Generator) -> list[np.ndarray]:
    """Random inputs over each input's representable range (its own or its first Quantize's)."""
    consumers = graph.consumers()
    feeds = []
    for name in graph.inputs:
        t = graph.tensors[name]
        if t.dtype == "int8":
            feeds.append(rng.integers(-128, 128, t.shape).astype(np.int8))
            continue
        q = next((n for n in consumers.get(name, []) if n.op_type == "QuantizeLinear"), None)
        if q is not None:
            qt = graph.tensors[q.outputs[0]].quant
            s, zp = float(qt.scale[0]), int(qt.zero_point[0])
            feeds.append(rng.uniform((-128 - zp) * s, (127 - zp) * s, t.shape).astype(t.dtype))
        else:
            feeds.append(rng.standard_normal(t.shape).astype(t.dtype))
    return feeds


def input_quant(graph: Graph, name: str):
    """Quantization of an integer graph input, as model.h gives it (aot/codegen/io_info.py): its own, or
    the one reached through value-moving ops (tf2onnx puts a Transpose/Reshape between the input and its
    DQ) or a uint8 recode; None when there is none."""
    from ..codegen.io_info import io_quantization
    from ..ir.graph import QuantParams
    q = io_quantization(graph, name)
    return None if q is None else QuantParams(np.array([q[0]], np.float32), np.array([q[1]], np.int64))


def _declared_elem_type(model: onnx.ModelProto, name: str | None) -> int | None:
    """The element type ONNX shape inference gives tensor ``name`` in ``model``."""
    inferred = onnx.shape_inference.infer_shapes(model)
    for vi in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        if vi.name == name:
            return vi.type.tensor_type.elem_type
    return None


def check_quantized(model_path: str | Path, *, options: CompileOptions | None = None, samples: int = 20,
                    inputs: list[list[np.ndarray]] | None = None, seed: int = 0, cc: str = "cc", cflags: str = "-O2",
                    progress: bool = True, criteria: Criteria | None = None) -> QuantCheck:
    """Compile the model with the pre-softmax tensor exposed as an extra output, then compare."""
    model = load_onnx(model_path)
    base = compile_model(model, options)
    extra = pre_softmax_tensor(base.graph)
    if extra is not None and _declared_elem_type(model, base.graph.tensors[extra].onnx_name) != onnx_elem_type("int8"):
        extra = None  # a uint8 model's tensor: exposing it would make a uint8 graph output, which aot refuses
    if extra is not None:
        t = base.graph.tensors[extra]
        model.graph.output.append(onnx.helper.make_tensor_value_info(t.onnx_name, onnx_elem_type(t.dtype), list(t.shape)))
    compiled = compile_model(model, options) if extra is not None else base
    with tempfile.TemporaryDirectory(prefix="aot-qcheck-") as tmp:
        host = load(write_library(compiled, Path(tmp) / "lib"), cc=cc, cflags=cflags)
        check = _compare(model, compiled, host, samples, inputs, seed, progress)
    check.criteria = criteria or Criteria()
    return check


def _compare(model: onnx.ModelProto, compiled: CompiledModel, host: HostModel, samples: int,
             inputs: list[list[np.ndarray]] | None, seed: int, progress: bool) -> QuantCheck:
    graph = compiled.graph
    sess = ort_session(model, fuse_quantized=False)  # ONNX's QDQ semantics, the same on every CPU
    rng = np.random.default_rng(seed)
    batches = inputs if inputs is not None else [sample_inputs(graph, rng) for _ in range(samples)]
    names = [graph.tensors[i].onnx_name for i in graph.inputs]
    compared = graph.outputs[-1]
    check = QuantCheck(samples=len(batches), compared=graph.tensors[compared].onnx_name)
    check.golden_mismatches = {graph.tensors[o].onnx_name: 0 for o in graph.outputs}
    scale = lsb_scale(graph, compared)
    within = total = 0
    first = graph.tensors[graph.outputs[0]]
    classify = len(first.shape) == 2 and first.shape[0] == 1 and 2 <= first.shape[1] <= MAX_CLASSES
    for feeds in tqdm(batches, desc="int8 check", unit="input", disable=not progress, leave=False):
        got = host.run(feeds)
        gold = run_golden(graph, feeds)
        ref = sess.run(None, dict(zip(names, feeds)))
        for o, g, e in zip(graph.outputs, got, gold):
            check.golden_mismatches[graph.tensors[o].onnx_name] += int(np.count_nonzero(g != e))
        # Float outputs behind a DequantizeLinear differ by whole LSBs up to float32 rounding.
        lsb = np.round(np.abs(got[-1].astype(np.float64) - np.asarray(ref[-1]).astype(np.float64)) / scale, 3)
        within += int(np.count_nonzero(lsb <= 1.0))
        total += lsb.size
        check.lsb_max = max(check.lsb_max, float(lsb.max(initial=0.0)))
        if classify:
            check.c_classes.append(int(np.argmax(got[0])))
            check.ort_classes.append(int(np.argmax(ref[0])))
    check.within_count, check.compared_count = within, total
    check.lsb_within_1 = within / max(total, 1)
    if classify:
        check.argmax_agreement = float(np.mean(np.array(check.c_classes) == np.array(check.ort_classes)))
    return check
