"""Shared fixtures: offline, isolated $A2BENCH_HOME, and a tiny synth benchmark built once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["A2BENCH_HOME"] = tempfile.mkdtemp(prefix="a2bench-home-")  # never the user's cache

import torch

torch.set_flush_denormal(True)

TINY = {"samples": 4, "frames": 12, "width": 64, "height": 64, "seed": 3}


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-sample, 12-frame, 64x64 synth benchmark (read-only: copy it before changing files)."""
    from a2bench.synth import SynthOptions, generate

    return generate(tmp_path_factory.mktemp("synth") / "tiny", SynthOptions(**TINY), workers=1)


@pytest.fixture
def bench_copy(tiny_synth: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny benchmark that a test may damage."""
    return Path(shutil.copytree(tiny_synth, tmp_path / "bench"))


@pytest.fixture(scope="session")
def random_weight_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random-weight networks under their official names, in a folder laid out as ``$TORCH_HOME``.

    ``hub/checkpoints`` is where torchvision and pytorch-fid look, so the reference packages load the
    very files a2bench loads. VideoMAE is left out: its test writes a small one itself.
    """
    from metrics.testing import write_random_weights

    torch_home = tmp_path_factory.mktemp("torch-home")
    names = [
        "alexnet-owt-7be5be79.pth",
        "vgg16-397923af.pth",
        "pt_inception-2015-12-05-6726825d.pth",
        "i3d_pretrained_400.pt",
        "i3d_torchscript.pt",
        "resnet-50-kinetics.pth",
    ]
    write_random_weights(torch_home / "hub" / "checkpoints", names)
    return torch_home


@pytest.fixture
def random_weights(random_weight_files: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Point a2bench and the reference packages at the random-weight files (marked unverified)."""
    monkeypatch.setenv("TORCH_HOME", str(random_weight_files))
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "a2bench-weights"))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    return random_weight_files / "hub" / "checkpoints"


def smooth_videos(count: int, frames: int, height: int, width: int, seed: int) -> list[np.ndarray]:
    """Natural-looking test videos: moving smooth colour fields, uint8 ``(T, H, W, 3)``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    videos = []
    for _ in range(count):
        freq = rng.uniform(1, 6, size=(3, 2))
        phase = rng.uniform(0, 2 * np.pi, size=3)
        speed = rng.uniform(0.05, 0.3, size=3)
        video = np.empty((frames, height, width, 3), np.uint8)
        for t in range(frames):
            for c in range(3):
                wave = np.sin(2 * np.pi * (freq[c, 0] * x + freq[c, 1] * y) + phase[c] + speed[c] * t)
                video[t, ..., c] = np.clip(127.5 + 110 * wave + rng.normal(0, 6, (height, width)), 0, 255)
        videos.append(video)
    return videos


def perturb(videos: list[np.ndarray], seed: int, noise: float = 12.0) -> list[np.ndarray]:
    """A degraded copy of each video (shifted, noisy) to play the prediction."""
    rng = np.random.default_rng(seed)
    out = []
    for video in videos:
        moved = np.roll(video, shift=int(rng.integers(1, 4)), axis=2).astype(np.float64)
        out.append(np.clip(moved + rng.normal(0, noise, video.shape), 0, 255).astype(np.uint8))
    return out
