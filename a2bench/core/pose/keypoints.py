"""The canonical keypoint layout (DWPose whole-body in OpenPose order) and ``pose.json``.

Per frame there are 130 points, each ``(x, y, score)`` with ``x, y`` normalised by the frame's
width and height:

======  =======  =====================================================================
group   indices  content
======  =======  =====================================================================
body    0–17     OpenPose-18 (:data:`BODY_NAMES`); the neck is the mean of the shoulders
feet    18–19    left toe, right toe (midpoint of big and small toe, COCO-WholeBody order)
face    20–87    the 68 iBUG face points (jaw 0–16, brows 17–26, nose 27–35, eyes 36–47,
                 mouth 48–67)
hands   88–129   left hand 21 points then right hand 21 (wrist, then 4 per finger from
                 thumb to little finger)
======  =======  =====================================================================

A missing point has ``x = y = -1`` (its score may be kept for information); a present point has
``0 <= x, y <= 1`` and ``0 <= score <= 1``. "Right" is the character's right, which is on the
image's left for a character facing the camera. docs/format.md describes ``pose.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

BODY_NAMES = (
    "nose", "neck",
    "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist",
    "right_hip", "right_knee", "right_ankle",
    "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip
GROUPS = {"body": 18, "feet": 2, "face": 68, "hands": 42}
NUM_KEYPOINTS = sum(GROUPS.values())
BODY, FEET, FACE, HANDS = (slice(0, 18), slice(18, 20), slice(20, 88), slice(88, 130))
LEFT_HAND, RIGHT_HAND = slice(88, 109), slice(109, 130)
MISSING = -1.0
POSE_FORMAT = "a2bench-pose"
POSE_FORMAT_VERSION = 1


class PoseError(ValueError):
    """A pose file or array that does not follow the canonical layout; the message says where."""


@dataclass(frozen=True)
class PoseSequence:
    """Keypoints of a video ``(T, 130, 3)`` plus the pose of the reference image ``(130, 3)``.

    ``size`` is the ``(width, height)`` the frame coordinates are normalised by and
    ``reference_size`` the reference image's.
    """

    frames: np.ndarray
    size: tuple[int, int]
    fps: Fraction
    reference: np.ndarray | None = None
    reference_size: tuple[int, int] | None = None

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def to_json(self) -> dict:
        """The ``pose.json`` document (coordinates rounded to 1e-6)."""
        doc = {
            "format": POSE_FORMAT,
            "version": POSE_FORMAT_VERSION,
            "width": self.size[0],
            "height": self.size[1],
            "fps": _fps_text(self.fps),
            "num_frames": self.num_frames,
            "frames": [_frame_to_json(frame) for frame in self.frames],
        }
        if self.reference is not None:
            width, height = self.reference_size or self.size
            doc["reference"] = {"width": width, "height": height, **_frame_to_json(self.reference)}
        return doc

    @classmethod
    def from_json(cls, doc: object, name: str = "pose.json") -> PoseSequence:
        """Parse and validate a ``pose.json`` document; errors name ``name`` and the frame."""
        if not isinstance(doc, dict):
            raise PoseError(f"{name}: expected a JSON object, got {type(doc).__name__}")
        if doc.get("format") != POSE_FORMAT or doc.get("version") != POSE_FORMAT_VERSION:
            raise PoseError(
                f"{name}: not an {POSE_FORMAT} v{POSE_FORMAT_VERSION} file "
                f"(format={doc.get('format')!r}, version={doc.get('version')!r})"
            )
        size = (_positive_int(doc, "width", name), _positive_int(doc, "height", name))
        try:
            fps = Fraction(str(doc.get("fps")))
            if fps <= 0 or isinstance(doc.get("fps"), bool):
                raise ValueError
        except (ValueError, ZeroDivisionError) as exc:
            raise PoseError(f"{name}: 'fps' must be a positive number or 'num/den', got {doc.get('fps')!r}") from exc
        frames_doc = doc.get("frames")
        if not isinstance(frames_doc, list) or not frames_doc:
            raise PoseError(f"{name}: 'frames' must be a non-empty list")
        if doc.get("num_frames") != len(frames_doc):
            raise PoseError(f"{name}: 'num_frames' is {doc.get('num_frames')!r} but 'frames' holds {len(frames_doc)}")
        frames = np.stack([_frame_from_json(f, f"{name}: frame {i}") for i, f in enumerate(frames_doc)])
        reference = reference_size = None
        if "reference" in doc:
            ref = doc["reference"]
            where = f"{name}: reference"
            if not isinstance(ref, dict):
                raise PoseError(f"{where}: expected an object")
            reference = _frame_from_json(ref, where)
            reference_size = (_positive_int(ref, "width", where), _positive_int(ref, "height", where))
        return cls(frames, size, fps, reference, reference_size)

    @classmethod
    def load(cls, path: str | Path) -> PoseSequence:
        """Read and validate a ``pose.json`` file; an unreadable or invalid one is a :class:`PoseError` naming it."""
        try:
            doc = json.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PoseError(f"{path}: not readable JSON ({exc}); give an a2bench pose.json") from exc
        return cls.from_json(doc, str(path))

    def validate(self, name: str = "pose") -> None:
        """Check shape and value ranges of the arrays (what ``from_json`` enforces)."""
        if self.frames.ndim != 3 or self.frames.shape[1:] != (NUM_KEYPOINTS, 3):
            raise PoseError(f"{name}: frames must have shape (T, {NUM_KEYPOINTS}, 3), got {self.frames.shape}")
        _check_points(self.frames, name)
        if self.reference is not None:
            _check_points(self.reference[None], f"{name}: reference")


def missing_mask(points: np.ndarray) -> np.ndarray:
    """True where a point is missing (``x = y = -1``); works on any ``(..., 3)`` array."""
    return (points[..., 0] == MISSING) & (points[..., 1] == MISSING)


def to_pixels(points: np.ndarray, size: tuple[int, int] | np.ndarray) -> np.ndarray:
    """Normalised ``(..., 3)`` points to float64 pixel ``(..., 2)`` coordinates, NaN where missing."""
    xy = points[..., :2].astype(np.float64) * np.asarray(size, np.float64)
    xy[missing_mask(points)] = np.nan
    return xy


def from_pixels(xy: np.ndarray, size: tuple[int, int] | np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Pixel ``(..., 2)`` positions and scores to normalised float32 ``(..., 3)`` points.

    NaN positions and positions outside the frame become missing (as a detector reports them); scores
    are kept either way.
    """
    normalised = np.asarray(xy, np.float64) / np.asarray(size, np.float64)
    points = np.concatenate([normalised, np.asarray(scores, np.float64)[..., None]], axis=-1)
    outside = np.isnan(normalised).any(-1) | (normalised < 0).any(-1) | (normalised > 1).any(-1)
    points[outside, :2] = MISSING
    return points.astype(np.float32)


def _fps_text(fps: Fraction) -> str | int:
    return fps.numerator if fps.denominator == 1 else f"{fps.numerator}/{fps.denominator}"


def _frame_to_json(points: np.ndarray) -> dict:
    rounded = np.round(points.astype(np.float64), 6)
    out, start = {}, 0
    for group, count in GROUPS.items():
        out[group] = [[_num(v) for v in p] for p in rounded[start : start + count]]
        start += count
    return out


def _num(value: float) -> float | int:
    return int(value) if value == MISSING else float(value)


def _frame_from_json(doc: object, where: str) -> np.ndarray:
    if not isinstance(doc, dict):
        raise PoseError(f"{where}: expected an object with groups {', '.join(GROUPS)}")
    parts = []
    for group, count in GROUPS.items():
        values = doc.get(group)
        if not isinstance(values, list) or len(values) != count or any(
            not isinstance(point, list) or len(point) != 3 for point in values
        ):
            got = "missing" if values is None else f"{len(values)} entries" if isinstance(values, list) else "no list"
            raise PoseError(f"{where}: group '{group}' must hold {count} points of [x, y, score], got {got}")
        for index, point in enumerate(values):
            for value in point:  # np.asarray would read "0.5" and true as numbers
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise PoseError(f"{where}: group '{group}' point {index}: {value!r} is not a number; write "
                                    "x, y and score as JSON numbers")  # fmt: skip
        parts.append(np.asarray(values, dtype=np.float32))
    points = np.concatenate(parts)
    _check_points(points[None], where)
    return points


def _check_points(points: np.ndarray, where: str) -> None:
    if not np.isfinite(points).all():
        raise PoseError(f"{where}: keypoints contain NaN or infinity")
    present = ~missing_mask(points)
    xy, score = points[..., :2][present], points[..., 2][present]
    if xy.size and ((xy < 0) | (xy > 1)).any():
        raise PoseError(f"{where}: a present keypoint lies outside [0, 1]; mark it missing with x = y = -1")
    if score.size and ((score < 0) | (score > 1)).any():
        raise PoseError(f"{where}: a keypoint score lies outside [0, 1]")


def _positive_int(doc: dict, key: str, where: str) -> int:
    value = doc.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise PoseError(f"{where}: '{key}' must be a positive integer, got {value!r}")
    return value
