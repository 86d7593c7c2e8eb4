"""Pose handling shared by the benchmark, the baselines and ``animatex``.

One canonical keypoint layout (:mod:`a2bench.core.pose.keypoints`) and its conversions
(:mod:`~a2bench.core.pose.convert`), the skeleton tree (:mod:`~a2bench.core.pose.skeleton`), motion re-targeting
(:mod:`~a2bench.core.pose.retarget`), the EPI training augmentations (:mod:`~a2bench.core.pose.epi`),
DWPose-convention rendering (:mod:`~a2bench.core.pose.render`), DWPose extraction
(:mod:`~a2bench.core.pose.extract`, imported on use: it loads onnxruntime) and pose-quality scores
(:mod:`~a2bench.core.pose.quality`).
"""

from a2bench.core.pose.keypoints import (
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
from a2bench.core.pose.render import as_model_input, draw_pose, render_poses
from a2bench.core.pose.retarget import retarget

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
    "as_model_input",
    "draw_pose",
    "render_poses",
    "retarget",
]
