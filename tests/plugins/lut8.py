"""lut8: a third-party int8 backend, loaded as a plug-in (``aot compile --plugin tests/plugins/lut8.py``).

It claims int8 Sigmoid (the reference backend has its own table; listed first, the plug-in's wins)
and what the reference backend lacks: the two-node int8 pattern x * Sigmoid(x) (SiLU, as exporters
emit it) as one table. Each is a 256-entry lookup table computed at compile time and applied by its
own C runtime (lut8_src/lut8.c, header in lut8_src/include, a define it
contributes). Each kernel brings its golden model (the same table), so the golden runner checks the
C bit for bit. Only the public API is used: TemplateBackend, patterns, BuildContribution,
register_backend.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aot.backends import BuildContribution, TemplateBackend, register_backend
from aot.backends.patterns import op, wildcard
from aot.ir import Graph, Node
from aot.quant.kernel_params import scale_of, zero_point_of

TEMPLATES = Path(__file__).resolve().with_name("lut8_templates")
SOURCES = Path(__file__).resolve().with_name("lut8_src")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lookup_table(fn, graph: Graph, x: str, y: str) -> np.ndarray:
    """int8 -> int8: quantize(fn(dequantize(q))) for every q, in float64, rounding half to even."""
    q = np.arange(-128, 128, dtype=np.float64)
    real = fn((q - zero_point_of(graph, x)) * scale_of(graph, x))
    return np.clip(np.rint(real / scale_of(graph, y)) + zero_point_of(graph, y), -128, 127).astype(np.int8)


def _table(node: Node, graph: Graph) -> np.ndarray:
    fn = _sigmoid if node.op_type == "Sigmoid" else (lambda x: x * _sigmoid(x))
    return lookup_table(fn, graph, node.inputs[0], node.outputs[0])


def lut_params(node: Node, graph: Graph) -> dict:
    return {"table": _table(node, graph).tolist()}


def lut_golden(node: Node, graph: Graph, x: np.ndarray) -> np.ndarray:
    return _table(node, graph)[x.astype(np.int64) + 128]


def _quantized(node: Node, graph: Graph) -> str | None:
    names = [node.inputs[0], node.outputs[0]]
    missing = [n for n in names if graph.tensors[n].quant is None]
    return f"int8 tensor '{missing[0]}' has no scale" if missing else None


class Lut8Backend(TemplateBackend):
    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        # Copied into the library under lut8/; the kernels include lut8.h from the include folder.
        return BuildContribution(root=SOURCES, sources=["lut8.c"], include_dirs=["include"],
                                 defines=["LUT8_OFFSET=128"], headers=["lut8.h"])


LUT8 = Lut8Backend("lut8", template_dirs=[TEMPLATES])
LUT8.kernel("Sigmoid", template="lut8/lut.c.j2", dtypes=("int8",), check=_quantized, input_names=("X",),
            output_names=("Y",), golden=lut_golden)(lut_params)
# x * sigmoid(x) on int8: the Mul and its Sigmoid operand read the same tensor.
LUT8.pattern("lut8_silu", op("Mul", wildcard("x"), op("Sigmoid", wildcard("x"), dtype="int8"), dtype="int8",
                             commutative=True),
             template="lut8/lut.c.j2", dtypes=("int8",), check=_quantized, input_names=("X",),
             output_names=("Y",), golden=lut_golden)(lut_params)
register_backend(LUT8, replace=True)
