"""The report of ``aot tune``: end-to-end costs of each backend alone, the greedy preference order and
the tuned cover, the per-layer choices and the gain; as markdown and as JSON."""
from __future__ import annotations

import dataclasses
import json

from .tuner import TuneResult


def _ratio(value: int, reference: int) -> str:
    return f"{value / reference:.3f}x" if reference else "-"


def markdown(result: TuneResult) -> str:
    final = result.final_instructions()
    lines = [f"## {result.model} on {result.board}", "",
             "| configuration | instructions | vs final | arena B | status |", "|---|---:|---:|---:|---|"]
    for name, r in result.configurations.items():
        label = f"{name} (greedy preference order)" if name == result.greedy else name
        if r.status == "ok":
            lines.append(f"| {label} | {r.instructions:,} | {_ratio(r.instructions, final)} | {r.arena_bytes:,} | ok |")
        else:
            lines.append(f"| {label} | - | - | - | failed: {r.note} |")
    tuned = result.tuned
    if tuned is not None:
        cost = f"{tuned.instructions:,}" if tuned.status == "ok" else "-"
        lines.append(f"| **tuned cover** ({result.layouts} layouts) | **{cost}** | "
                     f"{_ratio(tuned.instructions, final) if tuned.status == 'ok' else '-'} | "
                     f"{tuned.arena_bytes:,} | {tuned.status}{': ' + tuned.note if tuned.note else ''} |")
    lines += ["", f"Search prediction (sum of per-layer measurements): {result.predicted:,.0f} instructions. "
              f"Result: {'the tuned cover' if result.chosen == 'tuned' else result.chosen}, {final:,} instructions."]
    single = result.best_single()
    greedy = result.configurations.get(result.greedy)
    if single is not None:
        lines.append(f"Gain over the best single backend ({single[0]}, {single[1]:,}): "
                     f"{(single[1] - final) / single[1]:+.1%}.")
    if greedy is not None and greedy.status == "ok":
        lines.append(f"Gain over the greedy preference order ({greedy.instructions:,}): "
                     f"{(greedy.instructions - final) / greedy.instructions:+.1%}.")
    lines += ["", "| layer | backend | kernel | instructions | measured in |", "|---|---|---|---:|---|"]
    for c in result.choices:
        lines.append(f"| {c.layer} | {c.backend} | {c.kernel} | {c.instructions:,.0f} | {c.configuration} |")
    if result.notes:
        lines += [""] + [f"- note: {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def as_json(result: TuneResult) -> str:
    data = dataclasses.asdict(result)
    data["final_instructions"] = result.final_instructions()
    return json.dumps(data, indent=2, default=str) + "\n"
