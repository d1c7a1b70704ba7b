"""Symmetric int8 weight scales for PTQ, with the two guards TensorFlow Lite's converter applies to
near-dead output channels (trained weights that decayed to ~1e-30 or to exact zeros).

Without them such a channel gets a weight scale ~1e-32, its int32 bias (scale input_scale *
weight_scale) saturates at the int32 limits, the input offset can no longer be folded into the bias
and the integer kernels fall back to their slow direct loops for the whole layer (int8.py
``folded_bias``). The guards, as in the TFLite MLIR quantizer (tensorflow/compiler/mlir/lite/quantization):

- ``ExpandVerySmallRange`` (quantization_utils.cc): a weight range max - min below
  kNearZeroTolerance = 1e-6 is widened to [-5e-7, 5e-7], so an all-zero or ~1e-30 channel gets the
  scale 5e-7 / 127 ~= 3.9e-9 (not 0, not 1).
- ``QuantizationDriver::SetBiasParamsWithAdjustments`` (quantization_driver.cc): where
  |bias| / bias_scale would exceed kBiasMax = INT32_MAX / 2 ("to make some room for accumulator"),
  the bias scale becomes |bias| / kBiasMax and the weight scale bias_scale / input_scale; per channel
  for per-axis weights, from the largest |bias| for a per-tensor weight scale.

A raised scale only coarsens weights that are negligible next to their bias (a dead channel's weights
then quantize to 0), and the int32 bias stays below 2^30, far enough from the limits that the input
offset folds into it.

One step beyond TFLite (``share_dead_scales``): a channel whose int8 weights are all zero carries only
its bias, and any larger scale leaves those zeros as they are. TFLite's scales (~4e-9, or
|bias| / (kBiasMax * input_scale)) make its requantization multiplier ~1e-9, a right shift of 26 or
more that costs the kernels their folded output zero point (int8.py ``requant_spec``: ``zfold``) for
the whole layer. Such a channel takes the layer's largest live scale instead: its multiplier is like
its neighbours', and its bias is still resolved to a fraction of an output step.
"""
from __future__ import annotations

import numpy as np

QMAX = 127  # symmetric, narrow range: [-127, 127]
NEAR_ZERO_RANGE = 1e-6  # TFLite's kNearZeroTolerance
BIAS_MAX = (2 ** 31 - 1) // 2  # TFLite's kBiasMax


def symmetric_scales(absmax: np.ndarray) -> np.ndarray:
    """Scale per channel (or one) covering [-absmax, absmax], never below TFLite's smallest range."""
    return (np.maximum(np.asarray(absmax, np.float64), NEAR_ZERO_RANGE / 2) / QMAX).astype(np.float32)


def fit_bias(weight_scale: np.ndarray, bias: np.ndarray, input_scale: float) -> np.ndarray:
    """``weight_scale`` raised where the int32 bias (scale input_scale * weight_scale) would exceed
    BIAS_MAX in magnitude. ``weight_scale`` has one entry per bias channel, or one for the tensor."""
    need = np.abs(np.asarray(bias, np.float64)) / (BIAS_MAX * np.float64(input_scale))
    if weight_scale.size == 1:
        need = need.max(initial=0.0)
    need = np.asarray(need).reshape(weight_scale.shape)
    # float32 rounding must not leave the raised scale just below what the bias needs.
    raised = np.nextafter(need.astype(np.float32), np.float32(np.inf))
    return np.where(need > weight_scale.astype(np.float64), raised, weight_scale).astype(np.float32)


def share_dead_scales(weight_scale: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Per-channel ``weight_scale`` with each ``dead`` channel (all int8 weights zero) raised to the
    largest scale of the layer's live channels (unchanged when every channel is dead)."""
    if dead.all() or not dead.any():
        return weight_scale
    live_max = weight_scale[~dead].max()
    return np.where(dead, np.maximum(weight_scale, live_max), weight_scale).astype(np.float32)
