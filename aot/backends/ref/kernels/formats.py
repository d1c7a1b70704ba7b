"""Cast / CastLike involving a narrow format (float16, bfloat16, float8, float4, int4, int2).

Inside the graph these formats are computed widened (aot/ir/formats.py), so three casts exist:
decode (a graph input's stored bits -> its wide twin), encode (any value -> a graph output's bits)
and round (a Cast to a narrow format inside the graph: the value rounded to the format and back,
in the wide dtype). All three call runtime_c/aot_formats.h, whose numpy twin is aot/ir/formats.py.
"""
from __future__ import annotations

from ....ir import Graph, Node
from ....ir.dtypes import np_dtype_of
from ....ir.formats import FORMATS, ROUND_MODES, Format, narrow_format
from ....ops.ctyping import ALL, FLOATS
from .. import REF

CAST_DTYPES = ALL + tuple(FORMATS)
_EXACT_IN_FLOAT = ("bool", "int8", "uint8", "int16", "uint16")  # float32 holds every value


def _target(node: Node, graph: Graph) -> Format | None:
    """The narrow format a Cast converts to (CastLike with a narrow second input arrives as Cast)."""
    if node.op_type == "Cast":
        try:
            return narrow_format(np_dtype_of(int(node.attrs.get("to", 0))))
        except ValueError:
            return None
    return narrow_format(graph.tensors[node.inputs[1]].dtype) if len(node.inputs) > 1 and node.inputs[1] else None


def _encode(x: str, src: str, fmt: Format, saturate: int, round_mode: str) -> str:
    """C expression: the value ``x`` of dtype ``src`` cast to ``fmt``, as its storage bits."""
    if not fmt.is_float:
        if src in FLOATS:
            return f"aot_trunc_{fmt.c_suffix}{'_d' if src == 'float64' else ''}({x})"
        return f"aot_wrap_{fmt.c_suffix}((uint64_t){x})"
    if fmt.c_suffix == "e8m0":  # onnx converts to float32 first, then takes the exponent
        return f"aot_encode_e8m0_mode((float){x}, {saturate}, {ROUND_MODES.index(round_mode)})"
    if src == "float32" or src in _EXACT_IN_FLOAT:
        value = x if src == "float32" else f"(float){x}"
    else:  # float64 and wide integers: round to odd first, so the value is rounded once
        value = f"aot_f32_round_odd({x})" if src == "float64" else f"aot_f32_round_odd((double){x})"
    return f"aot_encode_{fmt.c_suffix}({value}, {saturate})"


def _plan(node: Node, graph: Graph) -> tuple[str, str] | str:
    """(description, C expression of x) for the node, or why this kernel does not run it."""
    src, dst = graph.tensors[node.inputs[0]].dtype, graph.tensors[node.outputs[0]].dtype
    saturate = int(node.attrs.get("saturate", 1))
    round_mode = str(node.attrs.get("round_mode", "up"))
    if round_mode not in ROUND_MODES:
        return f"round_mode '{round_mode}' (Cast takes {', '.join(ROUND_MODES)})"
    src_fmt, dst_fmt, target = narrow_format(src), narrow_format(dst), _target(node, graph)
    if src_fmt is not None:
        if dst != src_fmt.wide:
            return f"decoding {src} writes {src_fmt.wide}, not {dst}"
        return f"decode {src}", f"aot_decode_{src_fmt.c_suffix}(x)" if src_fmt.is_float else "x"
    if dst_fmt is not None:
        return f"encode {dst}", _encode("x", src, dst_fmt, saturate, round_mode)
    if target is None:
        return "no narrow format involved (the plain Cast kernel runs it)"
    if dst != target.wide:
        return f"a Cast to {target.name} computes in {target.wide}, the output is {dst}"
    bits = _encode("x", src, target, saturate, round_mode)
    if not target.is_float:
        return f"round to {target.name}", bits
    return f"round to {target.name}", f"aot_decode_{target.c_suffix}({bits})"


def _check(node: Node, graph: Graph) -> str | None:
    plan = _plan(node, graph)
    return plan if isinstance(plan, str) else None


def _params(node: Node, graph: Graph) -> dict:
    what, expr = _plan(node, graph)
    return {"what": what, "expr": expr}


# Above the plain Cast kernel (priority 0), which would ignore the rounding to the format.
REF.kernel("Cast", "CastLike", template="ref/formats/cast.c.j2", check=_check, dtypes=CAST_DTYPES, plain=True,
           priority=1, input_names=("X", "Like"), output_names=("Y",))(_params)
