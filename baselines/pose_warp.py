"""``pose-warp``: a non-learned, skeleton-rigged 2-D cut-out animation of the reference image.

The character is cut out of the reference image, split into layers bound to the reference skeleton
(torso, head with the face, and one layer per body limb of :data:`a2bench.core.pose.skeleton.BONES`), and
each layer is moved to the driving pose of every frame, limbs and torso by an affine transform, the
head by a moving-least-squares warp on its face points, then composited back to front over the
reference background with the character removed and filled in. No learning, no weights, no
randomness: the same inputs give the same bytes. docs/baselines.md describes the method, its numbers
on ``synth`` and where it fails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

from a2bench.core.adapter import Adapter, AdapterError, Argument, Job
from a2bench.core.data.benchmark import over_white
from a2bench.core.pose.keypoints import BODY, BODY_NAMES, FACE, FEET, to_pixels
from a2bench.core.pose.skeleton import BONES, GROUP_ANCHORS, NECK
from a2bench.core.videoio import Video

# Torso outline in the order it goes round: neck, right shoulder, right hip, left hip, left shoulder.
TORSO = (1, 2, 8, 11, 5)
HEAD = (0, 14, 15, 16, 17, *range(FACE.start, FACE.stop))
HIPS = (8, 11)
_TORSO_BONES = {(NECK, j) for j in TORSO if j != NECK}
_HEAD_JOINTS = set(HEAD)


@dataclass(frozen=True)
class Part:
    """One layer of the rig: the torso, the head, or a limb ``(start, end)`` of :data:`BONES`."""

    name: str
    kind: str  # "torso", "head" or "limb"
    joints: tuple[int, ...]  # limb: (start, end); torso and head: the points its transform is fitted to
    parent: int  # index into PARTS; -1 for the torso
    extra: tuple[int, ...] = ()  # a limb's hand points: its binding segment reaches their centre


def _parts() -> tuple[Part, ...]:
    parts = [Part("torso", "torso", TORSO, -1), Part("head", "head", HEAD, 0)]
    hands = {anchor: tuple(range(group.start, group.stop)) for group, anchor in GROUP_ANCHORS if group != FACE}
    names = {i: n.replace("right_", "r_").replace("left_", "l_") for i, n in enumerate(BODY_NAMES)}
    names.update({18: "l_toe", 19: "r_toe"})
    ends: dict[int, int] = {}  # joint -> index of the limb ending there
    for start, end in BONES:
        if (start, end) in _TORSO_BONES or start in _HEAD_JOINTS or end in _HEAD_JOINTS:
            continue
        parent = ends.get(start, 0)
        ends[end] = len(parts)
        parts.append(Part(f"{names[start]}-{names[end]}", "limb", (start, end), parent, hands.get(end, ())))
    return tuple(parts)


PARTS = _parts()


def _is_leg(part: Part) -> bool:
    while part.kind == "limb":
        if part.parent == 0:
            return part.joints[0] in HIPS
        part = PARTS[part.parent]
    return False


# Back to front: legs (behind the torso), torso, arms, head.
DEPTH = (
    *(i for i, p in enumerate(PARTS) if p.kind == "limb" and _is_leg(p)),
    0,
    *(i for i, p in enumerate(PARTS) if p.kind == "limb" and not _is_leg(p)),
    1,
)


class PoseWarp(Adapter):
    version = "1"
    description = (
        "Non-learned 2-D puppet: cuts the character out of the reference (alpha, else GrabCut seeded by the "
        "skeleton), binds it to torso, head and limb layers, and moves each layer with the driving pose "
        "(affine per limb and torso, face-point warp for the head) over the filled-in reference background."
    )
    arguments: ClassVar[dict[str, Argument]] = {
        "reach": Argument(
            float,
            "how far the character may extend beyond its skeleton, in units of the keypoint box's longer side "
            "(pixels farther away are background for sure)",
            0.12,
        ),
        "feather": Argument(float, "softness of the cut-out's inner edge (Gaussian sigma in pixels)", 0.4),
        "colour": Argument(
            float,
            "how far (fraction of the keypoint box's longer side) colour may move a pixel from the nearest part to "
            "a part of its colour when binding it; 0 binds by distance alone",
            0.05,
        ),
    }

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        return [self._one(job) for job in jobs]

    def _one(self, job: Job) -> Video:
        rgba = job.sample.reference_rgba()
        rgb = over_white(rgba)  # the reference image as job.reference() gives it, read once
        height, width = rgb.shape[:2]
        ref = _reference_points(job, (width, height))
        rig = Rig.build(rgb, rgba[..., 3], ref, self.args)
        driving = to_pixels(job.pose.frames, job.size) - 0.5
        frames = np.stack([rig.render(points, job.size) for points in driving])
        return Video(frames, job.fps)


def _reference_points(job: Job, image_size: tuple[int, int]) -> np.ndarray:
    """The reference image's keypoints in its pixel-index coordinates ``(130, 2)``, NaN where missing."""
    reference = job.pose.reference
    if reference is None:
        own = job.sample.pose()
        reference = own.reference if own.reference is not None else own.frames[0]
    if reference is None or np.isnan(to_pixels(reference[list(TORSO + HEAD[:1])], image_size)).all():
        raise AdapterError(f"pose-warp: sample {job.sample.id!r} has no usable reference pose (neck, torso or nose)")
    # Normalised coordinates refer to the reference image, whatever size its pose was normalised for.
    return to_pixels(reference, image_size) - 0.5


@dataclass(frozen=True)
class Layer:
    """One part's pixels: premultiplied RGBA float32, cropped to where it is not transparent."""

    pixels: np.ndarray  # (h, w, 4)
    origin: np.ndarray  # (x, y) of pixels[0, 0] in the reference image

    @classmethod
    def crop(cls, full: np.ndarray) -> Layer | None:
        ys, xs = np.nonzero(full[..., 3] > 1e-3)
        if not len(xs):
            return None
        x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
        return cls(np.ascontiguousarray(full[y0:y1, x0:x1]), np.array([x0, y0], np.float64))

    def box(self, matrix: np.ndarray, size: tuple[int, int], pad: float) -> tuple[int, int, int, int] | None:
        """The output pixels ``(x0, y0, x1, y1)`` this layer can cover under ``matrix``, padded by ``pad``."""
        h, w = self.pixels.shape[:2]
        corners = self.origin + np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
        mapped = corners @ matrix[:, :2].T + matrix[:, 2]
        if not np.isfinite(mapped).all():
            return None
        low, high = np.floor(mapped.min(0) - pad - 2), np.ceil(mapped.max(0) + pad + 2)
        x0, y0 = int(max(low[0], 0)), int(max(low[1], 0))
        x1, y1 = int(min(high[0], size[0])), int(min(high[1], size[1]))
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


@dataclass
class Rig:
    """The cut-out character: premultiplied RGBA layers in reference-image pixels and the filled background."""

    layers: list[Layer | None]  # per part; None when nothing is bound to it
    background: np.ndarray  # (H, W, 3) float32
    reference: np.ndarray  # (130, 2) pixel-index coordinates, NaN where missing
    alpha: np.ndarray  # (H, W) float32: the character's cut-out mask
    labels: np.ndarray  # (H, W) int: which part each pixel is bound to (-1: background)

    @classmethod
    def build(cls, rgb: np.ndarray, alpha: np.ndarray, reference: np.ndarray, args: dict) -> Rig:
        extent = _extent(reference)
        mask = segment(rgb, alpha, reference, extent * args["reach"])
        if has_transparency(alpha):
            soft = alpha.astype(np.float32) / 255.0
        elif args["feather"] > 0:
            # Soften inwards only: outside the mask lies the background, which is not the character's.
            soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), args["feather"]) * mask
        else:
            soft = mask.astype(np.float32)
        costs, radii = _binding_costs(mask, reference)
        costs = _colour_refined(rgb, costs, mask, extent * args["colour"])
        weights, labels = _weights(costs, radii, mask, reference)
        image = rgb.astype(np.float32)
        layers = [_layer(image, soft, w) for w in weights]
        _fill_torso(layers, image, soft, labels, radii, reference)
        known = ~cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        background = fill(image, known)
        return cls([Layer.crop(layer) for layer in layers], background, reference, soft, labels)

    def render(self, points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The frame at driving keypoints ``points`` ``(130, 2)`` (pixel-index coordinates) as uint8."""
        width, height = size
        background = self.background
        if background.shape[:2] != (height, width):
            background = cv2.resize(background, (width, height), interpolation=cv2.INTER_AREA)
        out = background.copy()
        matrices = part_transforms(self.reference, points)  # reference-image pixels -> this frame's, per part
        for index in DEPTH:
            layer = self.layers[index]
            if layer is None:
                continue
            matrix = matrices[index]
            joints = _present(self.reference, points, HEAD) if PARTS[index].kind == "head" else ()
            deform = len(joints) >= MLS_MIN_POINTS
            box = layer.box(matrix, size, 0.25 * max(layer.pixels.shape[:2]) if deform else 0.0)
            if box is None:
                continue
            x0, y0, x1, y1 = box
            corner = np.array([x0, y0], np.float64)
            if deform:  # the face's own points deform the head
                pinned_ref, pinned = _head_pins(self.reference, points, joints, matrix)
                targets = np.concatenate([points[joints], pinned]) - corner
                sources = np.concatenate([self.reference[joints], pinned_ref]) - layer.origin
                grid = mls_map(targets, sources, (x1 - x0, y1 - y0))
                patch = cv2.remap(layer.pixels, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR)
            else:
                shifted = np.hstack([matrix[:, :2], (matrix[:, :2] @ layer.origin + matrix[:, 2] - corner)[:, None]])
                patch = cv2.warpAffine(layer.pixels, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR)
            region = out[y0:y1, x0:x1]
            out[y0:y1, x0:x1] = patch[..., :3] + region * (1.0 - patch[..., 3:])
        return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _extent(points: np.ndarray) -> float:
    """The longer side of the box around the body, feet and face points: the rig's length unit."""
    xy = points[np.r_[BODY, FEET, FACE]]
    xy = xy[~np.isnan(xy).any(-1)]
    if len(xy) < 2:
        return 1.0
    return float(max(np.ptp(xy, axis=0).max(), 1.0))


# ---------------------------------------------------------------------------------------------
# Segmentation


def has_transparency(alpha: np.ndarray) -> bool:
    """Whether an alpha channel really cuts something out (at least 1 % of the image transparent)."""
    return bool((alpha < 128).mean() >= 0.01)


def segment(rgb: np.ndarray, alpha: np.ndarray, reference: np.ndarray, reach: float) -> np.ndarray:
    """Boolean foreground mask of the character in the reference image.

    A PNG with real transparency gives it directly. Otherwise GrabCut (colour mixture models and a
    graph cut) decides, initialised from the skeleton: its limbs, hands, torso and face are foreground
    for sure, pixels farther than ``reach`` from it (farther still around the head, which carries ears,
    hair and hats) background for sure, and in between a pixel starts on the side whose colour histogram
    it fits better. Only the pieces touching the skeleton are kept, and small holes are filled.
    """
    if has_transparency(alpha):
        return alpha >= 128
    height, width = rgb.shape[:2]
    lines = np.zeros((height, width), np.uint8)
    thickness = max(1, round(reach * 0.08))
    bones = [(a, b) for a, b in BONES if a not in _HEAD_JOINTS and b not in _HEAD_JOINTS]
    bones += [(anchor, i) for group, anchor in GROUP_ANCHORS if group != FACE for i in range(group.start, group.stop)]
    for start, end in bones:
        a, b = reference[start], reference[end]
        if not (np.isnan(a).any() or np.isnan(b).any()):
            cv2.line(lines, _fixed(a), _fixed(b), 1, thickness, cv2.LINE_8, shift=4)
    shapes = np.zeros_like(lines)
    head = _hull(reference[list(HEAD)])
    torso = _hull(reference[list(TORSO)])
    for hull in (head, torso):
        if hull is not None:
            cv2.fillConvexPoly(shapes, _fixed(hull), 1, cv2.LINE_8, shift=4)
    sure = lines | cv2.erode(shapes, np.ones((3, 3), np.uint8))
    if not sure.any():
        raise AdapterError("pose-warp: the reference pose has no limb, torso or face inside the image")
    body_distance = _distance((lines | shapes) == 0)
    near = body_distance <= reach
    if head is not None:
        head_mask = np.zeros_like(sure)
        cv2.fillConvexPoly(head_mask, _fixed(head), 1, cv2.LINE_8, shift=4)
        head_distance = _distance(head_mask == 0)
        near |= head_distance <= max(reach, 0.6 * float(np.ptp(head, axis=0).max()))
    if (~near).sum() < 16:
        return near
    ratio = _histogram_ratio(rgb, sure > 0, ~near)
    trimap = np.where(near, np.where(ratio >= 1.0, cv2.GC_PR_FGD, cv2.GC_PR_BGD), cv2.GC_BGD).astype(np.uint8)
    trimap[sure > 0] = cv2.GC_FGD
    cv2.setRNGSeed(0)  # GrabCut's k-means initialisation draws from OpenCV's RNG: make it repeatable
    background_model, foreground_model = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(rgb, trimap, None, background_model, foreground_model, 5, cv2.GC_INIT_WITH_MASK)
    mask = (trimap == cv2.GC_FGD) | (trimap == cv2.GC_PR_FGD)
    return _clean(mask, sure > 0)


def _histogram_ratio(rgb: np.ndarray, foreground: np.ndarray, background: np.ndarray, bands: int = 8) -> np.ndarray:
    """Per pixel, how much likelier its colour is under the foreground's colour histogram than the background's.

    The background histogram is half global and half local to the pixel's horizontal band (and the bands
    next to it), as scenes vary mostly with height: sky, horizon, floor.
    """
    bins = 16
    index = (rgb.astype(np.int32) * bins // 256) @ np.array([bins * bins, bins, 1])

    def histogram(region: np.ndarray) -> np.ndarray:
        counts = np.bincount(index[region], minlength=bins**3).astype(np.float32)
        counts = cv2.GaussianBlur(counts.reshape(bins, -1), (3, 3), 0).reshape(-1)  # neighbouring colours count
        return (counts + 0.5) / (counts.sum() + 0.5 * bins**3)

    foreground_h, everywhere = histogram(foreground), histogram(background)
    ratio = np.zeros(rgb.shape[:2])
    edges = np.linspace(0, rgb.shape[0], bands + 1).astype(int)
    for k in range(bands):
        nearby = np.zeros_like(background)
        nearby[edges[max(k - 1, 0)] : edges[min(k + 2, bands)]] = True
        background_h = 0.5 * histogram(background & nearby) + 0.5 * everywhere
        ratio[edges[k] : edges[k + 1]] = (foreground_h / background_h)[index[edges[k] : edges[k + 1]]]
    return ratio


def _clean(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Keep the connected pieces of ``mask`` that touch ``seeds``; fill holes smaller than 1 % of it."""
    count, pieces = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(pieces[seeds & mask])] = True
    keep[0] = False
    mask = keep[pieces]
    count, holes, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    small = stats[:, cv2.CC_STAT_AREA] < 0.01 * max(int(mask.sum()), 1)
    touches = np.zeros(count, bool)
    for edge in (holes[0], holes[-1], holes[:, 0], holes[:, -1]):
        touches[np.unique(edge)] = True
    fill_ = small & ~touches
    fill_[0] = fill_[0] and not mask[holes == 0].any()
    return mask | (fill_[holes] & ~mask)


def _distance(region: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance from each pixel of ``region`` to the nearest pixel outside it (0 outside).

    SciPy's, not OpenCV's: OpenCV's precise distance transform gives different floats on one thread and
    on several, which would make the output bytes depend on the machine.
    """
    return distance_transform_edt(region).astype(np.float32)


def _fixed(points: np.ndarray) -> np.ndarray | tuple[int, int]:
    """Pixel coordinates as OpenCV's 4-bit fixed point (``shift=4``)."""
    fixed = np.round(np.asarray(points) * 16).astype(np.int32)
    return tuple(int(v) for v in fixed) if fixed.ndim == 1 else fixed


def _hull(points: np.ndarray) -> np.ndarray | None:
    points = points[~np.isnan(points).any(-1)]
    if len(points) < 3:
        return None
    hull = cv2.convexHull(points.astype(np.float32))[:, 0].astype(np.float64)
    return hull if len(hull) >= 3 else None


# ---------------------------------------------------------------------------------------------
# Binding


def _segment_distance(xs: np.ndarray, ys: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = b - a
    length2 = max(float(d @ d), 1e-9)
    t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2, 0.0, 1.0)
    return np.hypot(xs - (a[0] + t * d[0]), ys - (a[1] + t * d[1]))


def _limb_segment(part: Part, points: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    a, b = points[part.joints[0]], points[part.joints[1]]
    if np.isnan(a).any() or np.isnan(b).any():
        return None
    if part.extra:
        hand = points[list(part.extra)]
        hand = hand[~np.isnan(hand).any(-1)]
        if len(hand):
            b = hand.mean(0)
    return a, b


def _binding_costs(mask: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per part and pixel, how badly the pixel fits the part ``(P, H, W)``, and each limb's half-thickness.

    A limb is a capsule around its segment, with a half-thickness measured on the mask (a forearm also
    has a disc around the hand's centre as wide as the hand): inside it the cost is the (negative)
    distance to its surface, outside it grows steeply, as limbs are thin. Torso and head are the convex
    hulls of their points and cost the distance to them, as their outline is not known. Unbound parts
    cost infinity.
    """
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    inside = _distance(mask)
    costs = np.full((len(PARTS), height, width), np.inf, np.float32)
    radii = np.zeros(len(PARTS), np.float32)
    for index, part in enumerate(PARTS):
        if part.kind == "limb":
            segment_ = _limb_segment(part, reference)
            if segment_ is None:
                continue
            a, b = segment_
            # Where a limb crosses the torso the mask is wider than the limb: take a low percentile.
            along = _sample(inside, a + np.linspace(0.15, 0.85, 29)[:, None] * (b - a))
            radius = float(np.clip(np.percentile(along, 10), 1.0, max(1.0, 0.4 * np.linalg.norm(b - a))))
            radii[index] = radius
            surface = _segment_distance(xs, ys, a, b) - radius
            if part.extra:  # the hand: a disc as wide as the mask is at its centre
                hand = float(np.clip(_sample(inside, b[None])[0], radius, 3.0 * radius))
                surface = np.minimum(surface, np.hypot(xs - b[0], ys - b[1]) - hand)
            if part.parent == 0:
                # A limb leaving the torso is cut flat at its root: what lies beyond the shoulder or hip
                # belongs to the torso or to a head hanging over it.
                axis = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
                beyond = -((xs - a[0]) * axis[0] + (ys - a[1]) * axis[1])
                surface = np.maximum(surface, beyond)
            costs[index] = np.where(surface > 0, STEEP * surface, surface)
        else:
            hull = _hull(reference[list(part.joints)])
            if hull is None:
                continue
            shape = np.zeros((height, width), np.uint8)
            cv2.fillConvexPoly(shape, _fixed(hull), 1, cv2.LINE_8, shift=4)
            costs[index] = _distance(shape == 0)
    return costs, radii


STEEP = 6.0  # how much faster a limb's cost grows outside its capsule than a torso's or head's


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Nearest-pixel values of ``image`` at ``points`` ``(N, 2)``; 0 outside the image."""
    height, width = image.shape
    ij = np.round(points).astype(int)
    ok = (ij[:, 0] >= 0) & (ij[:, 0] < width) & (ij[:, 1] >= 0) & (ij[:, 1] < height)
    out = np.zeros(len(points), image.dtype)
    out[ok] = image[ij[ok, 1], ij[ok, 0]]
    return out


def _colour_refined(rgb: np.ndarray, costs: np.ndarray, mask: np.ndarray, reach: float) -> np.ndarray:
    """Add a colour term to the binding costs: up to ``reach`` pixels for a colour unlike the part's.

    Each part's colour model is a Gaussian in CIELAB over the pixels it clearly wins by distance; a pixel
    pays, for each part, its negative log-likelihood above the best part's, capped. This moves, e.g., the
    bottom of a round body out of the thighs it overlaps, and a sleeve out of the torso.
    """
    if reach <= 0:
        return costs
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    order = np.partition(costs, 1, axis=0)
    labels = costs.argmin(0)
    clear = (mask & (order[1] - order[0] > 0.1 * reach)).reshape(-1)
    flat_labels = labels.reshape(-1)
    nll = np.zeros((len(PARTS), lab.shape[0]), np.float32)
    modelled = np.zeros(len(PARTS), bool)
    for index in range(len(PARTS)):
        colours = lab[clear & (flat_labels == index)]
        if len(colours) < 16:
            continue
        mean = colours.mean(0)
        cov = np.cov(colours.T) + np.eye(3) * 4.0
        d = lab - mean
        nll[index] = 0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d) + 0.5 * np.log(np.linalg.det(cov))
        modelled[index] = True
    if modelled.sum() < 2:
        return costs
    relative = nll[modelled] - nll[modelled].min(0)
    penalty = np.zeros_like(nll)
    penalty[modelled] = np.minimum(relative, COLOUR_CAP) / COLOUR_CAP * reach
    return costs + penalty.reshape(costs.shape) * mask


COLOUR_CAP = 8.0  # nats of colour evidence that buy the whole ``reach``


def _weights(
    costs: np.ndarray, radii: np.ndarray, mask: np.ndarray, reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Layer weights ``(P, H, W)`` and the labels: each pixel goes to its cheapest part.

    Each layer also takes a one-pixel rim of its neighbours, so that resampling leaves no crack between
    them, and each limb keeps the round end of its capsule around the joints it shares with other
    limbs, so that bending an elbow or knee opens no gap.
    """
    labels = np.where(mask, costs.argmin(0), -1)
    height, width = mask.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rim = np.ones((3, 3), np.uint8)
    weights = np.zeros(costs.shape, np.float32)
    for index, part in enumerate(PARTS):
        if part.kind != "limb":  # torso and head reach a pixel under their neighbours: no cracks
            weights[index] = cv2.dilate((labels == index).astype(np.uint8), rim)
            continue
        weights[index] = labels == index
        if radii[index] == 0:
            continue
        # Only limbs share round joints; a disc at the shoulder or hip would carry torso pixels along.
        family = [index] + [i for i, p in enumerate(PARTS) if i == part.parent or p.parent == index]
        family = [i for i in family if PARTS[i].kind == "limb"]
        near_family = np.isin(labels, family)
        a, b = reference[part.joints[0]], reference[part.joints[1]]
        capsule = _segment_distance(xs, ys, a, b) <= radii[index] + 0.5  # its own round ends, not beyond
        for joint in part.joints:
            if not any(joint in PARTS[i].joints for i in family if i != index):
                continue
            centre = reference[joint]
            disc = np.hypot(xs - centre[0], ys - centre[1]) <= 1.2 * radii[index]
            weights[index] = np.where(disc & capsule & near_family, 1.0, weights[index])
    weights *= mask
    return weights, labels


def _layer(image: np.ndarray, alpha: np.ndarray, weight: np.ndarray) -> np.ndarray:
    a = alpha * weight
    return np.dstack([image * a[..., None], a]).astype(np.float32)


def _fill_torso(
    layers: list[np.ndarray],
    image: np.ndarray,
    alpha: np.ndarray,
    labels: np.ndarray,
    radii: np.ndarray,
    reference: np.ndarray,
) -> None:
    """Give the torso layer what the arms and head in front of it hide, so that moving them opens no hole.

    The hidden part is taken to be the arm and head pixels inside the convex hull of the torso's own
    pixels (the pieces of them that reach its keypoints; stray pieces are often background), near those
    pixels and less thin slivers; its colours are a smooth fill from the torso's pixels.
    """
    torso = labels == 0
    core = _hull(reference[list(TORSO)])
    if core is not None:
        count, pieces = cv2.connectedComponents(torso.astype(np.uint8), connectivity=8)
        shape = np.zeros(torso.shape, np.uint8)
        cv2.fillConvexPoly(shape, _fixed(core), 1, cv2.LINE_8, shift=4)
        keep = np.zeros(count, bool)
        keep[np.unique(pieces[torso & (shape > 0)])] = True
        keep[0] = False
        if keep.any():
            torso = keep[pieces]
    if torso.sum() < 16:
        return
    hull = cv2.convexHull(np.argwhere(torso)[:, ::-1].astype(np.int32))
    inside = np.zeros(torso.shape, np.uint8)
    cv2.fillConvexPoly(inside, hull, 1)
    behind = list(DEPTH[: DEPTH.index(0)])  # the legs are behind the torso: they hide nothing of it
    hidden = ((inside > 0) & (labels > 0) & ~np.isin(labels, behind)).astype(np.uint8)
    # A limb lying over the torso hides at most about its own width of it: farther from the torso's
    # visible pixels the hull would paint ghost limbs in torso colours.
    limb = float(np.median(radii[radii > 0])) if (radii > 0).any() else 1.0
    far = _distance(~torso) > REACH_UNDER * limb
    hidden[far] = 0
    # Thin slivers between the hull's edge and a limb's outline would stick out as spikes: open the
    # completed outline with a disc about as wide as a limb's half-thickness.
    width = 2 * int(np.ceil(0.5 * limb)) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    hidden = (hidden > 0) & (cv2.morphologyEx(hidden | torso.astype(np.uint8), cv2.MORPH_OPEN, disc) > 0)
    if not hidden.any():
        return
    colours = _push_pull(image, (torso & (alpha > 0.99)).astype(np.float32))
    layer = layers[0]
    a = np.where(hidden, np.maximum(layer[..., 3], alpha), layer[..., 3])
    rgb = np.where(hidden[..., None], colours * a[..., None], layer[..., :3])
    layers[0] = np.dstack([rgb, a]).astype(np.float32)


REACH_UNDER = 1.0  # how far under a limb (in median limb half-thicknesses) the torso is taken to go


# ---------------------------------------------------------------------------------------------
# Filling


def fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the pixels where ``known`` is False from the known ones.

    Each row is interpolated linearly between the nearest known pixels on its left and right (their
    local average, to keep texture and stray edge pixels from streaking), which keeps horizons and
    floor lines; the result is then smoothed vertically inside the hole. Rows with no known pixel take
    a smooth push-pull fill.
    """
    image = image.astype(np.float32)
    if known.all() or not known.any():
        return image.copy()
    height, width = known.shape
    weight = known.astype(np.float32)
    window = (5, 5)
    local = cv2.blur(image * weight[..., None], window) / np.maximum(cv2.blur(weight, window), 1e-6)[..., None]
    columns = np.broadcast_to(np.arange(width), known.shape)
    left = np.maximum.accumulate(np.where(known, columns, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, columns, width)[:, ::-1], axis=1)[:, ::-1]
    has_left, has_right = left >= 0, right < width
    rows = np.arange(height)[:, None]
    from_left = local[rows, np.clip(left, 0, width - 1)]
    from_right = local[rows, np.clip(right, 0, width - 1)]
    t = np.where(has_left & has_right, (columns - left) / np.maximum(right - left, 1), 0.0)
    t = np.where(~has_left, 1.0, t)[..., None].astype(np.float32)
    rows_fill = from_left * (1 - t) + from_right * t
    empty = ~(has_left | has_right)
    if empty.any():
        rows_fill[empty] = _push_pull(image, weight)[empty]
    hole = (~known).astype(np.float32)
    sigma = max(1.0, 0.01 * height)
    smooth = cv2.GaussianBlur(rows_fill * hole[..., None], (1, 0), sigmaX=0.1, sigmaY=sigma)
    norm = cv2.GaussianBlur(hole, (1, 0), sigmaX=0.1, sigmaY=sigma)
    smooth = smooth / np.maximum(norm, 1e-6)[..., None]
    return np.where(known[..., None], image, smooth).astype(np.float32)


def _push_pull(image: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """A smooth fill: known pixels averaged down a pyramid, then interpolated back up where unknown."""
    levels = [(image * weight[..., None], weight)]
    while min(levels[-1][1].shape) > 1:
        colour, w = levels[-1]
        size = ((w.shape[1] + 1) // 2, (w.shape[0] + 1) // 2)
        levels.append(
            (cv2.resize(colour, size, interpolation=cv2.INTER_AREA), cv2.resize(w, size, interpolation=cv2.INTER_AREA))
        )
    colour, w = levels[-1]
    estimate = colour / np.maximum(w, 1e-8)[..., None]
    for colour, w in reversed(levels[:-1]):
        up = cv2.resize(estimate, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        trust = np.clip(w, 0.0, 1.0)[..., None]
        estimate = colour / np.maximum(w, 1e-8)[..., None] * trust + up * (1.0 - trust)
    return estimate


# ---------------------------------------------------------------------------------------------
# Transforms


def _present(a: np.ndarray, b: np.ndarray, joints: Sequence[int]) -> np.ndarray:
    joints = np.asarray(joints)
    return joints[~(np.isnan(a[joints]).any(-1) | np.isnan(b[joints]).any(-1))]


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation, uniform scale and translation ``2x3`` (no reflection)."""
    if len(src) == 1:
        return np.array([[1.0, 0.0, dst[0, 0] - src[0, 0]], [0.0, 1.0, dst[0, 1] - src[0, 1]]])
    ms, md = src.mean(0), dst.mean(0)
    s, d = src - ms, dst - md
    var = float((s * s).sum())
    if var < 1e-9:
        return np.array([[1.0, 0.0, md[0] - ms[0]], [0.0, 1.0, md[1] - ms[1]]])
    a = float((s * d).sum()) / var
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / var
    linear = np.array([[a, -b], [b, a]])
    return np.hstack([linear, (md - linear @ ms)[:, None]])


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares affine ``2x3``, or None when the points are too close to collinear for it."""
    if len(src) < 3:
        return None
    centred = src - src.mean(0)
    singular = np.linalg.svd(centred, compute_uv=False)
    if singular[1] < 0.15 * singular[0]:
        return None
    design = np.hstack([src, np.ones((len(src), 1))])
    solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
    matrix = solution.T
    s = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if s[1] < 0.2 * s[0] or np.linalg.det(matrix[:, :2]) <= 0:
        return None
    return matrix


MLS_MIN_POINTS = 6  # fewer head points than this: the head moves by its similarity transform


OUTLINE = (16, 17, *range(FACE.start, FACE.start + 17))  # ears and jaw line: the head's outline points


def _head_pins(
    reference: np.ndarray, points: np.ndarray, joints: np.ndarray, fallback: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Control points on a ring around the face that move rigidly with the head's outline.

    Without them the moving-least-squares warp lets the inner face points (which slide sideways when
    the head turns) drag the top and sides of the head along. The ring moves by the similarity fitted to
    the ears and jaw line (the head's own similarity when those are missing).
    """
    outline = _present(reference, points, OUTLINE)
    matrix = fit_similarity(reference[outline], points[outline]) if len(outline) >= 3 else fallback
    face = reference[joints]
    centre = face.mean(0)
    radius = 1.25 * float(np.sqrt(((face - centre) ** 2).sum(-1).max()))
    angles = np.linspace(0.0, 2 * np.pi, 16, endpoint=False)
    ring = centre + radius * np.stack([np.cos(angles), np.sin(angles)], -1)
    return ring, ring @ matrix[:, :2].T + matrix[:, 2]


def mls_map(targets: np.ndarray, sources: np.ndarray, size: tuple[int, int], step: int = 4) -> np.ndarray:
    """Affine moving-least-squares deformation taking ``targets`` to ``sources``, sampled at every pixel.

    Returns ``(H, W, 2)`` float32: for each output pixel, where to read the reference image. Each pixel
    gets the affine map that best fits the control points weighted by inverse squared distance, so face
    features follow their own points (eyes slide when the head turns, the mouth opens) while the outline
    follows the jaw and ears. It is evaluated on a grid every ``step`` pixels and interpolated.
    """
    width, height = size
    columns, rows = -(-(width - 1) // step) + 1, -(-(height - 1) // step) + 1
    gy, gx = np.mgrid[0:rows, 0:columns].astype(np.float64) * step
    v = np.stack([gx.ravel(), gy.ravel()], -1)
    squared = ((v[:, None] - targets[None]) ** 2).sum(-1)
    w = 1.0 / (squared + 1.0)
    w /= w.sum(1, keepdims=True)
    t_mean, s_mean = w @ targets, w @ sources
    # Weighted second moments as matrix products: sum_k w (t - t_mean)(t - t_mean)^T and (t - t_mean)(s - s_mean)^T.
    a = (w @ (targets[:, :, None] * targets[:, None, :]).reshape(-1, 4)).reshape(-1, 2, 2)
    a -= t_mean[:, :, None] * t_mean[:, None, :]
    b = (w @ (targets[:, :, None] * sources[:, None, :]).reshape(-1, 4)).reshape(-1, 2, 2)
    b -= t_mean[:, :, None] * s_mean[:, None, :]
    a += np.eye(2) * (1e-3 * np.trace(a, axis1=1, axis2=2)[:, None, None] + 1e-9)
    mapped = np.einsum("ni,nij->nj", v - t_mean, np.linalg.solve(a, b)) + s_mean
    coarse = mapped.reshape(rows, columns, 2).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) / step
    return cv2.remap(coarse, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _scale(matrix: np.ndarray) -> float:
    return float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def _anchored(matrix: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``matrix``'s linear part with the translation that takes ``src`` to ``dst``."""
    out = matrix.copy()
    out[:, 2] = dst - matrix[:, :2] @ src
    return out


def part_transforms(reference: np.ndarray, points: np.ndarray) -> list[np.ndarray]:
    """Per part, the ``2x3`` affine from the reference pose to ``points`` (pixel coordinates, NaN = missing).

    Torso: least-squares affine of its five points (similarity when fewer or degenerate); head: similarity
    of the nose, eyes, ears and face points; limb: rotation onto the driving limb with its length change
    along the limb and the body's scale across it. A part without its points in either pose keeps its
    parent's transform, re-anchored at its first joint when that is known.
    """
    body = _present(reference, points, range(0, 20))
    overall = fit_similarity(reference[body], points[body]) if len(body) else np.eye(2, 3)
    matrices: list[np.ndarray] = []
    for part in PARTS:
        parent = overall if part.parent < 0 else matrices[part.parent]
        if part.kind == "limb":
            matrices.append(_limb_transform(part, reference, points, parent, _scale(overall)))
            continue
        joints = _present(reference, points, part.joints)
        src, dst = reference[joints], points[joints]
        matrix = fit_affine(src, dst) if part.kind == "torso" else None
        if matrix is None and len(joints) >= 2:
            matrix = fit_similarity(src, dst)
        if matrix is None:
            matrix = _anchored(parent, src[0], dst[0]) if len(joints) else parent
        matrices.append(matrix)
    return matrices


def _limb_transform(
    part: Part, reference: np.ndarray, points: np.ndarray, parent: np.ndarray, scale: float
) -> np.ndarray:
    start, end = part.joints
    a, b, a2, b2 = reference[start], reference[end], points[start], points[end]
    if np.isnan(a).any() or np.isnan(a2).any():
        return parent
    if np.isnan(b).any() or np.isnan(b2).any() or np.linalg.norm(b - a) < 1e-6:
        return _anchored(parent, a, a2)
    u = (b - a) / np.linalg.norm(b - a)
    length = np.linalg.norm(b2 - a2)
    if length < 1e-6:
        return _anchored(parent, a, a2)
    u2 = (b2 - a2) / length
    along = float(np.clip(length / np.linalg.norm(b - a), 0.25, 4.0))
    n, n2 = np.array([-u[1], u[0]]), np.array([-u2[1], u2[0]])
    linear = along * np.outer(u2, u) + scale * np.outer(n2, n)
    return np.hstack([linear, (a2 - linear @ a)[:, None]])
