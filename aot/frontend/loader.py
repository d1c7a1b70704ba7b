"""Reading an ONNX file into a ModelProto, with errors a user can act on."""
from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError

from ..errors import AotError

MIN_OPSET, MAX_OPSET = 7, 21


def load_onnx(path: str | Path) -> onnx.ModelProto:
    path = Path(path)
    if not path.exists():
        raise AotError(f"file '{path}' does not exist")
    if path.is_dir():
        raise AotError(f"'{path}' is a folder, not an ONNX file")
    try:
        model = onnx.load(str(path))
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise AotError(f"'{path}' is not a valid ONNX file: it could not be decoded as an ONNX "
                       f"ModelProto ({type(exc).__name__}: {exc}). Check that the file is complete and "
                       f"was exported as .onnx.", model=path.name) from None
    if not model.graph.node and not model.graph.output:
        raise AotError(f"'{path}' decodes but holds no graph: it is not an ONNX model (empty or "
                       f"another protobuf format).", model=path.name)
    check_opset(model, path.name)
    return model


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def check_opset(model: onnx.ModelProto, model_name: str) -> None:
    opset = default_opset(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise AotError(f"the model uses ONNX opset {opset}; aot supports opsets {MIN_OPSET} to {MAX_OPSET}. "
                       f"Convert it with onnx.version_converter.convert_version(model, {min(max(opset, MIN_OPSET), MAX_OPSET)}).",
                       model=model_name)
