"""The built-in synthetic benchmark: deterministic, cached, and with consistent ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY

from a2bench.core.data import load_benchmark
from a2bench.core.pose import BODY, PoseSequence, retarget
from a2bench.core.synth import SynthOptions, cached_synth, generate
from a2bench.core.synth.backgrounds import SCENES, STILL
from a2bench.core.synth.generate import _plan, backgrounds, render


def test_same_seed_gives_identical_files_and_frames(tiny_synth: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", SynthOptions(**TINY), workers=2)
    assert (again / "manifest.json").read_bytes() == (tiny_synth / "manifest.json").read_bytes()
    a, b = load_benchmark(str(tiny_synth)), load_benchmark(str(again))
    for sa, sb in zip(a, b, strict=True):
        np.testing.assert_array_equal(sa.video().frames, sb.video().frames)
        np.testing.assert_array_equal(sa.task("cross").target.frames, sb.task("cross").target.frames)
        np.testing.assert_array_equal(sa.reference(), sb.reference())


def test_another_seed_gives_another_benchmark(tiny_synth: Path, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", SynthOptions(**{**TINY, "seed": 4}), workers=1)
    assert (other / "manifest.json").read_bytes() != (tiny_synth / "manifest.json").read_bytes()


def test_layout_and_metadata(tiny_synth: Path) -> None:
    bench = load_benchmark(str(tiny_synth))
    assert bench.validate() == []
    assert bench.manifest.protocols == ("self", "cross")
    assert (bench.manifest.width, bench.manifest.height, bench.manifest.fps) == (64, 64, 15)
    drivers = [s.cross.driver for s in bench]
    assert sorted(drivers) == sorted(s.id for s in bench) and all(s.cross.driver != s.id for s in bench)
    for sample in bench:
        character, background = sample.prompt().split(". ")[:2]
        assert character.startswith("A cute anthropomorphic ")
        assert background.rstrip(".") in {s.motion.rstrip(".") for s in SCENES}
        assert sample.video().num_frames == sample.pose().num_frames == 12


def test_first_frame_is_the_reference_image(tiny_synth: Path) -> None:
    sample = load_benchmark(str(tiny_synth))["s000"]
    pose = sample.pose()
    np.testing.assert_array_equal(pose.frames[0], pose.reference)  # motion eases in from the reference pose
    video, reference = sample.video().frames.astype(int), sample.reference().astype(int)
    first, later = np.abs(video[0] - reference).mean(), np.abs(video[-1] - reference).mean()
    assert first < 6 and first < later / 2  # frame 0 differs from the reference only by H.264 loss


def test_cross_pose_is_the_retargeted_driver_pose(tiny_synth: Path) -> None:
    bench = load_benchmark(str(tiny_synth))
    for sample in bench:
        task = sample.task("cross")
        assert task.target_is_ground_truth
        expected = retarget(bench[task.driver_id].pose(), sample.pose().reference, sample.pose().size)
        np.testing.assert_allclose(task.pose.frames, expected.frames, atol=2e-6)
        assert not np.allclose(task.pose.frames[:, BODY], sample.pose().frames[:, BODY], atol=1e-3)


def test_cross_ground_truth_is_the_character_drawn_at_the_retargeted_pose(tiny_synth: Path) -> None:
    bench = load_benchmark(str(tiny_synth))
    options = SynthOptions(**TINY)
    plans = {p.sample_id: p for p in _plan(options)}
    sample = bench["s001"]
    plan = plans["s001"]
    task = sample.task("cross")
    redrawn = render(plan.spec, backgrounds(plan, options), task.pose.frames, (64, 64))
    mse = np.mean((redrawn.astype(float) - task.target.frames.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 25  # equal up to H.264 loss (strong at 64x64 yuv420p)
    own_motion = sample.video().frames.astype(float)
    assert np.mean((own_motion[8:] - task.target.frames[8:].astype(float)) ** 2) > 2 * mse


def test_motion_is_smooth_and_stays_in_frame(tiny_synth: Path) -> None:
    for sample in load_benchmark(str(tiny_synth)):
        body = sample.pose().frames[:, BODY]
        assert (body[..., :2] >= 0).all(), f"{sample.id}: a body keypoint left the frame"
        step = np.linalg.norm(np.diff(body[..., :2], axis=0), axis=-1).max()
        assert step < 0.15, f"{sample.id}: a keypoint jumps {step:.3f} of the frame in one frame"


def test_cache_reuses_the_generated_benchmark() -> None:
    first = cached_synth(**TINY)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert cached_synth(**TINY) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    assert load_benchmark("synth", **TINY).location == first
    assert cached_synth(**{**TINY, "seed": 9}) != first


@pytest.mark.parametrize("bad", [{"width": 63}, {"samples": 0}, {"height": 32}])
def test_bad_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        SynthOptions(**{**TINY, **bad})


def test_single_sample_offers_only_self(tmp_path: Path) -> None:
    path = generate(tmp_path / "one", SynthOptions(**{**TINY, "samples": 1}), workers=1)
    bench = load_benchmark(str(path))
    assert bench.manifest.protocols == ("self",)
    assert json.loads((path / "manifest.json").read_text())["samples"][0].get("cross") is None
    assert isinstance(bench["s000"].pose(), PoseSequence)


def test_still_freezes_moving_scenes_and_says_so() -> None:
    """``still``: the chosen moving scenes are frozen at time 0 and prompted still; the rest are untouched, and
    the default (0) leaves the benchmark's options, key and version as they were."""
    base = SynthOptions(**TINY)
    assert "still" not in base.to_dict() and base.key == SynthOptions(**TINY, still=0.0).key
    options = SynthOptions(**{**TINY, "samples": 12, "still": 0.5})
    assert options.to_dict()["still"] == 0.5 and options.key != base.key and options.version.endswith(".still0.5")
    moving = {i for i, scene in enumerate(SCENES) if scene.effect is not None}
    plans = _plan(options)
    plain = {p.sample_id: p for p in _plan(SynthOptions(**{**TINY, "samples": 12}))}
    assert any(p.still for p in plans) and any(p.scene_index in moving and not p.still for p in plans)
    for plan in plans:
        assert plan.still <= (plan.scene_index in moving)
        frames = np.stack(backgrounds(plan, options))
        assert (np.ptp(frames, axis=0).max() == 0) == (plan.still or plan.scene_index not in moving), plan.sample_id
        assert plan.prompt.endswith(STILL) == (plan.still or plan.scene_index not in moving)
        np.testing.assert_array_equal(frames[0], backgrounds(plain[plan.sample_id], options)[0])  # the same scene
    with pytest.raises(ValueError, match="fraction"):
        SynthOptions(**{**TINY, "still": 1.5})


def test_bench_make_reports_progress_when_piped(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from a2bench.cli import main

    result = CliRunner().invoke(main, ["bench", "make", "synth", "--out", str(tmp_path / "s"), "--samples", "2",
                                       "--frames", "4", "--size", "64x64", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "synth: writing: 2/2 samples (" in result.output  # a plain line: CliRunner's stderr is not a terminal
    assert result.output.strip().endswith(str(tmp_path / "s"))
