"""Keypoint layout conversions: COCO-WholeBody-133, COCO-17, OpenPose-18 and the Animate-X pickle."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from a2bench.core.pose import PoseError, PoseSequence
from a2bench.core.pose.convert import (
    dump_animatex_pickle,
    from_coco17,
    from_coco_wholebody,
    from_openpose18,
    load_animatex_pickle,
    to_coco17,
    to_openpose18,
)
from a2bench.core.pose.keypoints import BODY, FACE, FEET, HANDS, MISSING

SIZE = (640, 480)


def random_points(seed: int, count: int, frames: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1, (frames, count, 2)) * SIZE
    scores = rng.uniform(0, 1, (frames, count))
    return xy, scores


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_coco17_and_openpose18_round_trip(seed: int) -> None:
    xy, scores = random_points(seed, 17)
    frames = from_coco17(xy, scores, SIZE)
    assert np.array_equal(from_coco17(*to_coco17(frames, SIZE), SIZE), frames)
    np.testing.assert_allclose(from_openpose18(*to_openpose18(frames, SIZE), SIZE), frames, atol=1e-12)
    assert (frames[:, 18:][..., 0] == MISSING).all()  # body-only formats leave the rest missing


def test_coco_wholebody_follows_dwpose_order_neck_feet_and_visibility() -> None:
    xy, scores = random_points(7, 133, frames=1)
    scores[:] = 0.9
    xy[0, 3] = (-5, 10)  # left ear outside the frame: missing
    scores[0, 1] = 0.2  # left eye below DWPose's 0.3: missing
    scores[0, 21] = 0.1  # right small toe invisible: the right foot is missing
    frames = from_coco_wholebody(xy, scores, SIZE)[0]
    norm = xy[0] / SIZE
    np.testing.assert_allclose(frames[2, :2], norm[6])  # OpenPose right shoulder = COCO 6
    np.testing.assert_allclose(frames[13, :2], norm[15])  # left ankle = COCO 15
    np.testing.assert_allclose(frames[1, :2], norm[[5, 6]].mean(axis=0))  # neck = mean of shoulders
    assert frames[17, 0] == MISSING and frames[15, 0] == MISSING  # left ear, left eye
    np.testing.assert_allclose(frames[FEET][0, :2], norm[[17, 18]].mean(axis=0))  # left foot: toe midpoint
    assert frames[FEET][1, 0] == MISSING
    np.testing.assert_allclose(frames[FACE][:, :2], norm[23:91])
    np.testing.assert_allclose(frames[HANDS][:, :2], norm[91:133])
    PoseSequence(frames[None], SIZE, 25).validate()


def test_animatex_pickle_round_trip_keeps_positions_and_drops_feet_and_scores() -> None:
    xy, scores = random_points(3, 133, frames=4)
    frames = from_coco_wholebody(xy, scores, SIZE)
    poses = PoseSequence(frames, SIZE, 25)
    data = dump_animatex_pickle(poses)
    doc = pickle.loads(data)
    assert doc["bodies"].shape == (4, 18, 2) and doc["hands"].shape == (4, 2, 21, 2) and doc["size"] == (480, 640, 3)
    back = load_animatex_pickle(data)
    kept = np.r_[BODY, FACE, HANDS]
    present = frames[:, kept, 0] != MISSING
    np.testing.assert_allclose(back.frames[:, kept, :2][present], frames[:, kept, :2][present], atol=1e-6)
    assert np.array_equal(back.frames[:, kept, 0] != MISSING, present)
    assert np.all(back.frames[:, kept, 2][present] == 1.0)
    assert np.all(back.frames[:, FEET, 0] == MISSING)
    assert back.size == SIZE and back.fps == 25


def test_pose_pickles_that_build_objects_are_refused() -> None:
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with pytest.raises(PoseError, match="refusing to load"):
        load_animatex_pickle(pickle.dumps({"bodies": Exploit()}))
    with pytest.raises(PoseError, match="not in the Animate-X layout"):
        load_animatex_pickle(pickle.dumps({"bodies": np.zeros((2, 18, 2))}))


def test_wrong_shapes_name_the_format() -> None:
    with pytest.raises(PoseError, match=r"COCO-WholeBody keypoints: expected shape \(T, 133, 2\)"):
        from_coco_wholebody(np.zeros((2, 17, 2)), np.zeros((2, 17)), SIZE)
