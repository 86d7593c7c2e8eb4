"""``pose-warp``: a non-learned baseline that follows the driving pose and beats ``reference-copy`` on synth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from a2bench.data import load_benchmark
from a2bench.models import MODELS, AdapterError, Job
from a2bench.pose.keypoints import LEFT_HAND, MISSING, to_pixels
from a2bench.synth import SynthOptions
from a2bench.synth.draw import draw_character
from a2bench.synth.generate import _plan
from a2bench.synth.raster import Canvas
from baselines.pose_warp import PoseWarp, Rig, fill, segment
from metrics import evaluate

PROTOCOLS = ("self", "cross")


@pytest.fixture(scope="module")
def bench(tiny_synth: Path):
    return load_benchmark(str(tiny_synth))


@pytest.fixture(scope="module")
def runs(bench) -> dict[str, tuple[list[Job], list]]:
    """Every sample of the tiny synth under every protocol it offers, generated once."""
    model = PoseWarp()
    out = {}
    for protocol in bench.manifest.protocols:
        jobs = [Job(sample, sample.task(protocol), seed=0) for sample in bench]
        out[protocol] = (jobs, model.generate(jobs))
    return out


def _jobs(runs, protocol: str):
    assert protocol in runs, f"the tiny synth must offer the {protocol} protocol (it has {sorted(runs)})"
    return runs[protocol]


def test_registered_with_typed_arguments() -> None:
    assert MODELS.get("pose-warp") is PoseWarp
    model = PoseWarp(reach="0.2", feather="0")
    assert model.args == {"reach": 0.2, "feather": 0.0, "colour": 0.05}
    assert model.identity() != PoseWarp().identity()
    with pytest.raises(AdapterError, match="no argument"):
        PoseWarp(blend="3")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_one_video_per_job_with_the_jobs_size_rate_and_type(runs, protocol: str) -> None:
    jobs, videos = _jobs(runs, protocol)
    assert len(videos) == len(jobs)
    for job, video in zip(jobs, videos, strict=True):
        width, height = job.size
        assert video.frames.shape == (job.num_frames, height, width, 3)
        assert video.frames.dtype == np.uint8
        assert video.fps == job.fps


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_same_inputs_give_the_same_bytes(runs, protocol: str) -> None:
    jobs, videos = _jobs(runs, protocol)
    again = PoseWarp().generate(jobs)
    for first, second in zip(videos, again, strict=True):
        assert first.frames.tobytes() == second.frames.tobytes()


def test_bytes_do_not_depend_on_opencvs_thread_count(runs) -> None:
    jobs, videos = runs["self"]
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        single = PoseWarp().generate(jobs)
    finally:
        cv2.setNumThreads(threads)
    for first, second in zip(videos, single, strict=True):
        assert first.frames.tobytes() == second.frames.tobytes()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_beats_reference_copy_on_psnr_ssim_and_l1(runs, protocol: str) -> None:
    jobs, videos = _jobs(runs, protocol)
    targets = {job.sample.id: job.task.target for job in jobs}
    ours = {job.sample.id: video.frames for job, video in zip(jobs, videos, strict=True)}
    copies = {job.sample.id: np.repeat(job.reference()[None], job.num_frames, axis=0) for job in jobs}
    mine = evaluate(ours, targets, "psnr,ssim,l1").metrics
    floor = evaluate(copies, targets, "psnr,ssim,l1").metrics
    assert mine["psnr"].value > floor["psnr"].value + 1.0
    assert mine["ssim"].value > floor["ssim"].value + 0.05
    assert mine["l1"].value < floor["l1"].value
    better = [mine["psnr"].per_sample[k] > floor["psnr"].per_sample[k] for k in ours]
    assert sum(better) >= len(better) - 1  # not an average carried by one sample


def _character_alpha(plan, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Exact coverage of the synthetic character drawn at ``points``: drawn on black and on white."""
    drawn = []
    for value in (0.0, 1.0):
        canvas = Canvas(np.full((size[1], size[0], 3), value, np.float32))
        draw_character(canvas, plan.spec, to_pixels(points, size), size)
        drawn.append(canvas.image.mean(-1))
    return 1.0 - (drawn[1] - drawn[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_follows_the_pose_where_the_character_moved(bench, runs, protocol: str) -> None:
    """Where the character moved to or away from (ground-truth coverage differs from the reference's),
    pose-warp's frames are far closer to the ground truth than the static reference is."""
    jobs, videos = _jobs(runs, protocol)
    plans = {plan.sample_id: plan for plan in _plan(SynthOptions(**bench.manifest.source["options"]))}
    errors: dict[str, list[float]] = {"pose-warp": [], "reference-copy": []}
    for job, video in zip(jobs, videos, strict=True):
        plan = plans[job.sample.id]
        at_reference = _character_alpha(plan, job.sample.pose().reference, job.size) > 0.5
        reference = job.reference().astype(np.float64)
        for t in range(job.num_frames):
            moved = (_character_alpha(plan, job.pose.frames[t], job.size) > 0.5) ^ at_reference
            if moved.sum() < 4:
                continue
            target = job.task.target.frames[t].astype(np.float64)
            errors["pose-warp"].append(np.abs(video.frames[t] - target)[moved].mean())
            errors["reference-copy"].append(np.abs(reference - target)[moved].mean())
    assert len(errors["pose-warp"]) > 10
    assert np.mean(errors["pose-warp"]) < 0.6 * np.mean(errors["reference-copy"])


def test_missing_driving_points_keep_the_parent_or_reference_placement(bench) -> None:
    sample = bench["s000"]
    task = sample.task("self")
    frames = task.pose.frames.copy()
    frames[3:, 5:8] = MISSING  # left shoulder, elbow, wrist gone from frame 3 on
    frames[3:, LEFT_HAND] = MISSING
    frames[-1] = MISSING  # nothing detected at all in the last frame
    pose = dataclasses.replace(task.pose, frames=frames)
    job = Job(sample, dataclasses.replace(task, pose=pose), seed=0)
    video = PoseWarp().generate([job])[0]
    assert video.frames.shape[0] == job.num_frames
    # With no keypoints every layer stays where it is in the reference image.
    assert np.abs(video.frames[-1].astype(int) - job.reference().astype(int)).mean() < 6


def test_alpha_cut_out_and_other_output_sizes(bench) -> None:
    sample = bench["s001"]
    rgb = sample.reference()
    reference = to_pixels(sample.pose().reference, (64, 64)) - 0.5
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[8:60, 16:48] = 255
    assert (segment(rgb, alpha, reference, 8.0) == (alpha >= 128)).all()  # real transparency is used as is
    rig = Rig.build(rgb, alpha, reference, PoseWarp().args)
    frame = rig.render(reference * 1.5, (96, 96))  # driving poses for a bigger output frame
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8


def test_fill_interpolates_the_hole_from_its_sides() -> None:
    image = np.zeros((16, 32, 3), np.float32)
    image[:, :16] = 10.0
    image[:, 16:] = 30.0
    known = np.ones((16, 32), bool)
    known[:, 8:24] = False
    filled = fill(image, known)
    assert (filled[known] == image[known]).all()
    row = filled[8, :, 0]
    assert row[8] < row[16] < row[23] and row.min() >= 10.0 and row.max() <= 30.0
