"""Text report of a compiled model: one row per layer (with a row per input and output tensor
under it), then the memory summary and, on a board, the fit table. ``--json`` prints the same
content (report_data.inspect_data) as one JSON document."""
from __future__ import annotations

import json

from ..compiler import CompiledModel
from ..targets.board import resolve_board
from ..targets.fit import fit_report
from .report_data import inspect_data


def format_quant(quant: dict | None) -> str:
    """``scale=0.0235 zp=-128``, or for per-channel ``scale=[0.001..0.02](8) zp=0 axis=0``."""
    if quant is None:
        return ""
    scales, zps = quant["scale"], quant["zero_point"]
    if len(scales) == 1:
        scale = f"{scales[0]:.6g}"
    else:
        scale = f"[{min(scales):.4g}..{max(scales):.4g}]({len(scales)})"
    zp = f"{zps[0]}" if len(set(zps)) == 1 else f"[{min(zps)}..{max(zps)}]"
    axis = f" axis={quant['axis']}" if quant.get("axis") is not None else ""
    return f"scale={scale} zp={zp}{axis}"


def _where(t: dict) -> str:
    if t["storage"] in ("arena", "input", "output") and t["offset"] is not None:
        return f"{t['storage']}@{t['offset']}" if t["storage"] != "arena" else f"arena@{t['offset']}"
    return t["storage"]


def format_data(data: dict) -> str:
    layers = data["layers"]
    rows = [f"model {data['model']}: {len(layers)} layers, opset {data['opset']}"]
    rows += [f"note: {n}" for n in data["notes"]]
    # Full layer names: the column is as wide as the longest (names cut short read alike).
    nw = max([5, *(len(x["name"]) for x in layers)])
    ow = max([2, *(len(x["op"]) for x in layers)])
    bw = max([7, *(len(x["backend"]) for x in layers)])
    kw = max([6, *(len(x["kernel"]) for x in layers)])
    variants = [" ".join(f"{k}={v}" for k, v in x["variant"].items()) or "-" for x in layers]
    vw = max([7, *map(len, variants)])
    header = (f"{'#':>3} {'layer':<{nw}} {'op':<{ow}} {'backend':<{bw}} {'kernel':<{kw}} "
              f"{'MACs':>10} {'weights B':>10} {'live B':>9}  {'variant':<{vw}}  onnx name (when another)")
    rows += [header, "-" * len(header)]
    tw = max([6, *(len(t["name"]) for x in layers for t in x["inputs"] + x["outputs"])])
    for x, variant in zip(layers, variants):
        onnx_name = x["onnx_name"] if x["onnx_name"] and x["onnx_name"] != x["name"] else ""
        rows.append(f"{x['index']:>3} {x['name']:<{nw}} {x['op']:<{ow}} {x['backend']:<{bw}} {x['kernel']:<{kw}} "
                    f"{x['macs']:>10} {x['weight_bytes']:>10} {x['live_bytes']:>9}  {variant:<{vw}}  {onnx_name}".rstrip())
        for role, tensors in (("in", x["inputs"]), ("out", x["outputs"])):
            for t in tensors:
                shape = "x".join(map(str, t["shape"])) or "scalar"
                where = _where(t) + ("*" if role == "out" and x.get("in_place") else "")  # over its dying input
                rows.append(f"      {role:<3} {t['name']:<{tw}} {t['dtype']:<8} {shape:<16} {t['layout'] or '-':<6} "
                            f"{where:<16} {t['bytes']:>9} B  {format_quant(t['quant'])}".rstrip())
    m = data["memory"]
    rows.append("")
    rows += memory_rows(m)
    rows.append(f"weights    {m['weights_bytes']:>10} B")
    rows.append(f"MACs       {data['totals']['macs']:>10}")
    if layers:
        peak = layers[m["peak_step"]]
        rows.append(f"peak live  {m['peak_live_bytes']:>10} B  (at layer {peak['index']} {peak['name']})")
    if data["fit"]:
        rows += ["", data["fit"]["table"]]
    return "\n".join(rows)


def format_report(compiled: CompiledModel) -> str:
    return format_data(inspect_data(compiled))


def format_json(compiled: CompiledModel) -> str:
    """One JSON document with the text report's content."""
    return json.dumps(inspect_data(compiled), indent=2)


def memory_rows(m: dict) -> list[str]:
    """The RAM figures of metadata.json's memory section: the arena, the I/O buffers the caller holds
    outside it, their total (what a user pays besides the stack) and the lower bounds."""
    in_arena = m.get("io_buffers") == "arena"
    where = "in the arena" if in_arena else "the caller's buffers, outside the arena"
    stack = (f"{m['stack_bytes']:>10} B  ({m['stack_source']})" if m.get("stack_bytes") is not None
             else f"{'unknown':>10}    ({m.get('stack_source', 'not measured')})")
    return [f"arena      {m['arena_bytes']:>10} B  (alignment {m['alignment']})",
            f"inputs     {m['input_bytes']:>10} B  ({where})",
            f"outputs    {m['output_bytes']:>10} B  ({where})",
            f"total RAM  {m['total_bytes']:>10} B  (arena + I/O outside it; stack not included)",
            f"stack      {stack}",
            f"lower bound{m['lower_bound_bytes']:>10} B  (arena: max over steps of live bytes"
            f"{', I/O included' if in_arena else ''})",
            f"  with I/O {m['total_lower_bound_bytes']:>10} B  (no placement of this schedule needs less RAM)",
            f"no reuse   {m['no_reuse_bytes']:>10} B  (every buffer its own bytes)",
            f"placement  {m['placement']} ({', '.join(f'{k} {v} B' for k, v in m['placement_tried'].items())})",
            *patching_rows(m.get("patching")),
            *([f"in place   {len(m['in_place_layers']):>10}    layers (storage *: output written over its dying input)"]
              if m.get("in_place_layers") else [])]


def patching_rows(p: dict | None) -> list[str]:
    """What --patches did (metadata memory.patching); nothing when it was not asked."""
    if p is None:
        return []
    if not p["chosen"]:
        return [f"patches    none ({p['reason']}; unpatched peak {p['unpatched_peak_bytes']} B)"]
    return [f"patches    {p['strips']} strips up to layer '{p['cut_layer']}': peak {p['peak_bytes']} B "
            f"(unpatched {p['unpatched_peak_bytes']} B), MACs {p['macs']} (+{p['extra_macs_percent']} %)"]


def fit_table(compiled: CompiledModel) -> str | None:
    """The board fit table (each item, its region, used/available per region); None on the host."""
    board = resolve_board(compiled.options.board, compiled.options.board_dirs)
    report = fit_report(board, compiled.graph, compiled.calls, compiled.plan)
    return report.table() if report is not None else None
