"""The one exception type users see: a message that names the model, the node and the reason."""
from __future__ import annotations

import difflib
from dataclasses import dataclass


class AotError(Exception):
    """A user-facing compile or run failure; the CLI prints it and exits non-zero."""

    def __init__(self, message: str, *, model: str | None = None, node: str | None = None):
        self.model = model
        self.node = node
        where = []
        if model:
            where.append(f"model '{model}'")
        if node:
            where.append(f"node '{node}'")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + message)


def did_you_mean(name: str, choices, cutoff: float = 0.6) -> str:
    """" Did you mean 'x'?" naming the closest of ``choices`` to a misspelt ``name``, or ""."""
    choices = [str(c) for c in choices]
    close = difflib.get_close_matches(name, choices, n=2, cutoff=cutoff)
    if not close:  # then ignoring case: 'X' for 'x', 'conv' for 'Conv'
        by_lower = {c.lower(): c for c in choices}
        close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=2, cutoff=cutoff)]
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


class UnsupportedOpError(AotError):
    """An op, dtype or shape no backend compiles; ``blockers`` lists each node that stops the model."""

    def __init__(self, message: str, *, model: str | None = None, node: str | None = None,
                 blockers: tuple["Blocker", ...] = ()):
        super().__init__(message, model=model, node=node)
        self.blockers = blockers


class ShapeError(AotError):
    pass


@dataclass(frozen=True)
class Blocker:
    """One node that stops a model from compiling: what it is and why."""

    op: str  # op type, with its domain when not the default one
    opset: int | str
    node: str
    reason: str
    dtypes: str = ""  # of its inputs, e.g. "float32, int64"
    # graph inputs whose values decide the node's output shape (fixing them at compile time would let
    # the node compile: ``--fix-input``)
    deciding_inputs: tuple[str, ...] = ()


def unsupported_models_error(blockers: list[Blocker], model: str | None) -> UnsupportedOpError:
    """Every blocker at once, grouped by op and reason, so one run tells the user all that is missing."""
    groups: dict[tuple[str, int | str, str, str], list[str]] = {}
    for b in blockers:
        groups.setdefault((b.op, b.opset, b.dtypes, b.reason), []).append(b.node)
    ops = sorted({b.op for b in blockers})
    lines = []
    for (op, opset, dtypes, reason), nodes in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][3])):
        shown = ", ".join(repr(n) for n in nodes[:MAX_NODES_SHOWN])
        more = f" and {len(nodes) - MAX_NODES_SHOWN} more" if len(nodes) > MAX_NODES_SHOWN else ""
        of = f", {dtypes}" if dtypes else ""
        lines.append(f"  {op} (opset {opset}{of}): {'node' if len(nodes) == 1 else 'nodes'} {shown}{more}: {reason}")
    hint = "`aot ops` lists what each backend supports."
    if len(lines) == 1:  # one paragraph, like every other error
        return UnsupportedOpError(f"cannot compile {lines[0].strip()}. {hint}", model=model, blockers=tuple(blockers))
    count = f"{len(ops)} operator{'s' if len(ops) > 1 else ''} ({len(blockers)} node{'s' if len(blockers) > 1 else ''})"
    return UnsupportedOpError(f"{count} cannot be compiled; every blocker, by op:\n" + "\n".join(lines) + "\n" + hint,
                              model=model, blockers=tuple(blockers))


MAX_NODES_SHOWN = 5
