"""A run's output folder (``a2bench run --out``): one ``videos/<sample id>-<key>.mp4`` per generated sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from a2bench.core.data.benchmark import Benchmark
from a2bench.core.videoio import read_video


def run_videos(folder: Path, benchmark: Benchmark) -> dict[str, np.ndarray]:
    """Sample id -> frames of the video ``folder`` holds for each sample of ``benchmark``. A sample without exactly
    one is a ``ValueError`` naming it (callers name the folder)."""
    out = {}
    for sample in benchmark:
        found = sorted((folder / "videos").glob(f"{sample.id}-*.mp4"))
        if len(found) != 1:
            raise ValueError(f"{len(found)} videos for sample {sample.id} (expected one videos/{sample.id}-*.mp4: "
                             "give each run its own --out folder)")  # fmt: skip
        out[sample.id] = read_video(found[0]).frames
    return out
