"""EPI augmentations: each operation changes what its name says and nothing else."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import character_pose
from hypothesis import given, settings
from hypothesis import strategies as st

from a2bench.core.pose import PoseSequence
from a2bench.core.pose.epi import (
    MIRROR,
    PARTS,
    RESCALE_PARTS,
    EPIConfig,
    Op,
    add_parts,
    augment,
    drop_parts,
    realign,
    rescale,
    shift,
)
from a2bench.core.pose.keypoints import missing_mask, to_pixels
from a2bench.core.pose.skeleton import direct_offsets

SIZE = (320, 256)  # not square: angles must be kept in pixels
poses = st.builds(
    lambda seed, motion: character_pose(seed, motion, SIZE, frames=12),
    st.integers(0, 10_000),
    st.sampled_from(["dance", "wave", "march"]),
)


def offsets(pose: PoseSequence) -> np.ndarray:
    return direct_offsets(to_pixels(pose.frames, pose.size))


def comparable(a: PoseSequence, b: PoseSequence) -> np.ndarray:
    """Points whose offset from their parent exists in both poses and is not degenerate."""
    oa, ob = offsets(a), offsets(b)
    return ~np.isnan(oa).any(-1) & ~np.isnan(ob).any(-1) & (np.linalg.norm(oa, axis=-1) > 1e-6)


@settings(max_examples=25, deadline=None)
@given(poses, st.sampled_from(sorted(RESCALE_PARTS)), st.floats(0.7, 1.4, allow_subnormal=False))
def test_rescale_scales_only_its_part_and_keeps_every_angle(pose, part, factor) -> None:
    out = rescale(pose, part, factor)
    ok = comparable(pose, out)
    assert ok.mean() > 0.6
    before, after = offsets(pose), offsets(out)
    expected = np.ones(ok.shape[1])
    expected[list(RESCALE_PARTS[part])] = factor
    ratio = np.linalg.norm(after, axis=-1) / np.linalg.norm(before, axis=-1).clip(1e-9)
    np.testing.assert_allclose(ratio[ok], np.broadcast_to(expected, ok.shape)[ok], rtol=1e-3)
    cross = before[..., 0] * after[..., 1] - before[..., 1] * after[..., 0]
    dot = (before * after).sum(-1)
    np.testing.assert_allclose(np.arctan2(cross, dot)[ok], 0, atol=1e-3)  # every direction unchanged
    # The neck never moves, and only points leaving the frame may become missing.
    np.testing.assert_allclose(out.frames[:, 1, :2], pose.frames[:, 1, :2], atol=1e-6)
    assert not (missing_mask(pose.frames) & ~missing_mask(out.frames)).any()
    np.testing.assert_array_equal(out.frames[..., 2], pose.frames[..., 2])


@settings(max_examples=25, deadline=None)
@given(poses, st.floats(-0.1, 0.1, allow_subnormal=False), st.floats(-0.1, 0.1, allow_subnormal=False))
def test_shift_moves_every_present_point_by_the_same_amount(pose, dx, dy) -> None:
    out = shift(pose, dx, dy)
    kept = ~missing_mask(out.frames)
    moved = to_pixels(out.frames, SIZE) - to_pixels(pose.frames, SIZE)
    np.testing.assert_allclose(moved[kept], np.broadcast_to([dx * SIZE[0], dy * SIZE[1]], moved.shape)[kept], atol=1e-3)
    gone = missing_mask(out.frames) & ~missing_mask(pose.frames)
    target = pose.frames[..., :2] + np.array([dx, dy])
    assert ((target[gone] < 0) | (target[gone] > 1)).any(-1).all()  # only points pushed out of the frame


@settings(max_examples=25, deadline=None)
@given(poses, st.lists(st.sampled_from(sorted(PARTS)), min_size=1, max_size=3, unique=True))
def test_drop_parts_removes_those_points_only(pose, parts) -> None:
    out = drop_parts(pose, parts)
    dropped = np.zeros(out.frames.shape[1], bool)
    for part in parts:
        dropped[list(PARTS[part])] = True
    assert missing_mask(out.frames)[:, dropped].all() and (out.frames[:, dropped, 2] == 0).all()
    np.testing.assert_array_equal(out.frames[:, ~dropped], pose.frames[:, ~dropped])


@settings(max_examples=25, deadline=None)
@given(poses, st.sampled_from(["right_arm", "left_arm", "right_leg", "left_leg"]))
def test_add_parts_mirrors_a_missing_limb_and_changes_nothing_present(pose, part) -> None:
    dropped = drop_parts(pose, [part])
    out = add_parts(dropped)
    present_before = ~missing_mask(dropped.frames)
    np.testing.assert_array_equal(out.frames[present_before], dropped.frames[present_before])
    filled = ~present_before & ~missing_mask(out.frames)
    limb = [i for i in PARTS[part] if i < 20]  # body and feet points of the limb
    assert filled[:, limb].mean() > 0.9
    # A filled point sits where its counterpart is reflected across the neck–mid-hip axis.
    xy = to_pixels(out.frames, SIZE)
    neck, hips = xy[:, 1], xy[:, [8, 11]].mean(1)
    axis = (hips - neck) / np.linalg.norm(hips - neck, axis=-1, keepdims=True)
    for i in limb:
        a, b = xy[:, i] - neck, xy[:, MIRROR[i]] - neck
        rows = filled[:, i]
        along_a, along_b = (a * axis).sum(-1), (b * axis).sum(-1)
        across_a = a[:, 0] * axis[:, 1] - a[:, 1] * axis[:, 0]
        across_b = b[:, 0] * axis[:, 1] - b[:, 1] * axis[:, 0]
        np.testing.assert_allclose(along_a[rows], along_b[rows], atol=1e-3)
        np.testing.assert_allclose(across_a[rows], -across_b[rows], atol=1e-3)


def test_add_parts_leaves_a_complete_pose_unchanged() -> None:
    pose = character_pose(3, "dance", SIZE, frames=6)
    np.testing.assert_array_equal(add_parts(pose).frames, pose.frames)


@settings(max_examples=15, deadline=None)
@given(poses, st.integers(0, 10_000))
def test_realign_keeps_the_motion_and_takes_the_anchor_body_shape(pose, anchor_seed) -> None:
    anchor = character_pose(anchor_seed, "wave", (256, 256), frames=1).reference  # another frame size
    out = realign(pose, anchor, (256, 256))
    ok = comparable(pose, out)
    before, after = offsets(pose), offsets(out)
    cross = before[..., 0] * after[..., 1] - before[..., 1] * after[..., 0]
    np.testing.assert_allclose(np.arctan2(cross, (before * after).sum(-1))[ok], 0, atol=1e-3)
    # Body lengths follow the anchor: the ratio to the driving reference is the same in every frame.
    ratio = np.linalg.norm(after, axis=-1) / np.linalg.norm(before, axis=-1).clip(1e-9)
    for point in range(18):
        rows = ok[:, point]
        if rows.any():
            assert np.ptp(ratio[rows, point]) < 1e-3 * ratio[rows, point].max(), point
    np.testing.assert_array_equal(out.reference, pose.reference)
    assert out.size == pose.size
    # At the driving reference pose every limb has the anchor's length (the anchor fits the frame at scale 1).
    still = realign(replace(pose, frames=pose.reference[None]), anchor, (256, 256))
    lengths = np.linalg.norm(offsets(still)[0, :20], axis=-1)
    expected = np.linalg.norm(direct_offsets(to_pixels(anchor, (256, 256)))[:20], axis=-1)
    np.testing.assert_allclose(lengths, expected, rtol=1e-3)  # NaN at the neck, the root


def test_augment_applies_nothing_with_probability_zero_and_is_reproducible() -> None:
    pose = character_pose(5, "march", SIZE, frames=6)
    anchors = [(character_pose(s, "wave", SIZE, frames=1).reference, SIZE) for s in (1, 2)]
    same, applied = augment(pose, np.random.default_rng(0), EPIConfig(probability=0.0), anchors)
    assert same is pose and applied == []
    a, log_a = augment(pose, np.random.default_rng(7), EPIConfig(), anchors)
    b, log_b = augment(pose, np.random.default_rng(7), EPIConfig(), anchors)
    np.testing.assert_array_equal(a.frames, b.frames)
    assert log_a == log_b and log_a[0].startswith("realign#")
    always = EPIConfig(**{name: Op(1.0, 1.2, 1.2) for name in RESCALE_PARTS})
    _, log = augment(pose, np.random.default_rng(1), replace(always, shift=Op(0.0), drop=Op(0.0), add=Op(0.0)))
    assert log == [f"{name}×1.200" for name in RESCALE_PARTS]


def test_epi_config_from_dict_reads_values_and_suggests_names() -> None:
    config = EPIConfig.from_dict({"probability": 0.98, "arms": {"p": 0.2, "low": 0.9, "high": 1.1}})
    assert config.probability == 0.98 and config.arms == Op(0.2, 0.9, 1.1) and config.legs == EPIConfig().legs
    with pytest.raises(ValueError, match="did you mean 'shoulders'"):
        EPIConfig.from_dict({"shoulder": {"p": 1.0}})
