"""Does a compiled model fit a board? Checked at compile time, before any C is rendered, from
everything the application needs: the arena, the caller's input/output buffers and the stack (RAM),
the weights (flash) and an estimate of the code (the board's ``code_reserve``, in flash or in the
board's code region). The linker checks the exact sizes again; this check fails early with figures."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..codegen.kernel_context import kernel_arguments
from ..codegen.lower import Call
from ..errors import AotError
from ..ir import Graph
from ..planner import MemoryPlan
from .board import Board, Region, format_bytes

INT_MAX = 2 ** 31 - 1

TOP = 3  # largest contributors named in the error


@dataclass(frozen=True)
class FitItem:
    label: str  # what needs the bytes ("arena", "output y", "stack", ...)
    region: str  # "RAM", "flash", "code" or the board's weights_region name
    size: int
    note: str = ""  # where the figure comes from


@dataclass
class FitReport:
    """Every item a board must hold for the model, and per region what is used and available."""

    board: Board
    items: list[FitItem] = field(default_factory=list)
    weights: dict[str, int] = field(default_factory=dict)  # constant tensor -> bytes
    arena_buffers: dict[str, int] = field(default_factory=dict)  # arena buffer -> bytes

    def regions(self) -> dict[str, Region]:
        named = {"RAM": self.board.ram, "flash": self.board.flash, "code": self.board.code}
        if self.board.weights_region_name is not None:
            named[self.board.weights_region_name] = self.board.weights_region
        return {name: region for name, region in named.items() if region is not None}

    def used(self, region: str) -> int:
        return sum(item.size for item in self.items if item.region == region)

    def fits(self, region: str) -> bool:
        return self.used(region) <= self.regions()[region].size

    @property
    def ok(self) -> bool:
        return all(self.fits(r) for r in self.regions())

    def table(self) -> str:
        rows = [f"fit on board '{self.board.name}':",
                f"  {'item':<28} {'region':<6} {'bytes':>12}  from"]
        rows += [f"  {i.label[:28]:<28} {i.region:<6} {i.size:>12,}  {i.note}" for i in self.items]
        rows.append(f"  {'region':<28} {'used':>12} {'available':>12}  fits")
        for name, region in self.regions().items():
            used = self.used(name)
            verdict = "yes" if used <= region.size else f"NO ({used - region.size:,} B too many)"
            rows.append(f"  {name:<28} {used:>12,} {region.size:>12,}  {verdict}")
        return "\n".join(rows)


def weight_bytes(graph: Graph, calls: list[Call], plan: MemoryPlan) -> dict[str, int]:
    """Constant tensors the generated code keeps as arrays (as emit.render_library decides), and the
    constant data kernels keep in their own C (Kernel.folded_weight_bytes)."""
    out: dict[str, int] = {}
    for call in calls:
        ins, _ = kernel_arguments(call.node, call.kernel, graph)
        for arg in ins:
            if arg is not None and plan.storage[arg.tensor.name].kind == "const":
                root = plan.storage[arg.tensor.name].root
                out[root] = graph.tensors[root].nbytes
        if call.kernel.folded_weight_bytes:
            out[f"{call.node.name} (in its kernel)"] = call.kernel.folded_weight_bytes(call.node, graph)
    for name in graph.outputs:
        st = plan.storage[name]
        if st.kind == "const":
            out[st.root] = graph.tensors[st.root].nbytes
    return out


def io_items(graph: Graph, plan: MemoryPlan) -> list[FitItem]:
    """The caller's buffers: with separate I/O buffers the library reads inputs and writes outputs
    through the caller's pointers, so they are not in the arena, yet the application must hold them
    in RAM too. Inputs and outputs placed in the arena are counted in it."""
    if plan.io_in_arena:
        return []
    items = []
    for kind, names in (("input", graph.inputs), ("output", graph.outputs)):
        for name in dict.fromkeys(names):
            t = graph.tensors[name]
            items.append(FitItem(f"{kind} {t.onnx_name}", "RAM", t.nbytes, "caller's buffer"))
    return items


def weight_items(board: Board, graph: Graph, calls: list[Call], total: int) -> list[FitItem]:
    """The weights in flash, or, on a board with a ``weights_region``, the weight arrays there (the
    firmware places them with <PREFIX>_WEIGHTS_SECTION or --weights-file bin) and only the constants
    kernels keep inside their own code in flash."""
    if board.weights_region_name is None:
        return [FitItem("weights", "flash", total, "const arrays")]
    in_kernels = sum(c.kernel.folded_weight_bytes(c.node, graph) for c in calls if c.kernel.folded_weight_bytes)
    items = [FitItem("weights", board.weights_region_name, total - in_kernels, "board.toml memory.weights_region")]
    if in_kernels:
        items.append(FitItem("weights in kernels", "flash", in_kernels, "constants inside kernel code"))
    return items


def fit_report(board: Board, graph: Graph, calls: list[Call], plan: MemoryPlan) -> FitReport | None:
    """What the model needs of ``board``'s memory (None for the host, which has no fixed regions)."""
    if board.is_host or board.flash is None or board.ram is None:
        return None
    weights = weight_bytes(graph, calls, plan)
    code_region = "code" if board.code is not None else "flash"
    items = [FitItem("arena", "RAM", plan.arena_bytes, "memory plan"), *io_items(graph, plan),
             FitItem("stack", "RAM", board.stack_bytes, "board.toml memory.stack"),
             *weight_items(board, graph, calls, sum(weights.values())),
             FitItem("code (estimate)", code_region, board.code_reserve, "board.toml memory.code_reserve")]
    return FitReport(board, items, weights, {name: req.size for name, req, _ in plan.buffers})


def _largest(items: dict[str, int]) -> str:
    top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return ", ".join(f"{name} {size:,} B" for name, size in top)


def _problem(report: FitReport, region: str) -> str:
    """One line per region that overflows: the need, its parts, what the board has, the largest parts."""
    items = [i for i in report.items if i.region == region]
    parts = " + ".join(f"{i.label} {i.size:,} B" for i in items)
    size = report.regions()[region].size
    line = (f"{region}: needs at least {report.used(region):,} B ({parts}), the board has {size:,} B "
            f"({format_bytes(size)}), {report.used(region) - size:,} B too many")
    if region == "RAM":
        line += f"; largest arena buffers: {_largest(report.arena_buffers)}"
    elif any(i.label == "weights" for i in items):
        line += f"; largest weights: {_largest(report.weights)}"
    return line


def check_fit(board: Board, graph: Graph, calls: list[Call], plan: MemoryPlan) -> None:
    """Raise an AotError naming what is needed, what the board has and the largest contributors."""
    if plan.arena_bytes > INT_MAX:  # on any board, the host included: offsets are int in the C
        raise AotError(f"the activation arena needs {plan.arena_bytes:,} bytes; the generated C places tensors at "
                       f"int offsets, so the arena may hold at most {INT_MAX:,} bytes", model=graph.source or graph.name)
    report = fit_report(board, graph, calls, plan)
    if report is None or report.ok:
        return
    problems = [_problem(report, r) for r in report.regions() if not report.fits(r)]
    raise AotError(f"the model does not fit board '{board.name}' ({board.description}):\n  "
                   + "\n  ".join(problems) + "\n" + report.table(), model=graph.source or graph.name)
