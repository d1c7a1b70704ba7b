"""The per-layer profile of ``aot run --profile`` as a JSON file (``--profile-json FILE``), which
``aot inspect --html report.html --profile-json FILE`` draws as bars next to the layers."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import AotError

SCHEMA = "aot-profile/1"


def profile_document(report) -> dict:
    """``report``: a board_run.BoardReport run with profile=True."""
    return {"schema": SCHEMA, "model": report.model, "board": report.board.name, "cc": report.cc, "opt": report.opt,
            "unit": "instructions", "total": report.instructions,
            "layers": [{"index": x.index, "name": x.name, "op_type": x.op_type, "cost": x.instructions}
                       for x in report.layers]}


def write_profile(report, path: Path) -> None:
    if not report.layers:
        raise AotError("--profile-json needs --profile (the per-layer counts)")
    path.write_text(json.dumps(profile_document(report), indent=2) + "\n")


def read_profile(path: Path) -> dict:
    """A profile file, checked enough that the report can draw it; a clear error otherwise."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise AotError(f"--profile-json: file '{path}' does not exist") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AotError(f"--profile-json: '{path}' is not JSON ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA or not isinstance(doc.get("layers"), list):
        raise AotError(f"--profile-json: '{path}' is not a profile written by 'aot run --profile --profile-json' "
                       f"(expected \"schema\": \"{SCHEMA}\")")
    for layer in doc["layers"]:
        if not (isinstance(layer, dict) and isinstance(layer.get("name"), str)
                and isinstance(layer.get("cost"), (int, float))):
            raise AotError(f"--profile-json: '{path}': every layer needs a name and a numeric cost")
    return doc
