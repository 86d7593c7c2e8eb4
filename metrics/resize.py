"""The resize DisCo's video metrics use: PIL bicubic on each channel as float32, without re-quantising.

This is clean-fid's ``make_resizer("PIL", quantize_after=False, "bicubic", size)``, which DisCo's
``tool/metrics/utils.py`` applies to every frame before FID-VID (112×112) and FVD (224×224).
Aspect ratio is not kept.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from PIL import Image


def _resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    channels = [
        np.asarray(Image.fromarray(frame[..., c].astype(np.float32)).resize((size, size), Image.Resampling.BICUBIC))
        for c in range(frame.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def pil_bicubic_float(frames: np.ndarray, size: int) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 → ``(T, size, size, 3)`` float32 on the 0..255 scale (frames in parallel)."""
    with ThreadPoolExecutor(max_workers=torch.get_num_threads()) as pool:
        return np.stack(list(pool.map(lambda frame: _resize_frame(frame, size), frames)))
