"""Class labels of a model's first output (``aot compile --labels labels.txt``): read, checked against
the output's size, and written as C string literals into model.c."""
from __future__ import annotations

from pathlib import Path

from ..errors import AotError
from ..ir import Graph


def read_labels(path: str | Path) -> list[str]:
    """One label per line (UTF-8; trailing spaces and the line ending are dropped, so are empty lines at
    the end). An unreadable file or an empty label is an error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AotError(f"--labels: cannot read '{path}': {exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    empty = [i + 1 for i, line in enumerate(lines) if not line]
    if not lines:
        raise AotError(f"--labels: '{path}' holds no labels (one per line)")
    if empty:
        raise AotError(f"--labels: line {empty[0]} of '{path}' is empty (one label per line)")
    return lines


def classes_of(shape: list[int] | tuple[int, ...]) -> int:
    """The class count of an output: its elements per sample (without a leading batch axis)."""
    size = 1
    for d in shape:
        size *= int(d)
    return size // int(shape[0]) if len(shape) >= 2 and int(shape[0]) > 0 else size


def check_labels(graph: Graph, labels: list[str]) -> None:
    """The labels name the classes of output 0: exactly one per element of a sample."""
    if not graph.outputs:
        raise AotError("--labels: the model has no outputs", model=graph.source)
    out = graph.tensors[graph.outputs[0]]
    classes = classes_of(list(out.shape))
    if len(labels) != classes:
        raise AotError(f"--labels: {len(labels)} labels, but output 0 '{out.onnx_name}' {list(out.shape)} has "
                       f"{classes} classes; give one label per class", model=graph.source)


def c_string(text: str) -> str:
    """``text`` as a C string literal: UTF-8 bytes, everything but plain printable ASCII escaped in octal
    (also '?', so no trigraph forms)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?' or not 0x20 <= byte < 0x7F:
            out.append(f"\\{byte:03o}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
