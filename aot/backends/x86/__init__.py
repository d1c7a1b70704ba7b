"""The x86-avx2 backend: kernels for x86-64 hosts with AVX2 and FMA (256-bit vectors: eight float or
int32 lanes, sixteen int16 lanes). int8 kernels compute the ref backend's integers bit for bit (products
summed exactly with VPMADDWD on int16 lanes, then the same requantization); float kernels reorder sums
and fuse multiply-adds, so they agree with ONNX Runtime within the verify tolerance rather than bit for bit.
Offered only on host boards whose features list "avx2" and "fma" (boards/host-avx2, or boards/native when
the machine has them); the library's host build gets -mavx2 -mfma. Templates in templates/x86-avx2/."""
from __future__ import annotations

from ...ir import Graph, Node
from ..build import BuildContribution
from ..registry import REGISTRY, TemplateBackend

# Flags of the host build (and of lib<prefix>.so) when a layer runs on this backend.
ISA_FLAGS = ("-mavx2", "-mfma")


class X86Backend(TemplateBackend):
    def __init__(self, name: str, features: tuple[str, ...], isa_flags: tuple[str, ...]):
        super().__init__(name, features=features, runtime_headers=("aot_x86.h",))
        self.isa_flags = isa_flags
        self.layouts: dict[str, list[str]] = {}  # filled by the kernel modules, with...
        self.layout_rules: list = []  # ... (node, graph) -> bool: the layers those layouts are for

    def wants_layout(self, node: Node, graph: Graph) -> bool:
        return any(rule(node, graph) for rule in self.layout_rules)

    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        return BuildContribution(target_cflags={"host": list(self.isa_flags)})


X86_AVX2 = X86Backend("x86-avx2", features=("avx2", "fma"), isa_flags=ISA_FLAGS)

from . import float_kernels, int8_kernels  # noqa: E402,F401  (add the float and int8 kernels to X86_AVX2)

if X86_AVX2.name not in REGISTRY.backends:
    REGISTRY.register(X86_AVX2)
