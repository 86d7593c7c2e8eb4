"""A clean implementation of Animate-X++ (arXiv 2508.09454).

``animatex.config`` (presets, plain data) imports without torch; the model classes are imported on first
use, so ``from animatex import AnimateXModel`` loads diffusers only then. docs/animatex.md describes the model.
"""

import importlib

import a2bench  # noqa: F401 - installs the torchvision compatibility hook first
from animatex.config import PRESETS, AnimateXConfig, ConfigError, get_preset

_LAZY = {
    "AnimateXModel": "animatex.transformer",
    "AnimateXTransformer": "animatex.transformer",
    "PoseVideoEncoder": "animatex.pose_encoders",
    "RefPoseEncoder": "animatex.pose_encoders",
    "add_reference_pose": "animatex.pose_encoders",
    "ImplicitPoseIndicator": "animatex.ipi",
    "OpenCLIPFrameEncoder": "animatex.ipi",
}

__all__ = ["PRESETS", "AnimateXConfig", "ConfigError", "get_preset", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'animatex' has no attribute {name!r}")
