"""Reading an ONNX file into a ModelProto, with errors a user can act on.

When protobuf decoding fails, the file is examined to say *why* in terms the user knows: it is
another format (a PNG, a TFLite flatbuffer, a text file, ...), or it is a protobuf cut short.
"""
from __future__ import annotations

import difflib
import stat
from pathlib import Path

import onnx
from onnx import external_data_helper
from google.protobuf.message import DecodeError

from ..errors import AotError

# Up to the newest opset the installed onnx package defines: its shape inference and reference
# evaluator know every op version up to there, and the kernels read attributes by their meaning.
MIN_OPSET, MAX_OPSET = 7, onnx.defs.onnx_opset_version()

# Leading bytes of formats people mistake for (or save instead of) an ONNX model.
_MAGIC: list[tuple[int, bytes, str]] = [
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (0, b"GIF8", "a GIF image"),
    (0, b"%PDF", "a PDF document"),
    (0, b"PK\x03\x04", "a ZIP archive (PyTorch .pt/.pth checkpoints and Keras .keras files are ZIPs)"),
    (0, b"\x89HDF\r\n\x1a\n", "an HDF5 file (a Keras .h5 model?)"),
    (4, b"TFL3", "a TensorFlow Lite flatbuffer (convert it with tf2onnx first)"),
    (0, b"\x1f\x8b", "a gzip archive (unpack it first)"),
    (0, b"\x7fELF", "an ELF executable or library"),
    (0, b"version https://git-lfs", "a Git LFS pointer, not the model itself (run git lfs pull)"),
]


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Load ``path`` as an ONNX model; every failure is an AotError naming the file and the cause."""
    path = Path(path)
    if not path.exists():
        hint = ""
        if path.parent.is_dir():
            close = difflib.get_close_matches(path.name, [p.name for p in path.parent.glob("*.onnx")], n=3, cutoff=0.75)
            if close:
                hint = f" Did you mean {' or '.join(repr(str(path.parent / c)) for c in close)}?"
        raise AotError(f"model file '{path}' does not exist.{hint}")
    _check_regular_file(path)
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, ValueError, RuntimeError, UnicodeDecodeError) as exc:
        raise AotError(f"the file is not a valid ONNX model: {_describe_undecodable(path, exc)}",
                       model=str(path)) from None
    _load_external_data(model, path)
    if not model.graph.node and not model.graph.output:
        raise AotError(f"the file is not an ONNX model: {_describe_empty(path)}", model=str(path))
    if not model.graph.output:
        raise AotError("the model declares no graph outputs, so there is nothing to compute; the file is "
                       "probably truncated or incompletely exported", model=str(path))
    if not model.opset_import:
        raise AotError("the model declares no opset (opset_import is empty); the file is probably "
                       "truncated or was not written by an ONNX exporter", model=str(path))
    check_opset(model, str(path))
    return model


def _check_regular_file(path: Path) -> None:
    """Refuse folders, FIFOs and devices before reading: reading a FIFO or /dev/zero never ends."""
    mode = path.stat().st_mode  # stat follows a symbolic link to what it names, and never blocks
    if stat.S_ISDIR(mode):
        raise AotError(f"'{path}' is a folder, not an ONNX model file")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
                else "a block device" if stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "not a regular file")
        raise AotError(f"'{path}' is {kind}, not an ONNX model file; save the model to a regular file first")


def _load_external_data(model: onnx.ModelProto, path: Path) -> None:
    """Read tensors stored in separate files (models over 2 GB, or saved that way) from beside ``path``."""
    external = [t for t in model.graph.initializer if external_data_helper.uses_external_data(t)]
    if not external:
        return
    locations = sorted({info.value for t in external for info in t.external_data if info.key == "location"})
    try:
        external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (OSError, onnx.checker.ValidationError, ValueError) as exc:
        missing = [loc for loc in locations if not (path.parent / loc).is_file()]
        reason = (f"missing: {', '.join(missing)}" if missing else str(exc).splitlines()[0])
        raise AotError(f"the model keeps {len(external)} tensor(s) in external data file(s) "
                       f"{', '.join(locations)} that could not be read ({reason}); keep them next to "
                       f"the .onnx file", model=str(path)) from None


def _sniff(head: bytes) -> str | None:
    for offset, magic, what in _MAGIC:
        if head[offset:offset + len(magic)] == magic:
            return what
    return None


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text)


def _describe_empty(path: Path) -> str:
    data = path.read_bytes()
    if not data:
        return "it is empty (0 bytes)"
    return _what_it_is(data) or (f"it decodes as a protobuf message but holds no graph ({len(data)} bytes); "
                                 f"it is another protobuf format or not an ONNX file")


def _what_it_is(data: bytes) -> str | None:
    what = _sniff(data[:64])
    if what:
        return f"it looks like {what}"
    if data.lstrip()[:1] in (b"{", b"["):
        return "it looks like a JSON file"
    if _looks_like_text(data):
        first = data.decode("utf-8", "replace").strip().splitlines()[0][:60] if data.strip() else ""
        return f"it is a text file (first line: '{first}')" if first else "it holds only whitespace"
    return None


def _describe_undecodable(path: Path, exc: Exception) -> str:
    data = path.read_bytes()
    what = _what_it_is(data)
    if what:
        return what
    truncated_at = _truncation_point(data)
    if truncated_at is not None:
        return (f"it is truncated (a protobuf field starting at byte {truncated_at} runs past the end of the "
                f"file at {len(data)} bytes); copy or download it again")
    return (f"protobuf decoding failed ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; "
            f"{len(data)} bytes); the file is corrupt or in another format")


def _read_varint(data: bytes, pos: int) -> tuple[int, int] | None:
    value, shift = 0, 0
    while pos < len(data):
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            return None
    return None


def _truncation_point(data: bytes) -> int | None:
    """Offset of the top-level protobuf field that runs past the end of ``data``, if any.

    Walking the wire format of the outer message is enough: ONNX writes the graph as one
    length-delimited field, so a file cut anywhere inside it fails this check.
    """
    pos = 0
    while pos < len(data):
        start = pos
        tag = _read_varint(data, pos)
        if tag is None:
            return start
        key, pos = tag
        wire = key & 7
        if wire == 0:
            value = _read_varint(data, pos)
            if value is None:
                return start
            pos = value[1]
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length = _read_varint(data, pos)
            if length is None:
                return start
            pos = length[1] + length[0]
        else:
            return None  # not a protobuf at this offset: corrupt, not merely short
        if pos > len(data):
            return start
    return None


def default_opset(model: onnx.ModelProto) -> int:
    for imp in model.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return imp.version
    return 1


def check_opset(model: onnx.ModelProto, model_name: str) -> None:
    opset = default_opset(model)
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise AotError(f"the model uses ONNX opset {opset}; aot supports opsets {MIN_OPSET} to {MAX_OPSET}. "
                       f"Convert it with onnx.version_converter.convert_version(model, "
                       f"{min(max(opset, MIN_OPSET), MAX_OPSET)}).", model=model_name)


def check_outputs_produced(model: onnx.ModelProto, model_name: str) -> None:
    """Every graph output is an input, an initializer or some node's output: onnx's version converter
    crashes the process (a segmentation fault) on a graph output nothing produces."""
    g = model.graph
    defined = {i.name for i in g.input} | {i.name for i in g.initializer} | {o for n in g.node for o in n.output}
    for out in g.output:
        if out.name not in defined:
            raise AotError(f"graph output '{out.name}' is never produced", model=model_name)
