"""Human-readable text form of the IR (``--dump-ir-after``)."""
from __future__ import annotations

from .graph import Graph, Tensor


def _fmt_tensor(t: Tensor) -> str:
    shape = "x".join(str(d) for d in t.shape) or "scalar"
    layout = f" {t.layout}" if t.layout else ""
    kind = " const" if t.is_constant else ""
    q = ""
    if t.quant is not None:
        q = f" q(scale={t.quant.scale.ravel()[:1][0]:.6g}{'..' if t.quant.scale.size > 1 else ''}," \
            f" zp={int(t.quant.zero_point.ravel()[0])})"
    return f"{t.dtype}[{shape}]{layout}{kind}{q}"


def _fmt_attr(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_fmt_attr(x)}" for k, x in v.items()) + "}"
    return repr(v) if isinstance(v, str) else str(v)


def format_graph(graph: Graph) -> str:
    lines = [f"graph {graph.name} (opset {graph.opset})"]
    for i in graph.inputs:
        lines.append(f"  input  %{i}: {_fmt_tensor(graph.tensors[i])}")
    consts = [t for t in graph.tensors.values() if t.is_constant]
    for t in consts:
        lines.append(f"  const  %{t.name}: {_fmt_tensor(t)}")
    for n in graph.nodes:
        ins = ", ".join(f"%{i}" if i else "_" for i in n.inputs)
        outs = ", ".join(f"%{o}: {_fmt_tensor(graph.tensors[o])}" for o in n.outputs if o)
        attrs = ", ".join(f"{k}={_fmt_attr(v)}" for k, v in sorted(n.attrs.items()))
        backend = f"  @{n.meta['backend']}" if n.meta.get("backend") else ""
        lines.append(f"  {outs} = {n.op_type}({ins}){' {' + attrs + '}' if attrs else ''}  # {n.name}{backend}")
    lines.append("  return " + ", ".join(f"%{o}" for o in graph.outputs))
    return "\n".join(lines)
