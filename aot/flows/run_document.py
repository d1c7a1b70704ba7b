"""``aot run --json``: the run as one JSON document (what the text report prints, and every output
value), for scripts and CI."""
from __future__ import annotations

import dataclasses

from .board_run import BoardReport
from .output_summary import describe_outputs, json_values


def run_document(report: BoardReport) -> dict:
    b = report.board
    return {
        "model": report.model, "board": b.name, "cc": report.cc, "opt": report.opt, "ok": report.ok,
        "quantized": report.quantized,
        "checks": [{"output": c.name, "against": c.against, "shape": list(c.shape), "max_abs_error": json_values([float(c.max_abs)])[0],
                    "mismatches": int(c.mismatches), "ok": bool(c.ok)} for c in report.checks],
        "outputs": describe_outputs(report.output_specs, report.outputs),
        "instructions": report.instructions, "counter": report.counter_note(),
        "layers": [{"index": layer.index, "name": layer.name, "op_type": layer.op_type,
                    "instructions": layer.instructions} for layer in report.layers],
        "library": dataclasses.asdict(report.library), "firmware": dataclasses.asdict(report.firmware),
        "memory": {"arena_bytes": report.arena_bytes, "weights_bytes": report.weights_bytes,
                   "io_bytes": report.io_bytes, "stack_used": report.stack_used, "stack_size": report.stack_size,
                   "ram_needed": report.ram_needed},
        "seconds": dict(report.seconds),
    }
