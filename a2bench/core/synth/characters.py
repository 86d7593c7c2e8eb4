"""Procedural anthropomorphic characters: a catalogue of kinds and a seeded spec sampler.

A character is a big head that carries the face, a round or boxy body, long thin arms with
mitten hands, short legs with feet, and kind-specific extras (ears, tails, handles, stems, caps,
petals, screens). Sizes are in body units (1.0 ≈ the character's standing height), turned into
pixels by the renderer, so any frame size works.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STYLES = ("flat", "3d", "storybook")
PATTERNS = ("none", "stripes", "spots", "checker")


@dataclass(frozen=True)
class Kind:
    """One entry of the catalogue: what the character is and how it looks."""

    name: str
    category: str
    head: str  # "circle", "oval", "box", "drop"
    extras: tuple[str, ...]
    body_colour: tuple[float, float, float]
    limb_colour: tuple[float, float, float]
    accent: tuple[float, float, float]
    patterns: tuple[str, ...] = ("none",)


def _rgb(hex_colour: str) -> tuple[float, float, float]:
    return tuple(int(hex_colour[i : i + 2], 16) / 255.0 for i in (0, 2, 4))


CATALOGUE = (
    Kind("cat", "animal", "circle", ("ears_pointy", "tail"), _rgb("f0a04b"), _rgb("e08a35"), _rgb("fff1dc"),
         ("stripes",)),
    Kind("bear", "animal", "circle", ("ears_round",), _rgb("9a6b45"), _rgb("7f5535"), _rgb("e8cfb0")),
    Kind("rabbit", "animal", "oval", ("ears_long", "tail"), _rgb("f4f1ee"), _rgb("e6ddd8"), _rgb("f5a3b5"),
         ("spots", "none")),
    Kind("fox", "animal", "drop", ("ears_pointy", "tail"), _rgb("e8692a"), _rgb("c9541d"), _rgb("fff6ea")),
    Kind("panda", "animal", "circle", ("ears_round",), _rgb("f7f7f2"), _rgb("2b2b2b"), _rgb("2b2b2b")),
    Kind("apple", "fruit", "circle", ("stem_leaf",), _rgb("d9302c"), _rgb("7a3b1c"), _rgb("5fae3e"), ("none", "spots")),
    Kind("orange", "fruit", "circle", ("stem_leaf",), _rgb("f7931e"), _rgb("b85f12"), _rgb("4e9a34"), ("spots",)),
    Kind("strawberry", "fruit", "drop", ("crown_leaf",), _rgb("e0263f"), _rgb("a81d2f"), _rgb("3f9a3a"), ("spots",)),
    Kind("pear", "fruit", "drop", ("stem_leaf",), _rgb("c6d64a"), _rgb("8a7a2a"), _rgb("5c9e36")),
    Kind("watermelon", "fruit", "oval", ("stem_leaf",), _rgb("3c9a3f"), _rgb("2f6e2f"), _rgb("e94b5b"), ("stripes",)),
    Kind("mobile phone", "object", "box", ("screen", "antenna"), _rgb("3d4b6b"), _rgb("2a3450"), _rgb("7fd6ff")),
    Kind("coffee mug", "object", "box", ("handle",), _rgb("f2ede4"), _rgb("b03a2e"), _rgb("b03a2e"),
         ("stripes", "none")),
    Kind("alarm clock", "object", "circle", ("bells",), _rgb("d8423a"), _rgb("8c2a24"), _rgb("f6e7b0")),
    Kind("gift box", "object", "box", ("bow",), _rgb("6a4fc9"), _rgb("4b3796"), _rgb("f3c744"), ("checker", "stripes")),
    Kind("mushroom", "plant", "oval", ("cap",), _rgb("f3e2c4"), _rgb("d8c19c"), _rgb("d7352c"), ("none",)),
    Kind("cactus", "plant", "box", ("flower",), _rgb("4f9d4a"), _rgb("3d7f39"), _rgb("f06fa0"), ("stripes",)),
    Kind("sunflower", "plant", "circle", ("petals",), _rgb("8a5a2b"), _rgb("4f8a34"), _rgb("f7c524"), ("spots",)),
    Kind("potato", "plant", "oval", (), _rgb("c9a064"), _rgb("a47f47"), _rgb("8c6a3a"), ("spots",)),
)  # fmt: skip
CATEGORIES = tuple(sorted({k.category for k in CATALOGUE}))


@dataclass(frozen=True)
class CharacterSpec:
    """Everything needed to pose and draw one character (lengths in body units)."""

    kind: Kind
    style: str
    pattern: str
    head_rx: float
    head_ry: float
    neck: float
    torso_h: float
    torso_w: float
    body_shape: str  # "round" or "boxy"
    shoulder_w: float
    hip_w: float
    upper_arm: float
    forearm: float
    arm_r: float
    hand_r: float
    thigh: float
    shin: float
    leg_r: float
    foot: float
    eye_size: float
    body_colour: np.ndarray
    limb_colour: np.ndarray
    accent: np.ndarray
    pattern_colour: np.ndarray

    @property
    def height(self) -> float:
        """Standing height from the top of the head to the soles."""
        return 2 * self.head_ry + self.neck + self.torso_h + self.thigh + self.shin + self.leg_r

    def describe(self) -> str:
        """Plain-words body description used in the prompt."""
        arms = "long arms" if self.upper_arm + self.forearm > 0.36 else "thin arms"
        legs = "short legs" if self.thigh + self.shin < 0.2 else "stubby legs"
        body = "a round body" if self.body_shape == "round" else "a boxy body"
        head = "a big head" if self.head_ry > 0.2 else "a large head"
        return f"{head}, {body}, {arms} and {legs}"


def sample_character(rng: np.random.Generator, kind: Kind | None = None) -> CharacterSpec:
    """Draw a character; proportions are deliberately non-human (big heads, short legs)."""
    kind = kind if kind is not None else CATALOGUE[int(rng.integers(len(CATALOGUE)))]
    head_ry = rng.uniform(0.17, 0.24)
    aspect = {"circle": 1.0, "oval": 0.88, "box": 0.9, "drop": 0.92}[kind.head]
    torso_w = rng.uniform(0.24, 0.38)

    def jitter(colour: tuple[float, float, float]) -> np.ndarray:
        return np.clip(np.asarray(colour) * rng.uniform(0.9, 1.08) + rng.normal(0, 0.02, 3), 0, 1).astype(np.float32)

    body = jitter(kind.body_colour)
    return CharacterSpec(
        kind=kind,
        style=STYLES[int(rng.integers(len(STYLES)))],
        pattern=kind.patterns[int(rng.integers(len(kind.patterns)))],
        head_rx=head_ry * aspect * rng.uniform(0.95, 1.12),
        head_ry=head_ry,
        neck=rng.uniform(0.0, 0.02),
        torso_h=rng.uniform(0.2, 0.28),
        torso_w=torso_w,
        body_shape="boxy" if kind.head == "box" or rng.random() < 0.3 else "round",
        shoulder_w=torso_w * rng.uniform(0.75, 0.9),
        hip_w=torso_w * rng.uniform(0.45, 0.65),
        upper_arm=rng.uniform(0.15, 0.21),
        forearm=rng.uniform(0.14, 0.19),
        arm_r=rng.uniform(0.026, 0.04),
        hand_r=rng.uniform(0.04, 0.055),
        thigh=rng.uniform(0.07, 0.1),
        shin=rng.uniform(0.07, 0.1),
        leg_r=rng.uniform(0.035, 0.05),
        foot=rng.uniform(0.06, 0.085),
        eye_size=rng.uniform(0.85, 1.25),
        body_colour=body,
        limb_colour=jitter(kind.limb_colour),
        accent=jitter(kind.accent),
        pattern_colour=np.clip(body * 0.72 + 0.05, 0, 1).astype(np.float32),
    )
