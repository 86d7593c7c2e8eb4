"""The release's sampling rules, as plain functions (NumPy only): which driving frames feed a video, and the sigmas
of the denoising schedule. :class:`~a2bench.animatex.pipeline.AnimateXPipeline` and the training data use them."""

from __future__ import annotations

import numpy as np


def sample_indices(available: int, num_frames: int, stride: int = 1) -> np.ndarray:
    """Which of ``available`` driving frames feed a ``num_frames`` video (the release's rule, spec §4.1).

    * enough frames (``available >= stride·num_frames + 1``): ``0, stride, …, stride·(num_frames − 1)``;
    * otherwise the stride drops to ``max(available // num_frames, 1)`` and the frames ``0, stride, …`` below
      ``min(stride·num_frames, available)`` are taken; if that is still short (fewer driving frames than
      ``num_frames``), the last one is repeated.

    Exactly ``num_frames`` indices, always starting at 0 (no random offset).
    """
    if available < 1 or num_frames < 1 or stride < 1:
        raise ValueError(f"need at least one frame and a positive stride; got {available=}, {num_frames=}, {stride=}")
    if available < stride * num_frames + 1:
        stride = max(available // num_frames, 1)
        end = min(stride * num_frames, available)
        idx = list(range(0, end, stride))[:num_frames]
        idx += [end - 1] * (num_frames - len(idx))
        return np.asarray(idx, dtype=np.int64)
    return np.arange(num_frames, dtype=np.int64) * stride


def release_sigmas(steps: int) -> np.ndarray:
    """The release's unshifted sigmas ``linspace(1, 0, steps + 1)[:-1]``; the scheduler applies shift 5 once.

    diffusers' ``set_timesteps(steps)`` without them spaces the *shifted* training sigmas instead and gives a
    different schedule (last timestep 24.4 instead of the release's 92.6 at 50 steps).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return np.linspace(1.0, 0.0, steps + 1)[:-1]
