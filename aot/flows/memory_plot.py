"""The arena over the schedule (``aot inspect --memory-plot``): each arena buffer is a box at its
offset (y) over its lifetime (x: the steps, one per layer, from the one writing it to the last
reading it), the peak step marked. From report_data's memory section (the planner's MemoryPlan).

SVG is plain text (no dependency); PNG needs matplotlib (``pip install aot[plot]``), and without it
the plot is printed as ASCII instead, with a note; ``.html`` wraps the SVG in a page.
"""
from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

from ..errors import AotError

FORMATS = (".svg", ".png", ".html")
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
           "#bab0ac")
SYMBOLS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def colour(name: str) -> str:
    """A colour fixed by the name (the same buffer has the same colour in every report)."""
    return PALETTE[hashlib.sha1(name.encode()).digest()[0] % len(PALETTE)]


def _steps(memory: dict) -> int:
    last = max((b["last"] for b in memory["buffers"]), default=-1)
    return max(len(memory["steps"]), last + 1, 1)


def memory_svg(memory: dict, width: int = 900, height: int = 420) -> str:
    """An SVG document (no script, no external reference): one <rect class="buffer"> per arena buffer
    with a <title> naming it, the peak step as <rect class="peak">, the arena size as a dashed line."""
    left, right, top, bottom = 70, 20, 30, 40
    steps = _steps(memory)
    arena = max(memory["arena_bytes"], 1)
    pw, ph = width - left - right, height - top - bottom
    sx, sy = pw / steps, ph / arena

    def y(offset: float) -> float:
        return top + ph - offset * sy

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="memory-plot" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#999"/>']
    for b in memory["buffers"]:
        x0, x1 = left + b["first"] * sx, left + (b["last"] + 1) * sx
        y0, y1 = y(b["offset"] + b["bytes"]), y(b["offset"])
        tip = f'{b["name"]}: {b["bytes"]} B at offset {b["offset"]}, steps {b["first"]}-{b["last"]}'
        out.append(f'<rect class="buffer" data-name="{escape(b["name"])}" x="{x0:.2f}" y="{y0:.2f}" '
                   f'width="{max(x1 - x0, 0.5):.2f}" height="{max(y1 - y0, 0.5):.2f}" fill="{colour(b["name"])}" '
                   f'fill-opacity="0.85" stroke="#333" stroke-width="0.5"><title>{escape(tip)}</title></rect>')
    # Drawn over the buffers (translucent) so the peak step stays visible where they cover it.
    peak = memory.get("peak_step")
    if peak is not None:
        out.append(f'<rect class="peak" x="{left + peak * sx:.2f}" y="{top}" width="{sx:.2f}" height="{ph}" '
                   f'fill="#d33" fill-opacity="0.15" stroke="#d33" stroke-dasharray="3,2" pointer-events="none"><title>peak: step {peak}, '
                   f'{memory["peak_live_bytes"]} B live</title></rect>')
        out.append(f'<text x="{left + (peak + 0.5) * sx:.2f}" y="{top - 6}" text-anchor="middle" fill="#d33">'
                   f'peak {memory["peak_live_bytes"]} B</text>')
    out.append(f'<line class="arena" x1="{left}" x2="{left + pw}" y1="{y(arena):.2f}" y2="{y(arena):.2f}" '
               f'stroke="#d33" stroke-dasharray="6,3"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        value = int(arena * frac)
        out.append(f'<text x="{left - 6}" y="{y(value) + 4:.2f}" text-anchor="end">{value}</text>')
    tick = max(1, steps // 20)
    for s in range(0, steps, tick):
        out.append(f'<text x="{left + (s + 0.5) * sx:.2f}" y="{top + ph + 14}" text-anchor="middle">{s}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">step (layer)</text>')
    out.append(f'<text x="14" y="{top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 {top + ph / 2})">'
               f'arena offset (bytes), arena {memory["arena_bytes"]} B</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def memory_ascii(memory: dict, rows: int = 16) -> str:
    """The plot as text: a row per band of arena offsets (top: the arena's end), a column per step,
    each cell the symbol of the buffer covering most of it; the peak step marked with ``v``."""
    steps = _steps(memory)
    arena = max(memory["arena_bytes"], 1)
    band = arena / rows
    buffers = memory["buffers"]
    symbol = {i: SYMBOLS[i % len(SYMBOLS)] for i in range(len(buffers))}
    lines = []
    peak = memory.get("peak_step")
    lines.append(" " * 10 + "".join("v" if s == peak else " " for s in range(steps)))
    for r in range(rows - 1, -1, -1):
        lo, hi = r * band, (r + 1) * band
        cells = []
        for s in range(steps):
            best, cover = ".", 0.0
            for i, b in enumerate(buffers):
                if b["first"] <= s <= b["last"]:
                    c = min(hi, b["offset"] + b["bytes"]) - max(lo, b["offset"])
                    if c > cover:
                        best, cover = symbol[i], c
            cells.append(best)
        lines.append(f"{int(hi):>9} " + "".join(cells))
    lines.append(f"{0:>9} " + "".join(str(s % 10) for s in range(steps)) + "  step")
    lines.append(f"arena {memory['arena_bytes']} B; peak step {peak} ({memory.get('peak_live_bytes', 0)} B live)")
    lines += [f"  {symbol[i]} {b['name']}: {b['bytes']} B at {b['offset']}, steps {b['first']}-{b['last']}"
              for i, b in enumerate(buffers)]
    return "\n".join(lines)


def memory_png(memory: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    steps = _steps(memory)
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for b in memory["buffers"]:
        ax.add_patch(Rectangle((b["first"], b["offset"]), b["last"] - b["first"] + 1, b["bytes"],
                               facecolor=colour(b["name"]), edgecolor="#333", linewidth=0.5, alpha=0.85))
    peak = memory.get("peak_step")
    if peak is not None:
        ax.axvspan(peak, peak + 1, color="#d33", alpha=0.15, label=f"peak {memory['peak_live_bytes']} B live")
    ax.axhline(memory["arena_bytes"], color="#d33", linestyle="--", label=f"arena {memory['arena_bytes']} B")
    ax.set_xlim(0, steps)
    ax.set_ylim(0, max(memory["arena_bytes"], 1) * 1.05)
    ax.set_xlabel("step (layer)")
    ax.set_ylabel("arena offset (bytes)")
    ax.legend(loc="upper right")
    fig.tight_layout()
    # A fixed date keeps the PNG byte-for-byte identical for identical input.
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)


def memory_html(memory: dict, title: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)}</h1>\n{memory_svg(memory)}</body></html>\n")


def write_memory_plot(memory: dict, path: Path, title: str) -> str | None:
    """Write the plot in the format ``path``'s suffix names. Returns text to print instead when the
    PNG cannot be drawn (matplotlib missing): the ASCII chart with a note; None when written."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise AotError(f"--memory-plot {path}: expected a file ending in {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise AotError(f"--memory-plot: folder '{path.parent}' does not exist")
    if suffix == ".svg":
        path.write_text(memory_svg(memory))
    elif suffix == ".html":
        path.write_text(memory_html(memory, title))
    else:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return ("note: --memory-plot: a PNG needs matplotlib (pip install 'aot[plot]'), which is not installed; "
                    f"{path} was not written. Write .svg or .html without it. The plot as text:\n"
                    + memory_ascii(memory))
        memory_png(memory, path)
    return None
