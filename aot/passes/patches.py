"""Patch-based execution (MCUNetV2): the first, high-resolution stages of a CNN run strip by strip.

A CNN's peak memory sits in its first stages, where the feature maps are large. Running them over
horizontal strips of their last output (the *cut*) needs only one strip's intermediate maps at a
time; each strip recomputes the rows its receptive field shares with its neighbours (the halo), so
the MACs rise a little. The strips' outputs are joined by a Concat into the cut tensor, and the
layers after the cut run as before.

The rewrite is exact: every output element is computed by the same kernel from the same inputs,
only the padding of a window at a strip's edge becomes real rows of the neighbour (int8 is
bit-exact; float sums the same products in the same order).

What can be patched: a prefix of the schedule made of windowed ops along H (Conv, MaxPool,
AveragePool with explicit pads and floor rounding) and layout-agnostic element-wise ops whose data
inputs all have the output's shape, on rank-4 NCHW or NHWC tensors; a cut is a point of that prefix
where a single tensor flows to the rest of the graph.

``choose_patches`` estimates, without building them, the peak of live bytes (the planner's model:
every activation from its producer to its last reader, graph inputs from the start) and the MACs of
every cut and strip count, and keeps the least peak whose extra MACs stay within ``max_overhead``;
``patch_graph`` applies one.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from ..ops import layer_macs, op_spec
from .context import PassContext, graph_pass

WINDOWED = ("Conv", "MaxPool", "AveragePool")
STRIP_COUNTS = (2, 3, 4, 6, 8, 12, 16, 24, 32)
DEFAULT_MAX_OVERHEAD = 0.25  # extra MACs accepted for the memory saved (MCUNetV2 reports 10-30 %)


@dataclass(frozen=True)
class Patching:
    """One way to patch: the layers ``[0, cut]`` of the schedule run over ``strips`` strips."""
    cut: int  # index in graph.nodes of the last patched layer
    strips: int
    peak_bytes: int  # the patched graph's peak of live bytes
    macs: int  # the patched graph's MACs

    def summary(self, unpatched_peak: int, unpatched_macs: int, cut_layer: str) -> dict:
        return {"cut_layer": cut_layer, "strips": self.strips, "peak_bytes": self.peak_bytes,
                "unpatched_peak_bytes": unpatched_peak, "macs": self.macs, "unpatched_macs": unpatched_macs,
                "extra_macs_percent": round(100.0 * (self.macs - unpatched_macs) / max(unpatched_macs, 1), 2)}


def _row_axis(graph: Graph, name: str) -> int | None:
    t = graph.tensors[name]
    if len(t.shape) != 4 or t.shape[0] != 1:
        return None
    return {"NCHW": 2, "NHWC": 1}.get(t.layout or "")


def _window(graph: Graph, node: Node) -> tuple[int, int, int, int, int]:
    """(extent, stride, pad_top, pad_bottom, kernel rows) of ``node``'s window along H."""
    if node.op_type == "Conv":
        w = graph.tensors[node.inputs[1]]
        k = node.attrs.get("kernel_shape", [w.shape[(w.layout or "OIHW").index("H")]])[0]
    else:
        k = node.attrs["kernel_shape"][0]
    pads = [0, 0, 0, 0] if node.attrs.get("auto_pad") == "VALID" else list(node.attrs.get("pads") or [0, 0, 0, 0])
    stride = list(node.attrs.get("strides") or [1, 1])[0]
    dilation = list(node.attrs.get("dilations") or [1, 1])[0]
    return (k - 1) * dilation + 1, stride, pads[0], pads[2], k


def _patchable(graph: Graph, node: Node) -> bool:
    if node.domain or not node.outputs or _row_axis(graph, node.outputs[0]) is None:
        return False
    data = [i for i in node.inputs if i and not graph.tensors[i].is_constant]
    if not data or any(_row_axis(graph, i) != _row_axis(graph, node.outputs[0]) for i in data):
        return False
    if node.op_type in WINDOWED:
        if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID") or node.attrs.get("ceil_mode", 0):
            return False
        if len(data) != 1 or node.inputs[0] != data[0] or len(node.outputs) != 1:
            return False
        if node.op_type == "Conv" and len(graph.tensors[node.inputs[1]].shape) != 4:
            return False
        return True
    spec = op_spec(node.op_type)
    if spec is None or spec.layout != "agnostic" or len(node.outputs) != 1:
        return False
    out_shape = graph.tensors[node.outputs[0]].shape
    constants = [i for i in node.inputs if i and graph.tensors[i].is_constant]
    return all(graph.tensors[i].shape == out_shape for i in data) and all(graph.tensors[c].size == 1 for c in constants)


def _adopt_input_layouts(graph: Graph) -> None:
    """A graph input with no recorded layout read by an element-wise op (a QuantizeLinear of a float
    input) has that op's output layout: element-wise ops keep the layout."""
    consumers = graph.consumers()
    for name in graph.inputs:
        t = graph.tensors[name]
        for user in consumers.get(name, []):
            spec = op_spec(user.op_type)
            out = graph.tensors[user.outputs[0]] if user.outputs else None
            if (t.layout is None and spec is not None and spec.layout == "agnostic" and out is not None
                    and out.shape == t.shape and out.layout):
                t.layout = out.layout


def patchable_prefix(graph: Graph) -> int:
    """How many layers from the start of the schedule can be patched."""
    _adopt_input_layouts(graph)
    count = 0
    for node in graph.nodes:
        if not _patchable(graph, node):
            break
        count += 1
    return count


def cut_points(graph: Graph, prefix: int) -> list[int]:
    """Indices ``c`` < ``prefix`` after which exactly one tensor made in ``[0, c]`` (and no graph input)
    is still read, and it is not a graph output."""
    last_read: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t:
                last_read[t] = i
    cuts = []
    made: list[str] = []
    for c in range(prefix):
        made += [o for o in graph.nodes[c].outputs if o]
        crossing = [t for t in made if last_read.get(t, -1) > c or t in graph.outputs]
        inputs_alive = [t for t in graph.inputs if last_read.get(t, -1) > c]
        if len(crossing) == 1 and crossing[0] not in graph.outputs and not inputs_alive:
            cuts.append(c)
    return cuts


def _input_rows(graph: Graph, node: Node, rows: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """The rows of each data input ``node`` reads to make ``rows`` of its output."""
    lo, hi = rows
    if node.op_type in WINDOWED:
        extent, stride, pad_top, _, _ = _window(graph, node)
        height = graph.tensors[node.inputs[0]].shape[_row_axis(graph, node.inputs[0])]
        return {node.inputs[0]: (max(0, lo * stride - pad_top), min(height, (hi - 1) * stride - pad_top + extent))}
    return {i: rows for i in node.inputs if i and not graph.tensors[i].is_constant}


def _needed_rows(graph: Graph, region: list[Node], cut_tensor: str, rows: tuple[int, int]) -> dict[str, tuple[int, int]]:
    """The rows of every tensor of the region (and of its inputs) one strip of the cut needs."""
    need: dict[str, tuple[int, int]] = {cut_tensor: rows}
    for node in reversed(region):
        out = node.outputs[0]
        if out not in need:
            continue
        for t, (a, b) in _input_rows(graph, node, need[out]).items():
            old = need.get(t)
            need[t] = (a, b) if old is None else (min(old[0], a), max(old[1], b))
    return need


def _shape_rows(graph: Graph, name: str, rows: tuple[int, int]) -> list[int]:
    shape = list(graph.tensors[name].shape)
    shape[_row_axis(graph, name)] = rows[1] - rows[0]
    return shape


class _Rewriter:
    def __init__(self, graph: Graph, cut: int, strips: int):
        self.graph, self.cut, self.strips = graph, cut, strips
        self.region = graph.nodes[:cut + 1]
        made = {o for n in self.region for o in n.outputs}
        later = {i for n in graph.nodes[cut + 1:] for i in n.inputs if i}
        (self.cut_tensor,) = sorted(made & (later | set(graph.outputs)))

    def _copy_rows(self, source: str, have: tuple[int, int], want: tuple[int, int], strip: int) -> tuple[str, Node]:
        """A Slice taking rows ``want`` of ``source`` (which holds rows ``have`` of its tensor)."""
        g = self.graph
        axis = _row_axis(g, source)
        starts = g.add_constant(f"{source}_s{strip}_start", np.array([want[0] - have[0]], np.int64))
        ends = g.add_constant(f"{source}_s{strip}_end", np.array([want[1] - have[0]], np.int64))
        axes = g.add_constant(f"{source}_s{strip}_axis", np.array([axis], np.int64))
        src = g.tensors[source]
        shape = list(src.shape)
        shape[axis] = want[1] - want[0]
        out = g.add_tensor(f"{source}_rows{want[0]}_{want[1]}", shape, src.dtype, layout=src.layout)
        out.quant = src.quant
        node = g.make_node("Slice", [source, starts.name, ends.name, axes.name], [out.name], {},
                           name=f"{source}_strip{strip}_rows")
        node.meta["patch"] = {"strip": strip}
        return out.name, node

    def strip_nodes(self, strip: int, rows: tuple[int, int]) -> tuple[list[Node], str]:
        g = self.graph
        need = _needed_rows(g, self.region, self.cut_tensor, rows)
        local: dict[str, tuple[str, tuple[int, int]]] = {}  # original tensor -> (strip tensor, rows it holds)
        for name in g.inputs:
            if name in need:
                local[name] = (name, (0, g.tensors[name].shape[_row_axis(g, name)]))
        nodes: list[Node] = []
        for node in self.region:
            out = node.outputs[0]
            if out not in need:
                continue
            out_rows = need[out]
            attrs = copy.deepcopy(node.attrs)
            wanted = _input_rows(g, node, out_rows)
            if node.op_type in WINDOWED:  # the window's padding stays only at the map's real edges
                extent, stride, pad_top, _, _ = _window(g, node)
                height = g.tensors[node.inputs[0]].shape[_row_axis(g, node.inputs[0])]
                start = out_rows[0] * stride - pad_top
                stop = (out_rows[1] - 1) * stride - pad_top + extent
                pads = [0, 0, 0, 0] if attrs.pop("auto_pad", "NOTSET") == "VALID" else list(attrs.get("pads") or [0, 0, 0, 0])
                pads[0], pads[2] = max(0, -start), max(0, stop - height)
                attrs["pads"] = pads
            inputs = []
            for i in node.inputs:
                if i not in wanted:
                    inputs.append(i)
                    continue
                held, have = local[i]
                if have != wanted[i]:
                    held, crop = self._copy_rows(held, have, wanted[i], strip)
                    nodes.append(crop)
                inputs.append(held)
            src = g.tensors[out]
            t = g.add_tensor(f"{out}_strip{strip}", _shape_rows(g, out, out_rows), src.dtype, layout=src.layout)
            t.quant = src.quant
            clone = g.make_node(node.op_type, inputs, [t.name], attrs, name=f"{node.name}_strip{strip}",
                                domain=node.domain)
            clone.meta = {**{k: v for k, v in node.meta.items()}, "patch": {"strip": strip, "of": node.name}}
            nodes.append(clone)
            local[out] = (t.name, out_rows)
        held, have = local[self.cut_tensor]
        assert have == rows, (have, rows)
        return nodes, held

    def apply(self) -> Graph:
        g = self.graph
        height = g.tensors[self.cut_tensor].shape[_row_axis(g, self.cut_tensor)]
        nodes, pieces = [], []
        for s, rows in enumerate(strip_rows(height, self.strips)):
            strip_nodes, piece = self.strip_nodes(s, rows)
            nodes += strip_nodes
            pieces.append(piece)
        join = g.make_node("Concat", pieces, [self.cut_tensor], {"axis": _row_axis(g, self.cut_tensor)},
                           name=f"{self.cut_tensor}_strips")
        join.meta["patch"] = {"join": self.strips}
        dropped = {o for n in self.region for o in n.outputs} - {self.cut_tensor}
        g.nodes = nodes + [join] + g.nodes[self.cut + 1:]
        for name in dropped:
            if name in g.tensors:
                g.remove_tensor(name)
        return g


def peak_live_bytes(graph: Graph) -> int:
    """The planner's lower bound for the file order, without scratch or aliases: every activation from
    its producer (graph inputs: from the start) to its last reader (graph outputs: to the end)."""
    return max(_step_peaks(graph), default=sum(graph.tensors[t].nbytes for t in graph.inputs))


def graph_macs(graph: Graph) -> int:
    return sum(layer_macs(graph, n) for n in graph.nodes)


def patch_graph(graph: Graph, cut: int, strips: int) -> Graph:
    """Run layers ``[0, cut]`` of ``graph`` over ``strips`` horizontal strips of the cut's output."""
    prefix = patchable_prefix(graph)
    if cut >= prefix or cut not in cut_points(graph, prefix):
        raise AotError(f"layer {cut} ('{graph.nodes[cut].name}') is not a point where patch-based execution can "
                       f"stop: the layers up to it must be windowed or element-wise ops on NCHW/NHWC maps and only "
                       f"one tensor may flow past it", model=graph.source or graph.name, node=graph.nodes[cut].name)
    cut_tensor = graph.nodes[cut].outputs[0]
    height = graph.tensors[cut_tensor].shape[_row_axis(graph, cut_tensor)]
    if not 2 <= strips <= height:
        raise AotError(f"cannot split the {height} rows of '{cut_tensor}' into {strips} strips",
                       model=graph.source or graph.name, node=graph.nodes[cut].name)
    return _Rewriter(graph, cut, strips).apply()


def _step_peaks(graph: Graph) -> list[int]:
    """Live bytes during each step of the file order (peak_live_bytes's sweep, kept per step)."""
    last: dict[str, int] = {}
    for i, node in enumerate(graph.nodes):
        for t in node.inputs:
            if t and not graph.tensors[t].is_constant:
                last[t] = i
    for t in graph.outputs:
        last[t] = len(graph.nodes)
    live = {t for t in graph.inputs if t in last}
    peaks = []
    for i, node in enumerate(graph.nodes):
        live |= {o for o in node.outputs if o}
        peaks.append(sum(graph.tensors[t].nbytes for t in live))
        live = {t for t in live if last.get(t, -1) > i}
    return peaks


def estimate(graph: Graph, cut: int, strips: int, step_peaks: list[int], layer_macs_: list[int]) -> Patching:
    """``peak_live_bytes`` and ``graph_macs`` of ``patch_graph(graph, cut, strips)`` without building it:
    per strip, the region's layers on the rows that strip needs, then the Concat, then the rest."""
    region = graph.nodes[:cut + 1]
    cut_tensor = graph.nodes[cut].outputs[0]
    height = graph.tensors[cut_tensor].shape[_row_axis(graph, cut_tensor)]

    def row_bytes(name: str) -> int:
        t = graph.tensors[name]
        return t.nbytes // t.shape[_row_axis(graph, name)]

    def held(name: str) -> tuple[int, int]:  # a strip holds the rows it needs; a graph input all of them
        return (0, graph.tensors[name].shape[_row_axis(graph, name)]) if name in graph.inputs else need[name]

    inputs_bytes = sum(graph.tensors[t].nbytes for t in graph.inputs)
    peak, macs, done_bytes = 0, sum(layer_macs_[cut + 1:]), 0
    for lo, hi in strip_rows(height, strips):
        need = _needed_rows(graph, region, cut_tensor, (lo, hi))
        nodes = [(i, n) for i, n in enumerate(region) if n.outputs[0] in need]
        last = {}
        for i, n in nodes:
            for t in n.inputs:
                if t in need:
                    last[t] = i
        live = 0
        for i, n in nodes:
            out = n.outputs[0]
            rows = need[out][1] - need[out][0]
            macs += layer_macs_[i] * rows // graph.tensors[out].shape[_row_axis(graph, out)]
            made = rows * row_bytes(out)
            crops = sum((b - a) * row_bytes(t)  # a Slice where a reader wants fewer rows than the strip holds
                        for t, (a, b) in _input_rows(graph, n, need[out]).items()
                        if (a, b) != held(t))
            peak = max(peak, inputs_bytes + done_bytes + live + crops + made)
            live += made
            for t in set(n.inputs):
                if t in need and last.get(t) == i and t not in graph.inputs:
                    live -= (need[t][1] - need[t][0]) * row_bytes(t)
        done_bytes += (hi - lo) * row_bytes(cut_tensor)
    peak = max(peak, 2 * graph.tensors[cut_tensor].nbytes, max(step_peaks[cut + 1:], default=0))
    return Patching(cut, strips, peak, macs)


def choose_patches(graph: Graph, max_overhead: float = DEFAULT_MAX_OVERHEAD) -> Patching | None:
    """The cut and strip count of least peak within ``max_overhead`` extra MACs, if it beats no patching."""
    prefix = patchable_prefix(graph)
    step_peaks = _step_peaks(graph)
    macs = [layer_macs(graph, n) for n in graph.nodes]
    base_peak, base_macs = max(step_peaks, default=0), sum(macs)
    best: Patching | None = None
    for cut in cut_points(graph, prefix):
        cut_tensor = graph.nodes[cut].outputs[0]
        height = graph.tensors[cut_tensor].shape[_row_axis(graph, cut_tensor)]
        for strips in STRIP_COUNTS:
            if strips > height:
                break
            option = estimate(graph, cut, strips, step_peaks, macs)
            if option.macs > base_macs * (1 + max_overhead):
                break  # more strips only add halo rows
            if best is None or (option.peak_bytes, option.macs) < (best.peak_bytes, best.macs):
                best = option
    return best if best is not None and best.peak_bytes < base_peak else None


ALIAS_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")  # no row of aot inspect


def _layer_position(graph: Graph, layer: str) -> int:
    """Where ``layer`` (a name, or an index counted as aot inspect counts rows: alias ops have none) is
    in ``graph.nodes``."""
    if layer.isdigit():
        rows = [i for i, n in enumerate(graph.nodes) if n.op_type not in ALIAS_OPS]
        if int(layer) < len(rows):
            return rows[int(layer)]
        raise AotError(f"--patches: layer index {layer} is outside 0..{len(rows) - 1}", model=graph.source or graph.name)
    for i, node in enumerate(graph.nodes):
        if layer in (node.name, node.meta.get("onnx_name")):
            return i
    raise AotError(f"--patches: no layer '{layer}' (give its name or its row in aot inspect)",
                   model=graph.source or graph.name)


@graph_pass("patch_stages")
def patch_stages(graph: Graph, ctx: PassContext) -> Graph:
    setting = ctx.options.get("patches", "off")
    if setting in (None, "off"):
        return graph
    base_peak, base_macs = peak_live_bytes(graph), graph_macs(graph)
    if setting == "auto":
        choice = choose_patches(graph, ctx.options.get("patch_max_overhead", DEFAULT_MAX_OVERHEAD))
        if choice is None:
            graph.patching = {"chosen": False, "unpatched_peak_bytes": base_peak,
                              "reason": "no cut and strip count lowers the peak within the MAC overhead allowed"}
            return graph
        cut, strips = choice.cut, choice.strips
    else:
        layer, _, count = str(setting).rpartition(":")
        cut = _layer_position(graph, layer)
        strips = int(count)
    cut_layer = graph.nodes[cut].name
    patched = patch_graph(graph, cut, strips)
    summary = Patching(cut, strips, peak_live_bytes(patched), graph_macs(patched))
    patched.patching = {"chosen": True, **summary.summary(base_peak, base_macs, cut_layer)}
    return patched


def strip_rows(height: int, strips: int) -> list[tuple[int, int]]:
    """The rows of each strip: as even as integers allow."""
    bounds = [round(i * height / strips) for i in range(strips + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(strips)]


__all__ = ["Patching", "choose_patches", "patch_graph", "patch_stages", "peak_live_bytes", "graph_macs",
           "patchable_prefix", "cut_points", "strip_rows"]
