"""Transfer the motion of a driving pose sequence onto another character's body shape.

This is the cross-driven protocol's "rescaled pose" (Animate-X, A2Bench setting 1): the aligned pose
"retains the movements of the driving pose but has the body shape of the target". It is
deterministic and works on the canonical 130-point layout taken apart as a tree
(:mod:`a2bench.core.pose.skeleton`):

1. Per-limb ratios: each body bone's length in the target reference pose divided by its length in
   the driving reference pose. Face and hands get one ratio each, the ratio of the group's RMS
   distance from its anchor (nose, wrist). Where a bone or group is missing from either reference,
   the global scale ``s`` is used: target body height / driving body height (neck to mid-ankle, or
   neck to mid-hip when an ankle is missing).
2. Every frame's bones are the driving bones multiplied by their ratio: joint angles are exactly the
   driving frame's, and at the driving reference pose every limb has the target's length.
3. Global motion: the neck's movement away from its position in the driving reference is scaled by
   ``s``. The whole sequence is then shifted so that the re-targeted driving reference pose stands on
   the target's footprint (mid-ankle, else mid-hip, else neck).

Points missing in a driving frame stay missing. A point whose parent is missing hangs from its
nearest present ancestor, with its own ratio. Points landing outside the target frame are marked
missing, as a detector would. Driving scores are kept.
"""

from __future__ import annotations

import numpy as np

from a2bench.core.pose.keypoints import PoseError, PoseSequence, from_pixels, to_pixels
from a2bench.core.pose.skeleton import BONES, GROUP_ANCHORS, NECK, Skeleton


def retarget(
    driving: PoseSequence,
    target_reference: np.ndarray,
    target_size: tuple[int, int],
    *,
    driving_reference: np.ndarray | None = None,
) -> PoseSequence:
    """Re-target ``driving`` to the body in ``target_reference`` (normalised, ``(130, 3)``).

    ``driving_reference`` defaults to ``driving.reference`` and then to its first frame. The
    result is normalised by ``target_size`` and carries ``target_reference`` as its reference.
    """
    if driving_reference is None:
        driving_reference = driving.reference if driving.reference is not None else driving.frames[0]
    dsize = np.asarray(driving.size, np.float64)
    tsize = np.asarray(target_size, np.float64)
    dref, tref = to_pixels(driving_reference, dsize), to_pixels(target_reference, tsize)
    for name, ref in (("driving", dref), ("target", tref)):
        if np.isnan(ref[NECK]).any():
            raise PoseError(f"{name} reference pose has no neck; it cannot anchor re-targeting")

    scale = _body_height(tref) / _body_height(dref)
    # The driving reference rides along as an extra last frame to place the footprint.
    skeleton = Skeleton.from_points(np.concatenate([to_pixels(driving.frames, dsize), dref[None]]))
    moved = Skeleton(scale * (skeleton.root - dref[NECK]), skeleton.offset, skeleton.parent)
    out = moved.scaled(limb_ratios(dref, tref, scale)).to_points()
    keys = _footprint_keys(out[-1], tref)
    out = out[:-1] + (tref[keys].mean(0) - out[-1, keys].mean(0))

    return PoseSequence(
        frames=from_pixels(out, tsize, driving.frames[..., 2]),
        size=(int(target_size[0]), int(target_size[1])),
        fps=driving.fps,
        reference=np.asarray(target_reference, np.float32),
        reference_size=(int(target_size[0]), int(target_size[1])),
    )


def limb_ratios(source: np.ndarray, target: np.ndarray, fallback: float) -> np.ndarray:
    """Per-point length ratio target / source of pixel poses ``(130, 2)`` (step 1 of the module docstring)."""
    ratios = np.full(source.shape[0], fallback)
    for parent, child in BONES:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.linalg.norm(target[child] - target[parent]) / np.linalg.norm(source[child] - source[parent])
        if np.isfinite(ratio) and ratio > 0:
            ratios[child] = ratio
    for group, anchor in GROUP_ANCHORS:
        t, s = target[group] - target[anchor], source[group] - source[anchor]
        both = ~np.isnan(t).any(-1) & ~np.isnan(s).any(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.sqrt((t[both] ** 2).sum() / (s[both] ** 2).sum())
        if np.isfinite(ratio) and ratio > 0:
            ratios[group] = ratio
    return ratios


def _body_height(ref: np.ndarray) -> float:
    feet = [10, 13] if not np.isnan(ref[[10, 13]]).any() else [8, 11]  # ankles, else hips
    low = ref[feet].mean(axis=0)
    height = float(np.linalg.norm(low - ref[NECK]))
    if not np.isfinite(height) or height <= 0:
        raise PoseError("reference pose needs a neck and both hips (or ankles) to measure body height")
    return height


def _footprint_keys(a: np.ndarray, b: np.ndarray) -> list[int]:
    """Ankles where both poses have them, else hips, else the neck."""
    for keys in ([10, 13], [8, 11]):
        if not (np.isnan(a[keys]).any() or np.isnan(b[keys]).any()):
            return keys
    return [NECK]
