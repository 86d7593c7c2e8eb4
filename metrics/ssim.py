"""SSIM as DisCo computes it (grayscale, scikit-image defaults) and Wang et al.'s Gaussian RGB SSIM.

Both reproduce ``skimage.metrics.structural_similarity``: the same formula in float64, one image per
thread. skimage crops ``(win_size - 1) // 2`` pixels off the SSIM map before averaging,
which leaves exactly the pixels whose window lies inside the image; so a "valid" separable filter
gives the cropped map directly and the boundary mode never matters.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from a2bench.metrics.base import PairedMetric, Recipe
from a2bench.metrics.threads import frame_pool

K1, K2, DATA_RANGE = 0.01, 0.03, 255.0


def ssim_map(image1: np.ndarray, image2: np.ndarray, kernel: np.ndarray, sample_covariance: bool) -> np.ndarray:
    """skimage's SSIM map of one 2-D pair of 0..255 images, cropped by ``len(kernel) // 2`` pixels on every side
    (the pixels whose window lies inside the image: the part skimage averages)."""
    x = image1.astype(np.float64)
    y = image2.astype(np.float64)
    pad = len(kernel) // 2
    uniform = bool(np.all(kernel == kernel[0]))

    def local_mean(values: np.ndarray) -> np.ndarray:
        for axis in (0, 1):  # the filters skimage itself calls: uniform_filter or gaussian_filter's correlate1d
            if uniform:
                values = ndimage.uniform_filter1d(values, len(kernel), axis=axis)
            else:
                values = ndimage.correlate1d(values, kernel, axis=axis)
        return values[pad:-pad, pad:-pad]

    ux, uy, uxx, uyy, uxy = (local_mean(m) for m in (x, y, x * x, y * y, x * y))
    window = len(kernel) ** 2
    cov_norm = window / (window - 1) if sample_covariance else 1.0
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim_per_image(images1: np.ndarray, images2: np.ndarray, kernel: np.ndarray, sample_covariance: bool) -> np.ndarray:
    """Mean SSIM of each pair of 2-D images ``(N, H, W)`` with values 0..255.

    Images are independent, and scipy and numpy release the GIL, so they run on a thread per core.
    """
    if min(images1.shape[-2:]) < len(kernel):
        raise ValueError(
            f"frames of {images1.shape[-1]}x{images1.shape[-2]} pixels are smaller than the "
            f"{len(kernel)}-pixel SSIM window"
        )
    scores = frame_pool().map(
        lambda pair: float(ssim_map(*pair, kernel, sample_covariance).mean(dtype=np.float64)),
        zip(images1, images2, strict=True),
    )
    return np.fromiter(scores, dtype=np.float64, count=len(images1))


def gaussian_kernel(sigma: float = 1.5, truncate: float = 3.5) -> np.ndarray:
    """scipy.ndimage's normalised Gaussian taps for skimage's ``gaussian_weights=True`` (11 at σ=1.5)."""
    radius = int(truncate * sigma + 0.5)
    taps = np.exp(-0.5 / sigma**2 * np.arange(-radius, radius + 1, dtype=np.float64) ** 2)
    return taps / taps.sum()


UNIFORM_7 = np.full(7, 1 / 7)  # DisCo's SSIM window (skimage's default)


def gray(frames: np.ndarray) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 RGB to DisCo's grayscale: OpenCV's fixed-point BT.601 luma, ``(N, H, W)`` uint8."""
    return np.stack([cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames])


class SSIM(PairedMetric):
    """DisCo's SSIM: OpenCV grayscale, skimage defaults (7×7 uniform window, sample covariance)."""

    title = "SSIM"
    higher_is_better = True
    recipe = Recipe(
        id="ssim/disco-gray-skimage-default/v1",
        reference="DisCo compute_ssim_l1_psnr(mode='SSIM'): cv2.cvtColor(BGR2GRAY) + "
        "skimage.metrics.structural_similarity(full=True) with defaults",
        inputs="8-bit RGB → OpenCV fixed-point BT.601 luma (uint8)",
        resize="none (sizes must match)",
        crop="3 px border of the SSIM map (skimage)",
        averaging="mean SSIM map per frame; mean over all frames of all videos",
        notes="7×7 uniform window, covariance × 49/48, K1=0.01, K2=0.03, data range 255.",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        return ssim_per_image(gray(pred), gray(target), UNIFORM_7, True)


class SSIMRGB(PairedMetric):
    """Wang et al.'s SSIM on RGB: Gaussian window σ=1.5 (11 taps), population covariance, channel mean."""

    title = "SSIM (RGB, Gaussian)"
    higher_is_better = True
    recipe = Recipe(
        id="ssim/wang-gaussian-rgb/v1",
        reference="skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, "
        "use_sample_covariance=False, data_range=255, channel_axis=-1)",
        inputs="8-bit RGB, each channel separately",
        resize="none (sizes must match)",
        crop="5 px border of the SSIM map (skimage)",
        averaging="mean over pixels and channels per frame; mean over all frames of all videos",
        notes="The settings skimage documents as matching Wang et al. 2004; torchmetrics differs slightly "
        "because it reflect-pads instead of cropping.",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        x = pred.transpose(0, 3, 1, 2).reshape(-1, *pred.shape[1:3])
        y = target.transpose(0, 3, 1, 2).reshape(-1, *target.shape[1:3])
        return ssim_per_image(x, y, gaussian_kernel(), False).reshape(len(pred), 3).mean(axis=1)
