"""Orchestration above the compiler: what the ``aot`` commands do with a compiled model.

``verify`` (build on the host, compare with ONNX Runtime and the golden model), ``board_run`` (build
for a board, run under QEMU, compare, count instructions), ``quant_check`` (the int8 checks),
``measure`` (timing), ``inspect`` (reports), ``demo``. These import the compiler; nothing in the
compile flow (frontend -> passes -> partition -> planner -> codegen -> targets) imports them.
"""
