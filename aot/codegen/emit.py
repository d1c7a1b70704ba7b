"""Render the C library folder: model.h/model.c, kernel sources per backend, weights, build files,
metadata.json. Returns file contents in memory; writing to disk is ``aot.compiler.write_library``."""
from __future__ import annotations

import json
import numpy as np

from .. import __version__
from ..backends.build import LibraryBuild
from ..backends.registry import REGISTRY
from ..ir import Graph
from ..ir.dtypes import c_type
from ..ir.formats import storage_note
from ..ops import layer_macs
from ..planner import MemoryPlan
from ..resources import runtime_dir
from .cformat import c_array_body
from .env import make_environment
from .kernel_context import kernel_arguments, template_context
from .lower import Call
from .symbols import weight_symbol


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
                   stack_bytes: int | None = None) -> dict[str, str]:
    """``build``: what the backends add to the build (aot/backends/build.py); its copied files
    become files of the library. ``stack_bytes``: the board's stack reserve (None on the host)."""
    build = build or LibraryBuild()
    backends = sorted({c.backend for c in calls}, key=lambda b: [c.backend for c in calls].index(b))
    extra_dirs = [d for b in backends for d in REGISTRY.get(b).template_dirs]
    env = make_environment(extra_dirs)
    files: dict[str, str] = {}

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
                           "op_type": call.node.op_type})

    # An input no layer reads (the model ignores it, or only its shape mattered) is still a parameter:
    # without the (void) cast -Wunused-parameter fails the -Werror build.
    read = {plan.storage[i].root for c in calls for i in c.step.reads}
    unused_inputs = [i for i in graph.inputs if i not in read]

    weight_list = []
    for name in weights:
        t = graph.tensors[name]
        weight_list.append({"tensor": name, "symbol": weight_symbol(prefix, name), "ctype": c_type(t.dtype), "size": max(t.size, 1),
                            "shape": list(t.shape), "body": c_array_body(np.asarray(t.data).astype(t.dtype))})

    io = {"inputs": [_io_entry(graph, plan, n) for n in graph.inputs],
          "outputs": [_io_entry(graph, plan, n) for n in graph.outputs]}
    kernel_files = [f"kernels_{b}.c" for b in backends]
    common = {"prefix": prefix, "PREFIX": prefix.upper(), "graph": graph, "plan": plan, "io": io,
              "calls": call_lines, "unused_inputs": unused_inputs, "weights": weight_list,
              "prototypes": prototypes, "kernel_files": kernel_files,
              "sources": ["model.c"] + kernel_files + build.sources, "build": build,
              "version": __version__, "board": board, "stack_bytes": stack_bytes}
    files["model.h"] = env.get_template("model/model.h.j2").render(**common)
    files["model.c"] = env.get_template("model/model.c.j2").render(**common)
    files["weights.h"] = env.get_template("model/weights.h.j2").render(**common)
    files["kernels.h"] = env.get_template("model/kernels.h.j2").render(**common)
    for b in backends:
        headers = list(REGISTRY.get(b).runtime_headers)  # e.g. the arm-dsp backend's helpers
        files.update({h: (runtime_dir() / h).read_text() for h in headers})
        files[f"kernels_{b}.c"] = env.get_template("model/kernels.c.j2").render(
            backend=b, kernels=kernel_sources[b], runtime_headers=headers, headers=build.headers.get(b, []),
            **common)
    files["Makefile"] = env.get_template("model/Makefile.j2").render(**common)
    files["CMakeLists.txt"] = env.get_template("model/CMakeLists.txt.j2").render(**common)
    files["aot_runtime.h"] = (runtime_dir() / "aot_runtime.h").read_text()
    meta = metadata(graph, calls, plan, prefix, io, weight_list, stack_bytes)
    if build.record:  # only libraries with contributions carry the key
        meta["build"] = build.record
    files["metadata.json"] = json.dumps(meta, indent=2) + "\n"
    files.update(build.files)
    return files


def _io_entry(graph: Graph, plan: MemoryPlan, name: str) -> dict:
    t = graph.tensors[name]
    st = plan.storage[name]
    return {"name": name, "onnx_name": t.onnx_name, "shape": list(t.shape), "dtype": t.dtype,
            "ctype": c_type(t.dtype), "size": t.size, "layout": t.layout, "nbytes": t.nbytes,
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
               **({"pattern": c.node.meta["pattern"]} if c.node.meta.get("pattern") else {})} for c in calls]
    return {"generator": "aot", "version": __version__, "model": graph.name, "prefix": prefix,
            "rounding": graph.rounding, **io,
            "layers": layers, "tensors": tensors,
            "memory": {**plan.summary(), "weights_bytes": weights_bytes, **stack_figure(stack_bytes),
                       **({"schedule": graph.schedule.summary()} if graph.schedule is not None else {})}}
