"""Shared fixtures: offline, isolated $A2BENCH_HOME, and a tiny synth benchmark built once."""

from __future__ import annotations

import atexit
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["A2BENCH_HOME"] = tempfile.mkdtemp(prefix="a2bench-home-")  # never the user's cache

import torch

torch.set_flush_denormal(True)
atexit.register(shutil.rmtree, os.environ["A2BENCH_HOME"], ignore_errors=True)  # nor a leftover in /tmp


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (the scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = {"samples": 4, "frames": 12, "width": 64, "height": 64, "seed": 3}


@pytest.fixture(scope="session")
def tiny_synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-sample, 12-frame, 64x64 synth benchmark (read-only: copy it before changing files)."""
    from a2bench.core.synth import SynthOptions, generate

    return generate(tmp_path_factory.mktemp("synth") / "tiny", SynthOptions(**TINY), workers=1)


def edit_manifest(root: Path, change: Callable[[dict], None]) -> None:
    """Apply ``change`` to the manifest of the benchmark folder ``root``."""
    doc = json.loads((root / "manifest.json").read_text())
    change(doc)
    (root / "manifest.json").write_text(json.dumps(doc))


def set_file(root: Path, sample: str, name: str, data: bytes, *, update_manifest: bool) -> None:
    """Replace one file of a benchmark folder; ``update_manifest`` records its new size and sha256 (so only what
    the file holds is wrong, not its checksum)."""
    (root / sample / name).write_bytes(data)
    if update_manifest:

        def change(doc: dict) -> None:
            entry = next(s for s in doc["samples"] if s["id"] == sample)["files"][name]
            entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))

        edit_manifest(root, change)


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
    from a2bench.metrics.testing import write_random_weights

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


def score(name: str, preds: list[np.ndarray], gts: list[np.ndarray], *, metric_out: list | None = None):
    """Run metric ``name`` over paired videos (ids v0, v1, …) and return its MetricValue."""
    from a2bench.metrics import METRICS

    metric = METRICS.get(name)(device="cpu")
    for i, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        metric.update(pred, gt, f"v{i}")
    if metric_out is not None:
        metric_out.append(metric)
    return metric.compute()


def character_pose(seed: int, motion: str, size: tuple[int, int] = (256, 256), frames: int = 20):
    """A synthetic character's pose sequence (as its pose.json holds it), for pose tests."""
    from a2bench.core.synth.characters import sample_character
    from a2bench.core.synth.generate import normalised
    from a2bench.core.synth.motions import sample_motion
    from a2bench.core.synth.skeleton import REST, body_points

    rng = np.random.default_rng(seed)
    spec = sample_character(rng)
    program = sample_motion(motion, rng)
    points = np.stack([body_points(spec, program(t / 15), size) for t in range(frames)])
    return normalised(points, body_points(spec, REST, size), size, 15)


def reset_accelerate() -> None:
    """Forget accelerate's process-wide state, so that several trainings can run in one test process."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def train_config(bench: Path, out: Path, **changes: dict):
    """A one-step training config of the ``tiny`` preset on ``bench`` (sections updated by ``changes``)."""
    from a2bench.animatex.train.config import TrainConfig

    base = {
        "model": {"preset": "tiny", "weights": "random", "ipi_dropout": 0.0},
        "data": {"benchmark": str(bench), "epi": {"probability": 1.0}},
        "dropout": {"pose": 0.0, "image": 0.0},
        "train": {"output_dir": str(out), "steps": 1, "checkpoint_every": 0, "lr": 1e-3, "warmup_steps": 0},
        "vae": {"output_dir": str(out / "vae"), "steps": 2, "batch_size": 2, "log_every": 1, "stats_clips": 3},
    }
    for section, values in changes.items():
        base[section] = {**base.get(section, {}), **values}
    return TrainConfig.from_dict(base)
