"""Kernel Inception Distance on clean-fid's features: the unbiased MMD² with the cubic polynomial kernel.

clean-fid's ``kernel_distance`` (and torchmetrics' ``KernelInceptionDistance``) average an unbiased MMD²
estimate over 100 random subsets of ``m = min(n_pred, n_target, 1000)`` rows per side, with
``k(x, y) = (x·y / d + 1)³``. ``kid_clean`` reports the same statistic on the full samples instead:

    Σ_{i≠j} k(x_i, x_j) / (n(n−1)) + Σ_{i≠j} k(y_i, y_j) / (m(m−1)) − 2 Σ_{i,j} k(x_i, y_j) / (nm)

It is deterministic and equals the expectation, over clean-fid's random subsets, of clean-fid's estimate for
the same data (each within-set pair, and each cross pair, is equally likely to be drawn). When both sets have
the same size n ≤ 1000, every one of clean-fid's subsets is a permutation of all rows, so clean-fid's value
is this one (up to float rounding). Unlike the Fréchet distance, the estimate is unbiased at any n ≥ 2.

The statistic needs every feature row (16 KiB per frame in float64); the kernel sums are taken in
blocks, so memory stays linear in the number of frames.
"""

from __future__ import annotations

import numpy as np

from a2bench.metrics.base import Recipe
from a2bench.metrics.fid import FIDClean

BLOCK = 4096


class FeatureRows:
    """Every feature vector of a stream, in float64 (a kernel distance needs all of them)."""

    def __init__(self) -> None:
        self.count = 0
        self.dim: int | None = None
        self._rows: list[np.ndarray] = []

    def update(self, features: np.ndarray) -> None:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or (self.dim is not None and features.shape[1] != self.dim):
            raise ValueError(f"features must be (n, {self.dim or 'd'}), got shape {features.shape}")
        if not np.isfinite(features).all():
            raise ValueError("features contain NaN or Inf")
        self.dim = features.shape[1]
        self.count += len(features)
        self._rows.append(features)

    @property
    def rows(self) -> np.ndarray:
        return np.concatenate(self._rows)


def _kernel_sum(x: np.ndarray, y: np.ndarray) -> float:
    """Σ_{i,j} (x_i·y_j / d + 1)³, in blocks of rows."""
    total = 0.0
    for start in range(0, len(x), BLOCK):
        total += float(((x[start : start + BLOCK] @ y.T / x.shape[1] + 1) ** 3).sum())
    return total


def kernel_distance(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased MMD² of the two full samples ``(n, d)`` and ``(m, d)`` with the cubic polynomial kernel."""
    n, m = len(x), len(y)
    within_x = _kernel_sum(x, x) - float(((np.einsum("ij,ij->i", x, x) / x.shape[1] + 1) ** 3).sum())
    within_y = _kernel_sum(y, y) - float(((np.einsum("ij,ij->i", y, y) / y.shape[1] + 1) ** 3).sum())
    return within_x / (n * (n - 1)) + within_y / (m * (m - 1)) - 2 * _kernel_sum(x, y) / (n * m)


class KIDClean(FIDClean):
    """KID on ``fid_clean``'s features (the same network run, shared in one ``evaluate`` call)."""

    title = "KID"
    higher_is_better = False
    recipe = Recipe(
        id="kid/clean-fid-disco-noclip-full-sample/v1",
        reference="clean-fid 0.1.35 kernel_distance (= torchmetrics KernelInceptionDistance's estimator), on the "
        "features of fid_clean",
        inputs="as fid_clean",
        resize="as fid_clean",
        clips="every frame is one sample",
        averaging="unbiased MMD² with k(x, y) = (x·y/2048 + 1)³ over the full samples, not over 100 random subsets of "
        "≤ 1000 rows: deterministic, the subsets' expectation, and clean-fid's value when both sets have the same "
        "size ≤ 1000",
        notes="Keeps every feature row: 16 KiB per frame and side.",
    )

    def accumulator(self) -> FeatureRows:
        return FeatureRows()

    def distance(self, pred: FeatureRows, target: FeatureRows) -> float:
        return kernel_distance(pred.rows, target.rows)
