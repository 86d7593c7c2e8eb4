"""Canonical keypoints and re-targeting."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from conftest import character_pose
from hypothesis import given, settings
from hypothesis import strategies as st

from a2bench.core.pose import NUM_KEYPOINTS, PoseError, PoseSequence, retarget
from a2bench.core.pose.keypoints import to_pixels
from a2bench.core.pose.skeleton import BONES, direct_offsets

SIZE = (256, 256)


def test_pose_json_round_trip() -> None:
    pose = character_pose(1, "dance")
    again = PoseSequence.from_json(json.loads(json.dumps(pose.to_json())))
    np.testing.assert_array_equal(again.frames, pose.frames)
    np.testing.assert_array_equal(again.reference, pose.reference)
    assert (again.size, again.fps, again.frames.shape) == (SIZE, Fraction(15), (20, NUM_KEYPOINTS, 3))


def test_pose_json_rejects_out_of_range_points() -> None:
    doc = character_pose(1, "dance").to_json()
    doc["frames"][0]["body"][4] = [1.5, 0.5, 1.0]
    with pytest.raises(PoseError, match="frame 0: a present keypoint lies outside"):
        PoseSequence.from_json(doc)


def _offsets(pose: np.ndarray) -> np.ndarray:
    """Pixel offsets of every point from its direct parent (NaN where missing)."""
    return direct_offsets(to_pixels(pose, SIZE))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.integers(0, 10_000), st.sampled_from(["dance", "wave", "march"]))
def test_retargeting_keeps_driving_joint_angles_and_gives_target_limb_lengths(seed_a, seed_b, motion) -> None:
    driver, target = character_pose(seed_a, motion), character_pose(seed_b, "wave")
    out = retarget(driver, target.reference, SIZE)
    o, d = _offsets(out.frames), _offsets(driver.frames)
    both = ~np.isnan(o).any(-1) & (np.linalg.norm(d, axis=-1) > 1e-6)  # (a face point may sit on the nose)
    body = np.zeros(NUM_KEYPOINTS, bool)
    body[[c for _, c in BONES]] = True
    assert both[:, body].mean() > 0.95  # the comparison covers (nearly) every limb of every frame
    angle = np.angle((o[..., 0] + 1j * o[..., 1]) / (d[..., 0] + 1j * d[..., 1]))
    np.testing.assert_allclose(angle[both], 0, atol=1e-4)  # same direction in every frame
    ratio = np.linalg.norm(o, axis=-1) / np.linalg.norm(d, axis=-1)
    rest = np.linalg.norm(_offsets(target.reference), axis=-1) / np.linalg.norm(_offsets(driver.reference), axis=-1)
    np.testing.assert_allclose(ratio[both & body], np.broadcast_to(rest, ratio.shape)[both & body], rtol=1e-3)

    still = retarget(
        PoseSequence(driver.reference[None], SIZE, driver.fps, driver.reference, SIZE), target.reference, SIZE
    )
    lengths = np.linalg.norm(_offsets(still.frames[0]), axis=-1)[body]
    np.testing.assert_allclose(lengths, np.linalg.norm(_offsets(target.reference), axis=-1)[body], rtol=1e-3)
    ankles = to_pixels(still.frames[0], SIZE)[[10, 13]].mean(0)
    np.testing.assert_allclose(ankles, to_pixels(target.reference, SIZE)[[10, 13]].mean(0), atol=1e-3)


def test_retargeting_is_deterministic_and_keeps_scores() -> None:
    driver, target = character_pose(1, "dance"), character_pose(2, "wave")
    a, b = retarget(driver, target.reference, SIZE), retarget(driver, target.reference, SIZE)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.frames[..., 2], driver.frames[..., 2])


def test_a_missing_driver_joint_stays_missing_and_its_children_hang_from_the_grandparent() -> None:
    driver = character_pose(1, "dance")
    frames = driver.frames.copy()
    frames[5, 3] = -1  # right elbow missing in frame 5
    target = character_pose(2, "wave")
    out = retarget(PoseSequence(frames, SIZE, driver.fps, driver.reference, SIZE), target.reference, SIZE)
    assert (out.frames[5, 3, :2] == -1).all() and (out.frames[5, 4, :2] != -1).all()
    full = retarget(driver, target.reference, SIZE)
    np.testing.assert_array_equal(out.frames[5, :3], full.frames[5, :3])
    np.testing.assert_array_equal(out.frames[4], full.frames[4])
