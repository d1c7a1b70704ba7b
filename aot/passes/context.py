"""Pass infrastructure: a pass is a function Graph -> Graph registered under a name;
``Sequential`` runs passes in order, verifying (debug) and dumping the IR where asked."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, Callable, TextIO

from ..ir import Graph, format_graph, verify

PassFn = Callable[[Graph, "PassContext"], Graph]
PASSES: dict[str, PassFn] = {}


def graph_pass(name: str) -> Callable[[PassFn], PassFn]:
    """Register ``fn`` as a pass called ``name`` (the name ``--dump-ir-after`` takes)."""
    def register(fn: PassFn) -> PassFn:
        fn.pass_name = name  # type: ignore[attr-defined]
        PASSES[name] = fn
        return fn
    return register


@dataclass
class PassContext:
    """Options for a pass pipeline and per-layer configuration addressed by layer/tensor name."""

    options: dict[str, Any] = field(default_factory=dict)
    layer_config: dict[str, dict[str, Any]] = field(default_factory=dict)
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
