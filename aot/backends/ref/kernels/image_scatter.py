"""Ops that scatter values back into an image: Col2Im (sums the columns of an unfolded image back into
it; float32 as ONNX Runtime) and MaxUnpool (writes each value at its index; float32 and float64).

Col2Im: image_shape and block_shape are compile-time inputs; N-D, pads, strides and dilations.
MaxUnpool: the indices address the output tensor as it is (ONNX Runtime's reading, also with a given
output_shape, a compile-time input); an index outside the output is skipped (ONNX Runtime rejects it),
and of two equal indices the later value wins.
"""
from __future__ import annotations

import numpy as np

from ....ir import Graph, Node
from .. import REF
from .float_types import FLOATS


# -- Col2Im ---------------------------------------------------------------------------------------------
def col2im_params(node: Node, graph: Graph) -> dict:
    x = graph.tensors[node.inputs[0]]
    image = [int(v) for v in np.asarray(graph.const(node.inputs[1])).reshape(-1)]
    block = [int(v) for v in np.asarray(graph.const(node.inputs[2])).reshape(-1)]
    r = len(image)
    pads = list(node.attrs.get("pads") or [0] * 2 * r)
    strides = list(node.attrs.get("strides") or [1] * r)
    dilations = list(node.attrs.get("dilations") or [1] * r)
    blocks = [(image[d] + pads[d] + pads[d + r] - dilations[d] * (block[d] - 1) - 1) // strides[d] + 1
              for d in range(r)]
    bprod = int(np.prod(block))
    istride = [int(np.prod(image[d + 1:], dtype=np.int64)) for d in range(r)]
    return {"N": x.shape[0], "C": x.shape[1] // bprod, "BP": bprod, "L": x.shape[2], "R": r, "image": image,
            "block": block, "blocks": blocks, "pads": pads[:r], "strides": strides, "dilations": dilations,
            "istride": istride, "ISZ": int(np.prod(image, dtype=np.int64))}


REF.kernel("Col2Im", template="ref/sampling/col2im.c.j2", static_inputs=(1, 2), input_names=("X",),
           output_names=("Y",), name="col2im")(col2im_params)


# -- MaxUnpool ------------------------------------------------------------------------------------------
def max_unpool_params(node: Node, graph: Graph) -> dict:
    return {"count": graph.tensors[node.inputs[0]].size, "total": graph.tensors[node.outputs[0]].size}


def _max_unpool_check(node: Node, graph: Graph) -> str | None:
    dtype = graph.tensors[node.inputs[1]].dtype
    return None if dtype == "int64" else f"indices of dtype {dtype} (ONNX takes int64)"


REF.kernel("MaxUnpool", template="ref/sampling/max_unpool.c.j2", static_inputs=(2,), check=_max_unpool_check,
           dtypes=FLOATS, input_names=("X", "I"), output_names=("Y",), name="max_unpool")(max_unpool_params)
