"""Video and image metrics that reproduce named reference implementations (see docs/metrics.md).

``METRICS`` maps each recipe name to its class, imported on first lookup (importing this package loads no
network); ``evaluate`` scores many videos with many metrics.
"""

from a2bench.metrics.base import (
    METRICS,
    DistributionMetric,
    Metric,
    MetricValue,
    PairedMetric,
    Recipe,
    SmallSampleWarning,
)
from a2bench.metrics.evaluate import ANIMATEX_TABLES, SETS, Evaluation, evaluate, metric_names
from a2bench.metrics.frames import FrameError
from a2bench.metrics.frechet import FeatureStats, frechet_distance

__all__ = [
    "ANIMATEX_TABLES",
    "METRICS",
    "SETS",
    "DistributionMetric",
    "Evaluation",
    "FeatureStats",
    "FrameError",
    "Metric",
    "MetricValue",
    "PairedMetric",
    "Recipe",
    "SmallSampleWarning",
    "evaluate",
    "frechet_distance",
    "metric_names",
]
