"""Does a compiled model fit a board? Checked at compile time, before any C is rendered, from the
weights (flash) and the arena plus stack (RAM); the linker checks the exact sizes again."""
from __future__ import annotations

from ..codegen.kernel_context import kernel_arguments
from ..codegen.lower import Call
from ..errors import AotError
from ..ir import Graph
from ..planner import MemoryPlan
from .board import Board, format_bytes

TOP = 3  # largest contributors named in the error


def weight_bytes(graph: Graph, calls: list[Call], plan: MemoryPlan) -> dict[str, int]:
    """Constant tensors the generated code keeps as arrays (as emit.render_library decides)."""
    out: dict[str, int] = {}
    for call in calls:
        ins, _ = kernel_arguments(call.node, call.kernel, graph)
        for arg in ins:
            if arg is not None and plan.storage[arg.tensor.name].kind == "const":
                root = plan.storage[arg.tensor.name].root
                out[root] = graph.tensors[root].nbytes
    for name in graph.outputs:
        st = plan.storage[name]
        if st.kind == "const":
            out[st.root] = graph.tensors[st.root].nbytes
    return out


def _largest(items: dict[str, int]) -> str:
    top = sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP]
    return ", ".join(f"{name} {size:,} B" for name, size in top)


def check_fit(board: Board, graph: Graph, calls: list[Call], plan: MemoryPlan) -> None:
    """Raise an AotError naming what is needed, what the board has and the largest contributors."""
    if board.is_host or board.flash is None or board.ram is None:
        return
    weights = weight_bytes(graph, calls, plan)
    total_weights = sum(weights.values())
    code_in_flash = board.code is None
    flash_need = total_weights + (board.code_reserve if code_in_flash else 0)
    ram_need = plan.arena_bytes + board.stack_bytes
    problems = []
    if flash_need > board.flash.size:
        reserve = f" + {board.code_reserve:,} B kept for code" if code_in_flash else ""
        problems.append(f"flash: needs at least {flash_need:,} B (weights {total_weights:,} B{reserve}), "
                        f"the board has {board.flash.size:,} B ({format_bytes(board.flash.size)}); "
                        f"largest weights: {_largest(weights)}")
    if ram_need > board.ram.size:
        buffers = {name: req.size for name, req, _ in plan.buffers}
        problems.append(f"RAM: needs at least {ram_need:,} B (arena {plan.arena_bytes:,} B + stack "
                        f"{board.stack_bytes:,} B), the board has {board.ram.size:,} B "
                        f"({format_bytes(board.ram.size)}); largest arena buffers: {_largest(buffers)}")
    if problems:
        raise AotError(f"the model does not fit board '{board.name}' ({board.description}):\n  "
                       + "\n  ".join(problems), model=graph.name)
