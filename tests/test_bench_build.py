"""``a2bench bench build``: pairing, screening, dropping with reasons, and a result `bench validate` accepts.

The CLI tests use a stand-in for DWPose (it returns the synthetic characters' known poses, and no person
on a uniform frame) so they run in a second; the pose-quality tests feed hand-made defects to the score.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from a2bench.cli import main
from a2bench.core.data import load_benchmark
from a2bench.core.data.build import REPORT_NAME, BuildOptions, build_benchmark
from a2bench.core.pose import PoseSequence
from a2bench.core.pose.extract import Extraction
from a2bench.core.pose.quality import COMPONENTS, pose_quality
from a2bench.core.videoio import read_video, write_video
from a2bench.core.weights import WeightsError

STEMS = {"apple": "s000", "bear": "s001", "cactus": "s002", "dino": "s003"}
LICENSE = ["--license", "CC0-1.0"]
PROMPT = "A small character dancing. The background stays still."


def _pose(root: Path, sample: str = "s000") -> PoseSequence:
    return PoseSequence.from_json(json.loads((root / sample / "pose.json").read_text()))


def fake_extractor(pose: PoseSequence, calls: list | None = None):
    """A stand-in for DWPose: ``pose``'s keypoints on every frame, no person where the frame is uniform."""

    def extract(frames: np.ndarray, fps: Fraction, reference: np.ndarray) -> Extraction:
        if calls is not None:
            calls.append(len(frames))
        count, height, width = frames.shape[:3]
        seen = frames.reshape(count, -1).std(axis=1) > 1.0
        points = pose.frames[np.arange(count) % pose.num_frames].copy()
        points[~seen, :, :2] = -1.0
        ref_size = (reference.shape[1], reference.shape[0])
        result = PoseSequence(points, (width, height), fps, pose.reference, ref_size)
        return Extraction(result, seen, np.where(seen, 0.9, np.nan), seen.astype(int))

    return extract


@pytest.fixture
def fake_dwpose(tiny_synth: Path, monkeypatch: pytest.MonkeyPatch) -> list:
    """Route the CLI's DWPose to :func:`fake_extractor`; the list records the frame count of every call."""
    calls: list = []
    extractor = fake_extractor(_pose(tiny_synth), calls)
    monkeypatch.setattr("a2bench.core.data.build.dwpose_extractor", lambda device: (extractor, {"estimator": "fake"}))
    return calls


@pytest.fixture
def inputs(tiny_synth: Path, tmp_path: Path) -> Path:
    """images/, videos/, prompts/ for four synthetic characters plus three broken videos."""
    root = tmp_path / "in"
    for folder in ("images", "videos", "prompts"):
        (root / folder).mkdir(parents=True)
    for stem, sample in STEMS.items():
        shutil.copy(tiny_synth / sample / "reference.png", root / "images" / f"{stem}.png")
        shutil.copy(tiny_synth / sample / "video.mp4", root / "videos" / f"{stem}.mp4")
    shutil.copy(tiny_synth / "s000" / "prompt.txt", root / "prompts" / "apple.txt")
    for stem in ("broken", "cut", "ghost"):
        shutil.copy(tiny_synth / "s001" / "reference.png", root / "images" / f"{stem}.png")
    (root / "videos" / "broken.mp4").write_text("this is a text file, not a video\n")
    data = (tiny_synth / "s002" / "video.mp4").read_bytes()
    (root / "videos" / "cut.mp4").write_bytes(data[: len(data) // 2])
    write_video(root / "videos" / "ghost.mp4", np.zeros((12, 64, 64, 3), np.uint8), 15)  # nobody in it
    return root


def _build(root: Path, out: Path, *extra: str):
    args = ["bench", "build", "--images", str(root / "images"), "--videos", str(root / "videos"), "--out", str(out)]
    return CliRunner().invoke(main, [*args, *LICENSE, *extra])


def _report(out: Path) -> dict:
    return json.loads((out / REPORT_NAME).read_text())


def _defaults() -> list[str]:
    return ["--default-prompt", PROMPT, "--category", "animal", "--style", "3d"]


def test_build_keeps_pairs_drops_broken_videos_and_validates(
    inputs: Path, tmp_path: Path, tiny_synth: Path, fake_dwpose: list
) -> None:
    out = tmp_path / "bench"
    result = _build(inputs, out, "--prompts", str(inputs / "prompts"), *_defaults())
    assert result.exit_code == 0, result.output
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bench.tmp")]  # temporary folder renamed
    validated = CliRunner().invoke(main, ["bench", "validate", str(out)])
    assert validated.exit_code == 0 and "4 samples, every file verified" in validated.output, validated.output

    report = _report(out)
    assert report["status"] == "ok" and (report["kept"], report["dropped"]) == (4, 3)
    rows = {row["id"]: row for row in report["samples"]}
    assert [rows[s]["status"] for s in STEMS] == ["kept"] * 4
    assert (
        rows["broken"]["reason"] == "undecodable-video" and "broken.mp4: cannot be decoded" in rows["broken"]["detail"]
    )
    assert rows["cut"]["reason"] == "undecodable-video"
    assert rows["cut"]["detail"].startswith("cut.mp4: ")
    assert rows["ghost"]["reason"] == "no-person"
    assert rows["ghost"]["detail"] == "no person detected in any of its 12 frames"
    for stem in ("broken", "cut", "ghost"):
        assert not (out / stem).exists()
        assert stem in result.output and rows[stem]["reason"] in result.output  # the printed table
    assert "kept 4 of 7 inputs" in result.output

    bench = load_benchmark(str(out))
    assert bench.manifest.protocols == ("self",) and bench.manifest.fps == 15 and bench.manifest.width == 64
    assert bench.manifest.source["builder"] == "a2bench bench build"
    assert bench.manifest.source["pose"]["estimator"] == "fake" and bench.manifest.source["dropped"] == 3
    apple = bench["apple"]
    assert (apple.category, apple.style) == ("animal", "3d")
    assert set(apple.entry.files) == {"reference.png", "video.mp4", "pose.json", "pose.mp4", "prompt.txt"}
    assert set(apple.entry.extra["quality"]) >= {"score", *COMPONENTS}
    assert apple.entry.extra["quality"] == rows["apple"]["quality"]
    assert apple.entry.extra["build"]["video_handling"] == "copied"
    assert apple.read_bytes("video.mp4") == (inputs / "videos" / "apple.mp4").read_bytes()
    assert apple.prompt() == (tiny_synth / "s000" / "prompt.txt").read_text().strip()
    assert bench["bear"].prompt() == PROMPT
    with Image.open(out / "apple" / "reference.png") as image:
        assert image.mode == "RGB"
    pose = apple.pose()
    assert pose.reference is not None and pose.reference_size == (64, 64)
    assert apple.pose_video().num_frames == pose.num_frames == apple.num_frames == 12
    kept = json.loads((out / "apple" / "sample.json").read_text())  # what the manifest was indexed from
    assert kept == {"category": "animal", "style": "3d", **apple.entry.extra}


def test_min_quality_drops_everything_with_the_reason_and_the_folder_can_be_reused(
    inputs: Path, tmp_path: Path, fake_dwpose: list
) -> None:
    out = tmp_path / "bench"
    result = _build(inputs, out, "--min-quality", "1", *_defaults())
    assert result.exit_code == 1 and "no sample kept" in result.output
    assert sorted(p.name for p in out.iterdir()) == [REPORT_NAME]  # no manifest: not a benchmark
    report = _report(out)
    assert report["status"] == "failed" and report["kept"] == 0
    for stem in STEMS:
        row = next(r for r in report["samples"] if r["id"] == stem)
        assert row["reason"] == "low-quality" and row["quality"]["score"] < 1
        assert f"quality {row['quality']['score']:.2f} < 1.00 (weakest: detection 0.90)" in row["detail"]
    assert "low-quality: quality" in result.output
    again = _build(inputs, out, "--min-quality", "0.5", *_defaults())  # a failed build's folder may be reused
    assert again.exit_code == 0, again.output
    assert _report(out)["kept"] == 4
    taken = _build(inputs, out, *_defaults())  # a real benchmark never is
    assert taken.exit_code == 1 and "exists and is not empty" in taken.output


def test_unpaired_files_are_errors_unless_allowed(inputs: Path, tmp_path: Path, fake_dwpose: list) -> None:
    shutil.copy(inputs / "images" / "apple.png", inputs / "images" / "lonely.png")
    shutil.copy(inputs / "videos" / "apple.mp4", inputs / "videos" / "orphan.mp4")
    (inputs / "images" / "notes.txt").write_text("not an image")
    out = tmp_path / "bench"
    refused = _build(inputs, out, *_defaults())
    assert refused.exit_code == 1
    assert "'lonely': lonely.png has no video of the same stem; pair it or pass --allow-unpaired" in refused.output
    assert "'orphan': orphan.mp4 has no image of the same stem" in refused.output
    assert not out.exists() and fake_dwpose == []  # checked before any work
    result = _build(inputs, out, "--allow-unpaired", *_defaults())
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in _report(out)["samples"]}
    assert (rows["lonely"]["reason"], rows["lonely"]["video"]) == ("no-video", None)
    assert (rows["orphan"]["reason"], rows["orphan"]["image"]) == ("no-image", None)
    assert any("notes.txt: ignored" in w for w in _report(out)["warnings"])
    assert "warning:" in result.output


def test_input_problems_are_listed_together_before_any_work(inputs: Path, tmp_path: Path, fake_dwpose: list) -> None:
    shutil.copy(inputs / "images" / "apple.png", inputs / "images" / "bad id.png")
    shutil.copy(inputs / "videos" / "apple.mp4", inputs / "videos" / "bad id.mp4")
    shutil.copy(inputs / "images" / "apple.png", inputs / "images" / "Apple.png")
    shutil.copy(inputs / "videos" / "apple.mp4", inputs / "videos" / "Apple.mp4")
    shutil.copy(inputs / "images" / "bear.png", inputs / "images" / "bear.jpg")
    out = tmp_path / "bench"
    result = _build(inputs, out, "--prompts", str(inputs / "prompts"))
    assert result.exit_code == 1
    assert "'bad id': not a valid sample id (from bad id.png and bad id.mp4)" in result.output
    assert "'apple': differs from another id only in letter case" in result.output
    assert "'bear': ambiguous, several images share the stem (bear.jpg, bear.png)" in result.output
    assert "no prompt for 8 sample(s): Apple, bad id, bear, broken, cactus, cut, dino, ghost" in result.output
    assert "no category/style for 9 sample(s)" in result.output
    assert not out.exists() and fake_dwpose == []


def test_metadata_files_give_category_style_and_extra_fields(inputs: Path, tmp_path: Path, fake_dwpose: list) -> None:
    for stem in ("broken", "cut", "ghost"):
        (inputs / "images" / f"{stem}.png").unlink()
        (inputs / "videos" / f"{stem}.mp4").unlink()
    table = inputs / "meta.csv"
    table.write_text(
        "\ufeffid,category,style,character\napple,fruit,flat,apple\nbear,animal,,bear\nzebra,animal,3d,z\n"
    )
    out = tmp_path / "csv"
    result = _build(inputs, out, "--metadata", str(table), "--default-prompt", PROMPT, "--style", "3d")
    assert "no category/style for 2 sample(s): cactus, dino" in result.output
    result = _build(inputs, out, "--metadata", str(table), *_defaults())
    assert result.exit_code == 0, result.output
    bench = load_benchmark(str(out))
    assert [(s.id, s.category, s.style) for s in bench] == [
        ("apple", "fruit", "flat"),
        ("bear", "animal", "3d"),  # an empty cell falls back to --style
        ("cactus", "animal", "3d"),
        ("dino", "animal", "3d"),
    ]
    assert bench["apple"].entry.extra["character"] == "apple" and "character" not in bench["cactus"].entry.extra
    assert any("'zebra', which is not a sample" in w for w in _report(out)["warnings"])

    doc = inputs / "meta.json"
    doc.write_text(json.dumps({"apple": {"category": "fruit", "style": "flat", "seed": 7, "quality": 1}}))
    refused = _build(inputs, tmp_path / "json", "--metadata", str(doc), *_defaults())
    assert refused.exit_code == 1 and "'apple' sets quality, which the build writes itself" in refused.output
    doc.write_text(json.dumps([{"id": "apple", "category": "fruit", "style": "flat", "seed": 7}]))
    result = _build(inputs, tmp_path / "json", "--metadata", str(doc), *_defaults())
    assert result.exit_code == 0, result.output
    assert load_benchmark(str(tmp_path / "json"))["apple"].entry.extra["seed"] == 7


def test_videos_of_another_format_are_dropped_or_conformed(
    inputs: Path, tmp_path: Path, tiny_synth: Path, fake_dwpose: list
) -> None:
    for stem in ("broken", "cut", "ghost"):
        (inputs / "videos" / f"{stem}.mp4").unlink()
        (inputs / "images" / f"{stem}.png").unlink()
    frames = read_video(tiny_synth / "s001" / "video.mp4").frames
    write_video(inputs / "videos" / "bear.mp4", frames[:, 8:56], 15)  # 64x48
    (inputs / "videos" / "cactus.mp4").rename(inputs / "videos" / "cactus.mov")  # not copied: not an .mp4
    dino = inputs / "videos" / "dino.mp4"
    write_video(dino, np.repeat(read_video(dino).frames, 2, axis=0), 30)
    out = tmp_path / "strict"
    result = _build(inputs, out, *_defaults())
    assert result.exit_code == 0, result.output
    rows = {row["id"]: row for row in _report(out)["samples"]}
    assert rows["bear"]["reason"] == "format-mismatch"
    assert "15 fps 64x48 but the benchmark is 15 fps 64x64; pass --conform" in rows["bear"]["detail"]
    assert rows["dino"]["reason"] == "format-mismatch"
    assert rows["cactus"]["status"] == "kept" and rows["cactus"]["video_handling"] == "re-encoded"

    out = tmp_path / "conformed"
    result = _build(inputs, out, "--conform", *_defaults())
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(main, ["bench", "validate", str(out)]).exit_code == 0
    bench = load_benchmark(str(out))
    assert [s.entry.extra["build"]["video_handling"] for s in bench] == [
        "copied",
        "conformed",
        "re-encoded",
        "conformed",
    ]
    assert bench["dino"].num_frames == 12 and bench["bear"].video().size == (64, 64)
    cactus = read_video(tiny_synth / "s002" / "video.mp4").frames
    np.testing.assert_array_equal(bench["cactus"].video().frames, cactus)  # lossless re-encoding

    out = tmp_path / "forced"
    result = _build(inputs, out, "--fps", "30", "--size", "64x48", *_defaults())  # matches no video
    assert result.exit_code == 1 and "no sample kept" in result.output
    assert {r["reason"] for r in _report(out)["samples"]} == {"format-mismatch"}


def test_a_failing_extraction_drops_that_sample_and_missing_weights_stop_the_build(
    inputs: Path, tmp_path: Path, tiny_synth: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extract = fake_extractor(_pose(tiny_synth))
    bear = read_video(inputs / "videos" / "bear.mp4").frames[0]

    def flaky(frames: np.ndarray, fps: Fraction, reference: np.ndarray) -> Extraction:
        if np.array_equal(frames[0], bear):
            raise RuntimeError("onnxruntime exploded")
        return extract(frames, fps, reference)

    monkeypatch.setattr("a2bench.core.data.build.dwpose_extractor", lambda device: (flaky, {}))
    out = tmp_path / "bench"
    result = _build(inputs, out, *_defaults())
    assert result.exit_code == 0, result.output
    bear = next(r for r in _report(out)["samples"] if r["id"] == "bear")
    assert (bear["reason"], bear["detail"]) == ("extraction-failed", "RuntimeError: onnxruntime exploded")

    def missing_weights(device: str):
        raise WeightsError("yolox_l.onnx is missing; run `a2bench weights fetch yolox_l.onnx`")

    monkeypatch.setattr("a2bench.core.data.build.dwpose_extractor", missing_weights)
    out = tmp_path / "none"
    result = _build(inputs, out, *_defaults())
    assert result.exit_code == 1 and "a2bench weights fetch yolox_l.onnx" in result.output
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".none")]


# ------------------------------------------------------------------------------------------------
# Pose quality


def _detections(count: int, score: float = 0.9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.ones(count, bool), np.full(count, score), np.ones(count, int)


def _with_frames(pose: PoseSequence, frames: np.ndarray) -> PoseSequence:
    return PoseSequence(frames.astype(np.float32), pose.size, pose.fps, pose.reference, pose.reference_size)


def test_pose_quality_components_react_to_what_they_measure(tiny_synth: Path) -> None:
    pose = _pose(tiny_synth)
    count = pose.num_frames
    clean = pose_quality(pose, *_detections(count))
    assert clean.score > 0.9 and clean.missing == 1 and clean.people == 1 and clean.jitter > 0.95
    assert clean.detection == pytest.approx(0.9) and clean.weakest == ("detection", pytest.approx(0.9))
    for value in clean.to_json().values():
        assert value is None or 0 <= value <= 1

    noisy = pose.frames.copy()
    noise = np.random.default_rng(0).normal(0, 0.02, (count, 20, 2))
    noisy[:, :20, :2] = np.clip(noisy[:, :20, :2] + noise, 0, 1)
    jittered = pose_quality(_with_frames(pose, noisy), *_detections(count))
    assert jittered.jitter < 0.6 * clean.jitter and jittered.score < clean.score
    assert jittered.jitter_median > 5 * clean.jitter_median and jittered.weakest[0] == "jitter"
    assert (jittered.detection, jittered.missing, jittered.people) == (clean.detection, clean.missing, clean.people)

    armless = pose.frames.copy()
    armless[:, 2:8, :2] = -1  # both arms gone, scores kept
    dropped = pose_quality(_with_frames(pose, armless), *_detections(count))
    assert dropped.missing_fraction == pytest.approx(6 / 20) and dropped.missing == pytest.approx(0.7)
    assert dropped.score < clean.score and dropped.detection == clean.detection

    half = np.arange(count) % 2 == 0
    sparse = pose_quality(pose, half, np.where(half, 0.9, np.nan), half.astype(int))
    assert sparse.detection == pytest.approx(0.45) and sparse.score < clean.score
    nothing = np.full_like(pose.frames, -1.0)
    blind = pose_quality(_with_frames(pose, nothing), np.zeros(count, bool), np.full(count, np.nan), np.zeros(count))
    assert (blind.score, blind.detection, blind.missing, blind.mean_box_score) == (0, 0, 0, None)
    assert blind.jitter == 1 and blind.jitter_median is None  # nothing to measure
    low_boxes = pose_quality(pose, *_detections(count, score=0.4))
    assert low_boxes.detection == pytest.approx(0.4) and low_boxes.score < clean.score

    crowd = np.where(half, 2, 1)
    crowded = pose_quality(pose, np.ones(count, bool), np.full(count, 0.9), crowd)
    assert crowded.multi_person_fraction == pytest.approx(0.5) and crowded.people == pytest.approx(0.5)
    assert crowded.score < clean.score and crowded.weakest[0] == "people"


def test_pose_quality_score_is_the_weighted_geometric_mean(tiny_synth: Path) -> None:
    pose = _pose(tiny_synth)
    q = pose_quality(pose, *_detections(pose.num_frames, 0.5))
    product = q.detection * q.jitter * q.missing * q.people
    assert q.score == pytest.approx(product**0.25)
    only = {"detection": 1.0, "jitter": 0.0, "missing": 0.0, "people": 0.0}
    assert pose_quality(pose, *_detections(pose.num_frames, 0.5), weights=only).score == pytest.approx(0.5)
    short = PoseSequence(pose.frames[:2], pose.size, pose.fps)
    assert pose_quality(short, *_detections(2)).jitter_median is None
    with pytest.raises(ValueError, match="one detection entry per frame"):
        pose_quality(pose, *_detections(pose.num_frames - 1))


# ------------------------------------------------------------------------------------------------
# End to end with the real DWPose pipeline on random-weight models


@pytest.fixture(scope="module")
def dwpose_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random-weight detector, and a pose model that puts every keypoint at a fixed crop position.

    Its scores are 0.9, and 1.3 for a few points: SimCC confidences can exceed 1, which pose.json cannot hold.
    """
    from a2bench.core.pose import onnx_testing
    from a2bench.core.pose.extract import POSE_MODEL

    folder = tmp_path_factory.mktemp("dwpose-weights")
    onnx_testing.write_random_models(folder)
    count, (height, width) = onnx_testing.KEYPOINTS, onnx_testing.POSE_INPUT[2:]
    rng = np.random.default_rng(0)
    scores = np.where(np.arange(count) % 10 == 0, 1.3, 0.9)
    simcc_x, simcc_y = np.zeros((1, count, 2 * width)), np.zeros((1, count, 2 * height))
    simcc_x[0, np.arange(count), rng.integers(width // 2, 3 * width // 2, count)] = scores
    simcc_y[0, np.arange(count), rng.integers(height // 2, 3 * height // 2, count)] = scores
    (folder / POSE_MODEL.name).write_bytes(onnx_testing.pose_onnx(onnx_testing.Constant(simcc_x, simcc_y)))
    return folder


def test_build_end_to_end_with_random_weight_dwpose(
    inputs: Path, tmp_path: Path, dwpose_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(dwpose_weights))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")
    out = tmp_path / "bench"
    result = _build(inputs, out, "--device", "cpu", *_defaults())
    assert result.exit_code == 0, result.output
    validated = CliRunner().invoke(main, ["bench", "validate", str(out)])
    assert validated.exit_code == 0, validated.output
    report = _report(out)
    rows = {row["id"]: row for row in report["samples"]}
    assert rows["broken"]["reason"] == rows["cut"]["reason"] == "undecodable-video"
    assert rows["ghost"]["reason"] == "no-person"  # the random detector finds nobody on a uniform frame
    kept = [r for r in report["samples"] if r["status"] == "kept"]
    assert kept and all(r["video_handling"] == "copied" and 0 <= r["quality"]["score"] < 1 for r in kept)
    bench = load_benchmark(str(out))
    assert bench.manifest.source["pose"]["verified_weights"] is False
    assert bench.manifest.source["pose"]["device"] == "cpu"
    sample = bench[kept[0]["id"]]
    assert sample.entry.extra["quality"] == kept[0]["quality"]
    pose = sample.pose()
    assert pose.reference_size == (64, 64) and sample.pose_video().num_frames == sample.num_frames
    present = pose.frames[pose.frames[..., 0] != -1]
    assert present.size and present[:, 2].max() == 1.0  # SimCC scores above 1 are stored as 1


def test_a_detected_person_without_body_keypoints_is_dropped(inputs: Path, tmp_path: Path, tiny_synth: Path) -> None:
    extract = fake_extractor(_pose(tiny_synth))

    def faceless(frames: np.ndarray, fps: Fraction, reference: np.ndarray) -> Extraction:
        found = extract(frames, fps, reference)
        points = found.pose.frames.copy()
        points[:, :20, :2] = -1
        return Extraction(replace(found.pose, frames=points), found.detected, found.box_scores, found.people)

    options = BuildOptions(name="x", license="CC0-1.0", default_prompt=PROMPT, category="a", style="b")
    result = build_benchmark(inputs / "images", inputs / "videos", tmp_path / "b", options, lambda: (faceless, {}))
    assert not result.ok and not (tmp_path / "b" / "manifest.json").exists()
    apple = next(o for o in result.outcomes if o.id == "apple")
    assert apple.reason == "no-keypoints" and apple.quality.missing == 0


def test_a_symlinked_output_folder_is_refused_before_any_work(inputs: Path, tmp_path: Path, fake_dwpose: list) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    refused = _build(inputs, link, *_defaults())
    assert refused.exit_code == 1 and "is a symbolic link" in refused.output and fake_dwpose == []
    assert link.is_symlink() and list(real.iterdir()) == []


def test_a_killed_builds_temporary_folder_is_removed_and_a_running_ones_left(
    inputs: Path, tmp_path: Path, fake_dwpose: list
) -> None:
    import fcntl
    import os

    out = tmp_path / "bench"
    killed = tmp_path / ".bench.tmp-killed"  # what a SIGKILLed build leaves: nobody holds its lock
    (killed / "s000").mkdir(parents=True)
    running = tmp_path / ".bench.tmp-running"  # another build still writing the same --out holds its lock
    running.mkdir()
    fd = os.open(running, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        result = _build(inputs, out, *_defaults())
    finally:
        os.close(fd)
    assert result.exit_code == 0, result.output
    assert f"removed {killed}" in result.output and f"{running}: in use by another running process" in result.output
    assert not killed.exists() and running.exists() and (out / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".bench.tmp-")) == [running.name]
