"""Names in the quantization settings (``--keep-float``, a config's ``[layers]``) must address layers
the model has: a misspelt name would otherwise leave that layer int8 without a word."""
from __future__ import annotations

from ..errors import AotError, did_you_mean
from ..ir import Graph
from .config import QuantConfig


def check_layer_names(config: QuantConfig, graph: Graph) -> None:
    """Raise an AotError naming every ``config.layers`` key that is no layer name, ONNX node name or op
    type of ``graph`` (the model as quantization sees it: BatchNorm folded, activations fused)."""
    known = {key for node in graph.nodes for key in (node.name, node.meta.get("onnx_name"), node.op_type) if key}
    unknown = [name for name in config.layers if name not in known]
    if not unknown:
        return
    first = unknown[0]
    names = ", ".join(repr(n) for n in unknown)
    hint = did_you_mean(first, sorted(known)) if len(unknown) == 1 else ""
    raise AotError(f"--keep-float (or the quantization config's [layers]) names {names}, which "
                   f"{'is' if len(unknown) == 1 else 'are'} no layer name or op type of the model as it is "
                   f"quantized (BatchNormalization folded, activations fused into their layer).{hint} `aot inspect "
                   f"{graph.source or 'MODEL'}` lists the layers and their op types", model=graph.source or graph.name)
