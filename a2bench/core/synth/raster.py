"""Anti-aliased 2-D shapes for the synthetic benchmark, drawn with signed distance fields.

A shape is evaluated only inside its bounding box. It returns, per pixel, the signed distance to
its outline (negative inside, in pixels), part-local texture coordinates ``u, v`` that move with
the part, and an image-plane normal ``nx, ny`` for shading. Coverage ``clip(0.5 - sdf, 0, 1)``
gives one-pixel anti-aliasing without supersampling, which keeps rendering cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Paint = Callable[["Field"], np.ndarray]  # Field -> (h, w, 3) colours in [0, 1]


@dataclass
class Field:
    """A shape evaluated over the pixel grid of its bounding box."""

    sdf: np.ndarray
    u: np.ndarray
    v: np.ndarray
    nx: np.ndarray
    ny: np.ndarray
    box: tuple[int, int, int, int]  # y0, y1, x0, x1


class Canvas:
    """An RGB float image in [0, 1] that shapes are composited onto."""

    def __init__(self, image: np.ndarray) -> None:
        self.image = image.astype(np.float32, copy=True)
        self.height, self.width = image.shape[:2]

    def grid(self, cx: float, cy: float, radius: float) -> tuple[np.ndarray, np.ndarray, tuple] | None:
        """Pixel-centre coordinates of the box ``radius`` around ``(cx, cy)``, or None if off-canvas."""
        y0, y1 = max(int(cy - radius) - 1, 0), min(int(cy + radius) + 2, self.height)
        x0, x1 = max(int(cx - radius) - 1, 0), min(int(cx + radius) + 2, self.width)
        if y0 >= y1 or x0 >= x1:
            return None
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
        return xs, ys, (y0, y1, x0, x1)

    def draw(
        self,
        field: Field | None,
        paint: Paint,
        outline: tuple[float, np.ndarray] | None = None,
        opacity: float = 1.0,
    ) -> None:
        """Composite ``paint`` inside the shape, after an optional outline ``(width_px, rgb)``."""
        if field is None:
            return
        y0, y1, x0, x1 = field.box
        region = self.image[y0:y1, x0:x1]
        if outline is not None:
            width, colour = outline
            cover = np.clip(0.5 - (field.sdf - width), 0.0, 1.0)[..., None] * opacity
            region += (np.asarray(colour, np.float32) - region) * cover
        cover = np.clip(0.5 - field.sdf, 0.0, 1.0)[..., None] * opacity
        region += (paint(field) - region) * cover

    def blend(self, box: tuple[int, int, int, int], colour: np.ndarray, alpha: np.ndarray) -> None:
        """Alpha-blend a colour (``(3,)`` or per pixel) into a box with per-pixel ``alpha``."""
        y0, y1, x0, x1 = box
        region = self.image[y0:y1, x0:x1]
        region += (np.asarray(colour, np.float32) - region) * alpha[..., None]

    def to_uint8(self) -> np.ndarray:
        return np.round(np.clip(self.image, 0.0, 1.0) * 255.0).astype(np.uint8)


def capsule(canvas: Canvas, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float) -> Field | None:
    """A limb: a segment with radius going from ``r0`` at ``p0`` to ``r1`` at ``p1``."""
    p0, p1 = np.asarray(p0, np.float32), np.asarray(p1, np.float32)
    if not (np.isfinite(p0).all() and np.isfinite(p1).all()):
        return None
    mid, half = (p0 + p1) / 2, float(np.linalg.norm(p1 - p0)) / 2
    got = canvas.grid(mid[0], mid[1], half + max(r0, r1) + 2)
    if got is None:
        return None
    xs, ys, box = got
    d = p1 - p0
    length2 = max(float(d @ d), 1e-6)
    t = np.clip(((xs - p0[0]) * d[0] + (ys - p0[1]) * d[1]) / length2, 0.0, 1.0)
    qx, qy = xs - (p0[0] + t * d[0]), ys - (p0[1] + t * d[1])
    dist = np.sqrt(qx * qx + qy * qy)
    radius = r0 + t * (r1 - r0)
    inv = 1.0 / np.maximum(radius, 1e-3)
    across = (qx * -d[1] + qy * d[0]) / np.sqrt(length2)  # signed distance across the bone
    return Field(dist - radius, t, across * inv, qx * inv, qy * inv, box)


def ellipse(canvas: Canvas, centre: np.ndarray, rx: float, ry: float, angle: float = 0.0) -> Field | None:
    got = canvas.grid(centre[0], centre[1], max(rx, ry) + 2)
    if got is None or not np.isfinite(centre).all():
        return None
    xs, ys, box = got
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xs - centre[0], ys - centre[1]
    lx, ly = (c * dx + s * dy) / rx, (-s * dx + c * dy) / ry
    k = np.sqrt(lx * lx + ly * ly)
    nx, ny = c * lx - s * ly, s * lx + c * ly
    return Field((k - 1.0) * min(rx, ry), lx, ly, nx, ny, box)


def rounded_box(
    canvas: Canvas, centre: np.ndarray, hx: float, hy: float, radius: float, angle: float = 0.0
) -> Field | None:
    got = canvas.grid(centre[0], centre[1], float(np.hypot(hx, hy)) + 2)
    if got is None or not np.isfinite(centre).all():
        return None
    xs, ys, box = got
    c, s = np.cos(angle), np.sin(angle)
    dx, dy = xs - centre[0], ys - centre[1]
    lx, ly = c * dx + s * dy, -s * dx + c * dy
    radius = min(radius, hx, hy)
    qx, qy = np.abs(lx) - (hx - radius), np.abs(ly) - (hy - radius)
    outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
    sdf = outside + np.minimum(np.maximum(qx, qy), 0.0) - radius
    u, v = lx / hx, ly / hy
    return Field(sdf, u, v, c * u - s * v, s * u + c * v, box)


def polygon(canvas: Canvas, points: np.ndarray) -> Field | None:
    """A convex polygon (any winding); the SDF is exact inside and near the edges."""
    points = np.asarray(points, np.float32)
    if not np.isfinite(points).all():
        return None
    centre = points.mean(0)
    radius = float(np.linalg.norm(points - centre, axis=1).max())
    got = canvas.grid(centre[0], centre[1], radius + 2)
    if got is None:
        return None
    xs, ys, box = got
    sdf = np.full(xs.shape, -np.inf, np.float32)
    for a, b in zip(points, np.roll(points, -1, axis=0), strict=True):
        edge = b - a
        normal = np.array([edge[1], -edge[0]]) / max(float(np.linalg.norm(edge)), 1e-6)
        if normal @ (centre - a) > 0:
            normal = -normal
        sdf = np.maximum(sdf, (xs - a[0]) * normal[0] + (ys - a[1]) * normal[1])
    u, v = (xs - centre[0]) / max(radius, 1e-3), (ys - centre[1]) / max(radius, 1e-3)
    return Field(sdf, u, v, u, v, box)


def ring(canvas: Canvas, centre: np.ndarray, radius: float, width: float) -> Field | None:
    got = canvas.grid(centre[0], centre[1], radius + width + 2)
    if got is None or not np.isfinite(centre).all():
        return None
    xs, ys, box = got
    dx, dy = xs - centre[0], ys - centre[1]
    dist = np.sqrt(dx * dx + dy * dy)
    return Field(np.abs(dist - radius) - width, dx / radius, dy / radius, dx / radius, dy / radius, box)
