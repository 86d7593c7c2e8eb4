"""Transfer the motion of a driving pose sequence onto another character's body shape.

This is the cross-driven protocol's "rescaled pose" (Animate-X, A2Bench setting 1): the output
keeps the driving sequence's movements but has the target's limb lengths and stands where the
target stands. It is deterministic and works on the canonical 130-point layout:

1. Global scale ``s`` = target body height / driving body height, measured on the two reference
   poses (neck to mid-ankle, or neck to mid-hip when an ankle is missing).
2. The neck moves like the driving neck, scaled by ``s`` and offset so that the driving
   reference's neck lands on the target reference's neck (the footprint follows from step 3).
3. Every other body and foot point is placed by walking the skeleton tree from the neck: each
   bone of each frame is the driving bone multiplied (as a complex number) by the ratio of the
   target's and the driving reference's bone, i.e. scaled by their length ratio and turned by
   their rest-angle difference, so rotations away from the rest pose carry over (``s`` alone when
   the bone is missing from either reference).
4. Face and hands move rigidly with their anchor (nose, wrists): each frame's rotation and
   relative scale of the driving group against its reference are fitted (least squares
   similarity) and applied to the *target's* reference group, and the non-rigid residual
   (expression, finger motion) is added, scaled by the groups' size ratio. Where the target
   reference lacks the group, the driving group is scaled by ``s`` instead.

Retargeting the driving reference pose itself returns the target reference pose. Points missing in
a driving frame stay missing, as do points whose parent is missing; points landing outside the
target frame are marked missing, as a detector would.
"""

from __future__ import annotations

import numpy as np

from a2bench.pose.keypoints import FACE, LEFT_HAND, MISSING, RIGHT_HAND, PoseError, PoseSequence, to_pixels

NECK = 1
# (parent, child) in tree order from the neck; 18/19 are the left/right toes.
BONES = (
    (1, 0), (0, 14), (0, 15), (14, 16), (15, 17),
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (13, 18), (10, 19),
)  # fmt: skip
# Rigid groups and the body point they hang from.
GROUP_ANCHORS = ((FACE, 0), (LEFT_HAND, 7), (RIGHT_HAND, 4))


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
    frames = to_pixels(driving.frames, dsize)
    dref, tref = to_pixels(driving_reference, dsize), to_pixels(target_reference, tsize)
    for name, ref in (("driving", dref), ("target", tref)):
        if np.isnan(ref[NECK]).any():
            raise PoseError(f"{name} reference pose has no neck; it cannot anchor re-targeting")

    scale = _body_height(tref) / _body_height(dref)
    out = np.full_like(frames, np.nan)
    out[:, NECK] = tref[NECK] + scale * (frames[:, NECK] - dref[NECK])
    for parent, child in BONES:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = _bone(tref, parent, child) / _bone(dref, parent, child)
        if not np.isfinite(ratio) or ratio == 0:
            ratio = scale
        bone = ratio * (_complex(frames[:, child]) - _complex(frames[:, parent]))
        out[:, child] = out[:, parent] + np.stack([bone.real, bone.imag], axis=-1)
    for group, anchor in GROUP_ANCHORS:
        out[:, group] = _transfer_group(frames, dref, tref, group, anchor, out[:, anchor], scale)

    normalised = out / tsize
    result = np.concatenate([normalised, driving.frames[..., 2:3].astype(np.float64)], axis=-1)
    outside = np.isnan(normalised).any(-1) | (normalised < 0).any(-1) | (normalised > 1).any(-1)
    result[outside] = MISSING
    return PoseSequence(
        frames=result.astype(np.float32),
        size=(int(target_size[0]), int(target_size[1])),
        fps=driving.fps,
        reference=np.asarray(target_reference, np.float32),
        reference_size=(int(target_size[0]), int(target_size[1])),
    )


def _bone(points: np.ndarray, a: int, b: int) -> complex:
    return complex(_complex(points[b] - points[a]))


def _body_height(ref: np.ndarray) -> float:
    feet = [10, 13] if not np.isnan(ref[[10, 13]]).any() else [8, 11]  # ankles, else hips
    low = ref[feet].mean(axis=0)
    height = float(np.linalg.norm(low - ref[NECK]))
    if not np.isfinite(height) or height <= 0:
        raise PoseError("reference pose needs a neck and both hips (or ankles) to measure body height")
    return height


def _transfer_group(
    frames: np.ndarray,
    dref: np.ndarray,
    tref: np.ndarray,
    group: slice,
    anchor: int,
    new_anchor: np.ndarray,
    scale: float,
) -> np.ndarray:
    """Place a face or hand group of every frame on the target (see module docstring, step 4)."""
    drive = _complex(frames[:, group]) - _complex(frames[:, anchor])[:, None]
    dshape = _complex(dref[group]) - _complex(dref[anchor])
    tshape = _complex(tref[group]) - _complex(tref[anchor])
    base = _complex(new_anchor)[:, None]
    usable = ~np.isnan(dshape) & ~np.isnan(tshape)
    if np.isnan(tshape).all() or np.isnan(dshape).all() or np.isnan(tref[anchor]).any():
        placed = base + scale * drive
    else:
        size_ratio = np.sqrt(np.nansum(np.abs(tshape) ** 2) / np.nansum(np.abs(dshape) ** 2))
        pairs = usable[None] & ~np.isnan(drive)
        u = np.where(pairs, dshape[None], 0)
        v = np.where(pairs, drive, 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            similarity = (np.conj(u) * v).sum(1) / (np.abs(u) ** 2).sum(1)
        residual = drive - similarity[:, None] * dshape[None]
        placed = base + similarity[:, None] * tshape[None] + size_ratio * residual
    return np.stack([placed.real, placed.imag], axis=-1)


def _complex(xy: np.ndarray) -> np.ndarray:
    return xy[..., 0] + 1j * xy[..., 1]
