"""Which CMSIS-NN sources (relative to its Source/) each function the kernels call needs: the function's
own file and every file it reaches, on the pure-C path, the DSP path (Cortex-M4) and the Helium path
(Cortex-M55) together (a source whose path is not taken compiles to almost nothing). Derived from the
symbols of CMSIS-NN 7.0 (commit 99f736a) built for the three; a tree that lacks a file is reported."""
from __future__ import annotations

from typing import Iterable

_CONV = ["ConvolutionFunctions/arm_convolve_1_x_n_s8.c", "ConvolutionFunctions/arm_convolve_1x1_s8.c",
         "ConvolutionFunctions/arm_convolve_1x1_s8_fast.c", "ConvolutionFunctions/arm_convolve_s8.c",
         "ConvolutionFunctions/arm_convolve_wrapper_s8.c", "ConvolutionFunctions/arm_nn_mat_mult_kernel_row_offset_s8_s16.c",
         "ConvolutionFunctions/arm_nn_mat_mult_kernel_s8_s16.c", "NNSupportFunctions/arm_nn_mat_mult_nt_t_s8.c",
         "NNSupportFunctions/arm_q7_to_q15_with_offset.c", "NNSupportFunctions/arm_s8_to_s16_unordered_with_offset.c"]

SOURCES: dict[str, list[str]] = {
    "arm_convolve_wrapper_s8": _CONV,
    # Helium runs a depthwise layer of one input channel as a convolution.
    "arm_depthwise_conv_wrapper_s8": _CONV + [
        "ConvolutionFunctions/arm_convolve_get_buffer_sizes_s8.c", "ConvolutionFunctions/arm_depthwise_conv_3x3_s8.c",
        "ConvolutionFunctions/arm_depthwise_conv_get_buffer_sizes_s8.c", "ConvolutionFunctions/arm_depthwise_conv_s8.c",
        "ConvolutionFunctions/arm_depthwise_conv_s8_opt.c", "ConvolutionFunctions/arm_depthwise_conv_wrapper_s8.c",
        "NNSupportFunctions/arm_nn_depthwise_conv_nt_t_s8.c", "TransposeFunctions/arm_transpose_s8.c"],
    "arm_fully_connected_s8": ["FullyConnectedFunctions/arm_fully_connected_s8.c",
                               "NNSupportFunctions/arm_nn_vec_mat_mult_t_s8.c"],
    "arm_fully_connected_per_channel_s8": ["FullyConnectedFunctions/arm_fully_connected_per_channel_s8.c",
                                           "NNSupportFunctions/arm_nn_vec_mat_mult_t_per_ch_s8.c"],
    "arm_avgpool_s8": ["PoolingFunctions/arm_avgpool_get_buffer_sizes_s8.c", "PoolingFunctions/arm_avgpool_s8.c"],
    "arm_max_pool_s8": ["PoolingFunctions/arm_max_pool_s8.c"],
    "arm_elementwise_add_s8": ["BasicMathFunctions/arm_elementwise_add_s8.c"],
    "arm_elementwise_mul_s8": ["BasicMathFunctions/arm_elementwise_mul_s8.c"],
    "arm_softmax_s8": ["SoftmaxFunctions/arm_nn_softmax_common_s8.c", "SoftmaxFunctions/arm_softmax_s8.c"],
}


def sources_for(functions: Iterable[str]) -> list[str]:
    """The sources the named CMSIS-NN functions need, each once, sorted (a deterministic build)."""
    return sorted({s for f in functions for s in SOURCES[f]})
