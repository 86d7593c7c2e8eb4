"""Pixel metrics: PSNR (DisCo's, and its pre-2024 uint8 version), DisCo's L1, and plain MAE.

All four compare 8-bit RGB frames pixel by pixel, frame t with frame t, and pool the per-frame scores
over every frame of every video, as DisCo's ``tool/metrics/ssim_l1_lpips_psnr.py`` averages its list
of per-frame scores. Colour order does not matter to any of them (DisCo reads BGR).
"""

from __future__ import annotations

import numpy as np

from a2bench.metrics.base import PairedMetric, Recipe

PSNR_CAP = 100.0  # DisCo's value for identical frames (infinite PSNR)


def _squared_error_sums(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame sums of squared 8-bit differences, exact in int64."""
    diff = pred.astype(np.int32) - target.astype(np.int32)
    return np.einsum("thwc,thwc->t", diff, diff, dtype=np.int64)


def _mean_abs_diffs(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-frame mean |a − b| of 8-bit values, on the 0..255 scale, in float64."""
    diff = np.abs(pred.astype(np.int16) - target.astype(np.int16)).reshape(len(pred), -1)
    return diff.mean(axis=1, dtype=np.float64)


def _psnr_from_mse(mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.where(mse == 0, PSNR_CAP, 20 * np.log10(255.0 / np.sqrt(mse)))


class PSNR(PairedMetric):
    """PSNR* of the Animate-X tables: DisCo's float64 PSNR per frame, capped at 100, pooled over frames."""

    title = "PSNR*"
    higher_is_better = True
    recipe = Recipe(
        id="psnr/disco-float64/v1",
        reference="DisCo tool/metrics/ssim_l1_lpips_psnr.py psnr_eval at 6190108 (2024-04-10 and later)",
        inputs="8-bit RGB; MSE over H×W×3 in float64; 20·log10(255/√MSE); 100 when MSE is 0",
        resize="none (sizes must match)",
        averaging="mean of per-frame PSNR over all frames of all videos",
        notes="What Animate-X calls PSNR*, DisCo's computation 'modified to avoid numerical overflow'.",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        pixels = pred[0].size
        return _psnr_from_mse(_squared_error_sums(pred, target) / pixels)


class PSNRUint8Legacy(PairedMetric):
    """DisCo's PSNR before 2024-04-10, which squared uint8 differences with wrap-around."""

    title = "PSNR (uint8 legacy)"
    higher_is_better = True
    recipe = Recipe(
        id="psnr/disco-uint8-wraparound/v1",
        reference="DisCo tool/metrics/ssim_l1_lpips_psnr.py psnr_eval at f53ce62 (2023-12-08) and earlier",
        inputs="8-bit RGB; (a − b) and its square both computed in uint8, i.e. modulo 256; mean in float64",
        resize="none (sizes must match)",
        averaging="mean of per-frame values over all frames of all videos",
        notes="Every squared error wraps into 0..255, so the value never drops below 20·log10(255/√255) ≈ 24.07 dB. "
        "This is the 'PSNR' column of DisCo-line TikTok tables; reproduced only to compare with them.",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        wrapped = (pred - target) ** 2  # uint8 arithmetic on purpose: the bug being reproduced
        mse = wrapped.reshape(len(wrapped), -1).mean(axis=1, dtype=np.float64)
        return _psnr_from_mse(mse)


class L1(PairedMetric):
    """DisCo's ``l1_eval``: mean |a − b| on 0..255 values divided by H×W (so it shrinks with resolution)."""

    title = "L1"
    higher_is_better = False
    recipe = Recipe(
        id="l1/disco-per-hw/v1",
        reference="DisCo tool/metrics/ssim_l1_lpips_psnr.py l1_eval",
        inputs="8-bit RGB as float64 0..255; |a − b| / (H·W) per element",
        resize="none (sizes must match)",
        averaging="mean over elements, then over all frames of all videos",
        notes="The division by H×W makes the value resolution-dependent (≈1e-4 in the A2Bench tables); "
        "use mae for a resolution-free error.",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        height, width = pred.shape[1:3]
        return _mean_abs_diffs(pred, target) / float(height * width)


class MAE(PairedMetric):
    """Plain mean absolute error on [0, 1] values (what L1 should have been)."""

    title = "MAE"
    higher_is_better = False
    recipe = Recipe(
        id="mae/unit-range/v1",
        reference="definition: mean |a − b| of 8-bit values divided by 255",
        inputs="8-bit RGB scaled to [0, 1]",
        resize="none (sizes must match)",
        averaging="mean over elements, then over all frames of all videos",
    )

    def frame_scores(self, pred: np.ndarray, target: np.ndarray) -> np.ndarray:
        return _mean_abs_diffs(pred, target) / 255.0
