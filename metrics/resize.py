"""The resize DisCo's video metrics use: PIL bicubic on each channel as float32, without re-quantising.

DisCo's ``tool/metrics/resize.py`` ``make_resizer("PIL", False, "bicubic", size)`` (its copy of clean-fid's
resizer, without clean-fid's later clipping to 0..255) is applied to every frame before FID-VID (112×112)
and FVD (224×224). Aspect ratio is not kept; bicubic overshoot below 0 and above 255 is kept too.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from a2bench.metrics.threads import frame_pool


def _resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    channels = [
        np.asarray(Image.fromarray(frame[..., c].astype(np.float32)).resize((size, size), Image.Resampling.BICUBIC))
        for c in range(frame.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def pil_bicubic_float(frames: np.ndarray, size: int) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 → ``(T, size, size, 3)`` float32 on the 0..255 scale (frames in parallel)."""
    return np.stack(list(frame_pool().map(lambda frame: _resize_frame(frame, size), frames)))
