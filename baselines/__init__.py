"""Runnable baselines and adapters for other models' official code."""

import a2bench  # noqa: F401 - installs the torchvision compatibility hook first
from baselines import command, folder, oracle, pose_warp, reference_copy  # noqa: F401 - registers the adapters
