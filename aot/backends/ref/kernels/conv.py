"""Float Conv: any group count (depthwise included), pads/auto_pad, strides, dilations, 1-3 spatial dims."""
from ....ir import Graph, Node
from .. import REF
from .spatial import spatial_check, window


def conv_params(node: Node, graph: Graph) -> dict:
    x, w = graph.tensors[node.inputs[0]], graph.tensors[node.inputs[1]]
    y = graph.tensors[node.outputs[0]]
    win = window(node, graph)
    group = int(node.attrs.get("group", 1))
    return {
        "win": win,
        "ranges": win.tap_ranges(),
        "N": x.shape[0], "C": x.shape[1], "OC": y.shape[1], "group": group,
        "ICG": x.shape[1] // group, "OCG": y.shape[1] // group,
        "ISP": win.in_sp[0] * win.in_sp[1] * win.in_sp[2],
        "OSP": win.out_sp[0] * win.out_sp[1] * win.out_sp[2],
        "KSP": win.kernel[0] * win.kernel[1] * win.kernel[2],
        "pointwise": win.kernel == (1, 1, 1) and win.strides == (1, 1, 1) and win.pads_begin == (0, 0, 0)
        and win.in_sp == win.out_sp,
        "has_bias": len(node.inputs) > 2 and bool(node.inputs[2]),
        "w_shape": w.shape,
    }


REF.kernel("Conv", template="ref/conv.c.j2", check=spatial_check, input_names=("X", "W", "B"),
           output_names=("Y",))(conv_params)
