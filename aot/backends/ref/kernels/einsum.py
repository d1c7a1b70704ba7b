"""Einsum as one loop nest: a loop per output letter, inside them a loop per summed letter, and the
product of the operands accumulated in float. Covers what exporters emit (batched matmuls such as
"bij,bjk->bik" and "bhqd,bhkd->bhqk", transposes, reductions, dot and outer products, diagonals)."""
from __future__ import annotations

from ....codegen.cformat import strides as dense_strides
from ....ir import Graph, Node
from ....ops.einsum import parse_einsum
from .. import REF


def _offset(term: str, shape: tuple[int, ...], var: dict[str, str]) -> str:
    """The element offset of an operand: a repeated letter (a diagonal) adds each of its strides; an
    axis of size 1 is broadcast (an ellipsis axis another operand has larger), so it adds nothing."""
    parts = [f"{var[c]}" + (f" * {s}" if s != 1 else "")
             for c, s, d in zip(term, dense_strides(shape), shape) if d != 1]
    return " + ".join(parts) or "0"


def einsum_params(node: Node, graph: Graph) -> dict:
    shapes = [graph.tensors[n].shape for n in node.inputs]
    spec = parse_einsum(str(node.attrs["equation"]), shapes)
    letters = spec.output + spec.reduced
    var = {c: f"e{i}" for i, c in enumerate(letters)}
    factors = [f"in{i}[{_offset(t, s, var)}]" for i, (t, s) in enumerate(zip(spec.inputs, shapes))]
    out_shape = tuple(spec.sizes[c] for c in spec.output)
    # A letter of size 1 needs no loop: every offset leaves size-1 axes out.
    return {"outer": [(var[c], spec.sizes[c]) for c in spec.output if spec.sizes[c] != 1],
            "reduced": [(var[c], spec.sizes[c]) for c in spec.reduced if spec.sizes[c] != 1],
            "product": " * ".join(factors), "yoff": _offset(spec.output, out_shape, var)}


def _einsum_check(node: Node, graph: Graph) -> str | None:
    if any(graph.tensors[n].dtype != graph.tensors[node.outputs[0]].dtype for n in node.inputs):
        return "Einsum operands of different dtypes"
    return None


REF.kernel("Einsum", template="ref/einsum.c.j2", check=_einsum_check, dtypes=("float32", "float64"),
           output_names=("Y",),
           name="einsum")(einsum_params)
