"""Shared fixtures: offline, isolated $A2BENCH_HOME, and a tiny synth benchmark built once."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

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
