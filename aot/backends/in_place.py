"""Which kernels may write their output over their input, and where (the planner's InPlace).

A kernel declares ``in_place``: a function of the layer giving the input its output may overlap and
the shifts (output offset - input offset, bytes) at which no output byte lands on an input byte the
kernel has still to read, or None where its loop order does not allow it. The planner overlaps them
only when that input dies at the layer (aot/planner/plan.py); the layer then gets node.meta["in_place"]
(its tensors lose ``restrict``; a kernel may read it in its parameters, e.g. to copy what it reads).
"""
from __future__ import annotations

from ..ir import Graph, Node
from ..planner import InPlace


def depthwise_nchw(node: Node, graph: Graph) -> InPlace | None:
    """ref's NCHW depthwise (and its arm-dsp variant), one output channel per input channel: plane c is
    copied to scratch before output plane c is written, and output plane c, at c * OSP <= c * ISP,
    ends before input plane c + 1 begins; so at shift 0 only copied planes are overwritten."""
    from .ref.kernels.int8 import conv_geometry, depthwise_geometry  # (ref's kernels import this module)
    g = conv_geometry(node, graph)
    if g["nhwc"] or g["ICG"] != 1 or g["OCG"] != 1 or g["OSP"] > g["ISP"] or depthwise_geometry(g["win"]) is None:
        return None
    return InPlace(node.inputs[0], (0,))


def pointwise_nchw(node: Node, graph: Graph) -> InPlace | None:
    """ref's tiled NCHW 1x1 Conv, stride 1 (and its arm-dsp variant), one group, one image: a tile of
    pixels is gathered (every input channel) into scratch before any of its outputs is stored, and
    output (oc, p) lands OSP * (oc - ic) + p apart from input (ic, p). At a shift that is a multiple
    of OSP a store meets only the inputs of its own pixel, already gathered; the shifts offered put
    the smaller tensor at the start or at the end of the larger."""
    from .ref.kernels.int8 import conv_geometry
    g = conv_geometry(node, graph)
    if g["nhwc"] or not g["pointwise"] or g["group"] != 1 or g["N"] != 1:
        return None
    x, y = (graph.tensors[t].nbytes for t in (node.inputs[0], node.outputs[0]))
    return InPlace(node.inputs[0], tuple(dict.fromkeys((0, x - y))))


def elementwise(node: Node, graph: Graph) -> InPlace | None:
    """Elementwise kernels reading every operand at index i, then storing y[i], in one forward pass
    (ref's unary, binary/broadcast, int8 requantize, binary and lookup loops): over an operand of
    the output's shape and element size, a store at shift 0 meets only the element just read."""
    outs = [o for o in node.outputs if o]
    if len(outs) != 1:
        return None
    y = graph.tensors[outs[0]]
    for name in node.inputs:
        x = graph.tensors[name] if name else None
        if x is not None and not x.is_constant and x.shape == y.shape and x.nbytes == y.nbytes:
            return InPlace(name, (0,))
    return None
