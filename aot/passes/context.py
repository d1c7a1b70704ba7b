"""Pass infrastructure: a pass is a function Graph -> Graph registered under a name;
``Sequential`` runs passes in order, verifying (debug) and dumping the IR where asked."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from ..ir import Graph, format_graph, verify

PassFn = Callable[[Graph, "PassContext"], Graph]
PASSES: dict[str, PassFn] = {}


@dataclass
class PassPlacement:
    """A user's pass and where ``aot compile`` runs it: right after or before a named pipeline pass."""

    fn: PassFn
    after: str | None = None
    before: str | None = None


USER_PASSES: list[PassPlacement] = []


def graph_pass(name: str) -> Callable[[PassFn], PassFn]:
    """Register ``fn`` as a pass called ``name`` (the name ``--dump-ir-after`` takes)."""
    def register(fn: PassFn) -> PassFn:
        fn.pass_name = name  # type: ignore[attr-defined]
        PASSES[name] = fn
        return fn
    return register


def register_pass(fn: PassFn, *, after: str | None = None, before: str | None = None,
                  name: str | None = None) -> PassFn:
    """Run ``fn`` (Graph, PassContext) -> Graph in every compile, right after (or before) the pipeline pass
    named ``after`` (``before``); ``aot compile --dump-ir-after`` and the IR verifier treat it like the
    built-in passes. Returns ``fn`` (usable as a decorator through functools.partial)."""
    if (after is None) == (before is None):
        raise ValueError("register_pass needs exactly one of after= or before=")
    name = name or getattr(fn, "pass_name", None) or fn.__name__
    if name in PASSES and PASSES[name] is not fn:
        raise ValueError(f"a pass named '{name}' is already registered")
    graph_pass(name)(fn)
    USER_PASSES.append(PassPlacement(fn, after, before))
    return fn


def unregister_pass(name: str) -> None:
    USER_PASSES[:] = [p for p in USER_PASSES if p.fn.pass_name != name]  # type: ignore[attr-defined]
    PASSES.pop(name, None)


def place_user_passes(passes: list[PassFn]) -> list[PassFn]:
    """The pipeline with the registered user passes inserted at their places."""
    from ..errors import AotError
    out = list(passes)
    for placement in USER_PASSES:
        anchor = placement.after or placement.before
        names = [p.pass_name for p in out]  # type: ignore[attr-defined]
        if anchor not in names:
            raise AotError(f"pass '{placement.fn.pass_name}' is registered {'after' if placement.after else 'before'} "  # type: ignore[attr-defined]
                           f"'{anchor}', which is not in the pipeline ({', '.join(dict.fromkeys(names))})")
        index = names.index(anchor) + (1 if placement.after else 0)
        out.insert(index, placement.fn)
    return out


@dataclass
class PassContext:
    """Options for a pass pipeline; ``skip_layers`` names the layers rewriting passes leave alone."""

    options: dict[str, Any] = field(default_factory=dict)
    skip_layers: set[str] = field(default_factory=set)
    debug: bool = True  # verify the graph after every pass
    dump_ir_after: set[str] = field(default_factory=set)
    dump_stream: TextIO | None = None

    def skips(self, node_name: str) -> bool:
        return node_name in self.skip_layers


class Sequential:
    def __init__(self, passes: list[PassFn]):
        self.passes = list(passes)

    @property
    def names(self) -> list[str]:
        return [p.pass_name for p in self.passes]  # type: ignore[attr-defined]

    def __call__(self, graph: Graph, ctx: PassContext | None = None) -> Graph:
        ctx = ctx or PassContext()
        for p in self.passes:
            name = p.pass_name  # type: ignore[attr-defined]
            graph = p(graph, ctx)
            if ctx.debug:
                verify(graph, after=name)
            if name in ctx.dump_ir_after or "all" in ctx.dump_ir_after:
                stream = ctx.dump_stream or sys.stdout
                print(f"; IR after {name}", file=stream)
                print(format_graph(graph), file=stream)
        return graph
