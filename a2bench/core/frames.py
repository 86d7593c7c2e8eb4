"""Frame-array helpers every layer uses: resizing to a benchmark's size and parsing ``WIDTHxHEIGHT``."""

from __future__ import annotations

import numpy as np
from PIL import Image

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def resize_frames(frames: np.ndarray, size: tuple[int, int], resample: str = "bicubic") -> np.ndarray:
    """``(T, H, W, C)`` uint8 squashed to ``size = (W, H)`` with PIL (no crop); unchanged when already that size.

    Bicubic is how the runner brings a model's frames to the benchmark's size; bilinear is how the Animate-X++
    release resizes pose images."""
    if (frames.shape[2], frames.shape[1]) == tuple(size):
        return frames
    method = _RESAMPLE[resample]
    return np.stack([np.asarray(Image.fromarray(f).resize(tuple(size), method)) for f in frames])


def parse_size(text: str) -> tuple[int, int]:
    """``"256x256"`` → ``(256, 256)`` (width, height); anything else is a ``ValueError`` saying the format."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"expected WIDTHxHEIGHT such as 256x256, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"expected a positive WIDTHxHEIGHT such as 256x256, got {text!r}")
    return width, height
