"""Bootstrap confidence intervals of a run's metric over its samples.

A paired metric's value is the mean over every scored frame of every video (DisCo pools frames), and
its per-sample value is the mean over that sample's frames. The mean of the per-sample values weighted
by their frame counts is therefore exactly the stored value, and the interval resamples that statistic:
each of ``resamples`` draws picks ``n`` samples with replacement (``numpy.random.default_rng(seed)``), and
the interval is the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles of the resampled
weighted means (percentile bootstrap). With equal frame counts it is the plain mean's bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    *,
    weights: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the (``weights``-weighted) mean of ``values``, one per sample.

    Each of ``resamples`` draws picks ``len(values)`` samples with replacement (numpy ``default_rng(seed)``,
    so the interval is reproducible); the interval is the ``(1 - confidence) / 2`` and
    ``(1 + confidence) / 2`` quantiles of the resampled means. One sample gives a point interval. The gate
    passes paired differences; the report passes per-sample values weighted by their frame counts.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError("bootstrap_ci needs a non-empty 1-D sequence of per-sample values")
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != v.shape or (w <= 0).any():
        raise ValueError("weights must be positive, one per value")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    n = len(v)
    means = np.empty(resamples, dtype=np.float64)
    block = max(1, (1 << 22) // n)  # bounds memory to ~32 MiB of indices whatever the sample count
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        index = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = (v[index] * w[index]).sum(axis=1) / w[index].sum(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(low), float(high)


def weighted_mean(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """The frame-weighted mean of per-sample values (the plain mean without weights)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    return float((v * w).sum() / w.sum())
