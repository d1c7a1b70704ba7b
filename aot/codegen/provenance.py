"""What a library was compiled from and how: ``metadata.json``'s ``format_version``, compile options,
board and the ONNX file's SHA-256, mirrored in ``<prefix>_info.h`` (``<PREFIX>_AOT_VERSION``,
``<PREFIX>_SHA256``) so firmware can report which model it carries.

Everything recorded is deterministic: the same model and options give the same bytes. File paths
among the options are recorded by name only (the machine's folders are not the library's business);
files whose contents shape the library (calibration data) are recorded by SHA-256 as well."""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from .. import __version__
from .env import make_environment

# Bumped when a key of metadata.json changes meaning or goes away (new keys do not bump it).
FORMAT_VERSION = 1
# Options that change what aot prints or where it looks, not the library it writes.
_NOT_RECORDED = {"dump_ir_after", "debug", "board_dirs"}
_SMALL_ARRAY = 64  # --fix-input values up to this many elements are recorded in full, larger ones by hash


def model_sha256(source: object) -> str | None:
    """SHA-256 of the ONNX file compiled (of its serialization for an in-memory ModelProto); None for
    an IR graph, which has no file."""
    if isinstance(source, (str, Path)):
        return hashlib.sha256(Path(source).read_bytes()).hexdigest()
    if isinstance(source, onnx.ModelProto):
        return hashlib.sha256(source.SerializeToString(deterministic=True)).hexdigest()
    return None


def _file_record(path: str | Path) -> dict[str, str]:
    p = Path(path)
    record = {"name": p.name}
    if p.is_file():
        record["sha256"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return record


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data with a stable form (sets sorted, arrays as lists or hashes)."""
    if isinstance(value, np.ndarray):
        if value.size <= _SMALL_ARRAY:
            return {"dtype": str(value.dtype), "shape": list(value.shape), "values": value.tolist()}
        return {"dtype": str(value.dtype), "shape": list(value.shape),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()}
    if isinstance(value, Path):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    return type(value).__name__  # an object a plug-in put in ``extra``: its type, never its address


def options_record(options: Any) -> dict[str, Any]:
    """The compile options (aot.compiler.CompileOptions) that shape the library, as JSON data."""
    record: dict[str, Any] = {}
    for f in dataclasses.fields(options):
        if f.name in _NOT_RECORDED:
            continue
        value = getattr(options, f.name)
        if f.name == "quantize" and value is not None:
            record[f.name] = {"calibration": _file_record(value.calibration), "config": _jsonable(value.config)}
        elif f.name == "plugins":
            record[f.name] = [Path(p).name if p.endswith(".py") else p for p in value]
        elif f.name == "board":
            record[f.name] = Path(value).name  # a board folder by its name
        else:
            record[f.name] = _jsonable(value)
    return record


def add_provenance(files: dict[str, str], source: object, options: Any, board: str) -> None:
    """Extend ``metadata.json`` in ``files`` with the provenance keys and add ``<prefix>_info.h``;
    ``board``: the name of the board compiled for (options.board may be a folder)."""
    meta = json.loads(files["metadata.json"])
    sha = model_sha256(source)
    extra = {"format_version": FORMAT_VERSION, "board": board, "model_sha256": sha,
             "compile_options": options_record(options)}
    ordered: dict[str, Any] = {}
    for key, value in meta.items():  # the new keys right after aot's version, before the model's data
        ordered[key] = value
        if key == "version":
            ordered.update(extra)
    files["metadata.json"] = json.dumps(ordered, indent=2) + "\n"
    files[info_header_name(options.prefix)] = make_environment().get_template("package/info.h.j2").render(
        prefix=options.prefix, PREFIX=options.prefix.upper(), version=__version__, sha256=sha or "",
        board=board, format_version=FORMAT_VERSION, model=meta.get("model", ""))


def info_header_name(prefix: str) -> str:
    return f"{prefix}_info.h"
