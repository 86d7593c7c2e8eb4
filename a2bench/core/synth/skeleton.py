"""Pose a character: joint angles and root motion → the 130 canonical keypoints, in pixels.

The body is posed in 2-D, facing the camera. Limb angles are measured from straight down,
positive away from the body's midline; ``facing`` in [-1, 1] turns the character (face features slide
sideways and the shoulders narrow). The face (68 iBUG points), hands (21 each) and toes are laid
out from the head, wrists and ankles so that the renderer can draw the character from keypoints
alone; this is what lets a re-targeted pose be rendered as cross-driven ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from a2bench.core.pose.keypoints import FACE, FEET, LEFT_HAND, NUM_KEYPOINTS, RIGHT_HAND
from a2bench.core.synth.characters import CharacterSpec

GROUND = 0.93  # soles rest at this fraction of the frame height
FILL = 0.74  # standing height as a fraction of the frame height


@dataclass(frozen=True)
class PoseParams:
    """One frame of a motion (angles in radians, offsets in body units, y down)."""

    dx: float = 0.0
    dy: float = 0.0
    lean: float = 0.0
    tilt: float = 0.0
    facing: float = 0.0
    shoulder: tuple[float, float] = (0.35, 0.35)  # (right, left)
    elbow: tuple[float, float] = (0.15, 0.15)
    hip: tuple[float, float] = (0.08, 0.08)
    knee: tuple[float, float] = (0.0, 0.0)


REST = PoseParams()


def pixels_per_unit(spec: CharacterSpec, size: tuple[int, int]) -> float:
    return FILL * size[1] / spec.height


EAR = 0.95  # ears sit at this fraction of the head's half-width, level with its centre


def rotation(angle: float) -> np.ndarray:
    """2-D rotation matrix."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def body_points(spec: CharacterSpec, params: PoseParams, size: tuple[int, int]) -> np.ndarray:
    """All 130 keypoints ``(130, 2)`` in pixels for one frame."""
    width, height = size
    scale = pixels_per_unit(spec, size)
    points = np.zeros((NUM_KEYPOINTS, 2))
    leg = spec.thigh + spec.shin + spec.leg_r
    hip_centre = np.array([0.5 * width, GROUND * height]) + scale * np.array([params.dx, params.dy - leg])
    lean = rotation(params.lean)
    narrow = 1.0 - 0.45 * abs(params.facing)
    neck = hip_centre + scale * lean @ [0.0, -spec.torso_h]
    points[1] = neck
    # Right side (the character's right) is on the image's left.
    for side, shoulder_i, hip_i in ((-1, 2, 8), (1, 5, 11)):
        points[shoulder_i] = neck + scale * lean @ [side * narrow * spec.shoulder_w / 2, 0.03]
        points[hip_i] = hip_centre + scale * lean @ [side * narrow * spec.hip_w / 2, 0.0]
    for k, (side, shoulder_i) in enumerate(((-1, 2), (1, 5))):
        up = _down(params.lean - side * params.shoulder[k])
        fore = _down(params.lean - side * (params.shoulder[k] + params.elbow[k]))
        points[shoulder_i + 1] = points[shoulder_i] + scale * spec.upper_arm * up
        points[shoulder_i + 2] = points[shoulder_i + 1] + scale * spec.forearm * fore
    for k, (side, hip_i) in enumerate(((-1, 8), (1, 11))):
        bend = params.knee[k]
        thigh = _down(-side * params.hip[k]) * [1.0, np.cos(bend)] + [side * 0.35 * np.sin(bend), 0]
        shin = np.array([-side * 0.1 * np.sin(bend), 1.0])
        points[hip_i + 1] = points[hip_i] + scale * spec.thigh * thigh
        points[hip_i + 2] = points[hip_i + 1] + scale * spec.shin * shin / np.linalg.norm(shin)
    _head(points, spec, params, scale, neck, lean)
    for side, ankle_i, toe_i in ((1, 13, FEET.start), (-1, 10, FEET.start + 1)):
        points[toe_i] = points[ankle_i] + scale * spec.foot * np.array([side * 0.8, 0.45])
    for side, wrist_i, hand in ((1, 7, LEFT_HAND), (-1, 4, RIGHT_HAND)):
        points[hand] = _hand(points[wrist_i], points[wrist_i] - points[wrist_i - 1], side, scale * spec.hand_r)
    return points


def _down(angle: float) -> np.ndarray:
    """The downward unit vector rotated by ``angle`` (the same rotation as the lean)."""
    return np.array([-np.sin(angle), np.cos(angle)])


def face_layout(facing: float) -> np.ndarray:
    """The 68 face points in head-local units (x right, y down, head radius 1)."""
    jaw = [(0.92 * np.cos(a), 0.92 * np.sin(a)) for a in np.linspace(np.pi + 0.25, -0.25, 17)]
    brows = [(x, -0.42 - 0.06 * np.cos((x - c) * 5)) for c in (-0.38, 0.38) for x in np.linspace(c - 0.22, c + 0.22, 5)]
    bridge = [(0.0, y) for y in np.linspace(-0.3, 0.05, 4)]
    nose_base = [(x, 0.12 + 0.03 * (1 - abs(x) / 0.12)) for x in np.linspace(-0.12, 0.12, 5)]
    eyes = []
    for cx in (-0.38, 0.38):
        for a in (np.pi, 2 * np.pi / 3 + np.pi, np.pi / 3 + np.pi, 0.0, np.pi / 3, 2 * np.pi / 3):
            eyes.append((cx + 0.14 * np.cos(a), -0.18 + 0.09 * np.sin(a)))
    outer = [(-0.3, 0.36)] + [(x, 0.33) for x in np.linspace(-0.18, 0.18, 5)] + [(0.3, 0.36)]
    outer += [(x, 0.36 + 0.18 * np.sqrt(max(0.0, 1 - (x / 0.3) ** 2))) for x in np.linspace(0.2, -0.2, 5)]
    inner = [(-0.22, 0.37)] + [(x, 0.36) for x in (-0.1, 0.0, 0.1)] + [(0.22, 0.37)]
    inner += [(x, 0.37 + 0.1 * np.sqrt(max(0.0, 1 - (x / 0.22) ** 2))) for x in (0.1, 0.0, -0.1)]
    face = np.array(jaw + brows + bridge + nose_base + eyes + outer + inner)
    squeeze = np.array([1.0 - 0.3 * abs(facing), 1.0])
    shifted = face * squeeze + [0.5 * facing, 0.0]
    shifted[:17] = face[:17] + [0.12 * facing, 0.0]  # the jaw stays on the head's outline
    return shifted


def _head(
    points: np.ndarray,
    spec: CharacterSpec,
    params: PoseParams,
    scale: float,
    neck: np.ndarray,
    lean: np.ndarray,
) -> None:
    tilt = rotation(params.lean + params.tilt)
    centre = neck + scale * lean @ [0.0, -(spec.neck + 0.88 * spec.head_ry)]
    radii = scale * np.array([spec.head_rx, spec.head_ry])
    local = face_layout(params.facing) * radii
    points[FACE] = centre + local @ tilt.T
    points[0] = points[FACE.start + 30]  # nose tip
    points[14] = points[FACE.start + 36 : FACE.start + 42].mean(0)
    points[15] = points[FACE.start + 42 : FACE.start + 48].mean(0)
    points[16] = centre + tilt @ [-EAR * radii[0], 0.0]
    points[17] = centre + tilt @ [EAR * radii[0], 0.0]


def _hand(wrist: np.ndarray, forearm: np.ndarray, side: int, radius: float) -> np.ndarray:
    """21 hand points fanned around a mitten in the forearm's direction."""
    direction = forearm / max(float(np.linalg.norm(forearm)), 1e-6)
    base = np.arctan2(direction[1], direction[0])
    palm = wrist + radius * direction
    points = [wrist]
    for finger, spread in enumerate((-1.0, -0.45, 0.0, 0.4, 0.8)):
        angle = base + side * spread
        ray = np.array([np.cos(angle), np.sin(angle)])
        start = wrist if finger == 0 else palm - 0.5 * radius * ray
        points += [start + radius * t * ray for t in (0.55, 0.85, 1.1, 1.35)]
    return np.array(points)


def head_frame(points: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Head centre, tilt and facing read back from keypoints (ears and nose), in pixels."""
    right_ear, left_ear, nose = points[16], points[17], points[0]
    centre = (right_ear + left_ear) / 2
    axis = left_ear - right_ear
    tilt = float(np.arctan2(axis[1], axis[0]))
    half = float(np.linalg.norm(axis)) / 2 / EAR
    local = rotation(-tilt) @ (nose - centre)
    facing = float(np.clip(local[0] / (0.5 * half), -1, 1)) if half > 0 else 0.0
    return centre, tilt, facing
