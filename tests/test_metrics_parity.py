"""Every recipe against its reference package, on the same inputs and the same weight files.

Networks carry random weights saved under their official names (a2bench.metrics.testing); the reference
packages load them through their own code paths (torch hub cache for torchvision and pytorch-fid,
``ckpt_path`` for cd-fvd). DisCo-only pieces (FID-VID, DisCo's FVD) are checked against a DisCo
checkout in test_metrics_disco.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import score
from PIL import Image

from a2bench.metrics import FeatureStats, frechet_distance
from a2bench.metrics.testing import perturb, smooth_videos

RTOL = 1e-5


def assert_same_distribution(name, preds, gts, reference_stats, reference_value) -> None:
    """Same mean and covariance on both sides as the reference, and the same distance.

    With fewer videos than feature dimensions, ``S_pred @ S_gt`` is singular and scipy's ``sqrtm``
    (the reference's route) loses digits; the distance is then compared relative to the size of the
    terms it is the difference of, ``|dmu|² + tr S1 + tr S2`` (a2bench's own route is exact there:
    see test_frechet_distance_is_exact_where_scipy_is_not).
    """
    out: list = []
    value = score(name, preds, gts, metric_out=out).value
    metric = out[0]
    scale = 0.0
    for ours, (mu, sigma) in ((metric.pred_stats, reference_stats[0]), (metric.target_stats, reference_stats[1])):
        # float32 network outputs differ in the last bits with the batch's composition (the reference
        # batches 16 videos, a2bench one), so elements are compared relative to the largest one.
        np.testing.assert_allclose(ours.mean(), mu, rtol=0, atol=1e-5 * np.abs(mu).max())
        np.testing.assert_allclose(ours.cov(), sigma, rtol=0, atol=1e-4 * np.abs(sigma).max())
        scale += np.trace(sigma)
    scale += float(np.square(reference_stats[0][0] - reference_stats[1][0]).sum())
    assert abs(value - reference_value) <= RTOL * scale, (value, reference_value, scale)


@pytest.fixture(scope="module")
def videos() -> tuple[list[np.ndarray], list[np.ndarray]]:
    gts = smooth_videos(3, 5, 40, 56, seed=1)
    return perturb(gts, seed=2), gts


def frames_of(videos: list[np.ndarray]) -> list[np.ndarray]:
    return [frame for video in videos for frame in video]


def pairs(preds: list[np.ndarray], gts: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(prediction, ground truth) frame pairs of all videos, in order."""
    return list(zip(frames_of(preds), frames_of(gts), strict=True))


def test_psnr_matches_skimage_per_frame_mean_and_caps_identical_frames(videos) -> None:
    from skimage.metrics import peak_signal_noise_ratio

    preds, gts = videos
    preds = [preds[0], gts[1].copy(), preds[2]]  # one identical video: DisCo's cap of 100 applies per frame
    reference = [
        100.0 if np.array_equal(p, g) else peak_signal_noise_ratio(g, p, data_range=255)
        for p, g in zip(frames_of(preds), frames_of(gts), strict=True)
    ]
    result = score("psnr", preds, gts)
    assert result.value == pytest.approx(np.mean(reference), rel=1e-12)
    assert result.per_sample["v1"] == 100.0


def test_psnr_uint8_legacy_reproduces_the_wraparound_and_never_drops_below_24db(videos) -> None:
    preds, gts = videos
    # The pre-2024 DisCo line, verbatim in numpy semantics: uint8 subtraction and square wrap modulo 256.
    reference = [20 * np.log10(255 / np.sqrt(np.mean((g - p) ** 2))) for p, g in pairs(preds, gts)]
    result = score("psnr_uint8_legacy", preds, gts)
    assert result.value == pytest.approx(np.mean(reference), rel=1e-12)
    opposite = [np.zeros((2, 16, 16, 3), np.uint8)], [np.full((2, 16, 16, 3), 255, np.uint8)]
    assert score("psnr_uint8_legacy", *opposite).value > 24.0 > score("psnr", *opposite).value


def test_ssim_matches_disco_grayscale_skimage_defaults(videos) -> None:
    import cv2
    from skimage.metrics import structural_similarity

    preds, gts = videos
    reference = [
        structural_similarity(cv2.cvtColor(p, cv2.COLOR_RGB2GRAY), cv2.cvtColor(g, cv2.COLOR_RGB2GRAY), full=True)[0]
        for p, g in pairs(preds, gts)
    ]
    assert score("ssim", preds, gts).value == pytest.approx(np.mean(reference), rel=1e-12)


def test_ssim_map_is_skimages_full_map_cropped_as_it_averages(videos) -> None:
    import cv2
    from skimage.metrics import structural_similarity

    from a2bench.metrics.ssim import UNIFORM_7, gray, ssim_map

    pred, gt = videos[0][0][0], videos[1][0][0]
    assert np.array_equal(gray(pred[None])[0], cv2.cvtColor(pred, cv2.COLOR_RGB2GRAY))
    full = structural_similarity(*(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in (pred, gt)), full=True)[1]
    assert np.allclose(ssim_map(*gray(np.stack([pred, gt])), UNIFORM_7, True), full[3:-3, 3:-3], rtol=0, atol=1e-12)


def test_ssim_rgb_matches_skimage_wang_settings(videos) -> None:
    from skimage.metrics import structural_similarity

    preds, gts = videos
    reference = [
        structural_similarity(
            g, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1
        )
        for p, g in pairs(preds, gts)
    ]
    assert score("ssim_rgb", preds, gts).value == pytest.approx(np.mean(reference), rel=1e-12)


def test_l1_is_disco_l1_eval_and_mae_is_torchmetrics_mae(videos) -> None:
    from torchmetrics.functional import mean_absolute_error

    preds, gts = videos
    height, width = gts[0].shape[1:3]
    # DisCo: np.mean over the list of |a − b| / (H·W) arrays of every frame.
    disco = np.mean(
        [np.absolute(p.astype("float") - g.astype("float")) / float(height * width) for p, g in pairs(preds, gts)]
    )
    assert score("l1", preds, gts).value == pytest.approx(disco, rel=1e-12)
    per_frame = [
        mean_absolute_error(torch.from_numpy(p / 255.0), torch.from_numpy(g / 255.0)).item()
        for p, g in pairs(preds, gts)
    ]
    assert score("mae", preds, gts).value == pytest.approx(np.mean(per_frame), rel=1e-12)


@pytest.mark.parametrize(("name", "net", "normalize"), [("lpips", "alex", True), ("lpips_disco", "vgg", False)])
def test_lpips_matches_the_lpips_package(random_weights, videos, name: str, net: str, normalize: bool) -> None:
    import lpips

    preds, gts = videos
    reference_net = lpips.LPIPS(net=net, verbose=False)  # trunk from the torch hub cache, heads from the wheel
    to_tensor = lambda frame: torch.from_numpy(frame).permute(2, 0, 1).float().div(255)[None]  # noqa: E731
    with torch.no_grad():  # one frame at a time, as DisCo's loop does
        reference = [
            reference_net(to_tensor(p), to_tensor(g), normalize=normalize).item() for p, g in pairs(preds, gts)
        ]
    result = score(name, preds, gts)
    assert result.value == pytest.approx(np.mean(reference), rel=RTOL)
    assert result.unverified_weights
    assert 0.0 <= score(name, gts, gts).value < 1e-7  # zero up to float32 kernel rounding


def test_fid_matches_pytorch_fid_on_frame_folders(random_weights, tmp_path) -> None:
    from pytorch_fid.fid_score import calculate_fid_given_paths

    gts = smooth_videos(4, 3, 48, 64, seed=5)
    preds = perturb(gts, seed=6, noise=30)
    for side, videos in (("pred", preds), ("gt", gts)):
        (tmp_path / side).mkdir()
        for i, frame in enumerate(frames_of(videos)):
            Image.fromarray(frame).save(tmp_path / side / f"{i:03d}.png")
    reference = calculate_fid_given_paths(
        [str(tmp_path / "pred"), str(tmp_path / "gt")], batch_size=50, device="cpu", dims=2048, num_workers=0
    )
    assert score("fid", preds, gts).value == pytest.approx(reference, rel=RTOL)


def cdfvd_i3d(random_weights, gts: list[np.ndarray], preds: list[np.ndarray]):
    """cd-fvd's ``compute_fvd(real, fake)`` on the videos as given: its statistics and its value."""
    from cdfvd import fvd

    reference = fvd.cdfvd("i3d", ckpt_path=str(random_weights / "i3d_pretrained_400.pt"), device="cpu", n_fake="full")
    expected = reference.compute_fvd(np.stack(gts), np.stack(preds))
    return (reference.fake_stats.get_mean_cov(), reference.real_stats.get_mean_cov()), expected


@pytest.mark.parametrize("frames", [16, 24, 32])
def test_fvd_i3d400_matches_cdfvd_on_every_frame(random_weights, frames: int) -> None:
    """cd-fvd's array API feeds all T frames of a (B, T, H, W, C) array as one clip; so does fvd_i3d400."""
    gts = smooth_videos(3, frames, 48, 64, seed=7)
    preds = perturb(gts, seed=8, noise=25)
    assert_same_distribution("fvd_i3d400", preds, gts, *cdfvd_i3d(random_weights, gts, preds))


def test_fvd_i3d400_16f_is_cdfvd_on_the_first_16_frames(random_weights) -> None:
    gts = smooth_videos(3, 24, 48, 64, seed=7)
    preds = perturb(gts, seed=8, noise=25)
    first = [video[:16] for video in gts], [video[:16] for video in preds]
    assert_same_distribution("fvd_i3d400_16f", preds, gts, *cdfvd_i3d(random_weights, *first))
    assert score("fvd_i3d400_16f", preds, gts).value != score("fvd_i3d400", preds, gts).value


def test_fvd_calls_the_styleganv_detector_as_styleganv_does(random_weights) -> None:
    """StyleGAN-V's compute_fvd, rebuilt from the reference's parts: its FeatureStats (as vendored by
    cd-fvd), the TorchScript detector called with rescale/resize/return_features, scipy's sqrtm."""
    from cdfvd.utils.metric_utils import FeatureStats as StyleGANVStats

    gts = smooth_videos(3, 20, 48, 64, seed=9)
    preds = perturb(gts, seed=10, noise=25)
    detector = torch.jit.load(str(random_weights / "i3d_torchscript.pt"))
    stats = {}
    for side, videos in (("gen", preds), ("real", gts)):
        stats[side] = StyleGANVStats(capture_mean_cov=True)
        clips = torch.from_numpy(np.stack([v[:16] for v in videos])).permute(0, 4, 1, 2, 3)  # [b, c, t, h, w]
        with torch.no_grad():
            stats[side].append_torch(detector(clips, rescale=True, resize=True, return_features=True), 0, 1)
    mu_gen, sigma_gen = stats["gen"].get_mean_cov()
    mu_real, sigma_real = stats["real"].get_mean_cov()
    sqrt, _ = scipy.linalg.sqrtm(np.dot(sigma_gen, sigma_real), disp=False)
    expected = float(np.real(np.square(mu_gen - mu_real).sum() + np.trace(sigma_gen + sigma_real - sqrt * 2)))
    assert_same_distribution("fvd", preds, gts, ((mu_gen, sigma_gen), (mu_real, sigma_real)), expected)


def test_fvd_videomae_matches_cdfvd(random_weights, monkeypatch, tmp_path) -> None:
    from cdfvd import fvd
    from cdfvd.third_party.VideoMAEv2 import utils as videomae_utils

    from a2bench.metrics.testing import small_videomae, write_random_weights

    monkeypatch.setattr(videomae_utils, "vit_giant_patch14_224", small_videomae)  # both sides build the small ViT
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path))
    path = write_random_weights(tmp_path, ["vit_g_hybrid_pt_1200e_ssv2_ft.pth"])["vit_g_hybrid_pt_1200e_ssv2_ft.pth"]
    gts = smooth_videos(3, 16, 40, 48, seed=11)
    preds = perturb(gts, seed=12, noise=25)
    reference = fvd.cdfvd("videomae", ckpt_path=str(path), device="cpu", n_fake="full")
    expected = reference.compute_fvd(np.stack(gts), np.stack(preds))
    stats = (reference.fake_stats.get_mean_cov(), reference.real_stats.get_mean_cov())
    assert_same_distribution("fvd_videomae", preds, gts, stats, expected)


@pytest.mark.parametrize(
    ("n1", "n2", "dim", "noise"),
    [(40, 50, 256, 1.0), (300, 280, 64, 1.0), (30, 400, 128, 1.0), (300, 280, 64, 0.0)],
    ids=["both-fewer-than-dims", "full-rank", "one-side-fewer", "rank-16-covariances"],
)
def test_frechet_distance_equals_scipy_sqrtm_route(n1: int, n2: int, dim: int, noise: float) -> None:
    from pytorch_fid.fid_score import calculate_frechet_distance

    rng = np.random.default_rng(n1)
    mixing = rng.standard_normal((16, dim))
    x = (rng.standard_normal((n1, 16)) @ mixing + noise * np.abs(rng.standard_normal((n1, dim)))).astype(np.float32)
    y = rng.standard_normal((n2, 16)) @ mixing * 1.3 + noise * np.abs(rng.standard_normal((n2, dim)))
    y = y.astype(np.float32)
    expected = calculate_frechet_distance(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    a, b = FeatureStats(), FeatureStats()
    for chunk in np.array_split(x, 4):
        a.update(chunk)
    for chunk in np.array_split(y, 3):
        b.update(chunk)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_is_exact_where_scipy_is_not() -> None:
    """3 samples in 400 dimensions: checked against 40-digit arithmetic, where sqrtm is off by ~1e-5."""
    import mpmath

    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((3, 400)) * 20, rng.standard_normal((3, 400)) * 20 + 1
    a, b = FeatureStats(ddof=0), FeatureStats(ddof=0)
    a.update(x)
    b.update(y)
    mpmath.mp.dps = 40

    def centred(m: np.ndarray) -> mpmath.matrix:
        rows = mpmath.matrix(m.tolist())
        means = [mpmath.fsum(rows[i, j] for i in range(rows.rows)) / rows.rows for j in range(rows.cols)]
        return mpmath.matrix(
            [[(rows[i, j] - means[j]) / mpmath.sqrt(rows.rows) for j in range(rows.cols)] for i in range(rows.rows)]
        )

    cx, cy = centred(x), centred(y)
    nuclear = mpmath.fsum(mpmath.svd_r(cx * cy.T, compute_uv=False))
    traces = mpmath.fsum(v**2 for v in cx) + mpmath.fsum(v**2 for v in cy)
    mean_term = mpmath.fsum((mpmath.mpf(u) - mpmath.mpf(v)) ** 2 for u, v in zip(x.mean(0), y.mean(0), strict=True))
    exact = float(mean_term + traces - 2 * nuclear)
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-12)
