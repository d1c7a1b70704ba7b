"""Float register tiles for Cortex-M: variants of ref's GEMM-shaped float kernels (Conv tiled and
pointwise, Gemm, MatMul), added by the Arm backends.

ref's tiles, 4 rows x 16 columns of accumulators in arrays, are sized for vector registers: x86's,
or Helium's float lanes, which the compiler vectorises them for. Cortex-M4/M7/M33's FPU is scalar
(32 single-precision registers), and there the arrays live on the stack: a load and a store of an
accumulator per multiply-add. ``scalar=True`` runs the same loops with tiles of 4 rows x 4 columns
held in named scalars (templates/ref/tile.j2, SCALAR_TILE): 16 accumulators, 4 inputs and 4 weights
in registers, the same sums in the same order, and a quarter of the tiled Conv's gather scratch.
``scalar=False`` keeps ref's tiles: the Helium backend claims them so that on a board with both
backends the vectorisable form runs (arm-dsp comes after helium in the preference order)."""
from __future__ import annotations

from ..ir import Graph, Node
from .ref.kernels.conv import column_blocks, conv_params, conv_variant
from .ref.kernels.gemm import gemm_params, matmul_params
from .registry import TemplateBackend
from .variants import ref_kernel, variant

SCALAR_COLUMNS = 4  # columns of a scalar tile: 4 x 4 accumulators + 4 inputs + 4 weights of 32 registers
TILED_CONVS = ("tiled", "pointwise")  # ref's Conv specialisations made of register tiles
KERNELS = ("conv", "gemm", "matmul")  # templates/<backend>/float/<name>.c.j2 extend templates/ref/<name>.c.j2


def _conv_check(node: Node, graph: Graph) -> str | None:
    if conv_variant(conv_params(node, graph)) not in TILED_CONVS:
        return "float Conv that ref runs without register tiles (depthwise or direct loops)"
    return None


def _several_rows(node: Node, graph: Graph) -> str | None:
    shape = graph.tensors[node.outputs[0]].shape
    if len(shape) < 2 or shape[-2] < 2:
        return "a single row: ref's tile already holds it in named scalars"
    return None


def _scalar_conv_params(node: Node, graph: Graph) -> dict:
    osp = conv_params(node, graph)["OSP"]
    return {"SCALAR_TILE": True, "TILE_P": SCALAR_COLUMNS, "p_blocks": column_blocks(osp, SCALAR_COLUMNS)}


def _scalar_conv_scratch(node: Node, graph: Graph) -> int:
    p = conv_params(node, graph)
    return 4 * p["ICG"] * p["KSP"] * SCALAR_COLUMNS if conv_variant(p) == "tiled" else 0


def _scalar_gemm_params(node: Node, graph: Graph) -> dict:
    return {"SCALAR_TILE": True, "n_blocks": column_blocks(gemm_params(node, graph)["N"], SCALAR_COLUMNS)}


def _scalar_matmul_params(node: Node, graph: Graph) -> dict:
    return {"SCALAR_TILE": True, "n_blocks": column_blocks(matmul_params(node, graph)["N"], SCALAR_COLUMNS)}


def add_float_tiles(backend: TemplateBackend, *, scalar: bool, priority: int = 10) -> None:
    """Add the three float tile kernels to ``backend``, rendered by templates/<backend>/float/."""
    scalar_extra = {"conv": {"params": _scalar_conv_params, "scratch_bytes": _scalar_conv_scratch},
                    "gemm": {"params": _scalar_gemm_params}, "matmul": {"params": _scalar_matmul_params}}
    checks = {"conv": _conv_check, "gemm": _several_rows, "matmul": _several_rows}
    form = "scalar_tiles" if scalar else "vector_tiles"
    for name in KERNELS:
        extra = scalar_extra[name] if scalar else {}
        backend.add_kernel(variant(ref_kernel(f"ref/{name}.c.j2"), f"{backend.name}/float/{name}.c.j2",
                                   f"float/{name}_{form}", priority=priority, roundings=None,
                                   check=checks[name], **extra))
