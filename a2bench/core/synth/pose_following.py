"""Where the character is and where it moved, on synth: the pixels that tell whether a model follows the pose.

A synth benchmark knows each character exactly (:func:`~a2bench.core.synth.generate.character_specs`), so for every
frame the pixels where its coverage at that frame's pose differs from its coverage at the reference image's pose
are where it moved to or away from. PSNR and SSIM weigh those pixels little (a few percent of a frame); the mean
absolute error over them (grey levels, 0–255) says whether a video put the character there. The reference image
held still (what ``reference-copy`` returns) is the floor. Used by ``scripts/pose_following.py`` and the pose-warp
tests; :func:`character_pixels` (the character at each frame's pose) splits SSIM into character and background
in ``scripts/ssim_by_region.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy import ndimage

from a2bench.core.data import Benchmark
from a2bench.core.synth.draw import character_coverage
from a2bench.core.synth.generate import SynthOptions, character_specs

MIN_PIXELS = 4  # frames where fewer pixels changed are skipped


def _coverage(bench: Benchmark, protocol: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Per sample: ``(id, (H, W) coverage at the reference pose, (T, H, W) at the task's poses)``, bool (above
    one half). A benchmark not made by the synth generator is a ``ValueError``: only it knows the coverage."""
    if bench.manifest.source.get("generator") != "a2bench.core.synth":
        raise ValueError(f"{bench.location}: not a synth benchmark (the exact character coverage comes from its "
                         "generator, `a2bench bench make synth`)")  # fmt: skip
    specs = character_specs(SynthOptions(**bench.manifest.source["options"]))
    size = (bench.manifest.width, bench.manifest.height)
    for sample in bench:
        spec = specs[sample.id]
        at_reference = character_coverage(spec, sample.pose().reference, size) > 0.5
        poses = sample.task(protocol).pose.frames
        yield sample.id, at_reference, np.stack([character_coverage(spec, p, size) > 0.5 for p in poses])


def moved_pixels(bench: Benchmark, protocol: str) -> dict[str, np.ndarray]:
    """Per sample id, ``(T, H, W)`` bool: where the character at the task's frame-``t`` pose covers the pixel and
    at the reference pose does not, or the other way round."""
    return {sid: at_frames ^ at_reference for sid, at_reference, at_frames in _coverage(bench, protocol)}


def character_pixels(bench: Benchmark, protocol: str, margin: int = 0) -> dict[str, np.ndarray]:
    """Per sample id, ``(T, H, W)`` bool: the character at the task's frame-``t`` pose, grown by ``margin`` pixels
    (a square neighbourhood: with ``margin`` = an SSIM window's half width, every pixel whose window sees it)."""
    grow = np.ones((1, 2 * margin + 1, 2 * margin + 1), bool)
    return {sid: ndimage.binary_dilation(at_frames, grow) if margin else at_frames
            for sid, _, at_frames in _coverage(bench, protocol)}  # fmt: skip


def videos_and_targets(
    bench: Benchmark, protocol: str, videos: dict[str, np.ndarray] | None
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Per sample: ``(id, frames, the task's target frames)``, the frames from ``videos`` (sample id →
    ``(T, H, W, 3)``) or, with ``None``, the reference image held still. A video of another length than its
    target is a ``ValueError`` naming the sample."""
    for sample in bench:
        target = sample.task(protocol).target.frames
        frames = sample.reference()[None].repeat(len(target), 0) if videos is None else videos[sample.id]
        if len(frames) != len(target):
            raise ValueError(f"{sample.id}: the video has {len(frames)} frames, the ground truth {len(target)}")
        yield sample.id, frames, target


def moved_errors(
    bench: Benchmark, protocol: str, moved: dict[str, np.ndarray], videos: dict[str, np.ndarray] | None
) -> dict[str, list[float]]:
    """Per sample id, the mean absolute error against the task's target over ``moved``'s pixels of each frame
    with at least :data:`MIN_PIXELS` of them, for ``videos`` or the reference image held still
    (:func:`videos_and_targets`)."""
    return {sid: [float(np.abs(frame.astype(np.float64) - truth)[mask].mean())
                  for frame, truth, mask in zip(frames, target, moved[sid], strict=True)
                  if mask.sum() >= MIN_PIXELS]
            for sid, frames, target in videos_and_targets(bench, protocol, videos)}  # fmt: skip
