"""Draw a character from its keypoints (pixels) onto a canvas.

Only the keypoints and the character's spec are used, never the motion parameters: the same
function renders self-driven frames, the reference image and re-targeted cross-driven ground truth.
Parts with a missing keypoint (NaN) are skipped.
"""

from __future__ import annotations

import numpy as np

from a2bench.core.pose.keypoints import FACE, FEET, LEFT_HAND, RIGHT_HAND, to_pixels
from a2bench.core.synth.characters import CharacterSpec
from a2bench.core.synth.raster import Canvas, Field, Paint, capsule, ellipse, polygon, ring, rounded_box
from a2bench.core.synth.skeleton import head_frame, pixels_per_unit, rotation

LIGHT = np.array([-0.45, -0.6])  # light from the upper left (image plane)
INK = np.array([0.13, 0.1, 0.12], np.float32)
WHITE = np.array([0.98, 0.98, 0.96], np.float32)


def solid(colour: tuple[float, float, float] | np.ndarray) -> Paint:
    """A paint of one flat colour."""
    rgb = np.asarray(colour, np.float32)
    return lambda field: np.broadcast_to(rgb, (*field.sdf.shape, 3))


class _Painter:
    """Colours a field in the character's style: flat, 3-D shaded, or storybook."""

    def __init__(self, spec: CharacterSpec, scale: float) -> None:
        self.spec = spec
        self.outline_px = {"flat": 0.012, "3d": 0.0, "storybook": 0.006}[spec.style] * scale

    def outline(self, colour: np.ndarray) -> tuple[float, np.ndarray] | None:
        if self.outline_px <= 0:
            return None
        return self.outline_px, (INK if self.spec.style == "flat" else colour * 0.45)

    def __call__(self, colour: np.ndarray, pattern: str = "none", pattern_colour: np.ndarray | None = None):
        spec = self.spec

        def paint(field: Field) -> np.ndarray:
            rgb = solid(colour)(field).copy()
            mask = _pattern(pattern, field.u, field.v)
            if mask is not None:
                rgb += (np.asarray(pattern_colour if pattern_colour is not None else colour * 0.7) - rgb) * mask[
                    ..., None
                ]
            if spec.style == "3d":
                nz = np.sqrt(np.clip(1.0 - field.nx**2 - field.ny**2, 0.0, 1.0))
                light = np.clip(field.nx * LIGHT[0] + field.ny * LIGHT[1] + nz * 0.65, 0.0, 1.0)
                rgb *= (0.55 + 0.55 * light)[..., None]
                rgb += 0.35 * (light**12)[..., None]
            elif spec.style == "storybook":
                rgb *= (0.92 + 0.08 * np.sin(field.u * 37.0) * np.sin(field.v * 23.0))[..., None]
            return np.clip(rgb, 0.0, 1.0)

        return paint


def _pattern(kind: str, u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    if kind == "stripes":
        return np.clip(np.sin(v * 9.0) * 3.0, 0.0, 1.0)
    if kind == "spots":
        fu, fv = (u * 3.0) % 1.0 - 0.5, (v * 3.0 + 0.5 * np.floor(u * 3.0)) % 1.0 - 0.5
        return np.clip((0.16 - np.sqrt(fu * fu + fv * fv)) * 25.0, 0.0, 1.0)
    if kind == "checker":
        return ((np.floor(u * 2.5) + np.floor(v * 2.5)) % 2).astype(np.float32) * 0.8
    return None


def draw_character(canvas: Canvas, spec: CharacterSpec, points: np.ndarray, size: tuple[int, int]) -> None:
    """Draw ``spec`` posed at ``points`` ``(130, 2)`` (pixels, NaN = missing)."""
    scale = pixels_per_unit(spec, size)
    paint = _Painter(spec, scale)
    centre, tilt, facing = head_frame(points)
    rot = rotation(tilt)
    rx, ry = scale * spec.head_rx, scale * spec.head_ry

    def head_point(x: float, y: float) -> np.ndarray:
        return centre + rot @ np.array([x * rx, y * ry])

    limb = spec.limb_colour
    arm_r, leg_r = scale * spec.arm_r, scale * spec.leg_r
    arms = {-1: (2, 3, 4, RIGHT_HAND), 1: (5, 6, 7, LEFT_HAND)}
    far_side = 0 if abs(facing) < 0.35 else (-1 if facing > 0 else 1)

    def draw_arm(side: int) -> None:
        shoulder, elbow, wrist, hand = arms[side]
        canvas.draw(
            capsule(canvas, points[shoulder], points[elbow], arm_r, arm_r * 0.9),
            paint(limb),
            paint.outline(limb),
        )
        canvas.draw(
            capsule(canvas, points[elbow], points[wrist], arm_r * 0.9, arm_r * 0.8),
            paint(limb),
            paint.outline(limb),
        )
        mitten = np.nanmean(points[hand][[0, 9, 10]], axis=0)
        canvas.draw(
            ellipse(canvas, mitten, scale * spec.hand_r, scale * spec.hand_r),
            paint(spec.accent if spec.kind.name == "panda" else limb),
            paint.outline(limb),
        )

    # Behind the body: tail, petals, far arm.
    hip_mid = (points[8] + points[11]) / 2
    if "tail" in spec.kind.extras:
        tip = hip_mid + scale * np.array([0.2, -0.12]) + np.array([0.0, 0.03 * scale * np.sin(tilt * 8)])
        canvas.draw(
            capsule(canvas, hip_mid, tip, leg_r * 0.8, leg_r * 1.1),
            paint(spec.body_colour),
            paint.outline(spec.body_colour),
        )
    if "petals" in spec.kind.extras:
        for k in range(12):
            a = tilt + k * np.pi / 6
            p = head_point(1.1 * np.cos(a), 1.1 * np.sin(a))
            canvas.draw(ellipse(canvas, p, 0.38 * rx, 0.17 * rx, a), paint(spec.accent), paint.outline(spec.accent))
    if far_side:
        draw_arm(far_side)

    # Legs and feet.
    for hip, knee, ankle, toe in ((8, 9, 10, FEET.start + 1), (11, 12, 13, FEET.start)):
        canvas.draw(capsule(canvas, points[hip], points[knee], leg_r, leg_r * 0.95), paint(limb), paint.outline(limb))
        canvas.draw(
            capsule(canvas, points[knee], points[ankle], leg_r * 0.95, leg_r * 0.9),
            paint(limb),
            paint.outline(limb),
        )
        foot_centre = (points[ankle] + points[toe]) / 2
        direction = points[toe] - points[ankle]
        angle = float(np.arctan2(direction[1], direction[0]))
        canvas.draw(
            ellipse(canvas, foot_centre, 0.62 * scale * spec.foot, 0.3 * scale * spec.foot, angle),
            paint(spec.limb_colour * 0.8),
            paint.outline(limb),
        )

    # Torso: spans neck to hips, as wide as the (possibly turned) shoulders.
    neck = points[1]
    axis = neck - hip_mid
    half_h = float(np.linalg.norm(axis)) / 2 + 0.04 * scale
    width = max(float(np.linalg.norm(points[5] - points[2])) / 0.85, float(np.linalg.norm(points[11] - points[8]))) / 2
    torso_centre = (neck + hip_mid) / 2 + 0.01 * scale * axis / max(np.linalg.norm(axis), 1e-6)
    lean = float(np.arctan2(axis[0], -axis[1]))
    body = spec.body_colour
    if spec.body_shape == "boxy":
        torso = rounded_box(canvas, torso_centre, width, half_h, 0.35 * width, lean)
    else:
        torso = ellipse(canvas, torso_centre, width * 1.08, half_h, lean)
    canvas.draw(torso, paint(body, spec.pattern, spec.pattern_colour), paint.outline(body))
    belly = ellipse(
        canvas,
        torso_centre + 0.12 * half_h * np.array([np.sin(lean), np.cos(lean)]),
        0.55 * width,
        0.6 * half_h,
        lean,
    )
    canvas.draw(belly, paint(spec.accent if spec.kind.category == "animal" else body * 1.12))

    for side in (-1, 1):
        if side != far_side:
            draw_arm(side)

    _draw_head(canvas, spec, paint, points, centre, tilt, facing, rx, ry, head_point)


def _draw_head(canvas, spec, paint, points, centre, tilt, facing, rx, ry, head_point) -> None:
    extras, body, accent = spec.kind.extras, spec.body_colour, spec.accent
    for side in (-1, 1):
        if "ears_pointy" in extras:
            tri = [
                head_point(side * 0.35, -0.75),
                head_point(side * 0.85, -0.45),
                head_point(side * 0.75, -1.2),
            ]
            canvas.draw(polygon(canvas, np.array(tri)), paint(body), paint.outline(body))
        if "ears_round" in extras or "bells" in extras:
            colour = accent if spec.kind.name == "panda" else (accent if "bells" in extras else body)
            canvas.draw(
                ellipse(canvas, head_point(side * 0.72, -0.78), 0.32 * rx, 0.32 * rx),
                paint(colour),
                paint.outline(colour),
            )
        if "ears_long" in extras:
            canvas.draw(
                ellipse(canvas, head_point(side * 0.38, -1.35), 0.2 * rx, 0.62 * ry, tilt + side * 0.15),
                paint(body),
                paint.outline(body),
            )
            canvas.draw(
                ellipse(canvas, head_point(side * 0.38, -1.35), 0.09 * rx, 0.45 * ry, tilt + side * 0.15),
                paint(accent),
            )
    if "handle" in extras:
        canvas.draw(
            ring(canvas, head_point(1.08, 0.05), 0.36 * rx, 0.08 * rx),
            paint(spec.limb_colour),
            paint.outline(body),
        )
    if "antenna" in extras:
        tip = head_point(0.35, -1.45)
        canvas.draw(capsule(canvas, head_point(0.25, -0.9), tip, 0.04 * rx, 0.03 * rx), paint(spec.limb_colour))
        canvas.draw(ellipse(canvas, tip, 0.1 * rx, 0.1 * rx), paint(accent), paint.outline(accent))

    shape = spec.kind.head
    if shape == "box":
        head = rounded_box(canvas, centre, rx, ry, 0.3 * rx, tilt)
    elif shape == "drop":
        head = ellipse(canvas, centre, rx, ry, tilt)
        canvas.draw(
            ellipse(canvas, head_point(0.0, -0.45), 0.72 * rx, 0.7 * ry, tilt),
            paint(body),
            paint.outline(body),
        )
    else:
        head = ellipse(canvas, centre, rx, ry, tilt)
    canvas.draw(head, paint(body, spec.pattern, spec.pattern_colour), paint.outline(body))

    if "stem_leaf" in extras:
        canvas.draw(
            capsule(canvas, head_point(0.0, -0.92), head_point(0.08, -1.22), 0.05 * rx, 0.04 * rx),
            paint(spec.limb_colour),
        )
        canvas.draw(
            ellipse(canvas, head_point(0.3, -1.12), 0.24 * rx, 0.1 * rx, tilt - 0.4),
            paint(accent),
            paint.outline(accent),
        )
    if "crown_leaf" in extras:
        for k in range(5):
            x = -0.4 + 0.2 * k
            canvas.draw(
                polygon(
                    canvas,
                    np.array([head_point(x - 0.12, -0.88), head_point(x + 0.12, -0.88), head_point(x, -1.12)]),
                ),
                paint(accent),
            )
    if "cap" in extras:
        canvas.draw(
            ellipse(canvas, head_point(0.0, -0.72), 1.3 * rx, 0.52 * ry, tilt),
            paint(accent, "spots", WHITE),
            paint.outline(accent),
        )
    if "bow" in extras:
        for side in (-1, 1):
            canvas.draw(
                ellipse(canvas, head_point(side * 0.22, -1.02), 0.22 * rx, 0.12 * rx, tilt + side * 0.5),
                paint(accent),
                paint.outline(accent),
            )
    if "flower" in extras:
        canvas.draw(
            ellipse(canvas, head_point(0.2, -0.98), 0.16 * rx, 0.16 * rx),
            paint(accent),
            paint.outline(accent),
        )

    face_colour = INK
    if "screen" in extras:
        canvas.draw(
            rounded_box(canvas, head_point(0.0, 0.05), 0.78 * rx, 0.8 * ry, 0.15 * rx, tilt),
            paint(np.array([0.08, 0.1, 0.16])),
        )
        face_colour = accent
    _draw_face(canvas, spec, points, face_colour, rx, tilt, facing)


def _draw_face(canvas, spec, points, ink, rx, tilt, facing) -> None:
    face = points[FACE]
    eye_r = 0.15 * rx * spec.eye_size
    for eye in (face[36:42], face[42:48]):
        c = eye.mean(0)
        canvas.draw(
            ellipse(canvas, c, eye_r * (1 - 0.3 * abs(facing)), eye_r * 1.15, tilt),
            solid(WHITE),
            (0.8, ink),
        )
        pupil = c + rotation(tilt) @ [facing * 0.35 * eye_r, 0.15 * eye_r]
        canvas.draw(
            ellipse(canvas, pupil, 0.55 * eye_r, 0.62 * eye_r, tilt),
            solid(ink),
        )
        canvas.draw(
            ellipse(canvas, pupil - rotation(tilt) @ [0.2 * eye_r, 0.25 * eye_r], 0.18 * eye_r, 0.18 * eye_r),
            solid(WHITE),
        )
    mouth = face[48:60]
    canvas.draw(
        polygon(canvas, mouth),
        solid((0.55, 0.12, 0.16)),
        (0.7, ink),
    )
    for cheek in (face[2] * 0.55 + face[36] * 0.45, face[14] * 0.55 + face[45] * 0.45):
        canvas.draw(
            ellipse(canvas, cheek, 0.13 * rx, 0.08 * rx, tilt),
            solid((0.98, 0.55, 0.6)),
            opacity=0.45,
        )


def character_coverage(spec: CharacterSpec, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` in [0, 1]: how much of each pixel ``spec`` posed at ``points`` (normalised, as in pose.json)
    covers, exactly: drawn once on black and once on white, the difference is the coverage. For measurements
    against the ground truth's character, e.g. whether a model moved it where the driving pose says."""
    drawn = []
    for value in (0.0, 1.0):
        canvas = Canvas(np.full((size[1], size[0], 3), value, np.float32))
        draw_character(canvas, spec, to_pixels(points, size), size)
        drawn.append(canvas.image.mean(-1))
    return 1.0 - (drawn[1] - drawn[0])
