"""Pose handling shared by the benchmark, the baselines and ``animatex``.

One canonical keypoint layout (:mod:`a2bench.pose.keypoints`), motion re-targeting
(:mod:`a2bench.pose.retarget`) and DWPose-convention rendering (:mod:`a2bench.pose.render`).
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
from a2bench.pose.render import draw_pose, render_poses
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
    "draw_pose",
    "render_poses",
    "retarget",
]
