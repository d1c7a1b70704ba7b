"""Backend plug-in API. The reference backend registers itself through it exactly as a user's would.

A backend owns kernels; a kernel says which ops it runs (``reject_reason`` is None), which of their
inputs must be compile-time constants, and which Jinja template renders it into a C function
specialised to the layer's shapes. Where several kernels of a backend accept a node, the one with the
highest declared ``priority`` runs; two accepting kernels of equal priority are an error, so the
choice never depends on the order in which modules registered their kernels.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..ir import Graph, Node
from ..ops import is_layout_sensitive
from .patterns import COMPOSITE_DOMAIN, OpPat, Pattern
from .build import BackendOption, BuildContribution

ParamsFn = Callable[[Node, Graph], dict[str, Any]]
CheckFn = Callable[[Node, Graph], "str | None"]
ScratchFn = Callable[[Node, Graph], int]
# Which input the layer's output may overlap, and at which shifts (aot/planner InPlace), or None;
# the layer runs in place when node.meta["in_place"] is set (aot/codegen/in_place.py).
InPlaceFn = Callable[[Node, Graph], Any]


def is_channels_last(layout: str | None) -> bool:
    return bool(layout) and len(layout) >= 3 and layout[-1] == "C" and layout[1] != "C"


@dataclass
class Kernel:
    op_types: tuple[str, ...]
    template: str | None  # None: the op needs no code (its output aliases its input)
    params: ParamsFn = lambda node, graph: {}
    check: CheckFn | None = None  # returns why this node is NOT supported, or None
    static_inputs: tuple[int, ...] = ()  # inputs read at compile time (shapes, pads, indices): never passed
    scratch_bytes: ScratchFn | None = None
    # Bytes of weights the kernel's C holds itself (rearranged from static inputs, e.g. packed for its
    # inner loop): counted with the passed weights in metadata.json and the board's flash check.
    folded_weight_bytes: ScratchFn | None = None
    dtypes: tuple[str, ...] = ("float32",)  # accepted dtypes of the first input and the outputs
    alias_template: str | None = None  # for alias ops: the copy used where aliasing is impossible
    input_names: tuple[str, ...] = ()  # C parameter names, e.g. ("X", "W", "B")
    output_names: tuple[str, ...] = ()
    channels_last: bool = False  # for layout-sensitive ops (op table): reads NHWC-style data (else NCHW-style)
    name: str = ""  # the kernel variant, shown per layer in metadata/inspect (default: the template's stem)
    priority: int = 0  # among kernels of one backend accepting a node, the highest runs
    # Requantization roundings the kernel implements (aot/quant/fixed_point.py); None: it does not
    # requantize (float kernels, data movement), so every rounding mode accepts it.
    roundings: tuple[str, ...] | None = None
    # The bit-exact model of what the kernel computes, golden(node, graph, *activation_inputs) -> output,
    # for integer kernels whose arithmetic aot.quant.golden does not already define (a plug-in's LUT).
    golden: Callable[..., Any] | None = None
    # Computes on the stored numbers themselves (wrap-around integer arithmetic, comparisons, casts), not
    # on quantized values: tensors with quantization parameters are refused, and PTQ does not count the
    # kernel as one that runs int8 layers (supports_int8).
    plain: bool = False
    # The ONNX domain of ``op_types``: "" for the default one, else e.g. "ai.onnx.ml"; the backend lists
    # such an op as "<domain>.<op_type>" (supported_ops, the op table).
    domain: str = ""
    # The kernel can run in place (aot/backends/in_place.py); variants do not inherit it (variants.py).
    in_place: InPlaceFn | None = None

    def __post_init__(self) -> None:
        if not self.name:
            stem = (self.template or self.alias_template or "alias").split("/", 1)[-1]
            self.name = stem.removesuffix(".j2").removesuffix(".c")

    @property
    def op_names(self) -> tuple[str, ...]:
        """``op_types`` as the op table and ``supported_ops`` name them: "<domain>.<op>" outside the default domain."""
        return tuple(f"{self.domain}.{op}" if self.domain else op for op in self.op_types)

    @property
    def is_alias(self) -> bool:
        return self.template is None

    def reject_reason(self, node: Node, graph: Graph) -> str | None:
        if is_layout_sensitive(node.op_type) and node.inputs and node.inputs[0]:
            last = is_channels_last(graph.tensors[node.inputs[0]].layout)
            if last != self.channels_last:
                return f"{'channels-last' if last else 'channels-first'} data (kernel takes " \
                       f"{'channels-last' if self.channels_last else 'channels-first'})"
        data = [graph.tensors[i] for i in node.inputs[:1] if i] + [graph.tensors[o] for o in node.outputs if o]
        for t in data:
            if t.dtype not in self.dtypes:
                return f"dtype {t.dtype} of '{t.name}' (kernel takes {', '.join(self.dtypes)})"
        for idx in self.static_inputs:
            if idx < len(node.inputs) and node.inputs[idx] and graph.const(node.inputs[idx]) is None:
                return f"input {idx} ('{node.inputs[idx]}') must be a compile-time constant"
        quantized = any(graph.tensors[o].quant is not None for o in node.outputs if o)
        if self.plain and (quantized or any(graph.tensors[i].quant is not None for i in node.inputs if i)):
            return "quantized tensors (the kernel computes on plain numbers)"
        if self.roundings is not None and quantized and graph.rounding not in self.roundings:
            return f"{graph.rounding} rounding (kernel implements {', '.join(self.roundings)})"
        return self.check(node, graph) if self.check else None


class Backend(ABC):
    """A code generator for a set of ops. Subclass it, or use TemplateBackend with kernels."""

    name: str = "backend"
    template_dirs: Sequence[Path] = ()  # searched before the package's templates/
    options: Sequence[BackendOption] = ()  # what --backend-option NAME.KEY=VALUE may set (see build.py)

    def build_contribution(self, options: dict[str, str]) -> BuildContribution:
        """Sources, include folders, defines, libraries and flags the library needs when this
        backend runs layers of it, given its resolved ``options``; nothing by default."""
        return BuildContribution()

    def model_build_contribution(self, options: dict[str, str], graph: Graph,
                                 kernels: Sequence[Kernel]) -> BuildContribution:
        """The contribution for one compiled model: ``graph`` (its ``rounding``) and the ``kernels`` this
        backend runs in it. By default ``build_contribution(options)``; a library backend overrides it
        to compile only the library sources those kernels call, with the defines the rounding needs."""
        return self.build_contribution(options)

    # Layouts (convert_layout's {"Conv": ["NHWC", "OHWI"], ...}) this backend's kernels need, applied
    # when the backend is in a compile's list and the user gave no --layout (e.g. CMSIS-NN is NHWC).
    layouts: dict[str, list[str]] = {}

    def wants_layout(self, node: Node, graph: Graph) -> bool:
        """Whether ``layouts`` should convert this layer (asked before partitioning, on the layer as
        imported); a backend whose kernels want a layout only for some layers (float ones, say) narrows it."""
        return True

    # Instruction-set features (board.toml ``features``, e.g. "dsp", "mve") a board must have for this
    # backend's C to compile: the backend is offered only on such boards.
    features: Sequence[str] = ()
    # Headers of runtime_c/ that this backend's kernels need: copied into the library and included by
    # its kernels_<name>.c after aot_runtime.h.
    runtime_headers: Sequence[str] = ()

    @abstractmethod
    def kernel_for(self, node: Node, graph: Graph) -> Kernel | None:
        """The kernel that runs ``node``, or None when this backend cannot."""

    @abstractmethod
    def reject_reason(self, node: Node, graph: Graph) -> str | None:
        """Why this backend cannot run ``node`` (None when it can)."""

    @abstractmethod
    def supported_ops(self) -> list[str]:
        """Op types this backend has kernels for."""

    def supports_int8(self, op_type: str) -> bool:
        """Whether some kernel may run ``op_type`` on int8 data (PTQ and QDQ lowering ask; the
        kernel's own check still decides per node)."""
        return False

    def patterns(self) -> list[Pattern]:
        """Multi-node patterns this backend runs as one kernel, highest priority first."""
        return []


class TemplateBackend(Backend):
    """A backend made of Jinja kernel templates, looked up by op type (first accepting kernel wins)."""

    def __init__(self, name: str, template_dirs: list[str | Path] | None = None, *,
                 features: Sequence[str] = (), runtime_headers: Sequence[str] = ()):
        self.name = name
        self.template_dirs = [Path(d) for d in (template_dirs or [])]
        self.features = tuple(features)
        self.runtime_headers = tuple(runtime_headers)
        self.kernels: list[Kernel] = []
        self._patterns: list[Pattern] = []

    def add_pattern(self, pattern: Pattern) -> Pattern:
        if any(p.name == pattern.name for p in self._patterns):
            raise ValueError(f"backend '{self.name}' already has a pattern named '{pattern.name}'")
        self._patterns.append(pattern)
        return pattern

    def pattern(self, name: str, root: OpPat, *, template: str, check: CheckFn | None = None,
                pattern_check=None, priority: int = 0, **options: Any) -> Callable[[ParamsFn], ParamsFn]:
        """Decorator: a multi-node pattern and the kernel that renders its composite node. ``pattern_check``
        (match, graph) -> reason decides at matching time; ``check`` (node, graph) -> reason is the
        kernel's check on the composite node (its ``meta["body"]`` holds the matched nodes)."""
        def register(params: ParamsFn) -> ParamsFn:
            self.add_pattern(Pattern(name, root, pattern_check, priority))
            self.add_kernel(Kernel((name,), template, params=params, check=check, **options))
            return params
        return register

    def patterns(self) -> list[Pattern]:
        return sorted(self._patterns, key=lambda p: (-p.priority, p.name))

    def add_kernel(self, kernel: Kernel) -> Kernel:
        self.kernels.append(kernel)
        return kernel

    def kernel(self, *op_types: str, template: str | None, **options: Any) -> Callable[[ParamsFn], ParamsFn]:
        """Decorator: the decorated function computes the template's parameters for a node."""
        def register(params: ParamsFn) -> ParamsFn:
            self.add_kernel(Kernel(tuple(op_types), template, params=params, **options))
            return params
        return register

    def _candidates(self, node: Node) -> list[Kernel]:
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if node.domain == COMPOSITE_DOMAIN:  # a composite runs only on the backend whose pattern made it
            if node.meta.get("composite_backend") != self.name:
                return []
            domain = ""
        return [k for k in self.kernels if node.op_type in k.op_types and k.domain == domain]

    def kernel_for(self, node: Node, graph: Graph) -> Kernel | None:
        accepting = [k for k in self._candidates(node) if k.reject_reason(node, graph) is None]
        if not accepting:
            return None
        best = max(k.priority for k in accepting)
        top = [k for k in accepting if k.priority == best]
        if len(top) > 1:
            raise ValueError(f"backend '{self.name}': kernels {[k.name for k in top]} all accept {node.op_type} "
                             f"'{node.name}' with priority {best}; give them distinct priorities")
        return top[0]

    def reject_reason(self, node: Node, graph: Graph) -> str | None:
        candidates = self._candidates(node)
        if not candidates:
            return "op not implemented"
        reasons = [k.reject_reason(node, graph) for k in candidates]
        return None if any(r is None for r in reasons) else "; ".join(r for r in reasons if r)

    def supported_ops(self) -> list[str]:
        return sorted({op for k in self.kernels for op in k.op_names})

    def supports_int8(self, op_type: str) -> bool:
        return any(op_type in k.op_types and "int8" in k.dtypes and not k.plain for k in self.kernels)


@dataclass
class BackendRegistry:
    backends: dict[str, Backend] = field(default_factory=dict)

    def register(self, backend: Backend, *, replace: bool = False) -> Backend:
        if backend.name in self.backends and not replace:
            raise ValueError(f"a backend named '{backend.name}' is already registered")
        self.backends[backend.name] = backend
        return backend

    def unregister(self, name: str) -> None:
        self.backends.pop(name, None)

    def get(self, name: str) -> Backend:
        from ..errors import AotError
        if name not in self.backends:
            raise AotError(f"unknown backend '{name}'; registered backends: {', '.join(self.backends)}")
        return self.backends[name]

    def names(self) -> list[str]:
        return list(self.backends)


REGISTRY = BackendRegistry()


def register_backend(backend: Backend, *, replace: bool = False) -> Backend:
    return REGISTRY.register(backend, replace=replace)
