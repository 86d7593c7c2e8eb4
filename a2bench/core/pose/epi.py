"""The Explicit Pose Indicator's training augmentations (Animate-X §3.3, Fig. 2c, Tables 5–6).

During training the driving pose comes from the same video as the reference image, so it always
fits the character. The EPI simulates the misaligned poses met at inference: *realignment* gives the
driving motion the body shape of a random anchor pose from a pool, then a random subset of
*rescale* operations changes body proportions, moves the figure, and drops or adds body parts. With
probability ``1 - λ`` the pose is left as it is.

Each operation is a small function on a :class:`PoseSequence` that changes exactly what its name
says; lengths and angles are changed on the pose taken apart as a tree
(:mod:`a2bench.core.pose.skeleton`), in pixels, so joint angles survive non-square frames. Points pushed
out of the frame become missing, as a detector would report them. The paper gives no numeric
ranges; the defaults of :class:`EPIConfig` are ours and are documented in docs/pose.md.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from a2bench.core.pose.keypoints import (
    FACE,
    LEFT_HAND,
    MISSING,
    NUM_KEYPOINTS,
    RIGHT_HAND,
    PoseSequence,
    from_pixels,
    to_pixels,
)
from a2bench.core.pose.retarget import retarget
from a2bench.core.pose.skeleton import NECK, Skeleton

_r = np.arange(NUM_KEYPOINTS)
# Points whose offset from their parent each rescale operation multiplies.
RESCALE_PARTS = {
    "body": (8, 11),  # neck → hips
    "legs": (9, 10, 12, 13),  # hip → knee → ankle
    "arms": (3, 4, 6, 7),  # shoulder → elbow → wrist
    "neck": (0,),  # neck → nose
    "shoulders": (2, 5),  # neck → shoulders
    "face": (14, 15, 16, 17, *_r[FACE]),  # eyes, ears and the 68 face points around the nose
}
# Points each droppable part consists of.
PARTS = {
    "right_arm": (3, 4, *_r[RIGHT_HAND]),
    "left_arm": (6, 7, *_r[LEFT_HAND]),
    "right_leg": (9, 10, 19),
    "left_leg": (12, 13, 18),
    "head": (0, 14, 15, 16, 17, *_r[FACE]),
    "hands": (*_r[LEFT_HAND], *_r[RIGHT_HAND]),
}
# Left/right counterparts used to add a missing part as the mirror image of the other side.
MIRROR = _r.copy()
for _a, _b in ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17), (18, 19)):
    MIRROR[_a], MIRROR[_b] = _b, _a
MIRROR[LEFT_HAND], MIRROR[RIGHT_HAND] = _r[RIGHT_HAND], _r[LEFT_HAND]


def rescale(pose: PoseSequence, part: str, factor: float) -> PoseSequence:
    """Multiply the lengths of one :data:`RESCALE_PARTS` group by ``factor``, keeping every angle.

    What hangs from the part moves with it, and the neck stays where it is (shorter legs raise the
    feet; :func:`shift` moves the figure). Every other length and every joint angle stays as it was.
    """
    if part not in RESCALE_PARTS:
        raise ValueError(f"unknown part {part!r}; choose from {', '.join(RESCALE_PARTS)}")
    factors = np.ones(NUM_KEYPOINTS)
    factors[list(RESCALE_PARTS[part])] = factor
    skeleton = Skeleton.from_points(to_pixels(pose.frames, pose.size))
    return _with_pixels(pose, skeleton.scaled(factors).to_points())


def shift(pose: PoseSequence, dx: float, dy: float) -> PoseSequence:
    """Move the whole figure by ``(dx, dy)`` in fractions of the frame's width and height."""
    return _with_pixels(pose, to_pixels(pose.frames, pose.size) + np.array([dx, dy]) * pose.size)


def drop_parts(pose: PoseSequence, parts: Sequence[str]) -> PoseSequence:
    """Mark the points of the named :data:`PARTS` missing in every frame (score 0)."""
    frames = pose.frames.copy()
    for part in parts:
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}; choose from {', '.join(PARTS)}")
        frames[:, list(PARTS[part])] = (MISSING, MISSING, 0.0)
    return replace(pose, frames=frames)


def add_parts(pose: PoseSequence) -> PoseSequence:
    """Fill missing left/right points with the mirror image of their present counterpart.

    The mirror axis runs through the neck and the mid-hip of the frame (vertical through the neck
    when a hip is missing). Only points that were missing change; a point whose counterpart is
    missing too stays missing.
    """
    xy = to_pixels(pose.frames, pose.size)
    neck = xy[:, NECK]
    axis = xy[:, [8, 11]].mean(1) - neck
    axis[np.isnan(axis).any(-1)] = (0.0, 1.0)
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True).clip(1e-9)
    relative = xy[:, MIRROR] - neck[:, None]
    along = (relative * axis[:, None]).sum(-1, keepdims=True)
    mirrored = neck[:, None] + 2 * along * axis[:, None] - relative
    fill = np.isnan(xy).any(-1) & ~np.isnan(mirrored).any(-1)
    out = xy.copy()
    out[fill] = mirrored[fill]
    scores = pose.frames[..., 2].copy()
    scores[fill] = pose.frames[..., 2][:, MIRROR][fill]
    return _with_pixels(pose, out, scores)


def realign(pose: PoseSequence, anchor: np.ndarray, anchor_size: tuple[int, int]) -> PoseSequence:
    """Give the motion of ``pose`` the body shape of ``anchor`` (normalised ``(130, 3)``).

    The anchor is first fitted into ``pose``'s frame (uniform scale, centred, as a letterbox), then
    :func:`a2bench.core.pose.retarget` transfers the motion; the result keeps ``pose``'s reference.
    """
    size = np.asarray(pose.size, np.float64)
    asize = np.asarray(anchor_size, np.float64)
    fit = min(size / asize)
    placed = to_pixels(anchor, asize) * fit + (size - asize * fit) / 2
    out = retarget(pose, from_pixels(placed, size, anchor[:, 2]), pose.size)
    return replace(out, reference=pose.reference, reference_size=pose.reference_size)


@dataclass(frozen=True)
class Op:
    """An operation applied with probability ``p`` and a value drawn uniformly from ``[low, high]``."""

    p: float
    low: float = 1.0
    high: float = 1.0


@dataclass(frozen=True)
class EPIConfig:
    """Probabilities and ranges of the EPI; ``from_dict`` reads the ``epi:`` block of a training config."""

    probability: float = 1.0  # λ, the paper's best A2Bench setting
    realign: float = 1.0  # chance of realignment when an anchor pool is given
    body: Op = Op(0.5, 0.8, 1.25)
    legs: Op = Op(0.5, 0.75, 1.3)
    arms: Op = Op(0.5, 0.75, 1.3)
    neck: Op = Op(0.5, 0.6, 1.6)
    shoulders: Op = Op(0.5, 0.75, 1.3)
    face: Op = Op(0.5, 0.7, 1.5)
    shift: Op = Op(0.3, -0.1, 0.1)  # fraction of the frame, x and y drawn separately
    drop: Op = Op(0.1)  # drops one random part of PARTS
    add: Op = Op(0.1)  # mirrors missing left/right points

    @classmethod
    def from_dict(cls, doc: dict) -> EPIConfig:
        """Build from plain data (``{"arms": {"p": 0.5, "low": 0.8, "high": 1.2}, "probability": 0.98}``)."""
        names = [f.name for f in fields(cls)]
        values = {}
        for key, value in doc.items():
            if key not in names:
                hint = difflib.get_close_matches(key, names, n=1)
                raise ValueError(f"unknown EPI setting {key!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""))
            values[key] = Op(**value) if isinstance(value, dict) else float(value)
        return cls(**values)


def augment(
    pose: PoseSequence,
    rng: np.random.Generator,
    config: EPIConfig = EPIConfig(),
    anchors: Sequence[tuple[np.ndarray, tuple[int, int]]] = (),
) -> tuple[PoseSequence, list[str]]:
    """Apply the EPI to a driving pose; returns the new pose and what was done, e.g. ``["arms×1.12"]``.

    ``anchors`` is the pose pool: ``(keypoints (130, 3), (width, height))`` pairs, e.g. reference
    poses of other training videos.
    """
    applied: list[str] = []
    if rng.random() >= config.probability:
        return pose, applied
    if anchors and rng.random() < config.realign:
        index = int(rng.integers(len(anchors)))
        pose = realign(pose, *anchors[index])
        applied.append(f"realign#{index}")
    for part in RESCALE_PARTS:
        op: Op = getattr(config, part)
        if rng.random() < op.p:
            factor = float(rng.uniform(op.low, op.high))
            pose = rescale(pose, part, factor)
            applied.append(f"{part}×{factor:.3f}")
    if rng.random() < config.shift.p:
        dx, dy = rng.uniform(config.shift.low, config.shift.high, size=2)
        pose = shift(pose, float(dx), float(dy))
        applied.append(f"shift({dx:+.3f},{dy:+.3f})")
    if rng.random() < config.drop.p:
        part = list(PARTS)[int(rng.integers(len(PARTS)))]
        pose = drop_parts(pose, [part])
        applied.append(f"drop:{part}")
    if rng.random() < config.add.p:
        pose = add_parts(pose)
        applied.append("add")
    return pose, applied


def _with_pixels(pose: PoseSequence, xy: np.ndarray, scores: np.ndarray | None = None) -> PoseSequence:
    scores = pose.frames[..., 2] if scores is None else scores
    return replace(pose, frames=from_pixels(xy, pose.size, scores))
