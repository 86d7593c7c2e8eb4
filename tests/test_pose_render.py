"""DWPose-convention skeleton rendering: golden images, missing points, speed-independent properties.

The golden images were checked pixel-for-pixel against the Animate-X++ release's ``dwpose/util.py``
(``draw_body_and_foot`` / ``draw_bodypose`` + ``draw_handpose`` + ``draw_facepose``) when they were made;
this test guards against accidental change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from a2bench.core.pose import PoseSequence
from a2bench.core.pose.keypoints import BODY, FACE, FEET, HANDS, NUM_KEYPOINTS
from a2bench.core.pose.render import as_model_input, draw_pose, render_poses

GOLDEN = Path(__file__).parent / "data"
SIZE = (96, 128)


def example_keypoints() -> np.ndarray:
    """A fixed, plausible whole-body pose with a few missing points (normalised x, y, score)."""
    rng = np.random.default_rng(42)
    points = np.empty((NUM_KEYPOINTS, 3))
    points[:, 2] = 0.9
    points[BODY, :2] = rng.uniform(0.2, 0.8, (18, 2))
    points[FEET, :2] = rng.uniform(0.7, 0.95, (2, 2))
    points[FACE, :2] = 0.5 + rng.normal(0, 0.05, (68, 2)) - [0, 0.3]
    points[HANDS, :2] = np.repeat(rng.uniform(0.1, 0.9, (2, 2)), 21, axis=0) + rng.normal(0, 0.03, (42, 2))
    points[[3, 25, 100], :2] = -1  # a body joint, a face point, a hand point missing
    points[[3, 25, 100], 2] = 0
    return points


@pytest.mark.parametrize(("convention", "face"), [("dwpose", True), ("animatex", True), ("animatex", False)])
def test_rendering_matches_the_golden_image(convention: str, face: bool) -> None:
    image = draw_pose(example_keypoints(), SIZE, convention=convention, face=face)
    golden = GOLDEN / f"pose_{convention}{'' if face else '_noface'}.png"
    assert image.shape == (SIZE[1], SIZE[0], 3)
    np.testing.assert_array_equal(image, np.asarray(Image.open(golden)))


def test_missing_points_draw_nothing_and_feet_only_in_animatex_convention() -> None:
    points = np.full((NUM_KEYPOINTS, 3), -1.0)
    assert not draw_pose(points, SIZE).any()
    points[FEET] = [[0.5, 0.9, 1.0], [0.6, 0.9, 1.0]]
    assert not draw_pose(points, SIZE, convention="dwpose").any()
    assert draw_pose(points, SIZE, convention="animatex").any()


def test_face_flag_only_changes_face_pixels() -> None:
    with_face = draw_pose(example_keypoints(), SIZE)
    without = draw_pose(example_keypoints(), SIZE, face=False)
    changed = np.any(with_face != without, axis=-1)
    assert changed.any() and np.all(with_face[changed] == 255)  # face discs are white


def test_scaled_widths_equal_the_reference_at_512_and_grow_with_resolution() -> None:
    points = example_keypoints()
    points[FACE, :2] = -1
    at = {side: draw_pose(points, (side, side), scale_widths=True) for side in (256, 512, 1024)}
    np.testing.assert_array_equal(at[512], draw_pose(points, (512, 512)))
    lit = {side: at[side].any(-1).sum() for side in at}  # pixels drawn on
    fixed = {side: draw_pose(points, (side, side)).any(-1).sum() for side in at}
    assert lit[256] < 0.8 * fixed[256] and lit[1024] > 1.5 * fixed[1024]  # half / twice the widths


def test_render_poses_draws_every_frame_at_the_sequence_size() -> None:
    frames = np.stack([example_keypoints(), example_keypoints()])
    frames[1, BODY, 0] += 0.05
    video = render_poses(PoseSequence(frames, SIZE, 15))
    assert video.shape == (2, SIZE[1], SIZE[0], 3)
    np.testing.assert_array_equal(video[0], draw_pose(frames[0], SIZE))
    assert not np.array_equal(video[0], video[1])
    np.testing.assert_array_equal(render_poses(PoseSequence(frames, SIZE, 15), workers=1), video)  # no threads


def test_pose_render_cli_writes_the_rendered_frames(tiny_synth, tmp_path) -> None:
    import json

    from click.testing import CliRunner

    from a2bench.cli import main
    from a2bench.core.videoio import read_video

    pose_file = tiny_synth / "s000" / "pose.json"
    poses = PoseSequence.from_json(json.loads(pose_file.read_text()))
    drawn = render_poses(poses, face=False)
    # animatex: by default as the release's model sees its pose images (red and blue exchanged, through JPEG);
    # --colours drawn: as drawn (benchmark pose.mp4); dwpose: DWPose's annotator hands the canvas on as drawn.
    cases = (([], as_model_input(drawn, swap_rb=True, jpeg_quality=95)), (["--colours", "drawn"], drawn),
             (["--convention", "dwpose"], None))  # fmt: skip
    for number, (args, expected) in enumerate(cases):
        out = tmp_path / f"skeleton{number}"  # no suffix: lossless PNG frames
        result = CliRunner().invoke(main, ["pose", "render", str(pose_file), "--out", str(out), "--no-face", *args])
        assert result.exit_code == 0, result.output
        if expected is None:
            expected = render_poses(poses, convention="dwpose", face=False)
        np.testing.assert_array_equal(read_video(out).frames, expected)


def test_model_input_is_what_a_pipeline_reads_back_from_cv2s_files(tmp_path) -> None:
    import cv2
    from PIL import Image

    drawn = np.stack([draw_pose(example_keypoints(), SIZE), draw_pose(example_keypoints()[::-1], SIZE)])
    np.testing.assert_array_equal(as_model_input(drawn), drawn)
    np.testing.assert_array_equal(as_model_input(drawn, swap_rb=True), drawn[..., ::-1])
    for swap_rb in (True, False):
        got = as_model_input(drawn, swap_rb=swap_rb, jpeg_quality=95)
        assert got.shape == drawn.shape and got.dtype == np.uint8
        for index, frame in enumerate(drawn):  # cv2.imwrite takes the array for BGR; an RGB-aware writer does not
            path = tmp_path / f"{index}-{swap_rb}.jpg"
            cv2.imwrite(str(path), frame if swap_rb else frame[..., ::-1])
            np.testing.assert_array_equal(got[index], np.asarray(Image.open(path).convert("RGB")))
        expected = drawn[..., ::-1] if swap_rb else drawn
        assert 0 < np.abs(got.astype(int) - expected).mean() < 10  # JPEG loses detail (many small coloured dots here)
    lower = as_model_input(drawn, swap_rb=True, jpeg_quality=50)
    assert np.abs(lower.astype(int) - drawn[..., ::-1]).mean() > np.abs(got.astype(int) - drawn).mean()
