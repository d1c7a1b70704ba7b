"""Per-layer instructions of aot's own kernels beside CMSIS-NN's, under QEMU.

    python bench/layers.py [--models kws_int8,ww_int8,mnist_int8] [--boards cortex-m4] [--cc gcc|clang]
                           [--cmsis-nn DIR] [--json FILE] [--all-layers]

For each model and board it runs one profiled inference (``aot run --profile``) twice: with the board's
own backends (e.g. arm-dsp, ref on cortex-m4) and with ``cmsis-nn, ref``, both checked bit-exact
against the host build and the golden model. It prints, per layer, what the layer is (op, kernel,
channels), which kernel each side ran, the instructions of both and their ratio (aot / CMSIS-NN:
below 1 means aot is faster). By default only layers CMSIS-NN runs are listed (the others run the same
ref kernel on both sides); --all-layers lists every layer. Instructions are SysTick counts, to its
resolution (40 instructions on mps2, 31.25 on an547).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from aot.compiler import CompileOptions, compile_model
from aot.errors import AotError
from aot.flows.board_run import run_on_board
from aot.ir import Graph, Node

from shared_models import DEFAULT_MODELS, MODELS, commit  # noqa: E402  (bench/ is the script folder)

DEFAULT_CMSIS_NN = DEFAULT_MODELS.parent / "third_party" / "CMSIS-NN"
INT8_MODELS = ["kws_int8", "ww_int8", "mnist_int8", "ad01_int8"]


@dataclass
class LayerRow:
    model: str
    board: str
    cc: str
    index: int
    name: str
    op: str
    what: str
    aot_kernel: str
    cmsis_kernel: str
    aot: int
    cmsis: int

    @property
    def ratio(self) -> float | None:
        return self.aot / self.cmsis if self.cmsis else None


def describe(graph: Graph, node: Node) -> str:
    """A short name for what a layer computes: 'dw 3x3 64ch', '1x1 64->64', '10x4/2 1->64'."""
    if node.op_type != "Conv":
        shapes = [graph.tensors[i].shape for i in node.inputs[:2] if i]
        return " x ".join("x".join(map(str, s)) for s in shapes)
    x, w, y = (graph.tensors[t] for t in (node.inputs[0], node.inputs[1], node.outputs[0]))
    kernel = node.attrs.get("kernel_shape") or list(w.shape[2:])
    strides = node.attrs.get("strides") or [1] * len(kernel)
    group = node.attrs.get("group", 1)
    nhwc = x.layout not in (None, "NCHW") and x.layout.endswith("C")
    cin, cout = (x.shape[-1], y.shape[-1]) if nhwc else (x.shape[1], y.shape[1])
    k = "x".join(map(str, kernel)) + ("" if all(s == 1 for s in strides) else "/" + "x".join(map(str, strides)))
    out_sp = "x".join(map(str, y.shape[1:-1] if nhwc else y.shape[2:]))
    if group > 1 and group == cin:
        return f"dw {k} {cin}ch" + (f" x{cout // cin}" if cout != cin else "") + f" @{out_sp}"
    return f"{k} {cin}->{cout}" + (f" g{group}" if group > 1 else "") + f" @{out_sp}"


def profile(path: Path, board: str, cc: str, options: CompileOptions) -> tuple[list, dict[str, tuple[str, str]]]:
    """The per-layer costs of one run, and each layer's (description, backend/kernel) by name."""
    compiled = compile_model(path, dataclasses.replace(options, board=board))
    kinds = {c.node.name: (describe(compiled.graph, c.node), f"{c.backend}:{c.kernel.name}") for c in compiled.calls}
    report = run_on_board(path, board, profile=True, cc=cc, timeout=600.0, options=options)
    if not report.ok:
        raise AotError(f"{path.name} on {board}: outputs differ from the host or the golden model")
    return report.layers, kinds


def compare(name: str, path: Path, board: str, cc: str, cmsis_path: Path) -> list[LayerRow]:
    own, own_kinds = profile(path, board, cc, CompileOptions())
    cmsis_options = CompileOptions(backends=["cmsis-nn", "ref"],
                                   backend_options={"cmsis-nn": {"path": str(cmsis_path)}})
    theirs, their_kinds = profile(path, board, cc, cmsis_options)
    by_name = {layer.name: layer for layer in theirs}
    rows = []
    for layer in own:
        other = by_name.get(layer.name)
        what, aot_kernel = own_kinds.get(layer.name, ("?", "?"))
        cmsis_kernel = their_kinds.get(layer.name, ("?", "-"))[1]
        rows.append(LayerRow(name, board, cc, layer.index, layer.name, layer.op_type, what, aot_kernel, cmsis_kernel,
                             layer.instructions, other.instructions if other else 0))
    return rows


def table(rows: list[LayerRow], all_layers: bool) -> str:
    head = ["model", "board", "#", "op", "layer", "aot kernel", "CMSIS-NN kernel", "aot", "CMSIS-NN", "ratio"]
    out = ["| " + " | ".join(head) + " |", "|---|---|---:|---|---|---|---|---:|---:|---:|"]
    for r in rows:
        if not all_layers and not r.cmsis_kernel.startswith("cmsis-nn"):
            continue
        ratio = f"{r.ratio:.2f}" if r.ratio else "-"
        out.append(f"| {r.model} | {r.board} | {r.index} | {r.op} | {r.what} | {r.aot_kernel} | {r.cmsis_kernel} | "
                   f"{r.aot:,} | {r.cmsis:,} | {ratio} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(INT8_MODELS[:3]),
                   help=f"comma-separated short names ({', '.join(n for n, _ in MODELS)}) or ONNX paths")
    p.add_argument("--boards", default="cortex-m4", help="comma-separated boards (default cortex-m4)")
    p.add_argument("--cc", choices=("gcc", "clang"), default="gcc")
    p.add_argument("--cmsis-nn", type=Path, default=Path(os.environ.get("CMSIS_NN_PATH", DEFAULT_CMSIS_NN)),
                   help=f"CMSIS-NN sources (default $CMSIS_NN_PATH, else {DEFAULT_CMSIS_NN})")
    p.add_argument("--all-layers", action="store_true", help="also list layers CMSIS-NN does not run")
    p.add_argument("--json", type=Path, default=None, help="also write the rows to this file")
    args = p.parse_args(argv)
    known = dict(MODELS)
    rows: list[LayerRow] = []
    for item in (m for m in args.models.split(",") if m):
        path = DEFAULT_MODELS / known[item] if item in known else Path(item)
        if not path.exists():
            p.error(f"model {item}: {path} does not exist")
        for board in (b for b in args.boards.split(",") if b):
            print(f"{item} on {board} ({args.cc}) ...", file=sys.stderr)
            try:
                rows += compare(item, path, board, args.cc, args.cmsis_nn)
            except AotError as exc:
                print(f"{item} on {board}: {str(exc).splitlines()[0]}", file=sys.stderr)
                return 1
    print(table(rows, args.all_layers))
    print(f"\nCommit {commit()}, {args.cc} -O2, one inference under QEMU -icount; ratio = aot / CMSIS-NN.")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit(), "cc": args.cc, "rows": [asdict(r) for r in rows]},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
