"""Skeleton images drawn as DWPose draws them, so models see the pose images they were trained on.

Two conventions, both reproducing code the models were trained with (read, not copied):

* ``"dwpose"``: ``draw_pose`` of IDEA-Research/DWPose (``annotator/dwpose``): 17 body limbs as filled
  ellipses 4 px wide, the limb layer dimmed to 60 %, 18 joint discs of radius 4, 20 hand bones per hand
  2 px wide in HSV rainbow colours with red (0, 0, 255 as written) joint discs of radius 4, and 68 white
  face discs of radius 3.
* ``"animatex"``: the Animate-X(++) release (``process_data.py`` → ``draw_body_and_foot``): the same, plus
  the two foot points joined to the ankles (19 limbs, 20 joints), as used for its pose videos.

Both draw with OpenCV in exactly the reference's order and integer rounding, so pixels are identical.
Widths are fixed in pixels in both references (they do not grow with resolution); ``scale_widths=True``
scales them by the shorter side / 512 (DWPose's detection resolution) for very large or small frames,
an opt-in departure from the references. ``face=False``
gives the "without face" images Animate-X also writes. Frames are drawn in parallel threads (OpenCV
releases the GIL).

Colours are the references' tuples as R, G, B (the first limb (153, 0, 0) after dimming, the neck joint
(255, 85, 0)): the canvas as drawn, which is what benchmark ``pose.mp4`` files hold. :func:`as_model_input` gives
the images a model saw when its pipeline wrote that canvas with ``cv2.imwrite`` (which takes it for BGR), possibly
as JPEG, and read the file back as RGB, as the Animate-X++ release does: red and blue exchanged, the first limb
(0, 0, 153), with JPEG's loss.
"""

from __future__ import annotations

import colorsys
import io
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from a2bench.core.pose.keypoints import BODY, FACE, FEET, LEFT_HAND, RIGHT_HAND, PoseSequence, missing_mask

Convention = Literal["dwpose", "animatex"]

# 1-based OpenPose-18 joint pairs in the references' order; the animatex convention swaps the two
# ear-to-shoulder pairs DWPose never draws for the feet (joints 19, 20 = left, right foot).
_DWPOSE_LIMBS = (
    (2, 3),
    (2, 6),
    (3, 4),
    (4, 5),
    (6, 7),
    (7, 8),
    (2, 9),
    (9, 10),
    (10, 11),
    (2, 12),
    (12, 13),
    (13, 14),
    (2, 1),
    (1, 15),
    (15, 17),
    (1, 16),
    (16, 18),
)
_FOOT_LIMBS = ((14, 19), (11, 20))
_JOINT_COLOURS = (
    (255, 0, 0),
    (255, 85, 0),
    (255, 170, 0),
    (255, 255, 0),
    (170, 255, 0),
    (85, 255, 0),
    (0, 255, 0),
    (0, 255, 85),
    (0, 255, 170),
    (0, 255, 255),
    (0, 170, 255),
    (0, 85, 255),
    (0, 0, 255),
    (85, 0, 255),
    (170, 0, 255),
    (255, 0, 255),
    (255, 0, 170),
    (255, 0, 85),
    (170, 255, 255),
    (255, 255, 0),
)
_HAND_BONES = (
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (0, 5),
    (5, 6),
    (6, 7),
    (7, 8),
    (0, 9),
    (9, 10),
    (10, 11),
    (11, 12),
    (0, 13),
    (13, 14),
    (14, 15),
    (15, 16),
    (0, 17),
    (17, 18),
    (18, 19),
    (19, 20),
)
# matplotlib.colors.hsv_to_rgb([i / 20, 1, 1]) * 255, as floats: OpenCV truncates them when drawing.
_HAND_COLOURS = tuple(
    tuple(255.0 * c for c in colorsys.hsv_to_rgb(i / len(_HAND_BONES), 1.0, 1.0)) for i in range(len(_HAND_BONES))
)
_STICK, _JOINT_RADIUS, _HAND_WIDTH, _FACE_RADIUS, _DIM = 4, 4, 2, 3, 0.6
_WIDTH_BASE = 512  # scale_widths: the reference widths belong to this shorter side
# How each convention's reference model received its pose images (the arguments of ``as_model_input``): the
# Animate-X(++) releases write the canvas with cv2.imwrite as .jpg (its default quality, 95) and read the files back
# with PIL as RGB; DWPose's annotator hands the canvas on as drawn.
MODEL_INPUT: dict[str, dict[str, Any]] = {
    "animatex": {"swap_rb": True, "jpeg_quality": 95},
    "dwpose": {"swap_rb": False, "jpeg_quality": None},
}
# How benchmark ``pose.mp4`` files are drawn (synth and ``bench build``): the Animate-X++ release's pose
# images, body + feet + hands without the face.
POSE_VIDEO = {"convention": "animatex", "face": False}
_EPS = 0.01  # the references skip hand/face points whose integer pixel x or y is not above this


def draw_pose(
    keypoints: np.ndarray,
    size: tuple[int, int],
    *,
    convention: Convention = "animatex",
    face: bool = True,
    scale_widths: bool = False,
) -> np.ndarray:
    """One frame's 130 keypoints (normalised x, y, score; missing = -1) as an ``(H, W, 3)`` uint8 image."""
    width, height = size
    stick, joint_radius, hand_width, face_radius = (
        _widths(min(width, height)) if scale_widths else (_STICK, _JOINT_RADIUS, _HAND_WIDTH, _FACE_RADIUS)
    )
    keypoints = np.asarray(keypoints)
    # float32, as the references hold DWPose's output: their pixel arithmetic then rounds the same way.
    points = keypoints[:, :2].astype(np.float32)
    missing = missing_mask(keypoints)
    canvas = np.zeros((height, width, 3), np.uint8)
    body = np.r_[BODY] if convention == "dwpose" else np.r_[BODY, FEET]
    joints, present = points[body], ~missing[body]
    limbs = _DWPOSE_LIMBS if convention == "dwpose" else _DWPOSE_LIMBS + _FOOT_LIMBS
    for limb, colour in zip(limbs, _JOINT_COLOURS, strict=False):
        a, b = limb[0] - 1, limb[1] - 1
        if not (present[a] and present[b]):
            continue
        xs, ys = joints[[a, b], 0] * float(width), joints[[a, b], 1] * float(height)
        length = ((ys[0] - ys[1]) ** 2 + (xs[0] - xs[1]) ** 2) ** 0.5
        angle = math.degrees(math.atan2(ys[0] - ys[1], xs[0] - xs[1]))
        centre = (int(np.mean(xs)), int(np.mean(ys)))
        polygon = cv2.ellipse2Poly(centre, (int(length / 2), stick), int(angle), 0, 360, 1)
        cv2.fillConvexPoly(canvas, polygon, colour)
    canvas = (canvas * _DIM).astype(np.uint8)
    for index in np.flatnonzero(present):
        x, y = int(joints[index, 0] * width), int(joints[index, 1] * height)
        cv2.circle(canvas, (x, y), joint_radius, _JOINT_COLOURS[index], thickness=-1)
    for hand in (LEFT_HAND, RIGHT_HAND):
        pixels = _pixels(points[hand], width, height)
        for (a, b), colour in zip(_HAND_BONES, _HAND_COLOURS, strict=True):
            if _drawn(pixels[a]) and _drawn(pixels[b]):
                cv2.line(canvas, tuple(pixels[a]), tuple(pixels[b]), colour, thickness=hand_width)
        for point in pixels:
            if _drawn(point):
                cv2.circle(canvas, tuple(point), joint_radius, (0, 0, 255), thickness=-1)
    if face:
        for point in _pixels(points[FACE], width, height):
            if _drawn(point):
                cv2.circle(canvas, tuple(point), face_radius, (255, 255, 255), thickness=-1)
    return canvas


def _widths(short_side: int) -> tuple[int, ...]:
    """Stick half-width, joint radius, hand line width and face radius scaled to ``short_side``."""
    factor = short_side / _WIDTH_BASE
    return tuple(max(1, round(w * factor)) for w in (_STICK, _JOINT_RADIUS, _HAND_WIDTH, _FACE_RADIUS))


def _pixels(points: np.ndarray, width: int, height: int) -> list[tuple[int, int]]:
    """``int(x * W), int(y * H)`` per point: truncation toward zero, as the references' ``int()``."""
    return [(int(x * width), int(y * height)) for x, y in points]


def _drawn(point: tuple[int, int]) -> bool:
    return point[0] > _EPS and point[1] > _EPS


def render_poses(
    poses: PoseSequence,
    size: tuple[int, int] | None = None,
    *,
    convention: Convention = "animatex",
    face: bool = True,
    scale_widths: bool = False,
    workers: int = 2,
) -> np.ndarray:
    """Every frame of ``poses`` drawn at ``size`` (default: the sequence's own) as ``(T, H, W, 3)`` uint8.

    ``workers`` threads draw the frames; ``workers=1`` draws them in this thread (faster for small frames, where
    OpenCV's calls are too short to release the GIL for long, and in data-loader processes)."""
    size = size or poses.size

    def draw(keypoints: np.ndarray) -> np.ndarray:
        return draw_pose(keypoints, size, convention=convention, face=face, scale_widths=scale_widths)

    if workers <= 1:
        return np.stack([draw(kp) for kp in poses.frames])
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.stack(list(pool.map(draw, poses.frames)))


def as_model_input(images: np.ndarray, *, swap_rb: bool = False, jpeg_quality: int | None = None) -> np.ndarray:
    """Pose images ``(..., H, W, 3)`` as drawn → as a pipeline that saved them with OpenCV and read them back as RGB
    hands them to its model: red and blue exchanged when ``swap_rb`` (``cv2.imwrite`` of an RGB canvas), through a
    JPEG round trip of ``jpeg_quality`` (OpenCV encodes, PIL decodes) when given."""
    images = np.asarray(images)
    if jpeg_quality is None:
        return np.ascontiguousarray(images[..., ::-1]) if swap_rb else images
    flat = images.reshape(-1, *images.shape[-3:])
    # cv2 takes the array for BGR: handing it the canvas as is exchanges red and blue.
    written = flat if swap_rb else flat[..., ::-1]
    return np.stack([_jpeg_round_trip(image, jpeg_quality) for image in written]).reshape(images.shape)


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """``image`` (taken for BGR) encoded by OpenCV as a JPEG of ``quality``, as ``cv2.imwrite`` writes ``.jpg``, and
    decoded by PIL as RGB."""
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(image), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} pose image as JPEG")
    with Image.open(io.BytesIO(encoded.tobytes())) as decoded:
        return np.asarray(decoded.convert("RGB"))
