"""Textured scenes, some with background motion named by the prompt's second sentence.

A scene paints a static textured base once, then an optional effect per frame (falling snow,
flickering fire, drifting light rings, moving clouds). Effects are pure functions of time and
the scene's seeded parameters, so any frame can be rendered on its own, deterministically.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Scene:
    name: str
    place: str  # "in a snowy park"
    motion: str  # the background-motion sentence of the prompt
    effect: str | None
    sky: tuple[tuple[float, float, float], tuple[float, float, float]]
    ground: tuple[float, float, float]
    horizon: float = 0.68


STILL = "The background stays still."  # the motion sentence of a scene without motion

SCENES = (
    Scene("snow", "in a snowy park", "Snow falls steadily in the background.", "snow",
          ((0.62, 0.72, 0.86), (0.86, 0.9, 0.95)), (0.93, 0.95, 0.98)),
    Scene("fire", "beside a campfire at night", "Campfire flames flicker and glow in the background.", "fire",
          ((0.05, 0.06, 0.16), (0.16, 0.12, 0.24)), (0.22, 0.16, 0.12)),
    Scene("rings", "in a neon dance hall", "Colourful rings of light drift across the background.", "rings",
          ((0.12, 0.05, 0.2), (0.28, 0.1, 0.34)), (0.18, 0.12, 0.24)),
    Scene("clouds", "on a grassy meadow", "White clouds drift slowly across the sky.", "clouds",
          ((0.35, 0.62, 0.93), (0.7, 0.85, 0.98)), (0.45, 0.72, 0.33)),
    Scene("room", "in a cosy living room", STILL, None,
          ((0.93, 0.86, 0.72), (0.9, 0.8, 0.66)), (0.62, 0.43, 0.27), 0.62),
    Scene("beach", "on a sunny beach", STILL, None,
          ((0.45, 0.75, 0.96), (0.8, 0.92, 0.99)), (0.94, 0.84, 0.6), 0.6),
)  # fmt: skip


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise in [0, 1]: a random grid upsampled with bilinear interpolation."""
    grid = rng.random((cells + 1, cells + 1))
    ys, xs = np.linspace(0, cells, height, endpoint=False), np.linspace(0, cells, width, endpoint=False)
    y0, x0 = ys.astype(int), xs.astype(int)
    fy, fx = (ys - y0)[:, None], (xs - x0)[None, :]
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = grid[y0][:, x0] * (1 - fx) + grid[y0][:, x0 + 1] * fx
    bottom = grid[y0 + 1][:, x0] * (1 - fx) + grid[y0 + 1][:, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


@dataclass
class Background:
    """A scene instance: static base plus per-frame effect, both deterministic from ``seed``."""

    scene: Scene
    size: tuple[int, int]
    seed: int
    base: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        width, height = self.size
        rng = np.random.default_rng(self.seed)
        ys = np.linspace(0.0, 1.0, height)[:, None, None]
        top, bottom = (np.asarray(c, np.float32) for c in self.scene.sky)
        image = top + (bottom - top) * ys
        image = np.broadcast_to(image, (height, width, 3)).copy()
        horizon = int(self.scene.horizon * height)
        texture = 0.5 * _value_noise(rng, height, width, 6) + 0.5 * _value_noise(rng, height, width, 24)
        ground_rows = np.linspace(0.0, 1.0, height - horizon)[:, None, None]
        ground = np.asarray(self.scene.ground, np.float32) * (0.85 + 0.2 * ground_rows)
        image[horizon:] = ground
        if self.scene.name == "room":
            stripes = (np.sin(np.arange(width) / max(width, 1) * 2 * np.pi * 9) > 0.6)[None, :, None]
            image[:horizon] *= np.where(stripes, 0.93, 1.0)
            planks = (np.arange(width) % max(width // 7, 2) == 0)[None, :, None]
            image[horizon:] *= np.where(planks, 0.75, 1.0)
        if self.scene.name == "beach":
            sea = slice(int((self.scene.horizon - 0.12) * height), horizon)
            image[sea] = np.asarray((0.16, 0.5, 0.72), np.float32) * (0.9 + 0.2 * texture[sea, :, None])
        if self.scene.name == "fire":
            stars = rng.random((height, width)) > 0.997
            image[:horizon][stars[:horizon]] = 0.9
        self.base = np.clip(image * (0.9 + 0.2 * texture[..., None]), 0, 1).astype(np.float32)
        self._params = rng.random((64, 6))
        self._ys, self._xs = np.mgrid[0:height, 0:width].astype(np.float32)  # pixel grid for the effects

    def frame(self, t: float) -> np.ndarray:
        """The background at time ``t`` seconds, float32 ``(H, W, 3)`` in [0, 1]."""
        image = self.base.copy()
        effect = self.scene.effect
        if effect is not None:
            getattr(self, f"_{effect}")(image, t)
        return image

    def _snow(self, image: np.ndarray, t: float) -> None:
        height, width = image.shape[:2]
        ys, xs = self._ys, self._xs
        for x0, y0, speed, size, phase, _ in self._params[:48]:
            y = (y0 * height + (0.25 + 0.35 * speed) * height * t) % height
            x = (x0 * width + 0.03 * width * np.sin(2.0 * t + 6.0 * phase)) % width
            r = (0.006 + 0.01 * size) * min(height, width)
            y_lo, y_hi = max(int(y - 3 * r), 0), min(int(y + 3 * r) + 1, height)
            x_lo, x_hi = max(int(x - 3 * r), 0), min(int(x + 3 * r) + 1, width)
            d2 = (ys[y_lo:y_hi, x_lo:x_hi] - y) ** 2 + (xs[y_lo:y_hi, x_lo:x_hi] - x) ** 2
            alpha = np.exp(-d2 / (r * r))[..., None] * 0.9
            image[y_lo:y_hi, x_lo:x_hi] += (1.0 - image[y_lo:y_hi, x_lo:x_hi]) * alpha

    def _fire(self, image: np.ndarray, t: float) -> None:
        height, width = image.shape[:2]
        xs = np.arange(width, dtype=np.float32) / width
        flame = np.zeros(width, np.float32)
        for a, f, w, p, *_ in self._params[:6]:
            flame += (0.03 + 0.04 * a) * np.sin(2 * np.pi * (3 + 6 * f) * xs + (4 + 6 * w) * t + 6.28 * p)
        flame = np.clip(0.2 + flame + 0.08 * np.sin(9.0 * t + 40 * xs), 0.05, 0.45) * height
        rows = (height - np.arange(height, dtype=np.float32))[:, None]
        level = rows / np.maximum(flame[None, :], 1.0)
        alpha = np.clip((1.0 - level) * 3.0, 0.0, 1.0)[..., None]
        colour = np.stack(
            [np.ones_like(level), np.clip(1.1 - 0.9 * level, 0.2, 1), np.clip(0.5 - level, 0, 1) * 0.6], -1
        )
        image += (colour - image) * alpha * 0.9
        glow = 0.08 * (1 + np.sin(7.0 * t) * 0.5)
        image += glow * np.array([1.0, 0.45, 0.1], np.float32)
        np.clip(image, 0, 1, out=image)

    def _rings(self, image: np.ndarray, t: float) -> None:
        height, width = image.shape[:2]
        ys, xs = self._ys, self._xs
        for x0, y0, vx, hue, size, vy in self._params[:7]:
            cx = ((x0 + (vx - 0.5) * 0.25 * t) % 1.0) * width
            cy = ((y0 * 0.7 + (vy - 0.5) * 0.12 * t) % 0.75) * height
            radius = (0.06 + 0.08 * size) * min(height, width)
            d = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2)
            alpha = np.exp(-(((d - radius) / (0.018 * min(height, width))) ** 2))[..., None] * 0.75
            colour = 0.5 + 0.5 * np.cos(2 * np.pi * (hue + np.array([0.0, 0.33, 0.67], np.float32)))
            image += (colour - image) * alpha

    def _clouds(self, image: np.ndarray, t: float) -> None:
        height, width = image.shape[:2]
        rows = int(0.55 * height)
        ys, xs, sky = self._ys[:rows], self._xs[:rows], image[:rows]
        for x0, y0, speed, size, *_ in self._params[:5]:
            cx = ((x0 + (0.04 + 0.06 * speed) * t) % 1.3 - 0.15) * width
            cy = (0.08 + 0.3 * y0) * height
            rx, ry = (0.1 + 0.08 * size) * width, (0.04 + 0.03 * size) * height
            for dx, dy, k in ((0.0, 0.0, 1.0), (-0.55, 0.25, 0.7), (0.55, 0.2, 0.75)):
                e = ((xs - cx - dx * rx) / (k * rx)) ** 2 + ((ys - cy - dy * ry) / (k * ry)) ** 2
                alpha = np.clip((1.0 - e) * 4.0, 0.0, 1.0)[..., None] * 0.92
                sky += (1.0 - sky) * alpha
