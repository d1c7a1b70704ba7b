"""What ``aot verify`` demands, stated once (for the check, its report and ``--help``), and exact
percentages for the report. Kept free of heavy imports: the CLI reads the defaults to build its help."""
from __future__ import annotations

from dataclasses import dataclass

FLOAT_SAMPLES = 1  # random inputs a float model is checked on unless --samples says otherwise
INT8_SAMPLES = 20  # ... an int8 model (integer rounding differences need more samples to show)


def exact_percent(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage with as many decimals as it takes never to round up to
    100% or down to 0% (9,999 of 10,000 prints 99.99%, never 100.0%), and the counts themselves."""
    if whole <= 0:
        return "n/a (0 compared)"
    pct = 100.0 * part / whole
    decimals = 1
    while decimals < 12 and ((part < whole and round(pct, decimals) >= 100.0) or
                             (part > 0 and round(pct, decimals) <= 0.0)):
        decimals += 1
    text = "100" if part == whole else "0" if part == 0 else f"{pct:.{decimals}f}"
    return f"{text}% ({part:,} of {whole:,})"


@dataclass(frozen=True)
class Criteria:
    """What an int8 model must meet against ONNX Runtime, besides C == golden model bit for bit (the
    hard check, always required). ONNX Runtime requantizes in float while the C (and TFLite) use
    integer recipes, so a correct model differs by a few LSB where a value sits near a rounding
    boundary; residual Adds carry such differences on (2-3 LSB on a correct ResNet with TFLite's
    recipes, and TFLite's own two kernel sets disagree by as much). A real bug, such as a wrong
    requantization multiplier, moves values by far more, so the defaults bound the largest difference
    and keep loose shares."""

    max_lsb: float = 4.0  # largest |C - ONNX Runtime| on the compared tensor, in LSB of that tensor
    min_within_1lsb: float = 0.80  # share of compared elements within 1 LSB
    min_argmax: float = 0.90  # share of samples whose argmax (class) agrees, for class-score outputs

    def describe(self) -> str:
        return (f"C == golden model bit for bit; vs ONNX Runtime: max difference <= {self.max_lsb:g} LSB, "
                f">= {100 * self.min_within_1lsb:g}% of elements within 1 LSB, "
                f">= {100 * self.min_argmax:g}% argmax agreement (class outputs)")
