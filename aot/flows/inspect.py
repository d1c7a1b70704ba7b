"""Text report of a compiled model: one row per layer, then the memory summary."""
from __future__ import annotations

from ..compiler import CompiledModel
from ..ops import layer_macs
from ..targets.board import resolve_board
from ..targets.fit import fit_report


def format_report(compiled: CompiledModel) -> str:
    graph, plan, meta = compiled.graph, compiled.plan, compiled.metadata
    rows = [f"model {graph.name}: {len(compiled.calls)} layers, opset {graph.opset}"]
    rows += [f"note: {n}" for n in graph.notes]
    header = f"{'#':>3} {'layer':<32} {'op':<18} {'backend':<8} {'kernel':<24} {'output':<18} {'dtype':<8} {'layout':<6} {'storage':<14} {'bytes':>8} {'MACs':>10}"
    rows.append(header)
    rows.append("-" * len(header))
    for idx, call in enumerate(compiled.calls):
        out = graph.tensors[call.node.outputs[0]]
        st = plan.storage[out.name]
        where = f"arena@{st.offset}" if st.kind == "arena" else f"{st.kind}@{st.offset}" if st.in_arena else st.kind
        where += "*" if idx in plan.in_place else ""  # written over its dying input (memory_rows)
        op = call.node.op_type + (f"+{call.node.attrs['activation']['op_type']}" if call.node.attrs.get("activation") else "")
        q = ""
        if out.quant is not None:
            q = f" scale={float(out.quant.scale.reshape(-1)[0]):.6g} zp={int(out.quant.zero_point.reshape(-1)[0])}"
        rows.append(f"{idx:>3} {call.node.name[:32]:<32} {op[:18]:<18} {call.backend:<8} {call.kernel.name[:24]:<24} "
                    f"{'x'.join(map(str, out.shape)):<18} {out.dtype:<8} {out.layout or '-':<6} {where:<14} "
                    f"{out.nbytes:>8} {layer_macs(graph, call.node):>10}{q}")
    m = meta["memory"]
    rows.append("")
    rows += memory_rows(m)
    rows.append(f"weights    {m['weights_bytes']:>10} B")
    rows.append(f"MACs       {sum(layer['macs'] for layer in meta['layers']):>10}")
    fit = fit_table(compiled)
    if fit:
        rows += ["", fit]
    return "\n".join(rows)


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
            *([f"in place   {len(m['in_place_layers']):>10}    layers (storage *: output written over its dying input)"]
              if m.get("in_place_layers") else [])]


def fit_table(compiled: CompiledModel) -> str | None:
    """The board fit table (each item, its region, used/available per region); None on the host."""
    board = resolve_board(compiled.options.board, compiled.options.board_dirs)
    report = fit_report(board, compiled.graph, compiled.calls, compiled.plan)
    return report.table() if report is not None else None
