"""The x86 backends: kernels for x86-64 hosts, one backend per instruction set, the same kernels.

x86-avx2 (AVX2 and FMA, x86-64-v3): 256-bit vectors, eight float or int32 lanes, sixteen int16 lanes.
x86-sse4 (SSE4.1, x86-64-v2): 128-bit vectors, four float or int32 lanes; no FMA (multiply, then add).
int8 kernels compute the ref backend's integers bit for bit (products summed exactly with PMADDWD on
int16 lanes, then the same requantization); float kernels reorder sums (and fuse multiply-adds on
AVX2), so they agree with ONNX Runtime within the verify tolerance rather than bit for bit. Each is
offered only on host boards whose features list its instruction sets (boards/host-avx2, host-sse4, or
boards/native when the machine has them); the library's host build gets its flags. Templates in
templates/x86-avx2/ and templates/x86-sse4/; the kernel modules register the same kernels on both."""
from __future__ import annotations

from ...ir import Graph, Node
from ..build import BuildContribution
from ..registry import REGISTRY, TemplateBackend
from .isa import AVX2, SSE4, VectorIsa

# Flags of the host build (and of lib<prefix>.so) when a layer runs on the x86-avx2 backend.
ISA_FLAGS = ("-mavx2", "-mfma")


class X86Backend(TemplateBackend):
    def __init__(self, name: str, features: tuple[str, ...], isa_flags: tuple[str, ...], isa: VectorIsa,
                 runtime_header: str):
        super().__init__(name, features=features, runtime_headers=(runtime_header,))
        self.isa_flags = isa_flags
        self.isa = isa
        self.layouts: dict[str, list[str]] = {}  # filled by the kernel modules, with...
        self.layout_rules: list = []  # ... (node, graph) -> bool: the layers those layouts are for

    def wants_layout(self, node: Node, graph: Graph) -> bool:
        return any(rule(node, graph) for rule in self.layout_rules)

    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        return BuildContribution(target_cflags={"host": list(self.isa_flags)})


X86_AVX2 = X86Backend("x86-avx2", features=("avx2", "fma"), isa_flags=ISA_FLAGS, isa=AVX2,
                      runtime_header="aot_x86.h")
X86_SSE4 = X86Backend("x86-sse4", features=("sse4.1",), isa_flags=("-msse4.1",), isa=SSE4,
                      runtime_header="aot_x86_sse4.h")
X86_BACKENDS = (X86_AVX2, X86_SSE4)

from . import float_kernels, int8_kernels  # noqa: E402,F401  (add the float and int8 kernels to both)

for _backend in X86_BACKENDS:
    if _backend.name not in REGISTRY.backends:
        REGISTRY.register(_backend)
