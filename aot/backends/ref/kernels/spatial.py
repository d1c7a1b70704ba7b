"""Shared geometry for Conv and pooling: N-d (1 to 3 spatial dims) padded to 3-d, explicit pads
(auto_pad resolved against the known output shape), and the valid output range per kernel tap."""
from __future__ import annotations

from dataclasses import dataclass

from ....ir import Graph, Node
from ...registry import is_channels_last


@dataclass
class Window:
    in_sp: tuple[int, int, int]
    out_sp: tuple[int, int, int]
    kernel: tuple[int, int, int]
    strides: tuple[int, int, int]
    dilations: tuple[int, int, int]
    pads_begin: tuple[int, int, int]
    pads_end: tuple[int, int, int]

    def tap_ranges(self) -> list[tuple[list[int], list[int]]]:
        """Per spatial dim: for each tap k, the output range [lo, hi) whose input index is inside."""
        ranges = []
        for i, o, k, s, d, p in zip(self.in_sp, self.out_sp, self.kernel, self.strides, self.dilations,
                                    self.pads_begin):
            lo, hi = [], []
            for t in range(k):
                off = t * d - p
                first = max(0, -(off // s) if off < 0 else 0)  # smallest o with o*s + off >= 0
                while first * s + off < 0:
                    first += 1
                last = min(o, (i - 1 - off) // s + 1) if i - 1 - off >= 0 else 0
                lo.append(first)
                hi.append(max(first, last))
            ranges.append((lo, hi))
        return ranges


def _pad3(values: list[int], fill: int) -> tuple[int, int, int]:
    return tuple([fill] * (3 - len(values)) + list(values))  # type: ignore[return-value]


def window(node: Node, graph: Graph, kernel_shape: list[int] | None = None) -> Window:
    x = graph.tensors[node.inputs[0]]
    y = graph.tensors[node.outputs[0]]
    nsp = len(x.shape) - 2
    last = is_channels_last(x.layout)  # N, spatial..., C instead of N, C, spatial...
    spatial = slice(1, -1) if last else slice(2, None)
    weight = graph.tensors[node.inputs[1]] if len(node.inputs) > 1 and node.inputs[1] else None
    w_spatial = ()
    if weight is not None:  # O, I, spatial... unless stored channels-last (O, spatial..., I)
        w_spatial = weight.shape[1:-1] if weight.layout and weight.layout[-1] == "I" else weight.shape[2:]
    kernel = list(kernel_shape or node.attrs.get("kernel_shape") or w_spatial)
    strides = list(node.attrs.get("strides") or [1] * nsp)
    dilations = list(node.attrs.get("dilations") or [1] * nsp)
    in_sp, out_sp = list(x.shape[spatial]), list(y.shape[spatial])
    auto_pad = node.attrs.get("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begin, end = [], []
        for i, o, k, s, d in zip(in_sp, out_sp, kernel, strides, dilations):
            total = max((o - 1) * s + (k - 1) * d + 1 - i, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto_pad == "SAME_UPPER" else big)
            end.append(big if auto_pad == "SAME_UPPER" else small)
    elif auto_pad == "VALID":
        begin, end = [0] * nsp, [0] * nsp
    else:
        pads = list(node.attrs.get("pads") or [0] * (2 * nsp))
        begin, end = pads[:nsp], pads[nsp:]
    return Window(_pad3(in_sp, 1), _pad3(out_sp, 1), _pad3(kernel, 1), _pad3(strides, 1),
                  _pad3(dilations, 1), _pad3(begin, 0), _pad3(end, 0))


def spatial_check(node: Node, graph: Graph) -> str | None:
    rank = len(graph.tensors[node.inputs[0]].shape)
    return None if 3 <= rank <= 5 else f"rank {rank} input (kernel takes 1 to 3 spatial dims)"
