"""DWPose extraction: decoding on hand-made model outputs, tracking, the CLI, and parity with the release.

The ONNX models are small stand-ins from :mod:`a2bench.core.pose.onnx_testing` (random weights, or constant
outputs a test chooses). The parity test imports ``dwpose.onnxdet`` / ``dwpose.onnxpose`` from the
Animate-X++ release, named by ``A2BENCH_ANIMATEX_DIR`` (the folder containing ``dwpose/``), and skips
without it::

    mkdir -p /tmp/animatex && git -C <Animate-X++ clone> archive HEAD dwpose | tar -x -C /tmp/animatex
    A2BENCH_ANIMATEX_DIR=/tmp/animatex python -m pytest tests/test_pose_extract.py
"""

from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from a2bench.cli import main
from a2bench.core.pose import PoseSequence
from a2bench.core.pose.convert import load_animatex_pickle
from a2bench.core.pose.extract import (
    DETECTOR,
    POSE_MODEL,
    DeviceError,
    DWPose,
    choose_box,
    crop_transform,
    extract_frames,
    letterbox,
)
from a2bench.core.pose.onnx_testing import ANCHORS, KEYPOINTS, Constant, detector_onnx, pose_onnx, write_random_models
from a2bench.core.videoio import read_video, write_video
from a2bench.core.weights import WeightsError
from a2bench.metrics.testing import smooth_videos

torch.set_flush_denormal(True)
ANIMATEX_DIR = os.environ.get("A2BENCH_ANIMATEX_DIR", "")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_random_models(tmp_path_factory.mktemp("dwpose-weights"))


@pytest.fixture(scope="module")
def estimator(models: dict[str, Path]) -> DWPose:
    return DWPose(models[DETECTOR.name], models[POSE_MODEL.name])


@pytest.fixture
def registry_weights(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The random-weight files as the registry's (unverified) copies."""
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(models[DETECTOR.name].parent))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("A2BENCH_ALLOW_UNVERIFIED_WEIGHTS", "1")


def write_onnx(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- pre- and post-processing


def test_letterbox_scales_into_the_top_left_and_pads_with_114() -> None:
    blob, ratio = letterbox(np.full((100, 50, 3), 7, np.uint8))
    assert blob.shape == (1, 3, 640, 640) and blob.dtype == np.float32 and ratio == 6.4
    assert (blob[0, :, :640, :320] == 7).all() and (blob[0, :, :, 320:] == 114).all()


def anchor(stride: int, x: int, y: int) -> int:
    """Row of the YOLOX output for grid cell (x, y) of the level with ``stride``."""
    offset = {8: 0, 16: 80 * 80, 32: 80 * 80 + 40 * 40}[stride]
    return offset + y * (640 // stride) + x


def test_detector_decoding_grid_nms_and_filters(tmp_path: Path, models: dict[str, Path]) -> None:
    output = np.zeros((1, ANCHORS, 85), np.float32)

    def put(row: int, raw: tuple[float, float, float, float], objectness: float, classes: dict[int, float]) -> None:
        output[0, row, :5] = [*raw, objectness]
        for cls, prob in classes.items():
            output[0, row, 5 + cls] = prob

    put(anchor(8, 10, 20), (0.5, 0.5, np.log(6), np.log(12)), 0.9, {0: 0.8})  # centre (84, 164), 48x96: 0.72
    put(anchor(8, 10, 20) + 1, (-0.4, 0.5, np.log(6), np.log(12)), 0.5, {0: 1.0})  # 0.8 px right of it: suppressed
    put(anchor(16, 30, 5), (0.0, 0.0, np.log(2), np.log(3)), 0.6, {0: 0.6})  # centre (480, 80), 32x48: 0.36
    put(anchor(32, 19, 19), (0.25, 0.75, np.log(1.5), 0.0), 0.5, {0: 1.0})  # centre (616, 632), 48x32: 0.5
    put(anchor(32, 3, 15), (0.0, 0.0, 0.0, 0.0), 0.5, {0: 0.5})  # 0.25: above NMS's 0.1, below 0.3
    put(anchor(32, 5, 5), (0.0, 0.0, 0.0, 0.0), 1.0, {0: 0.05, 1: 0.99})  # another class
    path = write_onnx(tmp_path / "detector.onnx", detector_onnx(Constant(output)))
    estimator = DWPose(path, models[POSE_MODEL.name])
    boxes = estimator.detect(np.zeros((240, 320, 3), np.uint8))  # ratio 2: boxes come back halved
    expected = np.array(
        [[60, 116, 108, 212, 0.72], [592, 616, 640, 648, 0.5], [464, 56, 496, 104, 0.36]], np.float64
    ) / [2, 2, 2, 2, 1]
    np.testing.assert_allclose(boxes, expected, rtol=1e-6)


def test_simcc_peaks_map_back_through_the_crop(tmp_path: Path, models: dict[str, Path]) -> None:
    simcc_x = np.zeros((1, KEYPOINTS, 576), np.float32)
    simcc_y = np.zeros((1, KEYPOINTS, 768), np.float32)
    peaks = {0: (288, 384, 0.9, 0.8), 1: (0, 0, 0.5, 0.6), 2: (432, 192, 0.7, 0.7)}  # bins and maxima
    for k, (bx, by, vx, vy) in peaks.items():
        simcc_x[0, k, bx], simcc_y[0, k, by] = vx, vy
    simcc_x[0, 3], simcc_y[0, 3] = -0.5, -0.25  # no positive response: location -1
    path = write_onnx(tmp_path / "pose.onnx", pose_onnx(Constant(simcc_x, simcc_y)))
    estimator = DWPose(models[DETECTOR.name], path)
    frame = np.zeros((300, 400, 3), np.uint8)
    # Tall box (10, 20)-(110, 220): ×1.25 → 125x250, widened to 288:384 → 187.5x250 around (60, 120).
    # Wide box (0, 0)-(300, 100): ×1.25 → 375x125, heightened → 375x500 around (150, 50).
    # No box: the whole frame, ×1.25 → 500x375 → 500x666.67 around (200, 150).
    cases = [(np.array([[10, 20, 110, 220, 0.9]]), (60, 120), (187.5, 250))]
    cases.append((np.array([[0, 0, 300, 100, 0.9]]), (150, 50), (375, 500)))
    cases.append((np.zeros((0, 5)), (200, 150), (500, 500 / 0.75)))
    for boxes, centre, scale in cases:
        xy, scores = estimator.keypoints(frame, boxes)
        assert xy.shape == (1, KEYPOINTS, 2) and scores.shape == (1, KEYPOINTS)
        expected = [(144, 192), (0, 0), (216, 96), (-0.5, -0.5), (-0.5, -0.5)]  # crop positions = bins / 2
        pixels = np.array(centre) - np.array(scale) / 2 + np.array(expected) / [288, 384] * scale
        np.testing.assert_allclose(xy[0, :5], pixels)  # keypoint 4, all zeros: score 0 is not positive
        np.testing.assert_allclose(xy[0, 0], centre)
        np.testing.assert_allclose(scores[0, :5], [0.8, 0.5, 0.7, -0.5, 0.0])


def test_crop_matrix_maps_the_padded_box_onto_the_network_input() -> None:
    centre, scale, matrix = crop_transform(np.array([10.0, 20.0, 110.0, 220.0]), (288, 384))
    np.testing.assert_allclose(centre, [60, 120])
    np.testing.assert_allclose(scale, [187.5, 250])
    corners = np.array([[60 - 93.75, 120 - 125, 1], [60 + 93.75, 120 + 125, 1], [60, 120, 1]])
    np.testing.assert_allclose(corners @ matrix.T, [[0, 0], [288, 384], [144, 192]], atol=1e-4)


def test_input_order_swaps_the_channels_the_networks_see(models: dict[str, Path], estimator: DWPose) -> None:
    rgb_order = DWPose(models[DETECTOR.name], models[POSE_MODEL.name], input_order="rgb")
    for frame in smooth_videos(1, 3, 96, 64, seed=5)[0]:
        flipped = np.ascontiguousarray(frame[..., ::-1])
        boxes = estimator.detect(frame)
        np.testing.assert_array_equal(boxes, rgb_order.detect(flipped))
        np.testing.assert_array_equal(estimator.keypoints(frame, boxes)[0], rgb_order.keypoints(flipped, boxes)[0])
    with pytest.raises(ValueError, match="input_order"):
        DWPose(models[DETECTOR.name], models[POSE_MODEL.name], input_order="bgra")


def test_cuda_without_the_cuda_provider_says_what_to_install(models: dict[str, Path]) -> None:
    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        DWPose(models[DETECTOR.name], models[POSE_MODEL.name], device="cuda")


# ---------------------------------------------------------------- tracking


def test_choose_box_starts_with_the_largest_then_follows_by_overlap() -> None:
    small, large = [10, 10, 30, 50, 0.9], [50, 0, 100, 90, 0.5]
    boxes = np.array([small, large], np.float64)
    assert choose_box(boxes, None) == 1
    assert choose_box(boxes, np.array([12, 12, 31, 52, 0.8])) == 0  # follows the small person
    assert choose_box(boxes, np.array([200, 200, 220, 240, 0.8])) == 1  # lost: the largest again
    assert choose_box(np.zeros((0, 5)), boxes[0]) is None


class ScriptedDetector:
    """A stand-in estimator: frame t (all pixels t) has the boxes ``script[t]``; keypoints sit at the box centre."""

    def __init__(self, script: list[list[list[float]]]) -> None:
        self.script = script

    def detect(self, frame: np.ndarray) -> np.ndarray:
        return np.array(self.script[int(frame[0, 0, 0])], np.float64).reshape(-1, 5)

    def keypoints(self, frame: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        box = boxes[0, :4] if len(boxes) else np.array([0, 0, frame.shape[1], frame.shape[0]])
        centre = (box[:2] + box[2:]) / 2
        return np.broadcast_to(centre, (1, KEYPOINTS, 2)).copy(), np.full((1, KEYPOINTS), 0.9)


def test_tracking_keeps_the_first_person_when_a_larger_one_appears() -> None:
    walker = lambda t: [20 + 4 * t, 40, 60 + 4 * t, 160, 0.8]  # noqa: E731
    giant = [120, 10, 190, 190, 0.95]
    script = [[walker(0)], [walker(1)], [giant, walker(2)], [giant, walker(3)], [], [walker(5), giant]]
    frames = np.stack([np.full((200, 200, 3), t, np.uint8) for t in range(len(script))])
    result = extract_frames(frames, Fraction(15), ScriptedDetector(script))
    nose_x = result.pose.frames[:, 0, 0] * 200
    np.testing.assert_allclose(nose_x, [40, 44, 48, 52, 100, 60])  # frame 4: no box, the whole frame
    np.testing.assert_array_equal(result.detected, [True, True, True, True, False, True])
    np.testing.assert_array_equal(result.people, [1, 1, 2, 2, 0, 2])
    np.testing.assert_allclose(result.box_scores, [0.8, 0.8, 0.8, 0.8, np.nan, 0.8])
    # Two people from the start: the largest is the one tracked.
    start = extract_frames(frames[2:4], Fraction(15), ScriptedDetector(script))
    np.testing.assert_allclose(start.pose.frames[:, 0, 0] * 200, [155, 155])


# ---------------------------------------------------------------- the command line


def test_extract_command_writes_pose_files(tmp_path: Path, registry_weights: None) -> None:
    videos = tmp_path / "videos"
    for seed in (1, 2):
        write_video(videos / f"clip{seed}.mp4", smooth_videos(1, 6, 64, 96, seed=seed)[0], 15)
    (videos / "notes.txt").write_text("not a video")
    reference = tmp_path / "reference.png"
    Image.fromarray(smooth_videos(1, 1, 80, 70, seed=3)[0][0]).save(reference)
    runner = CliRunner()
    out = tmp_path / "out" / "clip1.json"
    args = ["pose", "extract", str(videos / "clip1.mp4"), "--out", str(out), "--reference", str(reference)]
    result = runner.invoke(main, [*args, "--render", "--pickle"])
    assert result.exit_code == 0, result.output
    assert "6 frames" in result.output and "unverified weights" in result.output
    pose = PoseSequence.from_json(json.loads(out.read_text()), str(out))
    assert (pose.num_frames, pose.size, pose.fps, pose.reference_size) == (6, (96, 64), Fraction(15), (70, 80))
    assert read_video(out.with_name("clip1.mp4")).num_frames == 6
    assert load_animatex_pickle(out.with_name("clip1.pkl").read_bytes()).num_frames == 6

    folder = runner.invoke(main, ["pose", "extract", str(videos), "--out", str(tmp_path / "poses")])
    assert folder.exit_code == 0, folder.output
    assert sorted(p.name for p in (tmp_path / "poses").iterdir()) == ["clip1.pose.json", "clip2.pose.json"]
    assert "clip1.mp4: 6 frames" in folder.output and "clip2.mp4: 6 frames" in folder.output
    again = PoseSequence.from_json(json.loads((tmp_path / "poses" / "clip1.pose.json").read_text()))
    np.testing.assert_array_equal(again.frames, pose.frames)
    assert again.reference is None


def test_extract_command_reports_bad_inputs(tmp_path: Path, registry_weights: None) -> None:
    runner = CliRunner()
    (tmp_path / "empty").mkdir()
    empty = runner.invoke(main, ["pose", "extract", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert empty.exit_code == 1 and "holds no videos" in empty.output
    videos = tmp_path / "videos"
    write_video(videos / "good.mp4", smooth_videos(1, 4, 64, 64, seed=1)[0], 15)
    (videos / "broken.mp4").write_bytes(b"not an mp4 at all")
    result = runner.invoke(main, ["pose", "extract", str(videos), "--out", str(tmp_path / "poses")])
    assert result.exit_code == 1 and "broken.mp4" in result.output and "Traceback" not in result.output
    assert (tmp_path / "poses" / "good.pose.json").is_file()


def test_missing_weights_name_the_files_and_the_fetch_command(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("A2BENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    video = write_video(tmp_path / "v.mp4", smooth_videos(1, 2, 64, 64, seed=1)[0], 15)
    result = CliRunner().invoke(main, ["pose", "extract", str(video), "--out", str(tmp_path / "pose.json")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    for spec in (DETECTOR, POSE_MODEL):
        assert spec.name in result.output and spec.url in result.output
        assert f"a2bench weights fetch {spec.name}" in result.output
    with pytest.raises(WeightsError, match=r"yolox_l\.onnx"):
        DWPose()
    listing = CliRunner().invoke(main, ["weights", "list", "--all"])  # the full per-file listing
    assert "yolox_l.onnx\n    missing" in listing.output and "dw-ll_ucoco_384.onnx\n    missing" in listing.output


# ---------------------------------------------------------------- parity with the Animate-X++ release


@pytest.mark.skipif(not ANIMATEX_DIR, reason="set A2BENCH_ANIMATEX_DIR to an Animate-X++ checkout (containing dwpose/)")
@pytest.mark.parametrize("input_order", ["bgr", "rgb"])
def test_boxes_and_keypoints_equal_the_release(models: dict[str, Path], input_order: str) -> None:
    root = Path(ANIMATEX_DIR)
    if not (root / "dwpose" / "onnxdet.py").is_file():
        pytest.fail(f"A2BENCH_ANIMATEX_DIR={ANIMATEX_DIR} has no dwpose/onnxdet.py")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(root))
        from dwpose import onnxdet, onnxpose

    assert Path(onnxdet.__file__).resolve().is_relative_to(root.resolve())
    sessions = [
        onnxruntime.InferenceSession(str(models[spec.name]), providers=["CPUExecutionProvider"])
        for spec in (DETECTOR, POSE_MODEL)
    ]
    ours = DWPose(models[DETECTOR.name], models[POSE_MODEL.name], input_order=input_order)
    frames = boxes_seen = 0
    empty_frames = 0
    for seed, (height, width) in enumerate([(64, 64), (131, 97), (480, 832), (255, 257), (720, 405), (33, 700)]):
        for rgb in smooth_videos(1, 4, height, width, seed=seed)[0]:
            image = np.ascontiguousarray(rgb[..., ::-1]) if input_order == "bgr" else rgb
            expected_boxes = onnxdet.inference_detector(sessions[0], image)
            boxes = ours.detect(rgb)
            assert len(boxes) == len(expected_boxes)
            if len(boxes):
                np.testing.assert_array_equal(boxes[:, :4], expected_boxes)
            expected_xy, expected_scores = onnxpose.inference_pose(sessions[1], expected_boxes, image)
            xy, scores = ours.keypoints(rgb, boxes)
            assert xy.dtype == expected_xy.dtype and scores.dtype == expected_scores.dtype
            np.testing.assert_array_equal(xy, expected_xy)
            np.testing.assert_array_equal(scores, expected_scores)
            frames, boxes_seen, empty_frames = frames + 1, boxes_seen + len(boxes), empty_frames + (not len(boxes))
    assert boxes_seen > frames and 0 < empty_frames < frames  # both paths, and several people per frame
