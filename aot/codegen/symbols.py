"""The C names of a generated library, made never to clash.

Graph inputs and outputs become parameters of ``<prefix>_run`` (named after their tensors), layers
become functions ``<prefix>_<node>``, constants ``<prefix>_w_<tensor>`` arrays, and model.h defines
``<PREFIX>_...`` macros. Tensor names already avoid C keywords, standard names and the runtime's
namespace (aot/ir/names.py); what depends on the prefix is settled here, just before lowering.
"""
from __future__ import annotations

from ..ir import Graph, NameTable

# Macros of model.h, kernels.h and weights.h after "<PREFIX>_" (per input/output: INPUT_<i>_<FIELD>).
# templates/model/*.j2 must define no other; tests/test_always_builds.py checks it.
_MACROS = ("H", "ARENA_SIZE", "ARENA_ALIGN", "IO_BYTES", "RAM_BYTES", "IO_IN_ARENA", "NUM_INPUTS", "NUM_OUTPUTS",
           "KERNELS_H", "WEIGHTS_H", "WEIGHTS_SECTION", "ARENA_SECTION", "NO_STATIC_ARENA", "WEIGHTS_BYTES",
           "WEIGHTS_ALIGN", "WEIGHTS_BASE", "NUM_LABELS",
           "NUM_LAYERS", "LAYER_TABLE")  # LAYER_TABLE: tested with #if, set by the user
_IO_FIELDS = ("NAME", "SIZE", "RANK", "SHAPE", "OFFSET",
              "DTYPE", "DTYPE_CODE", "LAYOUT", "QUANTIZED", "SCALE", "ZERO_POINT")  # templates/model/io_quant.h.j2


def weight_symbol(prefix: str, tensor: str) -> str:
    return f"{prefix}_w_{tensor}"


def library_macros(prefix: str, n_inputs: int, n_outputs: int) -> set[str]:
    p = prefix.upper()
    io = [f"{p}_{kind}_{i}_{f}" for kind, n in (("INPUT", n_inputs), ("OUTPUT", n_outputs))
          for i in range(n) for f in _IO_FIELDS]
    return {f"{p}_{m}" for m in _MACROS} | set(io)


def fixed_symbols(graph: Graph, prefix: str) -> set[str]:
    """Every library-wide name that is not a layer function: the API, the static arena, the weight
    arrays and the macros."""
    api = {f"{prefix}_run", f"{prefix}_run_with_arena", f"{prefix}_arena", f"{prefix}_run_in_arena",
           # placement (aot/codegen/library_files.py): the --weights-file bin base pointer, and typedefs that
           # keep a translation unit from being empty
           f"{prefix}_weights_base", f"{prefix}_no_static_arena", f"{prefix}_no_weights",
           f"{prefix}_layers"}  # the layer table (aot_layer.h)
    # model.h's accessors of inputs/outputs placed in the arena, by index and by tensor name
    api |= {f"{prefix}_{kind}_{key}" for kind, names in (("input", graph.inputs), ("output", graph.outputs))
            for i, name in enumerate(names) for key in (i, name)}
    api |= io_symbols(prefix, len(graph.inputs), len(graph.outputs))
    weights = {weight_symbol(prefix, n) for n, t in graph.tensors.items() if t.is_constant}
    return api | weights | library_macros(prefix, len(graph.inputs), len(graph.outputs))


def io_symbols(prefix: str, n_inputs: int, n_outputs: int) -> set[str]:
    """The names of templates/model/io_quant.h.j2 and io_float.c.j2: quantize/dequantize helpers, the
    float API and its static buffers, the label table."""
    names = {f"{prefix}_run_float", f"{prefix}_run_float_with_arena", f"{prefix}_labels"}
    for kind, n in (("input", n_inputs), ("output", n_outputs)):
        for i in range(n):
            names |= {f"{prefix}_{kind}_{i}_quantize", f"{prefix}_{kind}_{i}_dequantize", f"{prefix}_float_{kind}_{i}"}
    return names


def separate_outputs(graph: Graph) -> None:
    """Give every graph output its own tensor written by a layer. An output that is also a graph
    input, a constant, or listed before would otherwise be a second parameter of the same name or a
    buffer no layer writes; it becomes a copy (an Identity node marked ``output_copy``)."""
    seen: set[str] = set()
    for idx, name in enumerate(graph.outputs):
        t = graph.tensors[name]
        if name in seen or name in graph.inputs or t.is_constant:
            copy = graph.add_tensor(name, t.shape, t.dtype, layout=t.layout, onnx_name=t.onnx_name)
            copy.quant = t.quant
            node = graph.make_node("Identity", [name], [copy.name], name=f"{name}_output_copy")
            node.meta.update(backend="ref", output_copy=True)
            graph.nodes.append(node)
            graph.outputs[idx] = copy.name
        seen.add(graph.outputs[idx])


def rename_clashing_io(graph: Graph, prefix: str) -> None:
    """Rename graph inputs and outputs named like a library symbol (``model_run``, ``MODEL_ARENA_SIZE``,
    ``model_<layer>``, ...): as parameters they would shadow or break it."""
    taken = fixed_symbols(graph, prefix) | {f"{prefix}_{n.name}" for n in graph.nodes}
    for name in dict.fromkeys(graph.inputs + graph.outputs):
        if name in taken:
            new, n = name, 1
            while new in taken or new in graph.names:
                new, n = f"{name}_{n}", n + 1
            graph.rename_tensor(name, new)


def function_names(graph: Graph, prefix: str) -> dict[str, str]:
    """Node name -> C function name ``<prefix>_<node>``, with a numeric suffix where that would be an
    API function, a macro, a weight array or a parameter name."""
    table = NameTable(reserved=fixed_symbols(graph, prefix) | set(graph.inputs) | set(graph.outputs))
    return {n.name: table.unique(f"{prefix}_{n.name}") for n in graph.nodes}
