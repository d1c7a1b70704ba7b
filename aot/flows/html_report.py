"""``aot inspect --html report.html``: one self-contained page (inline CSS and SVG, no script, nothing
fetched from the network): the per-layer table of report_data, the memory timeline (memory_plot)
and, given a profile (profile_file), each layer's cost as a bar."""
from __future__ import annotations

from html import escape

from .inspect import format_quant, memory_rows
from .memory_plot import memory_svg

CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.layer > td { background: #f3f6fa; font-weight: bold; }
tr.tensor > td { color: #444; }
.bar { background: #4e79a7; height: 12px; display: inline-block; }
.name { word-break: break-all; max-width: 40em; }
pre { background: #f7f7f7; padding: 0.5em; }
"""


def _shape(t: dict) -> str:
    return "x".join(map(str, t["shape"])) or "scalar"


def _where(t: dict) -> str:
    return t["storage"] + (f"@{t['offset']}" if t.get("offset") is not None else "")


def layer_table(data: dict, profile: dict | None) -> str:
    costs = {x["name"]: x["cost"] for x in (profile or {}).get("layers", [])}
    head = ["#", "layer", "op", "backend", "kernel", "variant", "MACs", "weights B", "live B"]
    if profile:
        head.append(f"{escape(profile.get('unit', 'cost'))}")
    rows = ['<table class="layers"><thead><tr>' + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    for x in data["layers"]:
        variant = " ".join(f"{k}={v}" for k, v in x["variant"].items()) or "-"
        onnx = (f'<br><small>onnx: {escape(x["onnx_name"])}</small>'
                if x["onnx_name"] and x["onnx_name"] != x["name"] else "")
        cells = [f'<td class="num">{x["index"]}</td>', f'<td class="name">{escape(x["name"])}{onnx}</td>',
                 f'<td>{escape(x["op"])}</td>', f'<td>{escape(x["backend"])}</td>', f'<td>{escape(x["kernel"])}</td>',
                 f"<td>{escape(variant)}</td>", f'<td class="num">{x["macs"]:,}</td>',
                 f'<td class="num">{x["weight_bytes"]:,}</td>', f'<td class="num">{x["live_bytes"]:,}</td>']
        if profile:
            cost = costs.get(x["name"])
            cells.append(f'<td class="num">{cost:,}</td>' if cost is not None else "<td>-</td>")
        rows.append(f'<tr class="layer" data-layer="{escape(x["name"])}">' + "".join(cells) + "</tr>")
        for role, tensors in (("in", x["inputs"]), ("out", x["outputs"])):
            for t in tensors:
                rows.append(f'<tr class="tensor"><td>{role}</td><td class="name">{escape(t["name"])}</td>'
                            f'<td>{escape(t["dtype"])}</td><td>{_shape(t)}</td><td>{escape(t["layout"] or "-")}</td>'
                            f'<td>{escape(_where(t))}</td><td class="num">{t["bytes"]:,}</td>'
                            f'<td colspan="{len(head) - 7}">{escape(format_quant(t["quant"]))}</td></tr>')
    rows.append("</tbody></table>")
    return "\n".join(rows)


def profile_bars(data: dict, profile: dict) -> str:
    """One horizontal bar per profiled layer, its length the layer's share of the largest cost."""
    layers = profile["layers"]
    top = max((x["cost"] for x in layers), default=0) or 1
    total = sum(x["cost"] for x in layers) or 1
    known = {x["name"] for x in data["layers"]}
    rows = ['<table class="profile"><thead><tr><th>#</th><th>layer</th><th>op</th>'
            f'<th>{escape(profile.get("unit", "cost"))}</th><th>share</th><th></th></tr></thead><tbody>']
    for i, x in enumerate(layers):
        width = 300 * x["cost"] / top
        mark = "" if x["name"] in known else " (not in this compile)"
        rows.append(f'<tr class="profile-row"><td class="num">{x.get("index", i)}</td>'
                    f'<td class="name">{escape(x["name"])}{mark}</td><td>{escape(str(x.get("op_type", "")))}</td>'
                    f'<td class="num">{x["cost"]:,}</td><td class="num">{100 * x["cost"] / total:.1f}%</td>'
                    f'<td><span class="bar" style="width:{width:.1f}px"></span></td></tr>')
    rows.append("</tbody></table>")
    where = ", ".join(escape(str(profile[k])) for k in ("board", "cc", "opt") if profile.get(k))
    return f"<p>{escape(profile.get('unit', 'cost'))} per layer ({where})</p>\n" + "\n".join(rows)


def html_report(data: dict, profile: dict | None = None) -> str:
    title = f"aot report: {data['model']}"
    m = data["memory"]
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>{len(data['layers'])} layers, opset {data['opset']}, board {escape(str(data['board']))}, "
             f"{data['totals']['macs']:,} MACs, weights {m['weights_bytes']:,} B, arena {m['arena_bytes']:,} B</p>"]
    parts += [f"<p class=\"note\">note: {escape(n)}</p>" for n in data["notes"]]
    parts += ["<h2>Layers</h2>", layer_table(data, profile),
              "<h2>Memory over the schedule</h2>",
              "<p>Each box is an arena buffer at its offset over the steps it is alive; the shaded step is the "
              "peak of live bytes, the dashed line the arena size.</p>", memory_svg(m),
              "<pre>" + escape("\n".join(memory_rows(m))) + "</pre>"]
    if data["fit"]:
        parts += ["<h2>Board fit</h2>", "<pre>" + escape(data["fit"]["table"]) + "</pre>"]
    if profile:
        parts += ["<h2>Profile</h2>", profile_bars(data, profile)]
    parts.append("</body></html>\n")
    return "\n".join(parts)
