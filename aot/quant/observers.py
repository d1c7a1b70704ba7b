"""Range observers for calibration: each sees a tensor's values over the calibration samples and
proposes the real range [lo, hi] that int8 quantization should cover."""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

MAX_KEPT_VALUES = 1 << 20  # per tensor, for the percentile observer (uniformly subsampled beyond)


class Observer(ABC):
    name = "observer"

    def __init__(self) -> None:
        self.lo = np.inf
        self.hi = -np.inf

    def observe(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float64).reshape(-1)
        if values.size:
            self.lo = min(self.lo, float(values.min()))
            self.hi = max(self.hi, float(values.max()))
            self._observe(values)

    def _observe(self, values: np.ndarray) -> None:
        """Extra statistics; min/max are always kept."""

    @abstractmethod
    def range(self) -> tuple[float, float]:
        """The real range to quantize, always containing 0 (zero must be exact in int8)."""


def _with_zero(lo: float, hi: float) -> tuple[float, float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return 0.0, 0.0
    return min(lo, 0.0), max(hi, 0.0)


class MinMaxObserver(Observer):
    name = "minmax"

    def range(self) -> tuple[float, float]:
        return _with_zero(self.lo, self.hi)


class PercentileObserver(Observer):
    """Clips outliers: the range covers the given percentile of values on each side."""

    name = "percentile"

    def __init__(self, percentile: float = 99.99, seed: int = 0) -> None:
        super().__init__()
        self.percentile = percentile
        self.kept: list[np.ndarray] = []
        self.count = 0
        self.rng = np.random.default_rng(seed)

    def _observe(self, values: np.ndarray) -> None:
        self.count += values.size
        budget = MAX_KEPT_VALUES // 8
        if values.size > budget:
            values = self.rng.choice(values, budget, replace=False)
        self.kept.append(values)

    def range(self) -> tuple[float, float]:
        if not self.kept:
            return 0.0, 0.0
        values = np.concatenate(self.kept)
        if values.size > MAX_KEPT_VALUES:
            values = self.rng.choice(values, MAX_KEPT_VALUES, replace=False)
        lo = float(np.percentile(values, 100.0 - self.percentile))
        hi = float(np.percentile(values, self.percentile))
        return _with_zero(lo, hi)


class MSEObserver(Observer):
    """The clipping range that minimises the mean squared quantize-dequantize error, searched over
    shrinking fractions of the observed range on a histogram of the values."""

    name = "mse"
    BINS = 2048

    def __init__(self) -> None:
        super().__init__()
        self.values: list[np.ndarray] = []

    def _observe(self, values: np.ndarray) -> None:
        if values.size > MAX_KEPT_VALUES // 8:
            values = values[:: values.size // (MAX_KEPT_VALUES // 8) + 1]
        self.values.append(values)

    def range(self) -> tuple[float, float]:
        lo, hi = _with_zero(self.lo, self.hi)
        if hi - lo <= 0:
            return lo, hi
        counts, edges = np.histogram(np.concatenate(self.values), bins=self.BINS, range=(lo, hi))
        centers = (edges[:-1] + edges[1:]) / 2
        best, best_err = (lo, hi), np.inf
        for fraction in np.linspace(0.3, 1.0, 71):
            clo, chi = lo * fraction, hi * fraction
            scale = (chi - clo) / 255.0
            zp = np.round(-128 - clo / scale)
            q = np.clip(np.round(centers / scale) + zp, -128, 127)
            err = float(np.sum(counts * (((q - zp) * scale) - centers) ** 2))
            if err < best_err:
                best, best_err = (clo, chi), err
        return best


OBSERVERS = {cls.name: cls for cls in (MinMaxObserver, PercentileObserver, MSEObserver)}


def make_observer(name: str) -> Observer:
    try:
        return OBSERVERS[name]()
    except KeyError:
        raise ValueError(f"unknown observer '{name}'; choose one of {', '.join(OBSERVERS)}") from None
