"""How far a video's extracted poses can be trusted: one score in [0, 1] from four components.

Used by ``a2bench bench build`` to screen (image, video) pairs, as the Animate-X paper screened its
generated dance videos. Every component is in [0, 1] with 1 meaning "no problem seen":

=============  =========================================================================================
component      value
=============  =========================================================================================
``detection``  fraction of frames with a person box × mean score of the tracked box over those frames
``jitter``     ``1 / (1 + (j / jitter_scale)²)`` where ``j`` is the median, over present body and foot
               points and frames, of the frame-to-frame acceleration ``|p[t+1] - 2 p[t] + p[t-1]|``
               (pixels) divided by the body size (median over frames of the diagonal of the box around
               the present body and foot points); 1 when ``j`` cannot be measured
``missing``    1 - fraction of the 20 body (OpenPose-18) and foot points missing, over all frames
``people``     1 - fraction of the frames with at least one person box that have more than one
=============  =========================================================================================

``score`` is their weighted geometric mean, ``exp(Σ w_i log c_i / Σ w_i)``, with equal weights by
default: a zero component (no person ever detected) gives 0, and halving any one component lowers
the score by the same factor whichever it is. ``jitter_scale`` (0.03: 3 % of the body size per
frame²) is the median acceleration that halves the jitter component; smooth motion stays near 1
because the fall-off is quadratic. Accelerations are per frame, not per second, because detector
noise does not shrink with the frame rate. docs/build.md discusses the choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from a2bench.core.pose.keypoints import BODY, FEET, PoseSequence, missing_mask, to_pixels

COMPONENTS = ("detection", "jitter", "missing", "people")
JITTER_SCALE = 0.03
WEIGHTS: Mapping[str, float] = {name: 1.0 for name in COMPONENTS}
_POINTS = np.r_[BODY, FEET]  # the 18 body points and 2 feet


@dataclass(frozen=True)
class PoseQuality:
    """The combined score, its four components, and the measurements they come from."""

    score: float
    detection: float
    jitter: float
    missing: float
    people: float
    detected_fraction: float  # frames with a person box
    mean_box_score: float | None  # of the tracked box, over frames with one; None without any
    jitter_median: float | None  # median acceleration / body size; None when not measurable
    missing_fraction: float  # of the 20 body and foot points, over all frames
    multi_person_fraction: float  # of the frames with a person box, those with more than one

    @property
    def weakest(self) -> tuple[str, float]:
        """The lowest component and its value (first in :data:`COMPONENTS` order on ties)."""
        return min(((name, getattr(self, name)) for name in COMPONENTS), key=lambda item: item[1])

    def to_json(self, digits: int = 4) -> dict[str, Any]:
        """A JSON-ready dict (floats rounded to ``digits``; unmeasurable values are null)."""
        return {key: None if value is None else round(float(value), digits) for key, value in asdict(self).items()}


def pose_quality(
    pose: PoseSequence,
    detected: np.ndarray,
    box_scores: np.ndarray,
    people: np.ndarray,
    *,
    jitter_scale: float = JITTER_SCALE,
    weights: Mapping[str, float] = WEIGHTS,
) -> PoseQuality:
    """Score a pose sequence plus, per frame, whether a person box was found, its score and the box count."""
    frames = np.asarray(pose.frames)
    count = frames.shape[0]
    detected = np.asarray(detected, bool)
    box_scores = np.asarray(box_scores, np.float64)
    people = np.asarray(people)
    if count == 0 or any(a.shape != (count,) for a in (detected, box_scores, people)):
        raise ValueError(
            f"pose quality needs a non-empty sequence and one detection entry per frame: {count} frames, "
            f"detected {detected.shape}, box_scores {box_scores.shape}, people {people.shape}"
        )
    if jitter_scale <= 0 or set(weights) != set(COMPONENTS) or any(w < 0 for w in weights.values()):
        raise ValueError(f"jitter_scale must be positive and weights non-negative for exactly {COMPONENTS}")
    if sum(weights.values()) <= 0:
        raise ValueError("at least one weight must be positive")

    detected_fraction = float(detected.mean())
    scores = box_scores[detected & np.isfinite(box_scores)]
    mean_box = float(np.clip(scores, 0.0, 1.0).mean()) if scores.size else None
    detection = detected_fraction * (mean_box or 0.0)

    points = frames[:, _POINTS]
    missing_fraction = float(missing_mask(points).mean())

    jitter_median = _jitter(to_pixels(points, pose.size))
    jitter = 1.0 if jitter_median is None else 1.0 / (1.0 + (jitter_median / jitter_scale) ** 2)

    with_people = people >= 1
    multi = float((people[with_people] > 1).mean()) if with_people.any() else 0.0

    components = {"detection": detection, "jitter": jitter, "missing": 1.0 - missing_fraction, "people": 1.0 - multi}
    total = sum(weights.values())
    if any(weights[name] > 0 and value <= 0 for name, value in components.items()):
        score = 0.0
    else:
        score = math.exp(sum(weights[n] * math.log(v) for n, v in components.items() if weights[n] > 0) / total)
    return PoseQuality(
        score=min(max(score, 0.0), 1.0),
        detection=detection,
        jitter=jitter,
        missing=components["missing"],
        people=components["people"],
        detected_fraction=detected_fraction,
        mean_box_score=mean_box,
        jitter_median=jitter_median,
        missing_fraction=missing_fraction,
        multi_person_fraction=multi,
    )


def extraction_quality(extraction: Any, **options: Any) -> PoseQuality:
    """:func:`pose_quality` of an ``a2bench.core.pose.extract.Extraction`` (``pose``, ``detected``, …)."""
    return pose_quality(extraction.pose, extraction.detected, extraction.box_scores, extraction.people, **options)


def _jitter(xy: np.ndarray) -> float | None:
    """Median acceleration of present points over consecutive frame triples, in body sizes per frame²."""
    if xy.shape[0] < 3:
        return None
    present = ~np.isnan(xy[..., 0])
    enough = present.sum(axis=1) >= 2
    low = np.where(present[..., None], xy, np.inf).min(axis=1)
    high = np.where(present[..., None], xy, -np.inf).max(axis=1)
    diagonals = np.hypot(*(high - low)[enough].T)
    diagonals = diagonals[diagonals > 0]
    if not diagonals.size:
        return None
    acceleration = np.linalg.norm(xy[2:] - 2 * xy[1:-1] + xy[:-2], axis=-1)  # NaN unless all three present
    values = acceleration[np.isfinite(acceleration)]
    if not values.size:
        return None
    return float(np.median(values) / np.median(diagonals))
