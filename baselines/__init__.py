"""Runnable baselines and adapters for other models' official code."""

from a2bench.baselines import command, folder, oracle, pose_warp, reference_copy  # noqa: F401 - registers the adapters
