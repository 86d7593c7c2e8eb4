"""The canonical layout as a tree: every point hangs from a parent, rooted at the neck.

Re-targeting and the EPI augmentations both work by taking poses apart into a root position and
one offset ("bone") per point, scaling some bones, and putting the pose back together. This module
is that decomposition, so both use one definition of the tree:

- body and feet: the OpenPose limbs (:data:`BONES`), walked outward from the neck;
- face: each of the 68 points hangs from the nose; hands: each of the 21 points from its wrist.

A point whose parent is missing in a frame hangs from its nearest present ancestor in that frame
(its offset then spans the missing joint), so one occluded elbow does not lose the wrist and hand.
Positions are float64 pixels with NaN for missing points (:func:`a2bench.core.pose.keypoints.to_pixels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2bench.core.pose.keypoints import FACE, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND

NECK = 1
# (parent, child) body limbs in tree order from the neck; 18/19 are the left/right toes.
BONES = (
    (1, 0), (0, 14), (0, 15), (14, 16), (15, 17),
    (1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7),
    (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (13, 18), (10, 19),
)  # fmt: skip
GROUP_ANCHORS = ((FACE, 0), (LEFT_HAND, 7), (RIGHT_HAND, 4))


def _parents() -> np.ndarray:
    parent = np.full(NUM_KEYPOINTS, -1)
    for p, c in BONES:
        parent[c] = p
    for group, anchor in GROUP_ANCHORS:
        parent[group] = anchor
    return parent


PARENT = _parents()
# Every non-root point, parents before children.
ORDER = np.array([c for _, c in BONES] + [i for group, _ in GROUP_ANCHORS for i in range(NUM_KEYPOINTS)[group]])


@dataclass(frozen=True)
class Skeleton:
    """Frames ``(T, 130, 2)`` taken apart: the neck's position and each point's offset from its parent.

    ``parent[t, i]`` is the point ``offset[t, i]`` is measured from in frame ``t`` (the nearest present
    ancestor); offsets of missing points are NaN, and so is ``root`` when the neck is missing.
    """

    root: np.ndarray
    offset: np.ndarray
    parent: np.ndarray

    @classmethod
    def from_points(cls, xy: np.ndarray) -> Skeleton:
        """Decompose float pixel positions ``(T, 130, 2)`` (NaN = missing)."""
        xy = np.asarray(xy, np.float64)
        present = ~np.isnan(xy).any(-1)
        frames = np.arange(xy.shape[0])
        parent = np.broadcast_to(PARENT, present.shape).copy()
        for child in ORDER:  # parents come first, so their effective parent is already final
            direct = PARENT[child]
            up = parent[:, direct]
            parent[:, child] = np.where(present[:, direct], direct, up)
        offset = np.full_like(xy, np.nan)
        for child in ORDER:
            start = parent[:, child]
            ok = start >= 0
            offset[ok, child] = xy[frames[ok], child] - xy[frames[ok], start[ok]]
        return cls(root=xy[:, NECK].copy(), offset=offset, parent=parent)

    def to_points(self) -> np.ndarray:
        """Put the pose back together: ``(T, 130, 2)`` float64 pixels, NaN where missing."""
        frames = np.arange(self.root.shape[0])
        xy = np.full(self.offset.shape, np.nan)
        xy[:, NECK] = self.root
        for child in ORDER:
            start = self.parent[:, child]
            ok = start >= 0
            xy[ok, child] = xy[frames[ok], start[ok]] + self.offset[ok, child]
        return xy

    def scaled(self, factors: np.ndarray) -> Skeleton:
        """Multiply each point's offset by ``factors`` (``(130,)``, or ``(T, 130)``); the root stays."""
        factors = np.asarray(factors, np.float64)
        return Skeleton(self.root, self.offset * factors[..., None], self.parent)


def direct_offsets(xy: np.ndarray) -> np.ndarray:
    """Each point minus its direct parent, ``(..., 130, 2)``; NaN for the neck and where either is missing."""
    xy = np.asarray(xy, np.float64)
    out = np.full(xy.shape, np.nan)
    out[..., ORDER, :] = xy[..., ORDER, :] - xy[..., PARENT[ORDER], :]
    return out
