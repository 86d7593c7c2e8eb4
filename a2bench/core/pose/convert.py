"""Conversions between a2bench's 130-point layout and the keypoint layouts pose tools write.

* COCO-WholeBody-133 (what DWPose and RTMW return): re-ordered the way DWPose's ``Wholebody`` does it
  (COCO body → OpenPose-18 with the neck as the mean of the shoulders), each foot the midpoint of its
  big and small toe as the Animate-X++ release computes it, then face and hands as they are.
* COCO-17 and OpenPose-18 (body-only detectors): the body group; everything else missing.
* The pickle the Animate-X++ release's ``process_data.py`` writes per video (``bodies``,
  ``body_indices``, ``faces``, ``hands``, ``size``, ``fps``), both directions. Reading uses an unpickler
  that only builds numpy arrays and plain containers, never arbitrary objects.

Visibility follows DWPose: a point is present when its score is above ``threshold`` (0.3) and, in
a2bench's layout, inside the frame; the neck needs both shoulders and a foot both of its toes.
Input coordinates are pixels of a ``size = (width, height)`` frame; output coordinates are normalised.
"""

from __future__ import annotations

import io
import pickle
from fractions import Fraction
from typing import ClassVar

import numpy as np

from a2bench.core.pose.keypoints import (
    BODY,
    FACE,
    FEET,
    HANDS,
    MISSING,
    NUM_KEYPOINTS,
    PoseError,
    PoseSequence,
    missing_mask,
    to_pixels,
)

THRESHOLD = 0.3  # DWPose's visibility cut-off
# OpenPose-18 index → COCO-17 index (the neck, OpenPose 1, has no COCO point).
OPENPOSE_FROM_COCO = (0, None, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3)
# COCO-WholeBody-133 groups.
WB_FEET = ((17, 18), (20, 21))  # (big toe, small toe) of the left and the right foot
WB_FACE, WB_HANDS = slice(23, 91), slice(91, 133)


def _empty(frames: int) -> np.ndarray:
    out = np.full((frames, NUM_KEYPOINTS, 3), MISSING)
    out[..., 2] = 0.0
    return out


def _normalise(xy: np.ndarray, score: np.ndarray, size: tuple[int, int], threshold: float) -> np.ndarray:
    """Pixel ``(..., 2)`` + scores → normalised ``(..., 3)``; invisible or out-of-frame points missing.

    Scores are clipped to [0, 1]: DWPose's SimCC scores are response maxima, not probabilities, and can
    exceed 1 or be negative. The clip leaves the visibility cut (above ``threshold``) unchanged.
    """
    norm = xy / np.asarray(size, dtype=np.float64)
    score = np.clip(score, 0.0, 1.0)
    visible = (score > threshold) & np.all((norm >= 0) & (norm <= 1), axis=-1)
    return np.concatenate([np.where(visible[..., None], norm, MISSING), score[..., None]], axis=-1)


def _body_from_coco(xy: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 body ``(T, 17, ·)`` → OpenPose-18 ``(T, 18, ·)`` with DWPose's neck."""
    frames = len(xy)
    body_xy, body_score = np.zeros((frames, 18, 2)), np.zeros((frames, 18))
    for openpose, coco in enumerate(OPENPOSE_FROM_COCO):
        if coco is not None:
            body_xy[:, openpose], body_score[:, openpose] = xy[:, coco], score[:, coco]
    body_xy[:, 1] = xy[:, [5, 6]].mean(axis=1)
    body_score[:, 1] = np.minimum(score[:, 5], score[:, 6])  # visible iff both shoulders are
    return body_xy, body_score


def _check(array: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(array, dtype=np.float64)
    if array.shape[1:] != shape:
        raise PoseError(f"{name}: expected shape (T, {', '.join(map(str, shape))}), got {array.shape}")
    return array


def from_coco_wholebody(
    keypoints: np.ndarray, scores: np.ndarray, size: tuple[int, int], threshold: float = THRESHOLD
) -> np.ndarray:
    """DWPose/RTMW output ``(T, 133, 2)`` pixels + ``(T, 133)`` scores → ``(T, 130, 3)`` frames."""
    xy = _check(keypoints, (133, 2), "COCO-WholeBody keypoints")
    score = _check(scores, (133,), "COCO-WholeBody scores")
    out = _empty(len(xy))
    body_xy, body_score = _body_from_coco(xy[:, :17], score[:, :17])
    out[:, BODY] = _normalise(body_xy, body_score, size, threshold)
    for index, (big, small) in zip(range(FEET.start, FEET.stop), WB_FEET, strict=True):
        foot_score = np.minimum(score[:, big], score[:, small])
        out[:, index] = _normalise(xy[:, [big, small]].mean(axis=1), foot_score, size, threshold)
    out[:, FACE] = _normalise(xy[:, WB_FACE], score[:, WB_FACE], size, threshold)
    out[:, HANDS] = _normalise(xy[:, WB_HANDS], score[:, WB_HANDS], size, threshold)
    return out


def from_coco17(
    keypoints: np.ndarray, scores: np.ndarray, size: tuple[int, int], threshold: float = THRESHOLD
) -> np.ndarray:
    """COCO-17 ``(T, 17, 2)`` pixels + scores → frames with the body group only."""
    body_xy, body_score = _body_from_coco(
        _check(keypoints, (17, 2), "COCO-17 keypoints"), _check(scores, (17,), "COCO-17 scores")
    )
    out = _empty(len(body_xy))
    out[:, BODY] = _normalise(body_xy, body_score, size, threshold)
    return out


def from_openpose18(
    keypoints: np.ndarray, scores: np.ndarray, size: tuple[int, int], threshold: float = THRESHOLD
) -> np.ndarray:
    """OpenPose-18 ``(T, 18, 2)`` pixels + scores → frames with the body group only."""
    xy = _check(keypoints, (18, 2), "OpenPose-18 keypoints")
    out = _empty(len(xy))
    out[:, BODY] = _normalise(xy, _check(scores, (18,), "OpenPose-18 scores"), size, threshold)
    return out


def to_openpose18(frames: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The body group as OpenPose-18 pixels ``(T, 18, 2)`` (-1 where missing) and the stored scores."""
    body = np.asarray(frames)[:, BODY]
    return np.nan_to_num(to_pixels(body, size), nan=MISSING), body[..., 2].copy()


def to_coco17(frames: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The body group as COCO-17 pixels ``(T, 17, 2)`` and scores (the neck is dropped)."""
    xy, score = to_openpose18(frames, size)
    order = [OPENPOSE_FROM_COCO.index(coco) for coco in range(17)]
    return xy[:, order], score[:, order]


# ------------------------------------------------------------------------------------------------
# The Animate-X++ release's per-video pickle


def to_animatex_dict(poses: PoseSequence) -> dict:
    """The dict ``process_data.py`` pickles: positions normalised, missing = -1, feet and scores dropped.

    ``bodies (T, 18, 2)``, ``body_indices (T, 18)`` (the joint's index, or -1 when missing),
    ``faces (T, 68, 2)``, ``hands (T, 2, 21, 2)`` (left, right), ``size`` = ``(H, W, 3)`` as
    ``frame.shape``, ``fps`` as the integer OpenCV reports.
    """
    frames = np.asarray(poses.frames)
    positions = frames[..., :2].astype(np.float32)
    missing = missing_mask(frames)
    body_indices = np.where(missing[:, BODY], -1.0, np.arange(18, dtype=np.float64))
    width, height = poses.size
    return {
        "bodies": positions[:, BODY],
        "body_indices": body_indices,
        "faces": positions[:, FACE],
        "hands": positions[:, HANDS].reshape(len(frames), 2, 21, 2),
        "size": (height, width, 3),
        "fps": int(poses.fps),
    }


def from_animatex_dict(doc: dict, name: str = "Animate-X pose pickle") -> PoseSequence:
    """A :class:`PoseSequence` from the release's dict: present points get score 1, feet are missing."""
    try:
        bodies = _check(doc["bodies"], (18, 2), f"{name}: bodies")
        faces = _check(doc["faces"], (68, 2), f"{name}: faces")
        hands = _check(np.asarray(doc["hands"]).reshape(len(bodies), 42, 2), (42, 2), f"{name}: hands")
        indices = np.asarray(doc["body_indices"], dtype=np.float64).reshape(len(bodies), 18)
        height, width = (int(v) for v in doc["size"][:2])
        fps = Fraction(doc["fps"])
    except (KeyError, TypeError, ValueError) as exc:
        raise PoseError(f"{name}: not in the Animate-X layout ({exc})") from exc
    out = _empty(len(bodies))
    for group, xy in ((BODY, bodies), (FACE, faces), (HANDS, hands)):
        present = np.all(xy >= 0, axis=-1) & np.all(xy <= 1, axis=-1)
        if group == BODY:
            present &= indices >= 0
        out[:, group, :2] = np.where(present[..., None], xy, MISSING)
        out[:, group, 2] = present.astype(np.float64)
    sequence = PoseSequence(out, (width, height), fps)
    sequence.validate(name)
    return sequence


class _ArraysOnly(pickle.Unpickler):
    """Builds numpy arrays, dtypes and plain containers only: a pose pickle needs nothing else."""

    ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("builtins", "tuple"),
        ("builtins", "list"),
        ("builtins", "dict"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a pose pickle holds only arrays")
        return super().find_class(module, name)


def load_animatex_pickle(data: bytes, name: str = "pose.pkl") -> PoseSequence:
    """Read the release's ``.pkl`` safely (arrays only) into a :class:`PoseSequence`."""
    try:
        doc = _ArraysOnly(io.BytesIO(data)).load()
    except (pickle.UnpicklingError, EOFError, ValueError) as exc:
        raise PoseError(f"{name}: cannot read as an Animate-X pose pickle ({exc})") from exc
    if not isinstance(doc, dict):
        raise PoseError(f"{name}: expected a dict, got {type(doc).__name__}")
    return from_animatex_dict(doc, name)


def dump_animatex_pickle(poses: PoseSequence) -> bytes:
    """The release's ``.pkl`` bytes for ``poses`` (see :func:`to_animatex_dict` for what is kept)."""
    return pickle.dumps(to_animatex_dict(poses), protocol=4)
