"""Training items from any A2Bench-layout benchmark, and the seeded animation/TI2V task sampler.

Every random choice of item ``i`` (which sample, which clip, which reference frame, the task, the EPI) comes
from a generator seeded with ``(seed, i)``: an item is a pure function of its index. The training loop gives
step ``s`` the global indices ``s·G … s·G + G − 1`` (``G`` the global batch), so the data position of a run is
its step, a resumed run sees exactly the items the uninterrupted one would, and the same items reach the model
whatever the number of processes (each takes its own slice of the global batch).

An item (self-driven reconstruction, as Animate-X trains):

* a clip of ``num_frames`` frames of one sample's ``video.mp4`` (random start, ``stride``; shorter videos give
  the release's :func:`~a2bench.animatex.sampling.sample_indices` rule), squashed to ``size``;
* the reference image: a random frame of the same video, and its pose (un-augmented) rendered as the reference
  pose image;
* the driving pose of the clip's frames, changed by the Explicit Pose Indicator with probability λ
  (:func:`a2bench.core.pose.epi.augment`, ``epi.probability``), with the reference poses of the *other* samples as the
  anchor pool for realignment; then rendered (the pose-video encoder's input, as the pipeline renders) and kept
  as keypoints (the IPI's input);
* the sample's prompt;
* the task: TI2V with probability ``ti2v_ratio`` (default 0.2, one item in five on average), else animation.
  A TI2V item is the same sample with every pose condition (pose-video tokens, reference pose, IPI) zeroed by
  the loop: reference image + text → video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from a2bench.animatex.sampling import sample_indices
from a2bench.core.data import load_benchmark
from a2bench.core.frames import resize_frames
from a2bench.core.pose import PoseSequence, render_poses
from a2bench.core.pose.epi import EPIConfig, augment
from a2bench.core.pose.render import POSE_VIDEO

ANIMATION, TI2V = 0, 1
TASK_NAMES = {ANIMATION: "animation", TI2V: "ti2v"}


def item_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of item ``index`` (``stream`` separates independent uses of the same item)."""
    return np.random.default_rng([int(seed), int(index), int(stream)])


class TaskSampler:
    """Which task item ``i`` is: TI2V with probability ``ratio`` from the item's own seeded draw, else animation.

    A Bernoulli draw per item (not a fixed pattern), so the fraction of TI2V items in ``n`` items is ``ratio``
    within ``±3·sqrt(ratio·(1 − ratio)/n)`` almost always, and any process can compute any item's task.
    """

    def __init__(self, ratio: float = 0.2, seed: int = 0) -> None:
        if not 0 <= ratio <= 1:
            raise ValueError(f"ti2v ratio must be in [0, 1], got {ratio}")
        self.ratio, self.seed = float(ratio), int(seed)

    def __call__(self, index: int) -> int:
        return TI2V if item_rng(self.seed, index, 1).random() < self.ratio else ANIMATION


@dataclass(frozen=True)
class ClipItem:
    """One training item (arrays at the training size ``(W, H)``)."""

    index: int
    sample_id: str
    task: int
    video: np.ndarray  # (F, H, W, 3) uint8, the target
    reference: np.ndarray  # (H, W, 3) uint8, a frame of the same video
    pose_video: np.ndarray  # (F, H, W, 3) uint8, the rendered (EPI-augmented) driving pose, as drawn
    ref_pose: np.ndarray  # (H, W, 3) uint8, the rendered pose of the reference frame, as drawn
    keypoints: np.ndarray  # (F, 130, 3) float32, the (augmented) driving keypoints, for the IPI
    prompt: str
    frames: np.ndarray  # (F,) the video frame indices of the clip
    reference_frame: int
    epi: tuple[str, ...]  # what the EPI did
    epi_applied: bool  # whether λ's draw applied the EPI


def clip_indices(available: int, num_frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """``num_frames`` frame indices with ``stride`` from a random start; the release's rule when too short."""
    span = stride * (num_frames - 1) + 1
    if available >= span:
        start = int(rng.integers(available - span + 1))
        return start + np.arange(num_frames) * stride
    return sample_indices(available, num_frames, stride)


class AnimationDataset:
    """A map-style dataset (``len`` = the number of samples; indexable by any item index ≥ 0).

    ``benchmark``: a folder or registered name (:func:`a2bench.core.data.load_benchmark`). ``exclude``: sample ids to
    leave out. Item ``i`` takes sample ``order[i % n]`` where ``order`` is a seeded permutation per epoch
    ``i // n``. Decoded videos and poses are cached per sample (the tiny benchmarks are small; a large one
    wants ``train.num_workers`` and no cache, see docs).
    """

    def __init__(
        self,
        benchmark: Any,
        num_frames: int,
        size: tuple[int, int],
        *,
        stride: int = 1,
        epi: EPIConfig | dict | None = None,
        ti2v_ratio: float = 0.2,
        seed: int = 0,
        exclude: Sequence[str] = (),
        cache: bool = True,
    ) -> None:
        self.benchmark = load_benchmark(benchmark) if not hasattr(benchmark, "manifest") else benchmark
        self.samples = [s for s in self.benchmark if s.id not in set(exclude)]
        if not self.samples:
            raise ValueError(f"{self.benchmark.name}: no training samples left after exclude={list(exclude)}")
        self.num_frames, self.size, self.stride, self.seed = num_frames, tuple(size), stride, int(seed)
        self.epi = epi if isinstance(epi, EPIConfig) else EPIConfig.from_dict(epi or {})
        self.tasks = TaskSampler(ti2v_ratio, seed)
        self.cache = cache
        self._videos: dict[str, np.ndarray] = {}
        self._poses: dict[str, PoseSequence] = {}
        # The anchor pool: every sample's reference pose; an item draws only from the *other* samples' anchors.
        self.anchors: list[tuple[str, np.ndarray, tuple[int, int]]] = []
        for sample in self.samples:
            pose = self._pose(sample)
            ref = pose.reference if pose.reference is not None else pose.frames[0]
            self.anchors.append((sample.id, ref, tuple(pose.reference_size or pose.size)))

    def __len__(self) -> int:
        return len(self.samples)

    def sample_for(self, index: int) -> Any:
        n = len(self.samples)
        order = np.random.default_rng([self.seed, index // n, 7]).permutation(n)
        return self.samples[int(order[index % n])]

    def _pose(self, sample: Any) -> PoseSequence:
        if sample.id not in self._poses:
            pose = sample.pose()
            if not self.cache:
                return pose
            self._poses[sample.id] = pose
        return self._poses[sample.id]

    def video(self, sample: Any) -> np.ndarray:
        """The sample's decoded video frames ``(T, H, W, 3)`` resized to ``size`` (cached per sample)."""
        if sample.id not in self._videos:
            frames = resize_frames(sample.video().frames, self.size)
            if not self.cache:
                return frames
            self._videos[sample.id] = frames
        return self._videos[sample.id]

    def augment_pose(self, pose: PoseSequence, sample_id: str, rng: np.random.Generator) -> tuple[PoseSequence, list]:
        """The EPI on a driving pose, with the other samples' reference poses as anchors."""
        anchors = [(points, size) for sid, points, size in self.anchors if sid != sample_id]
        return augment(pose, rng, self.epi, anchors)

    def driving(self, index: int) -> tuple[Any, np.ndarray, int, PoseSequence, PoseSequence, bool, list[str]]:
        """Item ``index`` without the pixels: ``(sample, frame indices, reference frame, original driving pose,
        driving pose after the EPI, whether λ's draw applied the EPI, what it did)``."""
        index = int(index)
        if index < 0:
            raise IndexError(index)
        sample = self.sample_for(index)
        rng = item_rng(self.seed, index)
        pose = self._pose(sample)
        available = min(sample.num_frames or pose.num_frames, pose.num_frames)
        idx = clip_indices(available, self.num_frames, self.stride, rng)
        ref_frame = int(rng.integers(available))
        original = PoseSequence(pose.frames[idx], pose.size, pose.fps)
        # augment()'s first draw is λ's: the same draw on a fresh generator says whether it applied the EPI
        applied = bool(item_rng(self.seed, index, 2).random() < self.epi.probability)
        driving, ops = self.augment_pose(original, sample.id, item_rng(self.seed, index, 2))
        return sample, idx, ref_frame, original, driving, applied, ops

    def __getitem__(self, index: int) -> ClipItem:
        sample, idx, ref_frame, _, driving, applied, ops = self.driving(index)
        pose, video = self._pose(sample), self.video(sample)
        idx = np.minimum(idx, len(video) - 1)
        reference_pose = PoseSequence(pose.frames[ref_frame][None], pose.size, pose.fps)
        return ClipItem(
            index=int(index),
            sample_id=sample.id,
            task=self.tasks(int(index)),
            video=video[idx],
            reference=video[min(ref_frame, len(video) - 1)],
            pose_video=render_poses(driving, self.size, workers=1, **POSE_VIDEO),
            ref_pose=render_poses(reference_pose, self.size, workers=1, **POSE_VIDEO)[0],
            keypoints=driving.frames.astype(np.float32),
            prompt=sample.prompt(),
            frames=idx,
            reference_frame=ref_frame,
            epi=tuple(ops) if applied else (),
            epi_applied=applied,
        )
