"""Turning what users pass to a metric into the 8-bit RGB frames every recipe is defined on.

Each reference recipe reads 8-bit RGB images (PNG files or decoded video), so that is the one input
form here: ``(T, H, W, 3)`` uint8. Accepted as well, and converted as documented in docs/metrics.md:

* :class:`~a2bench.core.videoio.Video` objects and torch tensors (``T,H,W,C`` or ``T,C,H,W`` when C ≤ 4);
* float frames in [0, 1] → ``rint(x * 255)`` (NaN, Inf or values outside [0, 1] are errors);
* grayscale ``(T, H, W)`` or ``(T, H, W, 1)`` → the value copied to R, G and B (a 3-D array whose last axis is 3
  or 4 is refused: it could be one RGB image);
* RGBA → alpha dropped when fully opaque (as ``cv2.imread`` and PIL's ``convert("RGB")`` in the references drop
  it); any transparent pixel is an error, since what it shows is not defined.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from a2bench.core.videoio import Video


class FrameError(ValueError):
    """Frames a metric cannot score; the message names the sample and what to do."""


def as_frames(video: Any, name: str) -> np.ndarray:
    """``video`` as ``(T, H, W, 3)`` uint8; ``name`` (the sample and side) goes into every error."""
    if isinstance(video, Video):
        video = video.frames
    if hasattr(video, "detach"):  # torch tensor
        video = video.detach().cpu().numpy()
        if video.ndim == 4 and video.shape[1] <= 4 < video.shape[-1]:
            video = video.transpose(0, 2, 3, 1)
    frames = np.asarray(video)
    if frames.ndim == 3 and frames.shape[-1] in (3, 4):
        raise FrameError(
            f"{name}: shape {frames.shape} is ambiguous: one {frames.shape[1]}x{frames.shape[0]} image, or "
            f"{frames.shape[0]} grey frames {frames.shape[2]} pixels wide? Pass a single image as (1, H, W, 3) and "
            "grey frames as (T, H, W, 1)"
        )
    if frames.ndim == 3:
        frames = frames[..., None]
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3, 4):
        raise FrameError(f"{name}: expected frames (T, H, W, C) with C in 1, 3 or 4, got shape {frames.shape}")
    if frames.shape[0] == 0 or frames.shape[1] == 0 or frames.shape[2] == 0:
        raise FrameError(f"{name}: no pixels (shape {frames.shape})")
    if frames.dtype != np.uint8:
        frames = _quantise(frames, name)
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    elif frames.shape[-1] == 4:
        if (frames[..., 3] < 255).any():
            raise FrameError(f"{name}: RGBA frames with transparent pixels; composite them over their background "
                             "first (what a transparent pixel shows is not defined)")  # fmt: skip
        frames = frames[..., :3]
    return np.ascontiguousarray(frames)


def _quantise(frames: np.ndarray, name: str) -> np.ndarray:
    if frames.dtype.kind not in "fiub":
        raise FrameError(f"{name}: frames of dtype {frames.dtype} are not images")
    if frames.dtype.kind != "f":
        if frames.min() < 0 or frames.max() > 255:
            raise FrameError(f"{name}: integer frames must lie in 0..255, got {frames.min()}..{frames.max()}")
        return frames.astype(np.uint8)
    bad = ~np.isfinite(frames)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise FrameError(f"{name}: frame {frame} contains NaN or Inf; fix the model output before scoring it")
    low, high = float(frames.min()), float(frames.max())
    if low < 0 or high > 1:
        raise FrameError(
            f"{name}: float frames must lie in [0, 1], got {low:.4g}..{high:.4g} (pass uint8 for 0..255 data)"
        )
    return np.rint(frames.astype(np.float64) * 255).astype(np.uint8)


def check_pair(pred: np.ndarray, target: np.ndarray, sample_id: str) -> None:
    """Paired metrics compare frame t with frame t: counts and sizes must match."""
    if pred.shape[0] != target.shape[0]:
        raise FrameError(
            f"sample {sample_id}: prediction has {pred.shape[0]} frames, ground truth {target.shape[0]}; "
            "generate as many frames as the ground truth"
        )
    if pred.shape[1:3] != target.shape[1:3]:
        raise FrameError(
            f"sample {sample_id}: prediction is {pred.shape[2]}x{pred.shape[1]}, ground truth "
            f"{target.shape[2]}x{target.shape[1]}; paired metrics compare pixels, so generate at the ground "
            "truth's size (resizing is the adapter's job, where the model's own resize is known)"
        )
