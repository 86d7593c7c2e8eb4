"""``pose-warp``: a non-learned baseline that follows the driving pose and beats ``reference-copy`` on synth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import load_script

from a2bench.baselines.pose_warp import PoseWarp, Rig, fill, segment
from a2bench.core.adapter import AdapterError, Job
from a2bench.core.data import Benchmark, load_benchmark
from a2bench.core.pose.keypoints import LEFT_HAND, MISSING, to_pixels
from a2bench.core.synth.pose_following import character_pixels, moved_errors, moved_pixels
from a2bench.metrics import evaluate
from a2bench.models import MODELS

PROTOCOLS = ("self", "cross")
ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_follows_the_pose_where_the_character_moved(bench, runs, protocol: str) -> None:
    """Where the character moved to or away from (ground-truth coverage differs from the reference's),
    pose-warp's frames are far closer to the ground truth than the static reference is."""
    jobs, videos = _jobs(runs, protocol)
    moved = moved_pixels(bench, protocol)
    frames = {job.sample.id: video.frames for job, video in zip(jobs, videos, strict=True)}
    errors = {name: [e for per_frame in moved_errors(bench, protocol, moved, v).values() for e in per_frame]
              for name, v in (("pose-warp", frames), ("reference-copy", None))}  # fmt: skip
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


def test_moved_pixel_error_is_zero_for_the_ground_truth_and_high_for_the_still_reference(bench) -> None:
    moved = moved_pixels(bench, "self")
    truth = {sample.id: sample.task("self").target.frames for sample in bench}
    assert {e for errors in moved_errors(bench, "self", moved, truth).values() for e in errors} == {0.0}
    still = moved_errors(bench, "self", moved, None)
    assert set(still) == set(truth) and min(np.mean(e) for e in still.values()) > 20  # grey levels
    with pytest.raises(ValueError, match="s000: the video has 3 frames"):
        moved_errors(bench, "self", moved, {k: v[:3] for k, v in truth.items()})
    with pytest.raises(SystemExit, match=r"no-such-run: 0 videos for sample s000 \(expected one videos/s000-\*\.mp4"):
        load_script("pose_following").main([str(ROOT / "no-such-run"), "--bench", str(bench.location)])


def test_character_pixels_cover_the_character_at_each_frames_pose(bench) -> None:
    exact, grown = character_pixels(bench, "self"), character_pixels(bench, "self", margin=3)
    moved = moved_pixels(bench, "self")
    for sample in bench:
        frames = len(sample.task("self").target.frames)
        assert exact[sample.id].shape == (frames, bench.manifest.height, bench.manifest.width)
        assert 0.01 < exact[sample.id].mean() < 0.5
        assert np.all(grown[sample.id] >= exact[sample.id]) and grown[sample.id].sum() > exact[sample.id].sum()
        at_reference = exact[sample.id] ^ moved[sample.id]  # moved: where the frame's and the reference's differ
        assert (at_reference == at_reference[0]).all() and at_reference[0].any()
    with pytest.raises(ValueError, match="not a synth benchmark"):
        character_pixels(Benchmark(dataclasses.replace(bench.manifest, source={}), bench.source), "self")


def test_ssim_by_region_is_one_for_the_truth_and_splits_the_ssim_score(bench) -> None:
    regions = load_script("ssim_by_region")
    character = character_pixels(bench, "self", margin=3)
    truth = {sample.id: sample.task("self").target.frames for sample in bench}
    exact = regions.region_ssim(bench, "self", character, truth)
    assert {float(v) for totals in exact.values() for v in regions.means(totals)} == {1.0}
    still = regions.means(np.stack(list(regions.region_ssim(bench, "self", character, None).values())))
    references = {sid: bench[sid].reference()[None].repeat(len(video), 0) for sid, video in truth.items()}
    ssim = evaluate(references, truth, "ssim").metrics["ssim"].value
    assert still[0] == pytest.approx(ssim, rel=1e-9)  # "all" is the ssim score itself
    assert still[1] < still[2]  # the held-still character is off where the pose moved it
