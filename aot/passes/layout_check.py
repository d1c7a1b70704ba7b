"""The layouts asked for with ``--layout OP=LAYOUT[,WEIGHTS]`` (``CompileOptions.desired_layouts``),
checked before any layer is converted: an op type without layouts, a misspelt op or a layout that is
not a channels-first or channels-last form would otherwise be ignored or, worse, transpose a layer's
data into an order no kernel reads (NCWH)."""
from __future__ import annotations

from typing import Iterable

from ..errors import AotError, did_you_mean
from ..ir import Graph
from ..ops import op_spec, op_types
from .precision import layers_of

SPATIAL = ("W", "HW", "DHW")  # 1-D, 2-D, 3-D layers
DATA_LAYOUTS = [form for s in SPATIAL for form in ("NC" + s, "N" + s + "C")]
WEIGHT_LAYOUTS = [form for s in SPATIAL for form in ("OI" + s, "O" + s + "I")]


def check_desired_layouts(graph: Graph, desired: dict[str, list[str]], skip_layers: Iterable[int] = ()) -> None:
    """Raise an AotError for the first --layout entry that cannot apply to ``graph``."""
    model = graph.source or graph.name
    sensitive = op_types(lambda spec: spec.layout == "sensitive")
    for op, layouts in desired.items():
        flag = f"--layout {op}={','.join(layouts)}"
        if op not in sensitive:
            why = ("is not an op aot knows" if op_spec(op) is None
                   else "has no layout (its result does not depend on one)")
            raise AotError(f"{flag}: op type '{op}' {why}; layouts apply to {', '.join(sensitive)}."
                           f"{did_you_mean(op, sensitive)}", model=model)
        weight_input = op_spec(op).weight_input
        if not 1 <= len(layouts) <= (2 if weight_input is not None else 1):
            takes = (f"a data layout and optionally a weight layout (e.g. {op}=NHWC,OHWI)" if weight_input is not None
                     else f"one data layout (e.g. {op}=NHWC)")
            raise AotError(f"{flag}: {op} takes {takes}", model=model)
        _check_form(flag, "data", layouts[0], DATA_LAYOUTS, model)
        if len(layouts) == 2:
            _check_form(flag, "weight", layouts[1], WEIGHT_LAYOUTS, model)
            if len(layouts[1]) != len(layouts[0]):
                raise AotError(f"{flag}: the weight layout {layouts[1]} has rank {len(layouts[1])}, the data layout "
                               f"{layouts[0]} rank {len(layouts[0])}; give both of the same rank", model=model)
        for node in layers_of(graph, [op], skip_layers):
            x = graph.tensors[node.inputs[0]]
            if x.layout is not None and len(x.layout) != len(layouts[0]):
                same_rank = [f for f in DATA_LAYOUTS if len(f) == len(x.layout)]
                raise AotError(f"{flag}: the layer's data is {x.layout} (rank {len(x.layout)}), so {layouts[0]} "
                               f"cannot apply; use {' or '.join(same_rank)}, or leave the layer alone with "
                               f"--layout-skip", model=model, node=node.name)


def _check_form(flag: str, what: str, layout: str, forms: list[str], model: str) -> None:
    if layout not in forms:
        raise AotError(f"{flag}: '{layout}' is not a {what} layout aot converts to; the {what} layouts are "
                       f"{', '.join(forms)} (channels-first or channels-last, 1-D to 3-D)."
                       f"{did_you_mean(layout.upper(), forms)}", model=model)
