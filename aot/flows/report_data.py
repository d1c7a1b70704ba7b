"""Everything ``aot inspect`` reports about a compiled model, as one JSON-able dict: the text table,
``--json``, the HTML report and the memory plot all read this, so they show the same figures.

Per layer (STM32Cube.AI's analyze report gives MACC/ROM/RAM per layer; these are aot's equivalents):
its inputs and outputs (dtype, shape, layout, storage, quantization), MACs, the bytes of constant
data it reads (``weight_bytes``), the arena bytes live while it runs (``live_bytes``) and the kernel
variant (the values of its backend's variant options, e.g. ``arm-dsp.weights=int8``). The memory
section gives each arena buffer's lifetime (first and last step, a step being one layer) and offset.
"""
from __future__ import annotations

import numpy as np

from ..backends.registry import REGISTRY
from ..codegen.kernel_context import kernel_arguments
from ..codegen.lower import Call
from ..compiler import CompiledModel
from ..ir import Graph
from ..ops import layer_macs
from ..planner import MemoryPlan
from ..targets.board import resolve_board
from ..targets.fit import fit_report

SCHEMA = "aot-inspect/1"


def quant_entry(quant) -> dict | None:
    """Scale and zero point as lists (one value per tensor, or one per channel along ``axis``)."""
    if quant is None:
        return None
    return {"scale": [float(s) for s in np.asarray(quant.scale, np.float64).reshape(-1)],
            "zero_point": [int(z) for z in np.asarray(quant.zero_point).reshape(-1)],
            "axis": quant.axis}


def tensor_entry(graph: Graph, plan: MemoryPlan, name: str) -> dict:
    t = graph.tensors[name]
    st = plan.storage.get(name)
    storage = st.kind if st is not None else "const"
    entry = {"name": name, "onnx_name": t.onnx_name, "dtype": t.dtype, "shape": list(t.shape),
             "layout": t.layout, "bytes": t.nbytes, "storage": storage,
             "offset": st.offset if st is not None and (st.kind == "arena" or st.in_arena) else None,
             "quant": quant_entry(t.quant)}
    if st is not None and st.root != name:
        entry["alias_of"] = st.root
    return entry


def _options_read(graph: Graph, call: Call) -> list[tuple[str, str]]:
    """The (backend, key) options the layer's kernel reads when it checks and renders the node: only
    those choose its variant (arm-dsp.weights changes the tiled Conv and the fully connected kernels,
    not arm-dsp's pooling)."""
    read: list[tuple[str, str]] = []
    original = graph.backend_option

    def recording(backend: str, key: str, layer: str | None = None) -> str | None:
        read.append((backend, key))
        return original(backend, key, layer)

    graph.backend_option = recording  # type: ignore[method-assign]  # an instance attribute, removed below
    try:
        kernel = call.kernel
        for hook in (kernel.check, kernel.params, kernel.folded_weight_bytes, kernel.scratch_bytes):
            if hook is not None:
                hook(call.node, graph)
    finally:
        del graph.backend_option
    return list(dict.fromkeys(read))


def kernel_variant(graph: Graph, call: Call) -> dict[str, str]:
    """The layer's values of the kernel-variant options (BackendOption.choices) its kernel reads: its
    own (aot tune / --tuning-db), else this compile's, else the option's default."""
    backend = REGISTRY.backends.get(call.backend)
    declared = {o.name: o for o in getattr(backend, "options", ()) if o.choices}
    out: dict[str, str] = {}
    for owner, key in _options_read(graph, call):
        option = declared.get(key) if owner == call.backend else None
        if option is not None:
            value = graph.backend_option(owner, key, call.node.name)
            out[f"{owner}.{key}"] = value or option.default or option.choices[0]
    return out


def layer_weight_bytes(graph: Graph, call: Call, plan: MemoryPlan) -> int:
    """Constant bytes the layer reads: its constant inputs kept as arrays and the data its kernel
    folds into its own C (as targets/fit.weight_bytes counts them for the whole model)."""
    ins, _ = kernel_arguments(call.node, call.kernel, graph)
    roots = {plan.storage[a.tensor.name].root for a in ins
             if a is not None and plan.storage[a.tensor.name].kind == "const"}
    total = sum(graph.tensors[r].nbytes for r in roots)
    if call.kernel.folded_weight_bytes:
        total += call.kernel.folded_weight_bytes(call.node, graph)
    return int(total)


def buffer_entries(plan: MemoryPlan) -> list[dict]:
    return [{"name": name, "bytes": req.size, "first": req.first, "last": req.last, "offset": offset}
            for name, req, offset in plan.buffers]


def live_bytes(buffers: list[dict], step: int) -> int:
    """Bytes of the arena buffers alive during ``step`` (their sizes, not the span they occupy)."""
    return sum(b["bytes"] for b in buffers if b["first"] <= step <= b["last"])


def fit_entry(compiled: CompiledModel) -> dict | None:
    board = resolve_board(compiled.options.board, compiled.options.board_dirs)
    report = fit_report(board, compiled.graph, compiled.calls, compiled.plan)
    if report is None:
        return None
    return {"board": board.name, "ok": report.ok,
            "items": [{"label": i.label, "region": i.region, "bytes": i.size, "from": i.note} for i in report.items],
            "regions": [{"region": name, "used": report.used(name), "available": region.size,
                         "fits": report.fits(name)} for name, region in report.regions().items()],
            "table": report.table()}


def inspect_data(compiled: CompiledModel) -> dict:
    graph, plan = compiled.graph, compiled.plan
    meta = compiled.metadata
    buffers = buffer_entries(plan)
    layers = []
    for idx, call in enumerate(compiled.calls):
        node = call.node
        act = (node.attrs.get("activation") or {}).get("op_type")
        layers.append({
            "index": idx, "name": node.name, "onnx_name": node.meta.get("onnx_name"), "op_type": node.op_type,
            "activation": act, "op": node.op_type + (f"+{act}" if act else ""),
            "backend": call.backend, "kernel": call.kernel.name, "function": call.fn,
            "variant": kernel_variant(graph, call),
            "macs": int(layer_macs(graph, node)), "weight_bytes": layer_weight_bytes(graph, call, plan),
            "live_bytes": live_bytes(buffers, idx), "scratch_bytes": call.step.scratch_bytes,
            "in_place": plan.in_place.get(idx),  # the input this layer writes its output over, if any
            "inputs": [tensor_entry(graph, plan, i) for i in node.inputs if i],
            "outputs": [tensor_entry(graph, plan, o) for o in node.outputs if o]})
    memory = dict(meta["memory"])
    peak_step = max(range(len(layers)), key=lambda i: layers[i]["live_bytes"], default=None)
    return {"schema": SCHEMA, "model": graph.name, "opset": graph.opset, "rounding": graph.rounding,
            "board": compiled.options.board, "notes": list(graph.notes),
            "inputs": [tensor_entry(graph, plan, n) for n in graph.inputs],
            "outputs": [tensor_entry(graph, plan, n) for n in graph.outputs],
            "layers": layers,
            "totals": {"macs": sum(x["macs"] for x in layers), "weight_bytes": memory["weights_bytes"]},
            "memory": {**memory, "buffers": buffers, "steps": [x["name"] for x in layers],
                       "peak_step": peak_step,
                       "peak_live_bytes": layers[peak_step]["live_bytes"] if peak_step is not None else 0},
            "fit": fit_entry(compiled)}
