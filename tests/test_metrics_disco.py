"""DisCo's recipes against DisCo's own evaluation code (Wangt-CN/DisCo, ``tool/metrics/``).

DisCo is not a package, so these tests import its modules from a checkout named by the environment
variable ``A2BENCH_DISCO_DIR`` (the folder that contains ``tool/``) and skip without it::

    git clone https://github.com/Wangt-CN/DisCo /tmp/DisCo
    A2BENCH_DISCO_DIR=/tmp/DisCo python -m pytest tests/test_metrics_disco.py

Nothing of DisCo is copied here. Each metric runs through DisCo's own functions on files on disk:
``compute_ssim_l1_psnr`` and ``compute_lpips`` on PNG frames, and for the video metrics
``build_feature_extractor`` (loading the random-weight files of conftest's ``random_weights`` from
``<root>/eval_fvd/`` as DisCo does), ``DatasetFVDVideoResize`` on GIFs, ``compute_3d_video_prediction``
and ``fid_from_feats``. a2bench gets the frames DisCo decodes from those files.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import score
from PIL import Image

# Importing metrics installs a2bench's torchvision hook before DisCo's modules import torchvision.
from a2bench.metrics.testing import perturb, smooth_videos

DISCO_DIR = os.environ.get("A2BENCH_DISCO_DIR", "")
pytestmark = pytest.mark.skipif(
    not DISCO_DIR, reason="set A2BENCH_DISCO_DIR to a Wangt-CN/DisCo checkout (the folder containing tool/)"
)

RTOL = 1e-5
# Modules DisCo's tool/metrics imports at the top but that the PNG and GIF paths never call:
# ffmpeg-python and imageio (video files), requests (downloads).
UNUSED_IMPORTS = ("ffmpeg", "imageio", "requests")


@pytest.fixture(scope="module")
def disco() -> Iterator[types.SimpleNamespace]:
    """DisCo's tool.metrics modules, imported from the checkout (sys.path and stubs restored afterwards)."""
    root = Path(DISCO_DIR)
    if not (root / "tool" / "metrics" / "metric_center.py").is_file():
        pytest.fail(f"A2BENCH_DISCO_DIR={DISCO_DIR} has no tool/metrics/metric_center.py: not a DisCo checkout")
    with pytest.MonkeyPatch.context() as patch:
        for name in UNUSED_IMPORTS:
            if name not in sys.modules and importlib.util.find_spec(name) is None:
                patch.setitem(sys.modules, name, types.ModuleType(name))
        patch.syspath_prepend(str(root))  # metric_center also inserts the root itself; both are undone
        from tool.metrics import metric_center, ssim_l1_lpips_psnr, utils

        origin = Path(metric_center.__file__).resolve()
        assert origin.is_relative_to(root.resolve()), f"tool.metrics came from {origin}, not {root}"
        yield types.SimpleNamespace(center=metric_center, images=ssim_l1_lpips_psnr, utils=utils)


# ---------------------------------------------------------------- PSNR, SSIM, L1, LPIPS on PNG frames


@pytest.fixture(scope="module")
def frame_files(tmp_path_factory: pytest.TempPathFactory):
    """Videos and their frames as PNGs, ``gen/`` and ``gt/`` with the same names (DisCo pairs by name)."""
    gts = smooth_videos(3, 5, 40, 56, seed=31)
    preds = perturb(gts, seed=32)
    preds[1] = gts[1].copy()  # identical frames: DisCo's PSNR of 100 and SSIM of 1
    root = tmp_path_factory.mktemp("disco-frames")
    files: dict[str, list[str]] = {}
    for side, videos in (("gen", preds), ("gt", gts)):
        (root / side).mkdir()
        files[side] = []
        for i, video in enumerate(videos):
            for t, frame in enumerate(video):
                path = root / side / f"v{i}_{t:03d}.png"
                Image.fromarray(frame).save(path)
                files[side].append(str(path))
    return preds, gts, files["gen"], files["gt"]


@pytest.mark.parametrize(("name", "mode"), [("psnr", "PSNR"), ("ssim", "SSIM"), ("l1", "L1")])
def test_pixel_metrics_match_disco_compute_ssim_l1_psnr(disco, frame_files, name: str, mode: str) -> None:
    preds, gts, gen_files, gt_files = frame_files
    expected = disco.images.compute_ssim_l1_psnr(gen_files, gt_files, mode)  # cv2.imread: BGR, same numbers
    result = score(name, preds, gts)
    assert result.value == pytest.approx(expected, rel=1e-12)
    if name == "psnr":
        assert result.per_sample["v1"] == 100.0


def test_lpips_disco_matches_disco_compute_lpips(disco, random_weights, frame_files) -> None:
    preds, gts, gen_files, gt_files = frame_files
    expected = disco.images.compute_lpips(gen_files, gt_files)  # lpips.LPIPS(net='vgg'): VGG from $TORCH_HOME
    result = score("lpips_disco", preds, gts)
    assert result.value == pytest.approx(expected, rel=RTOL)
    assert result.unverified_weights


# ---------------------------------------------------------------- FID-VID and FVD on GIF videos


@pytest.fixture(scope="module")
def gif_files(disco, tmp_path_factory: pytest.TempPathFactory):
    """Four 20-frame videos per side as GIFs, and the frames DisCo's ``gif_to_nparray`` decodes from them.

    20 frames is not a multiple of 16, so FID-VID pads with the last frame into two segments, and DisCo's
    FVD feeds the whole 20-frame video as one clip.
    """
    gts = smooth_videos(4, 20, 48, 64, seed=33)
    preds = perturb(gts, seed=34, noise=25)
    root = tmp_path_factory.mktemp("disco-gifs")
    files: dict[str, list[str]] = {}
    decoded: dict[str, list[np.ndarray]] = {}
    for side, videos in (("gen", preds), ("gt", gts)):
        (root / side).mkdir()
        files[side], decoded[side] = [], []
        for i, video in enumerate(videos):
            path = root / side / f"v{i}.gif"
            first, *rest = (Image.fromarray(frame) for frame in video)
            first.save(path, save_all=True, append_images=rest, duration=100, loop=0)
            frames = disco.utils.gif_to_nparray(str(path))
            assert frames.shape == video.shape, (path, frames.shape)
            files[side].append(str(path))
            decoded[side].append(frames)
    return files, decoded


def disco_video_features(disco, weights: Path, tmp_path: Path, monkeypatch, capsys, files, mode: str, size: int):
    """DisCo's per-video features: its network builder, dataset and ``compute_3d_video_prediction``."""
    (tmp_path / "eval_fvd").mkdir()  # DisCo loads <root_dir>/eval_fvd/<official name>
    for name in ("resnet-50-kinetics.pth", "i3d_pretrained_400.pt"):
        (tmp_path / "eval_fvd" / name).symlink_to(weights / name)
    model = disco.center.build_feature_extractor(mode, str(tmp_path), device=torch.device("cpu"))
    get_batch_features = disco.center.get_batch_features
    # compute_3d_video_prediction hard-codes torch.device('cuda'); the same call on the CPU.
    monkeypatch.setattr(
        disco.center,
        "get_batch_features",
        lambda batch, net, device: get_batch_features(batch, net, torch.device("cpu")),
    )
    features = {}
    for side in ("gen", "gt"):
        dataset = disco.utils.DatasetFVDVideoResize(files[side], 16, mode, size)
        features[side] = disco.center.compute_3d_video_prediction(dataset, model, batch_size=1, num_workers=0)
    # DatasetFVDVideoResize swallows errors and returns a random other video instead: make sure none did.
    assert "skipped" not in capsys.readouterr().out
    return features["gen"], features["gt"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "mode", "size"), [("fid_vid", "FVD-3DRN50", 112), ("fvd_disco", "FVD-3DInception", 224)]
)
def test_video_metric_matches_disco(
    disco, random_weights, gif_files, tmp_path, monkeypatch, capsys, name: str, mode: str, size: int
) -> None:
    """Same per-video features as DisCo, and the same Fréchet distance as its ``fid_from_feats``.

    Four videos in 2048 (or 400) dimensions make ``S_gen @ S_gt`` singular, where scipy's ``sqrtm`` (DisCo's
    route) loses digits, so the distance is compared relative to the size of the terms it is the
    difference of, ``|dmu|² + tr S1 + tr S2``, as in test_metrics_parity.assert_same_distribution.
    """
    files, decoded = gif_files
    gen, gt = disco_video_features(disco, random_weights, tmp_path, monkeypatch, capsys, files, mode, size)
    expected = float(disco.center.fid_from_feats(gen, gt))

    out: list = []
    value = score(name, decoded["gen"], decoded["gt"], metric_out=out).value
    metric = out[0]
    for ours, theirs in ((metric.pred_stats, gen), (metric.target_stats, gt)):
        assert ours.rows.shape == theirs.shape == (4, 2048 if name == "fid_vid" else 400)
        np.testing.assert_allclose(ours.rows, theirs, rtol=0, atol=RTOL * np.abs(theirs).max())
    scale = float(np.square(gen.mean(0) - gt.mean(0)).sum())
    scale += sum(float(np.trace(np.cov(feats, rowvar=False))) for feats in (gen, gt))
    assert abs(value - expected) <= RTOL * scale, (value, expected, scale)
    assert value > 0.01 * scale  # the two sets really differ: the check above is not vacuous
