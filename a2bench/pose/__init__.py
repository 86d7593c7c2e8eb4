"""Pose handling shared by the benchmark, the baselines and ``animatex``.

One canonical keypoint layout (:mod:`a2bench.pose.keypoints`) and motion re-targeting
(:mod:`a2bench.pose.retarget`).
"""

from a2bench.pose.keypoints import (
    BODY,
    BODY_NAMES,
    FACE,
    FEET,
    GROUPS,
    HANDS,
    NUM_KEYPOINTS,
    PoseError,
    PoseSequence,
)
from a2bench.pose.retarget import retarget

__all__ = [
    "BODY",
    "BODY_NAMES",
    "FACE",
    "FEET",
    "GROUPS",
    "HANDS",
    "NUM_KEYPOINTS",
    "PoseError",
    "PoseSequence",
    "retarget",
]
