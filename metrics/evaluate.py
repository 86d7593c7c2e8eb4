"""``evaluate``: score predicted videos against ground truth with many metrics, decoding each video once.

Every sample's prediction and ground truth are decoded once and handed to every metric. Distribution
metrics that compute the same features (the same ``feature_key`` and network files, e.g. ``fid_clean``
and ``kid_clean``) run their network once per video. Ground-truth features are cached on disk per video,
keyed by the decoded frames' sha256, the feature key and the network files' sha256 (docs/metrics.md,
"Caches"), so scoring a second model on the same benchmark only runs the networks on the new predictions.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from a2bench.core.fileio import write_atomic
from a2bench.core.paths import home
from a2bench.core.provenance import package_versions
from a2bench.core.videoio import Video, read_sample
from a2bench.core.weights import WeightsError, resolve
from a2bench.metrics.base import METRICS, DistributionMetric, Metric, MetricValue
from a2bench.metrics.frames import FrameError, as_frames

# The columns of the Animate-X A2Bench tables, in their order (PSNR*, SSIM, L1, LPIPS, FID, FID-VID, FVD), as DisCo's
# metric code computes them (its FID is clean-fid's; docs/metrics.md, "Sets").
ANIMATEX_TABLES = ("psnr", "ssim", "l1", "lpips_disco", "fid_clean", "fid_vid", "fvd_disco")
SETS: dict[str, tuple[str, ...]] = {
    "animatex": ANIMATEX_TABLES,
    "pixel": ("psnr", "ssim", "ssim_rgb", "l1", "mae", "psnr_uint8_legacy"),
    "modern": ("psnr", "ssim_rgb", "mae", "lpips", "fid", "fvd"),
}
SAMPLE_RULES = ("strict", "common", "gt", "pred")  # which ids evaluate() scores (its docstring)


def metric_names(spec: str | Sequence[str] | None) -> list[str]:
    """Expand a comma-separated list (or sequence) of metric and set names; unknown names get suggestions."""
    if spec is None:
        return list(ANIMATEX_TABLES)
    items = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
    names: list[str] = []
    for item in filter(None, items):
        if item == "all":
            expanded = METRICS.names()
        elif item in SETS:
            expanded = list(SETS[item])
        else:
            METRICS.get(item)
            expanded = [item]
        names += [name for name in expanded if name not in names]
    if not names:
        raise ValueError("no metrics requested")
    return names


@dataclass
class Evaluation:
    """The result of :func:`evaluate`: one :class:`MetricValue` per metric and what produced them."""

    metrics: dict[str, MetricValue]
    samples: list[str]  # the samples scored
    info: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # sample id → why it could not be scored (in no value)
    excluded: dict[str, list[str]] = field(default_factory=dict)  # left out by evaluate(samples=): reason → ids

    @property
    def unverified_weights(self) -> bool:
        return any(value.unverified_weights for value in self.metrics.values())

    def to_pandas(self, per_sample: bool = False) -> Any:
        """One row per metric (value, recipe, direction, ``n_pred``/``n_target``), or with ``per_sample`` one row
        per sample and a column per paired metric (distribution metrics have no per-sample values)."""
        import pandas

        if per_sample:
            table = {name: value.per_sample for name, value in self.metrics.items() if value.per_sample is not None}
            return pandas.DataFrame(table, index=pandas.Index(self.samples, name="sample"))
        rows = [{"metric": name, "value": v.value, "recipe": v.recipe, "higher_is_better": v.higher_is_better,
                 "n_pred": v.n_pred, "n_target": v.n_target} for name, v in self.metrics.items()]  # fmt: skip
        return pandas.DataFrame(rows).set_index("metric")

    def to_json(self) -> dict[str, Any]:
        return {
            "format": "a2bench-eval",
            "version": 1,
            "unverified_weights": self.unverified_weights,
            "samples": self.samples,
            "failed": self.failed,
            "excluded": self.excluded,
            "metrics": {name: value.to_json() for name, value in self.metrics.items()},
            **self.info,
            "packages": package_versions(),
            "platform": {"python": platform.python_version(), "machine": platform.machine()},
        }



# frames array, a2bench Video, torch tensor, a path to a video / frame folder, a tuple of frame files, or a callable
VideoSource = Any


def _load(source: VideoSource, fps: Fraction | None) -> Any:
    if callable(source):
        source = source()
    if isinstance(source, (str, os.PathLike)):
        return read_sample(Path(source), fps)
    if isinstance(source, tuple) and source and isinstance(source[0], Path):
        return read_sample(source, fps)
    return source


class FeatureCache:
    """Ground-truth features per video under ``root/<recipe>/<weights>/<frames sha256>.npy`` (no pickle)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root

    def _path(self, metric: DistributionMetric, content: str) -> Path:
        return self.root / metric.feature_key.replace("/", "_") / _weights_key(metric) / f"{content}.npy"

    def features(self, metric: DistributionMetric, frames: np.ndarray, content: str, name: str) -> np.ndarray:
        if self.root is None:
            return metric.features(frames, name)
        path = self._path(metric, content)
        if path.is_file():
            try:
                return np.load(path, allow_pickle=False)
            except (OSError, ValueError):
                path.unlink(missing_ok=True)  # a damaged cache entry is recomputed, never trusted
        features = metric.features(frames, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.save(buffer, features)
        write_atomic(path, buffer.getvalue())
        return features


def default_cache_dir() -> Path:
    return home() / "features"


def evaluate(
    pred_videos: Mapping[str, VideoSource],
    gt_videos: Mapping[str, VideoSource],
    metrics: str | Sequence[str] | None = None,
    *,
    device: str | None = None,
    cache_dir: Path | bool | None = True,
    progress: Callable[[str], None] | None = None,
    info: Mapping[str, Any] | None = None,
    samples: str = "strict",
    fps: float | Fraction | None = None,
) -> Evaluation:
    """Score every ground-truth sample's prediction with ``metrics`` (default: the Animate-X table columns).

    Both mappings are keyed by sample id. ``samples`` says which ids are scored: ``"strict"`` (default) every
    ground-truth sample, each with exactly one prediction, a missing or extra one being an error that lists the
    ids; ``"common"`` the ids both sides have; ``"gt"`` every ground-truth sample (extra predictions left out);
    ``"pred"`` every prediction (ground-truth samples without one left out). What is left out is listed in
    ``Evaluation.excluded``, never skipped silently. A missing weight file is reported for all metrics before any
    work. A sample whose videos cannot be read or compared (unreadable, other frame count, size or frame rate)
    fails alone: it is in ``Evaluation.failed`` with the reason and in no value, and the others are scored; when
    every sample fails, that is an error. ``fps`` is the frame rate of frame folders and files without
    ``video.json`` (image metrics need none; it only lets a rate mismatch be caught).
    """
    names = metric_names(metrics)
    if samples not in SAMPLE_RULES:
        raise ValueError(f"samples must be one of {', '.join(SAMPLE_RULES)}, got {samples!r}")
    missing = sorted(set(gt_videos) - set(pred_videos))
    extra = sorted(set(pred_videos) - set(gt_videos))
    must = {"strict": (missing, extra), "common": ([], []), "gt": (missing, []), "pred": ([], extra)}[samples]
    if must[0] or must[1]:
        parts = [f"no prediction for {len(must[0])} sample(s): {', '.join(must[0][:10])}"] if must[0] else []
        parts += [f"{len(must[1])} prediction(s) for unknown samples: {', '.join(must[1][:10])}"] if must[1] else []
        raise FrameError("; ".join(parts) + ". Every ground-truth sample needs exactly one prediction (or choose "
                         "which to score: samples='common', 'gt' or 'pred'; a2bench eval --samples).")  # fmt: skip
    excluded = {"no prediction": missing, "no ground truth": extra}
    excluded = {why: ids for why, ids in excluded.items() if ids}
    require_weights(names)
    instances = [METRICS.get(name)(device=device) for name in names]
    cache = FeatureCache(None if cache_dir is False else default_cache_dir() if cache_dir is True else cache_dir)
    scored: list[str] = []
    failed: dict[str, str] = {}
    rate = None if fps is None else Fraction(fps)
    for sample_id in (sid for sid in gt_videos if sid in pred_videos):
        if progress:
            progress(sample_id)
        try:
            pair = _load(pred_videos[sample_id], rate), _load(gt_videos[sample_id], rate)
            updates = _sample_updates(instances, cache, *pair, sample_id)
        except ValueError as exc:  # FrameError, VideoError, BenchmarkError: this sample's input, not the others'
            failed[sample_id] = str(exc)
            continue
        except Exception as exc:  # a network refusing this sample's frames (e.g. too small for its pooling)
            failed[sample_id] = f"sample {sample_id}: {type(exc).__name__}: {exc}"
            continue
        for update in updates:
            update()
        scored.append(sample_id)
    if not scored:
        shown = "; ".join(f"{sid}: {why}" for sid, why in list(failed.items())[:5])
        raise FrameError(f"no sample could be scored ({len(failed)} failed): {shown}")
    return Evaluation({m.name: m.compute() for m in instances}, scored, dict(info or {}), failed, excluded)


def _sample_updates(
    instances: Sequence[Metric], cache: FeatureCache, pred_video: Any, target_video: Any, sample_id: str
) -> list[Callable[[], None]]:
    """Everything one sample adds to the metrics, computed (where it can fail) before anything is added, so a
    sample that fails leaves every metric as it was."""
    if isinstance(pred_video, Video) and isinstance(target_video, Video) and pred_video.fps != target_video.fps:
        raise FrameError(
            f"sample {sample_id}: prediction at {pred_video.fps} fps, ground truth at {target_video.fps} fps; frame t "
            "must show the same moment on both sides: generate at the ground truth's frame rate"
        )
    pred = as_frames(pred_video, f"sample {sample_id} (prediction)")
    target = as_frames(target_video, f"sample {sample_id} (ground truth)")
    content = _content_hash(target) if cache.root is not None else ""
    shared: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}  # one network run per feature kind
    updates: list[Callable[[], None]] = []
    for metric in instances:
        if not isinstance(metric, DistributionMetric):
            updates.append(partial(metric.add, sample_id, metric.sample_scores(pred, target, sample_id)))
            continue
        key = (metric.feature_key, _weights_key(metric))
        if key not in shared:
            name = f"sample {sample_id} (ground truth)"
            pred_features = metric.features(pred, f"sample {sample_id} (prediction)")
            shared[key] = pred_features, cache.features(metric, target, content, name)
            for side, features in zip(("prediction", "ground truth"), shared[key], strict=True):
                if not np.isfinite(features).all():
                    raise FrameError(f"sample {sample_id} ({side}): {metric.name}'s network gave NaN or Inf features")
        pred_features, target_features = shared[key]
        updates.append(partial(metric.pred_stats.update, pred_features))
        updates.append(partial(metric.target_stats.update, target_features))
    return updates


def _weights_key(metric: Metric) -> str:
    return hashlib.sha256("".join(w.sha256 for w in metric.resolve_weights()).encode()).hexdigest()[:16]


def require_weights(names: Sequence[str]) -> None:
    """Check that every network file the recipes ``names`` load is here and verified (a missing file may be stood in
    for by its registered alternative); otherwise one :class:`WeightsError` lists each problem and ends with one
    command that fetches them all. ``evaluate`` and ``a2bench run`` call it before any work."""
    problems = []
    for name in names:
        for spec in METRICS.get(name).weight_files:
            try:
                resolve(spec.name)
            except WeightsError as exc:
                problems.append(f"{name}: {exc}")
    if problems:
        command = f"a2bench weights fetch --metrics {','.join(names)}"
        raise WeightsError("\n".join([*problems, f"To fetch every file these metrics need: `{command}`"]))


def _content_hash(frames: np.ndarray) -> str:
    digest = hashlib.sha256(str(frames.shape).encode())
    digest.update(frames.tobytes())
    return digest.hexdigest()
