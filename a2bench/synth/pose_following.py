"""Does a model move the character where the driving pose says? The error where the character moved, on synth.

A synth benchmark knows each character exactly (:func:`~a2bench.synth.generate.character_specs`), so for every
frame the pixels where its coverage at that frame's pose differs from its coverage at the reference image's pose
are where it moved to or away from. PSNR and SSIM weigh those pixels little (a few percent of a frame); the mean
absolute error over them (grey levels, 0–255) says whether a video put the character there. The reference image
held still (what ``reference-copy`` returns) is the floor. Used by ``scripts/pose_following.py`` and the pose-warp
tests.
"""

from __future__ import annotations

import numpy as np

from a2bench.data import Benchmark
from a2bench.synth.draw import character_coverage
from a2bench.synth.generate import SynthOptions, character_specs

MIN_PIXELS = 4  # frames where fewer pixels changed are skipped


def moved_pixels(bench: Benchmark, protocol: str) -> dict[str, np.ndarray]:
    """Per sample id, ``(T, H, W)`` bool: where the character at the task's frame-``t`` pose covers the pixel and
    at the reference pose does not, or the other way round (coverage above one half)."""
    specs = character_specs(SynthOptions(**bench.manifest.source["options"]))
    size = (bench.manifest.width, bench.manifest.height)
    out = {}
    for sample in bench:
        spec = specs[sample.id]
        at_reference = character_coverage(spec, sample.pose().reference, size) > 0.5
        poses = sample.task(protocol).pose.frames
        out[sample.id] = np.stack([(character_coverage(spec, p, size) > 0.5) ^ at_reference for p in poses])
    return out


def moved_errors(
    bench: Benchmark, protocol: str, moved: dict[str, np.ndarray], videos: dict[str, np.ndarray] | None
) -> dict[str, list[float]]:
    """Per sample id, the mean absolute error against the task's target over ``moved``'s pixels of each frame
    with at least :data:`MIN_PIXELS` of them, for ``videos`` (sample id → ``(T, H, W, 3)`` frames) or, with
    ``None``, for the reference image held still. A video of another length is a ``ValueError`` naming it."""
    out = {}
    for sample in bench:
        target = sample.task(protocol).target.frames.astype(np.float64)
        frames = sample.reference()[None].repeat(len(target), 0) if videos is None else videos[sample.id]
        if len(frames) != len(target):
            raise ValueError(f"{sample.id}: the video has {len(frames)} frames, the ground truth {len(target)}")
        out[sample.id] = [float(np.abs(frame.astype(np.float64) - truth)[mask].mean())
                          for frame, truth, mask in zip(frames, target, moved[sample.id], strict=True)
                          if mask.sum() >= MIN_PIXELS]  # fmt: skip
    return out
