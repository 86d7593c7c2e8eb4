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

from a2bench.runs.gate import bootstrap_ci

__all__ = ["bootstrap_ci", "weighted_mean"]  # the gate's bootstrap (one implementation), with frame weights


def weighted_mean(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    """The frame-weighted mean of per-sample values (the plain mean without weights)."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    return float((v * w).sum() / w.sum())
