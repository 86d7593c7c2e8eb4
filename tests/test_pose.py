"""Canonical keypoints and re-targeting."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from a2bench.pose import NUM_KEYPOINTS, PoseError, PoseSequence, retarget
from a2bench.pose.retarget import BONES
from a2bench.synth.characters import sample_character
from a2bench.synth.generate import _normalised
from a2bench.synth.motions import sample_motion
from a2bench.synth.skeleton import REST, body_points

SIZE = (256, 256)


def _character_pose(seed: int, motion: str) -> PoseSequence:
    rng = np.random.default_rng(seed)
    spec = sample_character(rng)
    program = sample_motion(motion, rng)
    frames = np.stack([body_points(spec, program(t / 15), SIZE) for t in range(20)])
    return _normalised(frames, body_points(spec, REST, SIZE), SIZE, 15)


def test_pose_json_round_trip() -> None:
    pose = _character_pose(1, "dance")
    again = PoseSequence.from_json(json.loads(json.dumps(pose.to_json())))
    np.testing.assert_array_equal(again.frames, pose.frames)
    np.testing.assert_array_equal(again.reference, pose.reference)
    assert (again.size, again.fps, again.frames.shape) == (SIZE, Fraction(15), (20, NUM_KEYPOINTS, 3))


def test_pose_json_rejects_out_of_range_points() -> None:
    doc = _character_pose(1, "dance").to_json()
    doc["frames"][0]["body"][4] = [1.5, 0.5, 1.0]
    with pytest.raises(PoseError, match="frame 0: a present keypoint lies outside"):
        PoseSequence.from_json(doc)


def test_retargeting_the_driver_reference_gives_the_target_reference() -> None:
    driver, target = _character_pose(1, "dance"), _character_pose(2, "wave")
    still = PoseSequence(driver.reference[None], SIZE, Fraction(15), driver.reference, SIZE)
    out = retarget(still, target.reference, SIZE)
    np.testing.assert_allclose(out.frames[0], target.reference, atol=1e-5)


def test_bones_take_target_lengths_and_driver_rotations_from_rest() -> None:
    driver, target = _character_pose(1, "dance"), _character_pose(2, "wave")
    out = retarget(driver, target.reference, SIZE)

    def bone(points: np.ndarray, parent: int, child: int) -> np.ndarray:
        d = (points[..., child, :2] - points[..., parent, :2]) * 256
        return d[..., 0] + 1j * d[..., 1]

    for parent, child in BONES:
        d_rest, t_rest = bone(driver.reference, parent, child), bone(target.reference, parent, child)
        o_bone, d_bone = bone(out.frames, parent, child), bone(driver.frames, parent, child)
        np.testing.assert_allclose(np.abs(o_bone) / np.abs(d_bone), abs(t_rest) / abs(d_rest), rtol=1e-3)
        turn = np.angle(o_bone / t_rest) - np.angle(d_bone / d_rest)  # rotation away from rest is kept
        np.testing.assert_allclose(np.angle(np.exp(1j * turn)), 0, atol=1e-3)


def test_missing_driver_points_stay_missing_with_their_children() -> None:
    driver = _character_pose(1, "dance")
    frames = driver.frames.copy()
    frames[5, 3] = -1  # right elbow missing in frame 5
    out = retarget(
        PoseSequence(frames, SIZE, driver.fps, driver.reference, SIZE), _character_pose(2, "wave").reference, SIZE
    )
    assert (out.frames[5, [3, 4], :2] == -1).all()
    assert (out.frames[4, [3, 4], :2] != -1).all()
