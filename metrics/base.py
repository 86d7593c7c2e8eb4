"""The metric interface: named recipes with torchmetrics-style ``update`` / ``compute`` / ``reset``.

Two families share it. A :class:`PairedMetric` scores each predicted frame against the ground-truth
frame at the same index and keeps float64 sums per sample. A :class:`DistributionMetric` turns each
video into feature vectors and accumulates them for the prediction and the ground-truth sets; by
default its result is the Fréchet distance of their :class:`~a2bench.metrics.frechet.FeatureStats`, and it
reports how many feature vectors each side had. Neither keeps videos after ``update``.
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from a2bench.core.registry import Registry
from a2bench.core.weights import ResolvedWeight, WeightFile, resolve
from a2bench.metrics.frames import as_frames, check_pair
from a2bench.metrics.frechet import FeatureStats, frechet_distance


@dataclass(frozen=True)
class Recipe:
    """Exactly how a number is computed, and the implementation it reproduces (docs/metrics.md)."""

    id: str
    reference: str
    inputs: str
    resize: str
    averaging: str
    crop: str = "none"
    clips: str = "whole frames (image metric)"
    notes: str = ""


@dataclass
class MetricValue:
    """One metric's result: the value, per-sample values where they exist, and provenance."""

    name: str
    value: float
    recipe: str
    higher_is_better: bool
    per_sample: dict[str, float] | None = None
    weights: list[dict[str, object]] = field(default_factory=list)
    n_pred: int | None = None  # feature vectors behind a distribution metric, per side (None for paired metrics)
    n_target: int | None = None

    @property
    def unverified_weights(self) -> bool:
        return any(not w["verified"] for w in self.weights)

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "recipe": self.recipe,
            "higher_is_better": self.higher_is_better,
            "per_sample": self.per_sample,
            "n_pred": self.n_pred,
            "n_target": self.n_target,
            "weights": self.weights,
            "unverified_weights": self.unverified_weights,
        }


class SmallSampleWarning(UserWarning):
    """A Fréchet distance from fewer feature vectors than dimensions: rank-deficient covariances, a value
    biased upward by the sample size (docs/metrics.md, "Sample size")."""


class Metric(ABC):
    """A named recipe. Subclasses set the class attributes and implement the family's hooks; ``name`` is set by
    :data:`METRICS`: the name the recipe is registered as."""

    name: ClassVar[str]
    recipe: ClassVar[Recipe]
    higher_is_better: ClassVar[bool]
    title: ClassVar[str]
    weight_files: ClassVar[tuple[WeightFile, ...]] = ()

    def __init__(self, device: str | None = None) -> None:
        self.device = device or default_device()
        self.weights: list[ResolvedWeight] = []
        self.reset()

    def resolve_weights(self) -> list[ResolvedWeight]:
        """Locate and verify this recipe's network files (once); raises WeightsError naming the fix."""
        if len(self.weights) != len(self.weight_files):
            self.weights = [resolve(spec.name) for spec in self.weight_files]
        return self.weights

    @abstractmethod
    def reset(self) -> None:
        """Forget every update (loaded networks stay loaded)."""

    @abstractmethod
    def update(self, pred: Any, target: Any, sample_id: str = "?") -> None:
        """Add one prediction / ground-truth video pair."""

    @abstractmethod
    def compute(self) -> MetricValue:
        """The metric over every update so far."""

    def _value(self, value: float, per_sample: dict[str, float] | None = None, **counts: int) -> MetricValue:
        provenance = [w.provenance() for w in self.weights]
        return MetricValue(
            self.name, float(value), self.recipe.id, self.higher_is_better, per_sample, provenance, **counts
        )


class PairedMetric(Metric):
    """Frame-by-frame comparison; the value is the mean over all scored frames (DisCo pools frames)."""

    def reset(self) -> None:
        self._sums: dict[str, float] = {}
        self._counts: dict[str, int] = {}

    @abstractmethod
    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        """Scores ``(T,)`` for two ``(T, H, W, 3)`` uint8 videos of equal shape."""

    def update(self, pred: Any, target: Any, sample_id: str = "?") -> None:
        self.add(sample_id, self.sample_scores(pred, target, sample_id))

    def sample_scores(self, pred: Any, target: Any, sample_id: str = "?") -> np.ndarray:
        """The frame scores of one pair, checked but not added (``update`` = this, then :meth:`add`)."""
        pred = as_frames(pred, f"sample {sample_id} (prediction)")
        target = as_frames(target, f"sample {sample_id} (ground truth)")
        check_pair(pred, target, sample_id)
        if sample_id in self._counts and sample_id != "?":
            raise ValueError(f"sample {sample_id} was already scored by {self.name}; reset() first")
        return np.asarray(self.frame_scores(pred, target), dtype=np.float64)

    def add(self, sample_id: str, scores: np.ndarray) -> None:
        """Add a sample's frame scores from :meth:`sample_scores`."""
        self._sums[sample_id] = self._sums.get(sample_id, 0.0) + float(scores.sum())
        self._counts[sample_id] = self._counts.get(sample_id, 0) + len(scores)

    def compute(self) -> MetricValue:
        if not self._counts:
            raise ValueError(f"{self.name}: no samples were scored")
        per_sample = {key: self._sums[key] / self._counts[key] for key in self._sums}
        value = sum(self._sums.values()) / sum(self._counts.values())
        return self._value(value, per_sample)


class Features(Protocol):
    """What a distribution metric accumulates per side: feature vectors, counted."""

    count: int
    dim: int | None

    def update(self, features: np.ndarray) -> None: ...


class DistributionMetric(Metric):
    """A distance between the feature distributions of the predicted and ground-truth videos.

    By default the Fréchet distance of :class:`FeatureStats` with the recipe's ``ddof``; a family with
    another distance overrides :meth:`accumulator` and :meth:`distance`. Recipes that compute the same
    features share a ``feature_key``, so :func:`~a2bench.metrics.evaluate.evaluate` runs their network once.
    """

    ddof: ClassVar[int] = 1

    @property
    def feature_key(self) -> str:
        """Identifies the feature computation (the feature cache's folder); the recipe id unless shared."""
        return self.recipe.id

    def accumulator(self) -> Features:
        return FeatureStats(ddof=self.ddof)

    def reset(self) -> None:
        self.pred_stats = self.accumulator()
        self.target_stats = self.accumulator()

    @abstractmethod
    def features(self, frames: np.ndarray, name: str) -> np.ndarray:
        """Feature vectors ``(k, d)`` of one ``(T, H, W, 3)`` uint8 video."""

    def video_features(self, video: Any, name: str) -> np.ndarray:
        return self.features(as_frames(video, name), name)

    def update(self, pred: Any, target: Any, sample_id: str = "?") -> None:
        self.update_pred(pred, sample_id)
        self.update_target(target, sample_id)

    def update_pred(self, pred: Any, sample_id: str = "?") -> None:
        self.pred_stats.update(self.video_features(pred, f"sample {sample_id} (prediction)"))

    def update_target(self, target: Any, sample_id: str = "?") -> None:
        self.target_stats.update(self.video_features(target, f"sample {sample_id} (ground truth)"))

    def distance(self, pred: Any, target: Any) -> float:
        """The Fréchet distance; warns (:class:`SmallSampleWarning`) when a side has fewer vectors than dimensions."""
        smallest = min(pred.count, target.count)
        if smallest < pred.dim:
            warnings.warn(
                f"{self.name}: {pred.count} prediction and {target.count} ground-truth feature vectors in "
                f"{pred.dim} dimensions; with fewer vectors than dimensions the Fréchet distance is biased upward "
                f"by the sample size and comparable only at equal n (see docs/metrics.md, 'Sample size')",
                SmallSampleWarning,
                stacklevel=3,
            )
        return frechet_distance(pred, target)

    def compute(self) -> MetricValue:
        for side, stats in (("prediction", self.pred_stats), ("ground-truth", self.target_stats)):
            if stats.count < 2:
                raise ValueError(
                    f"{self.name}: the {side} set has {stats.count} feature vector(s); a distribution metric needs "
                    "at least 2 (score at least 2 videos, or more frames)"
                )
        value = self.distance(self.pred_stats, self.target_stats)
        return self._value(value, n_pred=self.pred_stats.count, n_target=self.target_stats.count)


#: Every recipe by name: built-ins as lazy ``"module:attr"`` entries (scoring PSNR imports no network), others
#: through the ``a2bench.metrics`` entry-point group.
METRICS: Registry[type[Metric]] = Registry(
    "metric",
    base=type[Metric],
    entry_point_group="a2bench.metrics",
    builtins={
        "fid": "a2bench.metrics.fid:FID",
        "fid_clean": "a2bench.metrics.fid:FIDClean",
        "fid_cleanfid": "a2bench.metrics.fid:FIDCleanFID",
        "fid_vid": "a2bench.metrics.fvd:FIDVID",
        "fvd_disco": "a2bench.metrics.fvd:FVDDisco",
        "fvd": "a2bench.metrics.fvd:FVD",
        "fvd_i3d400": "a2bench.metrics.fvd:FVDI3D400",
        "fvd_i3d400_16f": "a2bench.metrics.fvd:FVDI3D400First16",
        "fvd_videomae": "a2bench.metrics.fvd:FVDVideoMAE",
        "kid_clean": "a2bench.metrics.kid:KIDClean",
        "lpips": "a2bench.metrics.perceptual:LPIPSAlex",
        "lpips_disco": "a2bench.metrics.perceptual:LPIPSDisco",
        "psnr": "a2bench.metrics.pixel:PSNR",
        "psnr_uint8_legacy": "a2bench.metrics.pixel:PSNRUint8Legacy",
        "l1": "a2bench.metrics.pixel:L1",
        "mae": "a2bench.metrics.pixel:MAE",
        "ssim": "a2bench.metrics.ssim:SSIM",
        "ssim_rgb": "a2bench.metrics.ssim:SSIMRGB",
    },
)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
