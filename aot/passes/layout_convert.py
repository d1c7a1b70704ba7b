"""Layout conversion: ``convert_layout(graph, desired={"Conv": ["NHWC", "OHWI"]}, skip_layers=[0])``.

Chosen layers switch their data tensors (and constant weights) to the desired layouts; Transposes
are inserted around them, pushed through layout-agnostic ops (elementwise activations and binary
ops whose operands all arrive through the same Transpose), and inverse pairs cancel, so a whole
NCHW network converted to NHWC keeps a single Transpose at each graph edge. Every tensor's layout
stays recorded.
"""
from __future__ import annotations

from typing import Callable, Iterable

import numpy as np

from ..errors import AotError
from ..ir import Graph, Node
from .context import PassContext, graph_pass
from .dead_code import eliminate_dead_code
from .layout_check import check_desired_layouts
from ..ops import op_spec
from .precision import layers_of


def permutation(src: str, dst: str) -> list[int]:
    """perm with dst[i] == src[perm[i]] (ONNX Transpose semantics)."""
    if sorted(src) != sorted(dst) or len(set(src)) != len(src):
        raise AotError(f"cannot convert layout {src} to {dst}")
    return [src.index(axis) for axis in dst]


def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _transpose(graph: Graph, src: str, perm: list[int], layout: str | None, name: str) -> tuple[Node, str]:
    t = graph.tensors[src]
    out = graph.add_tensor(name, [t.shape[p] for p in perm], t.dtype, layout=layout)
    out.quant = t.quant
    return graph.make_node("Transpose", [src], [out.name], {"perm": list(perm)}, name=name + "_transpose"), out.name


def _convert_layer(graph: Graph, node: Node, layouts: list[str]) -> list[Node]:
    data_layout = layouts[0]
    before, after = [], []
    x = graph.tensors[node.inputs[0]]
    if x.layout is None:
        raise AotError(f"layer '{node.name}': input '{x.name}' has no recorded layout to convert from",
                       model=graph.source, node=node.name)
    if x.layout != data_layout:
        perm = permutation(x.layout, data_layout)
        t, name = _transpose(graph, x.name, perm, data_layout, f"{x.name}_{data_layout.lower()}")
        before.append(t)
        node.inputs[0] = name
    spec = op_spec(node.op_type)
    widx = spec.weight_input if spec else None
    if widx is not None and len(layouts) > 1 and widx < len(node.inputs):
        w = graph.tensors[node.inputs[widx]]
        if w.data is None:
            raise AotError(f"layer '{node.name}': weight '{w.name}' is not constant; cannot store it as {layouts[1]}",
                           model=graph.source, node=node.name)
        if w.layout != layouts[1]:
            perm = permutation(w.layout or "OIHW", layouts[1])
            converted = graph.add_constant(f"{w.name}_{layouts[1].lower()}", np.ascontiguousarray(w.data.transpose(perm)),
                                           layout=layouts[1])
            converted.quant = w.quant
            node.inputs[widx] = converted.name
    y = graph.tensors[node.outputs[0]]
    if y.layout != data_layout:
        perm = permutation(y.layout or x.layout, data_layout)
        inner = graph.add_tensor(f"{y.name}_{data_layout.lower()}", [y.shape[p] for p in perm], y.dtype,
                                 layout=data_layout)
        inner.quant = y.quant
        node.outputs[0] = inner.name
        back = graph.make_node("Transpose", [inner.name], [y.name], {"perm": _inverse(perm)},
                               name=f"{y.name}_restore_transpose")
        after.append(back)
    node.meta["layout"] = data_layout
    return before + [node] + after


def _cancel_inverse_pairs(graph: Graph) -> bool:
    producers = graph.producers()
    changed = False
    for node in graph.nodes:
        if node.op_type != "Transpose":
            continue
        first = producers.get(node.inputs[0])
        if first is None or first.op_type != "Transpose":
            continue
        composed = [first.attrs["perm"][p] for p in node.attrs["perm"]]
        if composed != list(range(len(composed))) or node.outputs[0] in graph.outputs:
            continue
        source, replaced = graph.tensors[first.inputs[0]], graph.tensors[node.outputs[0]]
        # The surviving tensor is what the readers now see: it carries their layout and scale.
        source.layout = source.layout or replaced.layout
        source.quant = source.quant or replaced.quant
        graph.replace_uses(node.outputs[0], first.inputs[0])
        changed = True
    return changed


def _push_through(graph: Graph) -> bool:
    """op(Transpose_p(a), Transpose_p(b)) -> Transpose_p(op(a, b)) for layout-agnostic ops."""
    producers = graph.producers()
    for idx, node in enumerate(graph.nodes):
        spec = op_spec(node.op_type)
        if spec is None or spec.layout != "agnostic" or node.domain or node.attrs.get("activation"):
            continue
        n_data = spec.data_inputs
        data = node.inputs[:n_data]
        sources = [producers.get(i) for i in data]
        if any(s is None or s.op_type != "Transpose" for s in sources):
            continue
        perm = sources[0].attrs["perm"]
        if any(s.attrs["perm"] != perm for s in sources):
            continue
        # other (parameter) inputs must be scalars, or the op would need them permuted too
        if any(graph.tensors[i].size != 1 for i in node.inputs[n_data:] if i):
            continue
        shapes = {graph.tensors[s.inputs[0]].shape for s in sources}
        if len(shapes) != 1:
            continue
        out = graph.tensors[node.outputs[0]]
        inner = graph.add_tensor(f"{out.name}_{'_'.join(map(str, perm))}", shapes.pop(), out.dtype,
                                 layout=graph.tensors[sources[0].inputs[0]].layout)
        inner.quant = out.quant
        node.inputs[:n_data] = [s.inputs[0] for s in sources]
        original_out = node.outputs[0]
        node.outputs[0] = inner.name
        restore = graph.make_node("Transpose", [inner.name], [original_out], {"perm": list(perm)},
                                  name=f"{original_out}_moved_transpose")
        graph.nodes.insert(idx + 1, restore)
        return True
    return False


def convert_layout(graph: Graph, desired: dict[str, list[str]], skip_layers: Iterable[int] = (),
                   adapt: Callable[[Graph, Node, list[str]], list[str] | None] | None = None) -> Graph:
    """Convert the chosen op types (minus ``skip_layers`` indices, counted per op type); ``adapt``
    gives a layer's layouts from the desired ones (None: leave the layer alone)."""
    chosen: dict[int, list[str]] = {}
    for n in layers_of(graph, desired, skip_layers):
        layouts = adapt(graph, n, desired[n.op_type]) if adapt else desired[n.op_type]
        if layouts:
            chosen[id(n)] = layouts
    return _convert_chosen(graph, chosen)


def convert_named_layers(graph: Graph, layouts_by_layer: dict[str, list[str]]) -> Graph:
    """Convert exactly the named layers (a tuning database's per-layer choice) to their layouts."""
    unknown = sorted(set(layouts_by_layer) - {n.name for n in graph.nodes})
    if unknown:
        raise AotError(f"per-layer layouts name unknown layer(s) {unknown}", model=graph.source or graph.name)
    return _convert_chosen(graph, {id(n): layouts_by_layer[n.name] for n in graph.nodes if n.name in layouts_by_layer})


def _convert_chosen(graph: Graph, chosen: dict[int, list[str]]) -> Graph:
    nodes: list[Node] = []
    for node in graph.nodes:
        nodes += _convert_layer(graph, node, chosen[id(node)]) if id(node) in chosen else [node]
    graph.nodes = nodes
    while True:
        changed = _cancel_inverse_pairs(graph)
        graph = eliminate_dead_code(graph, PassContext())
        if not _push_through(graph) and not changed:
            break
    return graph


# The channels-last forms of the layout-sensitive layers aot converts (data NHWC, Conv weights OHWI).
CHANNELS_LAST: dict[str, list[str]] = {"Conv": ["NHWC", "OHWI"], "MaxPool": ["NHWC"], "AveragePool": ["NHWC"],
                                       "GlobalAveragePool": ["NHWC"]}


def backend_layouts(backends: Iterable[str]) -> dict[str, list[str]]:
    """The layouts the compile's backends ask for (``Backend.layouts``), the preferred backend's first."""
    from ..backends.registry import REGISTRY  # the backends import the passes
    desired: dict[str, list[str]] = {}
    for name in backends:
        for op_type, layouts in REGISTRY.get(name).layouts.items():
            desired.setdefault(op_type, list(layouts))
    return desired


@graph_pass("convert_layout")
def convert_layout_pass(graph: Graph, ctx: PassContext) -> Graph:
    per_layer = ctx.options.get("layer_layouts")
    if per_layer:  # chosen layer by layer (aot tune): nothing else converts
        return convert_named_layers(graph, per_layer)
    desired = ctx.options.get("desired_layouts")
    if desired:
        check_desired_layouts(graph, desired, ctx.options.get("layout_skip_layers", ()))
        return convert_layout(graph, desired, ctx.options.get("layout_skip_layers", ()))
    if not ctx.options.get("layouts_from_backends", True):
        return graph
    # What the backends ask for applies where it can (see _for_rank).
    backends = ctx.options.get("backends") or ()
    desired = backend_layouts(backends)
    if not desired:
        return graph
    from ..backends.registry import REGISTRY
    owner = {}  # op type -> the preferred backend asking for a layout of it
    for name in backends:
        for op_type in REGISTRY.get(name).layouts:
            owner.setdefault(op_type, REGISTRY.get(name))

    def adapt(g: Graph, node: Node, layouts: list[str]) -> list[str] | None:
        return _for_rank(g, node, layouts) if owner[node.op_type].wants_layout(node, g) else None
    return convert_layout(graph, desired, adapt=adapt)


def _for_rank(graph: Graph, node: Node, layouts: list[str]) -> list[str] | None:
    """A backend's layouts for a layer of the same rank; for a 1-D layer (rank 3) the channels-last
    form of its own layouts (NCW -> NWC, weights OIW -> OWI) when the backend asks for channels-last;
    None (layer left alone) otherwise or when a layout is not recorded."""
    x = graph.tensors[node.inputs[0]]
    if x.layout is None or len(x.layout) != len(x.shape):
        return None
    if len(x.shape) == len(layouts[0]):
        return layouts
    if len(x.shape) != 3 or not layouts[0].endswith("C") or "C" not in x.layout:
        return None
    adapted = [x.layout.replace("C", "") + "C"]
    if len(layouts) > 1:
        w = graph.tensors[node.inputs[1]] if len(node.inputs) > 1 and node.inputs[1] else None
        if w is None or w.layout is None or len(w.layout) != 3 or not layouts[1].endswith("I") or "I" not in w.layout:
            return None
        adapted.append(w.layout.replace("I", "") + "I")
    return adapted
