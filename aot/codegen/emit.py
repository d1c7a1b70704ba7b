"""Render the C library folder: model.h/model.c, kernel sources per backend, weights, build files,
metadata.json. Returns file contents in memory; writing to disk is ``aot.compiler.write_library``."""
from __future__ import annotations

import json
import numpy as np

from .. import __version__
from ..backends.build import LibraryBuild
from ..backends.registry import REGISTRY
from ..errors import AotError
from ..ir import Graph
from ..ir.dtypes import c_type
from ..ir.formats import storage_note
from ..ops import layer_macs
from ..planner import MemoryPlan
from ..resources import runtime_dir
from .cformat import c_array_body
from .env import make_environment
from .io_info import io_fields
from .labels import c_string
from .kernel_context import kernel_arguments, template_context
from .library_files import LibraryNames, library_record
from .lower import Call
from .symbols import weight_symbol
from .weights_blob import blob_layout


def tensor_expr(graph: Graph, plan: MemoryPlan, prefix: str, name: str, writable: bool) -> str:
    st = plan.storage[name]
    ctype = c_type(graph.tensors[name].dtype)
    const = "" if writable else "const "
    if st.kind in ("input", "output") and not st.in_arena:  # the caller's buffer, a parameter
        root_type = c_type(graph.tensors[st.root].dtype)
        return st.root if root_type == ctype else f"({const}{ctype}*)({const}void*){st.root}"
    if st.kind == "const":
        return weight_symbol(prefix, st.root)
    # Through void*: the planner aligns every offset (-Wcast-align cannot see it, the arena is uint8_t).
    return f"({const}{ctype}*)({const}void*)(arena + {st.offset})"


def render_library(graph: Graph, calls: list[Call], plan: MemoryPlan, prefix: str,
                   board: str = "host", build: LibraryBuild | None = None,
                   stack_bytes: int | None = None, weights_file: str = "header", io_api: str = "native",
                   labels: list[str] | None = None) -> dict[str, str | bytes]:
    """``build``: what the backends add to the build (aot/backends/build.py); its copied files
    become files of the library. ``stack_bytes``: the board's stack reserve (None on the host).
    ``weights_file``: "header" (static arrays in the weights header), "c" (a translation unit of
    their own) or "bin" (a binary blob read through a base pointer; aot/codegen/weights_blob.py).
    ``io_api`` "float": also the float API over quantized inputs/outputs; ``labels``: output 0's class names."""
    build = build or LibraryBuild()
    backends = sorted({c.backend for c in calls}, key=lambda b: [c.backend for c in calls].index(b))
    extra_dirs = [d for b in backends for d in REGISTRY.get(b).template_dirs]
    env = make_environment(extra_dirs)
    files: dict[str, str | bytes] = {}
    names = LibraryNames(prefix)

    kernel_sources: dict[str, list[str]] = {b: [] for b in backends}
    prototypes, call_lines, weights = [], [], {}
    for idx, call in enumerate(calls):
        ctx = template_context(call.fn, call.node, call.kernel, graph)
        source = env.get_template(call.template).render(**ctx)
        kernel_sources[call.backend].append(source)
        prototypes.append(ctx["signature"] + ";")
        ins, outs = kernel_arguments(call.node, call.kernel, graph)
        args = []
        for a in ins:
            if a is None:
                continue
            args.append(tensor_expr(graph, plan, prefix, a.tensor.name, writable=False))
            if plan.storage[a.tensor.name].kind == "const":
                weights[plan.storage[a.tensor.name].root] = True
        args += [tensor_expr(graph, plan, prefix, o.tensor.name, writable=True) for o in outs]
        if call.step.scratch_bytes:
            args.append(f"(void*)(arena + {plan.scratch_offsets[idx]})")
        call_lines.append({"index": idx, "name": call.node.name, "fn": call.fn, "args": args,
                           "op_type": call.node.op_type, "macs": layer_macs(graph, call.node)})

    # An input no layer reads (the model ignores it, or only its shape mattered) is still a parameter:
    # without the (void) cast -Wunused-parameter fails the -Werror build.
    read = {plan.storage[i].root for c in calls for i in c.step.reads}
    unused_inputs = [i for i in graph.inputs if i not in read]

    weight_list = []
    for name in weights:
        t = graph.tensors[name]
        weight_list.append({"tensor": name, "symbol": weight_symbol(prefix, name), "ctype": c_type(t.dtype), "size": max(t.size, 1),
                            "shape": list(t.shape), "body": c_array_body(np.asarray(t.data).astype(t.dtype))})

    blob = None
    if weights_file == "bin":
        blob, offsets = blob_layout(weight_list, graph, plan.alignment)
        for w in weight_list:
            w["offset"] = offsets[w["tensor"]]
    io = {"inputs": [_io_entry(graph, plan, n, i) for i, n in enumerate(graph.inputs)],
          "outputs": [_io_entry(graph, plan, n, i) for i, n in enumerate(graph.outputs)]}
    kernel_files = [names.kernel_source(b) for b in backends]
    own_sources = [names.source, names.arena_source] + kernel_files + \
        ([names.weights_source] if weights_file == "c" else [])
    own_headers = [names.header, names.kernels_header, names.weights_header, "aot_runtime.h", "aot_layer.h"]
    common = {"prefix": prefix, "PREFIX": prefix.upper(), "graph": graph, "plan": plan, "io": io,
              "calls": call_lines, "unused_inputs": unused_inputs, "weights": weight_list,
              "prototypes": prototypes, "kernel_files": kernel_files, "names": names,
              "sources": own_sources + build.sources, "own_headers": own_headers, "build": build,
              "version": __version__, "board": board, "stack_bytes": stack_bytes,
              "weights_file": weights_file, "weights_blob_bytes": len(blob) if blob is not None else None,
              "io_float": io_api == "float", "labels": [c_string(label) for label in labels or []]}

    def add(name: str, content: str | bytes) -> None:
        # A prefix naming a file like another of the library (--prefix aot_runtime) would overwrite it.
        if name in files and files[name] != content:
            raise AotError(f"--prefix {prefix} names the library's file '{name}' like another file of the "
                           f"library; choose another prefix")
        files[name] = content

    add(names.header, env.get_template("model/model.h.j2").render(**common))
    add(names.source, env.get_template("model/model.c.j2").render(**common))
    add(names.arena_source, env.get_template("model/arena.c.j2").render(**common))
    add(names.weights_header, env.get_template("model/weights.h.j2").render(**common))
    if weights_file == "c":
        add(names.weights_source, env.get_template("model/weights.c.j2").render(**common))
    if blob is not None:
        add(names.weights_blob, blob)
    add(names.kernels_header, env.get_template("model/kernels.h.j2").render(**common))
    for b in backends:
        headers = list(REGISTRY.get(b).runtime_headers)  # e.g. the arm-dsp backend's helpers
        for h in headers:
            add(h, (runtime_dir() / h).read_text())
        add(names.kernel_source(b), env.get_template("model/kernels.c.j2").render(
            backend=b, kernels=kernel_sources[b], runtime_headers=headers, headers=build.headers.get(b, []),
            **common))
    files["Makefile"] = env.get_template("model/Makefile.j2").render(**common)
    files["CMakeLists.txt"] = env.get_template("model/CMakeLists.txt.j2").render(**common)
    add("aot_runtime.h", (runtime_dir() / "aot_runtime.h").read_text())
    add("aot_layer.h", (runtime_dir() / "aot_layer.h").read_text())  # model.h's layer table type
    meta_io = {k: [{f: v for f, v in e.items() if f not in _TEMPLATE_ONLY} for e in v] for k, v in io.items()}
    meta = metadata(graph, calls, plan, prefix, meta_io, weight_list, stack_bytes)
    meta["library"] = library_record(names, common["sources"], own_headers[:3], weights_file,
                                     common["weights_blob_bytes"], plan.alignment)
    if labels:
        meta["outputs"][0]["labels"] = list(labels)
    if io_api != "native":  # <prefix>_run_float is there
        meta["io_api"] = io_api
    if build.record:  # only libraries with contributions carry the key
        meta["build"] = build.record
    files["metadata.json"] = json.dumps(meta, indent=2) + "\n"
    for name, content in build.files.items():
        add(name, content)
    return files


_TEMPLATE_ONLY = ("index", "float_ctype")  # I/O entry fields model.h needs and metadata.json does not


def _io_entry(graph: Graph, plan: MemoryPlan, name: str, index: int) -> dict:
    t = graph.tensors[name]
    st = plan.storage[name]
    fields = io_fields(graph, name)  # layout (also inferred), scale and zero point (null when float)
    float_ctype = "float" if fields["scale"] is not None else c_type(t.dtype)
    return {"name": name, "onnx_name": t.onnx_name, "index": index, "shape": list(t.shape), "dtype": t.dtype,
            "ctype": c_type(t.dtype), "float_ctype": float_ctype, "size": t.size, "nbytes": t.nbytes, **fields,
            **({"offset": st.offset} if st.in_arena else {}),
            **({"format": storage_note(t.dtype)} if storage_note(t.dtype) else {})}


def stack_figure(stack_bytes: int | None) -> dict:
    """The stack part of the RAM figure: compile time cannot measure it (``aot run`` does, on a
    board), so a board's reserve is given as such and the host's is unknown."""
    if stack_bytes is None:
        return {"stack_bytes": None, "stack_source": "unknown at compile time (aot run measures it on a board)"}
    return {"stack_bytes": stack_bytes, "stack_source": "the board's stack reserve (board.toml memory.stack), "
                                                        "not measured; aot run measures the high-water mark"}


def metadata(graph: Graph, calls: list[Call], plan: MemoryPlan, prefix: str, io: dict, weights: list,
             stack_bytes: int | None = None) -> dict:
    weights_bytes = sum(graph.tensors[w["tensor"]].nbytes for w in weights)
    weights_bytes += sum(c.kernel.folded_weight_bytes(c.node, graph) for c in calls if c.kernel.folded_weight_bytes)
    passed = {w["tensor"] for w in weights}
    tensors = []
    for name, t in graph.tensors.items():
        st = plan.storage.get(name)
        if t.is_constant and name not in passed:
            continue  # folded into a kernel at compile time
        entry = {"name": name, "onnx_name": t.onnx_name, "shape": list(t.shape), "dtype": t.dtype,
                 "layout": t.layout, "bytes": t.nbytes, "storage": st.kind if st else None}
        if st and (st.kind == "arena" or st.in_arena):
            entry["offset"] = st.offset
        if st and st.root != name:
            entry["alias_of"] = st.root
        if t.quant is not None:
            entry["scale"] = np.asarray(t.quant.scale).reshape(-1).tolist()
            entry["zero_point"] = np.asarray(t.quant.zero_point).reshape(-1).tolist()
        tensors.append(entry)
    layers = [{"name": c.node.name, "onnx_name": c.node.meta.get("onnx_name"), "op_type": c.node.op_type,
               "backend": c.backend, "kernel": c.kernel.name, "function": c.fn, "inputs": [i for i in c.node.inputs if i],
               "outputs": [o for o in c.node.outputs if o], "activation": (c.node.attrs.get("activation") or {}).get("op_type"),
               "scratch_bytes": c.step.scratch_bytes, "macs": layer_macs(graph, c.node),
               **({"in_place": plan.in_place[i]} if i in plan.in_place else {}),
               **({"pattern": c.node.meta["pattern"]} if c.node.meta.get("pattern") else {})} for i, c in enumerate(calls)]
    return {"generator": "aot", "version": __version__, "model": graph.name, "prefix": prefix,
            "rounding": graph.rounding, **io,
            "layers": layers, "tensors": tensors,
            "memory": {**plan.summary(), "weights_bytes": weights_bytes, **stack_figure(stack_bytes),
                       **({"schedule": graph.schedule.summary()} if graph.schedule is not None else {}),
                       **({"patching": graph.patching} if graph.patching is not None else {})}}
