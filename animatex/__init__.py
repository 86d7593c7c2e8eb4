"""A clean implementation of Animate-X++ (arXiv 2508.09454).

``a2bench.animatex.config`` (presets, plain data) imports without torch; the model classes are imported on first
use, so ``from animatex import AnimateXModel`` loads diffusers only then. docs/animatex.md describes the model.
"""

import importlib

from a2bench.animatex.config import PRESETS, AnimateXConfig, ConfigError, get_preset

_LAZY = {
    "AnimateXModel": "a2bench.animatex.transformer",
    "AnimateXTransformer": "a2bench.animatex.transformer",
    "PoseVideoEncoder": "a2bench.animatex.pose_encoders",
    "RefPoseEncoder": "a2bench.animatex.pose_encoders",
    "add_reference_pose": "a2bench.animatex.pose_encoders",
    "ImplicitPoseIndicator": "a2bench.animatex.ipi",
    "OpenCLIPFrameEncoder": "a2bench.animatex.ipi",
}

__all__ = ["PRESETS", "AnimateXConfig", "ConfigError", "get_preset", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'animatex' has no attribute {name!r}")
