"""The report of ``aot tune``: end-to-end costs of each backend alone, the greedy preference order and
the tuned cover, the per-layer choices and the gain; as markdown and as JSON."""
from __future__ import annotations

import dataclasses
import json

from .measure import SECONDS, format_cost
from .tuner import TuneResult


def _cell(value: float, unit: str) -> str:
    return format_cost(value, unit).removesuffix(" instructions")


def _ratio(value: int, reference: int) -> str:
    return f"{value / reference:.3f}x" if reference else "-"


def markdown(result: TuneResult) -> str:
    final, unit = result.final_cost(), result.unit
    what = "median time" if unit == SECONDS else "instructions"
    lines = [f"## {result.model} on {result.board}", "",
             f"| configuration | {what} | vs final | arena B | flash B | status |", "|---|---:|---:|---:|---:|---|"]
    for name, r in result.configurations.items():
        label = f"{name} (greedy preference order)" if name == result.greedy else name
        if r.status == "ok":
            lines.append(f"| {label} | {_cell(r.cost, unit)} | {_ratio(r.cost, final)} | {r.arena_bytes:,} | "
                         f"{r.flash_bytes:,} | ok |")
        else:
            lines.append(f"| {label} | - | - | - | - | failed: {r.note} |")
    tuned = result.tuned
    if tuned is not None:
        cost = _cell(tuned.cost, unit) if tuned.status == "ok" else "-"
        lines.append(f"| **tuned cover** ({result.layouts} layouts) | **{cost}** | "
                     f"{_ratio(tuned.cost, final) if tuned.status == 'ok' else '-'} | "
                     f"{tuned.arena_bytes:,} | {tuned.flash_bytes:,} | {tuned.status}"
                     f"{': ' + tuned.note if tuned.note else ''} |")
    chosen = "the tuned cover" if result.chosen == "tuned" else result.chosen
    lines += ["", f"Objective: {result.objective}.",
              f"Search prediction (sum of per-layer measurements): {format_cost(result.predicted, unit)}. "
              f"Result: {chosen}, {format_cost(final, unit)}."]
    single = result.best_single()
    greedy = result.configurations.get(result.greedy)
    if single is not None:
        lines.append(f"Gain over the best single backend ({single[0]}, {format_cost(single[1], unit)}): "
                     f"{(single[1] - final) / single[1]:+.1%}.")
    if greedy is not None and greedy.status == "ok":
        lines.append(f"Gain over the greedy preference order ({format_cost(greedy.cost, unit)}): "
                     f"{(greedy.cost - final) / greedy.cost:+.1%}.")
    if result.layouts == "per-layer":
        lines.append(f"Layouts mixed per layer: {len(result.layer_layouts)} layers channels-last, the layout "
                     f"conversions between them included in the prediction.")
    lines += ["", f"| layer | backend | kernel | layout | {what} | measured in |", "|---|---|---|---|---:|---|"]
    for c in result.choices:
        lines.append(f"| {c.layer} | {c.backend} | {c.variant} | {c.layout} | {_cell(c.cost, unit)} | "
                     f"{c.configuration} |")
    if result.notes:
        lines += [""] + [f"- note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def as_json(result: TuneResult) -> str:
    data = dataclasses.asdict(result)
    data["final_cost"] = result.final_cost()
    return json.dumps(data, indent=2, default=str) + "\n"
