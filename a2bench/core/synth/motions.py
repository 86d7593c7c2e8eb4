"""Motion programs: smooth, periodic joint-angle curves for dances, waves, jumps, turns, marches.

Each program maps time (seconds) to :class:`PoseParams`. Every motion eases in from the rest pose
over the first frames, so frame 0 of a video shows the character exactly as in its reference image
(as an image-to-video model would start). Amplitudes and tempo come from the sample's generator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from a2bench.core.synth.skeleton import PoseParams

MotionFn = Callable[[float, float], PoseParams]  # (time in s, ease-in weight) -> pose


def _ease(t: float, duration: float = 1.0) -> float:
    x = min(max(t / duration, 0.0), 1.0)
    return x * x * (3 - 2 * x)


def dance(tempo: float, amp: float) -> MotionFn:
    w = 2 * np.pi / tempo

    def pose(t: float, e: float) -> PoseParams:
        s = np.sin(w * t)
        bounce = 0.5 * (1 - np.cos(2 * w * t))
        return PoseParams(
            dx=e * 0.06 * amp * s,
            dy=e * 0.012 * bounce,
            lean=e * 0.1 * amp * s,
            tilt=e * 0.15 * np.sin(w * t + 0.6),
            shoulder=(0.35 + e * amp * (1.1 + 0.8 * s), 0.35 + e * amp * (1.1 - 0.8 * s)),
            elbow=(0.15 + e * 0.6 * bounce, 0.15 + e * 0.6 * (1 - bounce)),
            knee=(e * 0.5 * bounce, e * 0.5 * bounce),
        )

    return pose


def wave(tempo: float, amp: float) -> MotionFn:
    w = 2 * np.pi / tempo

    def pose(t: float, e: float) -> PoseParams:
        s = np.sin(2 * w * t)
        return PoseParams(
            dx=e * 0.02 * np.sin(w * t),
            lean=e * 0.06 * np.sin(w * t),
            tilt=e * 0.12 * s,
            shoulder=(0.35 + e * 2.1 * amp, 0.35 + e * 0.15 * np.sin(w * t)),
            elbow=(0.15 + e * (0.55 + 0.45 * s), 0.15),
        )

    return pose


def jump(tempo: float, amp: float) -> MotionFn:
    tempo *= 1.5  # a crouch-jump-land cycle takes longer than a dance step

    def pose(t: float, e: float) -> PoseParams:
        p = (t / tempo) % 1.0
        crouch = np.sin(np.pi * min(p / 0.3, 1.0)) if p < 0.3 else 0.0
        land = np.sin(np.pi * (p - 0.75) / 0.25) if p > 0.75 else 0.0
        flight = np.sin(np.pi * (p - 0.3) / 0.45) if 0.3 <= p <= 0.75 else 0.0
        bend = e * 0.9 * amp * max(crouch, land)
        arms = 0.35 + e * (1.5 * amp * flight + 0.4 * crouch)
        return PoseParams(
            dy=e * (0.04 * max(crouch, land) - 0.16 * amp * flight),
            shoulder=(arms, arms),
            elbow=(0.15 + e * 0.3 * flight, 0.15 + e * 0.3 * flight),
            hip=(0.08 + e * 0.2 * flight, 0.08 + e * 0.2 * flight),
            knee=(bend + e * 0.4 * flight, bend + e * 0.4 * flight),
        )

    return pose


def turn(tempo: float, amp: float) -> MotionFn:
    w = 2 * np.pi / tempo

    def pose(t: float, e: float) -> PoseParams:
        s = np.sin(w * t)
        swing = np.sin(2 * w * t)
        return PoseParams(
            dx=e * 0.03 * s,
            facing=e * 0.85 * amp * s,
            tilt=e * 0.08 * swing,
            shoulder=(0.35 + e * (0.5 + 0.35 * swing), 0.35 + e * (0.5 - 0.35 * swing)),
            elbow=(0.15 + e * 0.5, 0.15 + e * 0.5),
        )

    return pose


def march(tempo: float, amp: float) -> MotionFn:
    w = 2 * np.pi / tempo

    def pose(t: float, e: float) -> PoseParams:
        s = np.sin(w * t)
        return PoseParams(
            lean=e * 0.05 * s,
            tilt=e * 0.06 * s,
            shoulder=(0.35 + e * amp * (0.5 + 0.5 * s), 0.35 + e * amp * (0.5 - 0.5 * s)),
            elbow=(0.15 + e * 0.9 * max(s, 0), 0.15 + e * 0.9 * max(-s, 0)),
            knee=(e * 1.1 * amp * max(s, 0), e * 1.1 * amp * max(-s, 0)),
        )

    return pose


MOTIONS: dict[str, Callable[[float, float], MotionFn]] = {
    "dance": dance,
    "wave": wave,
    "jump": jump,
    "turn": turn,
    "march": march,
}
PHRASES = {
    "dance": "dancing",
    "wave": "waving happily",
    "jump": "jumping up and down",
    "turn": "turning from side to side",
    "march": "marching on the spot",
}


def sample_motion(name: str, rng: np.random.Generator) -> Callable[[float], PoseParams]:
    """A motion program of kind ``name`` with seeded tempo and amplitude, easing in from rest."""
    program = MOTIONS[name](tempo=float(rng.uniform(1.2, 1.9)), amp=float(rng.uniform(0.75, 1.0)))

    return lambda t: program(t, _ease(t))
