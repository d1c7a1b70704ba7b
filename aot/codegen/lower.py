"""From a partitioned graph to the list of calls the generated ``run`` function makes."""
from __future__ import annotations

from dataclasses import dataclass

from ..backends.ref.kernels.data_movement import ANY_DTYPE, copy_params
from ..backends.registry import REGISTRY, Kernel
from ..errors import AotError
from ..ir import Graph, Node
from ..ir.dtypes import C_TYPES
from ..planner import Step
from .symbols import function_names, rename_clashing_io, separate_outputs

# The copy separate_outputs adds for an output that no layer would otherwise write (any dtype).
OUTPUT_COPY = Kernel(("Identity",), "ref/copy.c.j2", params=copy_params, dtypes=ANY_DTYPE,
                     input_names=("X",), output_names=("Y",), name="output_copy")


@dataclass
class Call:
    node: Node
    backend: str
    kernel: Kernel
    fn: str  # C function name
    template: str
    step: Step


def _check_c_types(graph: Graph) -> None:
    """Graph inputs and outputs (a folded constant output included) need a C type in the API; the
    kernels' own dtype checks cover everything else."""
    for name in [*graph.inputs, *graph.outputs]:
        dtype = graph.tensors[name].dtype
        if dtype not in C_TYPES:
            kind = "input" if name in graph.inputs else "output"
            raise AotError(f"graph {kind} '{graph.tensors[name].onnx_name or name}' is {dtype}, which has no C type "
                           f"here (aot's tensors are {', '.join(sorted(C_TYPES))})", model=graph.source or graph.name)


def lower(graph: Graph, prefix: str) -> tuple[list[Call], dict[str, str]]:
    """Calls in schedule order, and the alias map (alias-op output -> its input) for the planner.
    Adds the copies outputs need and renames what would clash in C first (aot/codegen/symbols.py)."""
    _check_c_types(graph)
    separate_outputs(graph)
    rename_clashing_io(graph, prefix)
    functions = function_names(graph, prefix)
    calls: list[Call] = []
    aliases: dict[str, str] = {}
    for node in graph.nodes:
        backend = REGISTRY.get(node.meta["backend"])
        kernel = OUTPUT_COPY if node.meta.get("output_copy") else backend.kernel_for(node, graph)
        assert kernel is not None, "partition_backends assigned a backend that rejects the node"
        template = kernel.template
        if kernel.is_alias:
            if node.outputs[0] not in graph.outputs:
                aliases[node.outputs[0]] = node.inputs[0]
                continue
            template = kernel.alias_template  # a graph output needs its own bytes: copy
        reads = [i for idx, i in enumerate(node.inputs) if i and idx not in kernel.static_inputs]
        scratch = kernel.scratch_bytes(node, graph) if kernel.scratch_bytes else 0
        fn = functions[node.name]
        calls.append(Call(node, backend.name, kernel, fn, template,
                          Step(node.name, reads, [o for o in node.outputs if o], scratch)))
    return calls, aliases
