"""What aot knows about an op, in one place: ``OpSpec``.

Passes, the QDQ lowering, PTQ, the golden runner, codegen and the ONNX export ask the op table
(``aot.ops.op_spec``) instead of keeping their own lists of op names. Backends still decide which ops
they can *run* (aot/backends); the table says what an op *is*: how it reacts to layouts, whether it is
an elementwise map that can be fused into its producer (and its C and numpy forms side by side),
how its QDQ form becomes an integer op, and how many multiply-accumulates a layer costs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from ..ir import Graph, Node

# How an op reacts to the layout of its data:
#   "sensitive": its meaning depends on which axis holds the channels (Conv, pools, BatchNorm):
#                kernels exist per layout, and convert_layout can switch it;
#   "agnostic":  an elementwise map, correct in any layout: its output takes its input's layout and
#                convert_layout pushes Transposes through it;
#   "preserving": its output keeps its input's layout, but its attributes/operands name axes
#                (Pad, PRelu), so Transposes are not pushed through it;
#   "fixed":     the op has no layout of its own (Reshape, Gemm, ...).
LayoutBehaviour = Literal["sensitive", "agnostic", "preserving", "fixed"]

Attrs = dict
MacsFn = Callable[[Graph, Node], int]


@dataclass(frozen=True)
class UnaryForm:
    """An elementwise map y = f(x) with its C and numpy forms side by side (they must agree).

    ``attrs(graph, node)`` gives the map's parameters as plain numbers (None when one is not a
    compile-time constant); ``c(expr, attrs)`` is the C expression of f applied to ``expr``;
    ``numpy(x, attrs)`` computes it on an array. ``fusable``: the map can run inside the kernel of the
    op producing its input (attrs["activation"]). ``int8_range(attrs)``: the real interval the map
    clamps to when an int8 kernel can apply it as clamp bounds of its requantized output (Relu, Clip),
    or None."""

    c: Callable[[str, Attrs], str]
    numpy: Callable[[np.ndarray, Attrs], np.ndarray]
    attrs: Callable[[Graph, Node], Attrs | None] = lambda graph, node: {}
    fusable: bool = False
    int8_range: Callable[[Attrs], tuple[float, float]] | None = None
    # The dtypes of x the C form handles (the ref kernel's check), and its form for each of them:
    # ``typed(expr, attrs, dtype)``; without it ``c`` serves float32 alone. ``output``: the output's dtype
    # when it is not the input's (IsNaN: "bool").
    dtypes: tuple[str, ...] = ("float32",)
    typed: Callable[[str, Attrs, str], str] | None = None
    output: str | None = None

    def c_for(self, expr: str, attrs: Attrs, dtype: str) -> str:
        """The C expression of f applied to ``expr`` of ``dtype`` (one of ``dtypes``)."""
        return self.typed(expr, attrs, dtype) if self.typed is not None else self.c(expr, attrs)


@dataclass(frozen=True)
class BroadcastForm:
    """An elementwise op of several operands with numpy broadcasting (Add, Pow, Equal, Where, Max...):
    its C and numpy forms side by side.

    ``c(operands, attrs, dtypes)`` is the C expression over the operands' C expressions, given their
    dtypes; ``numpy(arrays, attrs)`` computes it on arrays. ``dtypes``: the dtypes of the first operand
    the C form handles; ``operand_dtypes(dtypes)`` says why a combination of operand dtypes is not
    handled (None when it is). ``variadic``: the op takes any number of operands and folds them with
    ``c`` applied pairwise (Max, Sum), then applies ``finish(expr, count, dtype)`` (Mean's division).
    ``output``: the output's dtype when it is fixed ("bool" for comparisons); otherwise it is the
    operands' (for Where, its values')."""

    c: Callable[[list[str], Attrs, list[str]], str]
    numpy: Callable[[list[np.ndarray], Attrs], np.ndarray]
    dtypes: tuple[str, ...] = ("float32",)
    attrs: Callable[[Graph, Node], Attrs] = lambda graph, node: {}
    operand_dtypes: Callable[[list[str]], str | None] | None = None
    variadic: bool = False
    finish: Callable[[str, int, str], str] | None = None
    output: str | None = None


# The integer form of a quantized (DequantizeLinear -> op -> QuantizeLinear) layer, by rule:
#   "conv":            int8 weights per output channel, int32 bias (Conv)
#   "fully_connected": weights as [N, K] rows, int32 bias, a following bias Add absorbed (Gemm, MatMul)
#   "pad":             the pad value quantized with the output's parameters
#   "rescale":         int8 activations in, int8 out with its own scale (Add, Softmax, a plug-in's op)
#   "same_scale":      output shares the input's scale; a Requantize follows where they differ (MaxPool)
#   "activation":      becomes a Requantize whose clamp is the activation (Relu, Clip)
#   "data_movement":   moves int8 values unchanged; a Requantize where the scales differ (Reshape, Concat)
#   "lookup":          an elementwise map as a 256-entry table of its QDQ result (Sigmoid, Tanh, Exp)
# "lookup": an elementwise map of one int8 input run as a 256-entry table built at compile time
# from the op's numpy form (aot/quant/kernel_params.py lookup_table): the QDQ form's exact result.
Int8Rule = Literal["conv", "fully_connected", "pad", "rescale", "same_scale", "activation", "data_movement", "lookup"]


@dataclass(frozen=True)
class Int8Form:
    rule: Int8Rule
    # PTQ: can this float layer be quantized (shapes, constant operands, attributes)? None: when every
    # non-constant input is an activation and every other input a constant.
    quantizable: Callable[[Graph, Node], bool] | None = None
    # Inputs that are int8 activations (None: every non-constant input).
    activation_inputs: tuple[int, ...] | None = None
    # A fixed output quantization (scale, zero point) the op's integer kernel assumes (Softmax).
    output_quant: tuple[float, int] | None = None
    # Axis of the weight's output channels (per-channel scales), from the node.
    weight_axis: Callable[[Node], int] | None = None
    # The IR op the lowering produces, when it is not the op itself (MatMul -> Gemm, Relu -> Requantize):
    # the op a backend's int8 kernel must claim.
    lowers_to: str | None = None


@dataclass(frozen=True)
class OpSpec:
    op_type: str
    family: str  # the module of aot/ops that declares it
    layout: LayoutBehaviour = "fixed"
    data_inputs: int = 1  # inputs that carry the data (the rest are parameters): 2 for binary ops
    weight_input: int | None = None  # the constant weight whose layout follows the op's (Conv: 1)
    unary: UnaryForm | None = None  # set for elementwise maps of one input
    broadcast: BroadcastForm | None = None  # set for elementwise ops of several broadcast operands
    fuses_activation: bool = False  # a fusable UnaryForm consumer can run inside this op's kernel
    absorbs_bias_add: bool = False  # fuse_bias: a following Add of a per-channel constant joins it
    folds_batchnorm: bool = False  # fold_batchnorm: a following BatchNormalization folds into its weights
    pass_through: bool = False  # computes the identity at inference (remove_identity drops it)
    int8: Int8Form | None = None
    macs: MacsFn = lambda graph, node: 0
    min_opset: int | None = None  # the opset that introduced it (export after fusions that reintroduce it)
    # Why a node of this op is invalid (attributes, shapes, constant operands against what ONNX defines
    # and the kernels assume), or None: checked at import, before any code is written.
    validate: Callable[[Graph, Node], str | None] | None = None
