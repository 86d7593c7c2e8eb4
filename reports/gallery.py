"""The side-by-side video gallery: one composite mp4 per sample, every column playing in sync.

Columns, left to right: the reference image (held for every frame), the driving pose of the task
(drawn from the protocol's pose exactly as benchmark ``pose.mp4`` files are, :data:`POSE_VIDEO`), the
ground truth (the task's target), then each non-oracle run's output, decoded from the run's stored video
and resized to the benchmark's size as the runner does before scoring. A caption strip above names each
column. A run that failed the sample shows a grey column saying so. Composite width is
``(3 + runs) × benchmark width`` (plus one pixel when that is odd: H.264 yuv420p, which every browser
plays, needs even sizes), height is benchmark height + caption strip.

Outputs with another frame count than the target are cut, or hold their last frame, to the target's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from a2bench.core.frames import resize_frames
from a2bench.core.pose.render import POSE_VIDEO, render_poses
from a2bench.core.videoio import VideoError, read_video, write_video
from a2bench.reports.collect import Entry, Group
from a2bench.reports.tables import format_value

BACKGROUND = (24, 24, 24)
TEXT = (240, 240, 240)
DISPLAY_COLUMN = 256  # pixels a column is shown at, at least, when the page is wide enough


@dataclass
class Cell:
    """One column of a composite and, for a run, its per-sample metric values."""

    label: str
    kind: str  # reference | pose | target | run
    run_id: str | None = None
    error: str | None = None
    note: str | None = None  # not a failure: the run did not ask for this sample (--limit)
    metrics: list[dict] = field(default_factory=list)  # {key, arrow, text, value, best}


@dataclass
class Item:
    sample_id: str
    category: str
    style: str
    video: str  # relative to the report folder
    width: int
    height: int
    frames: int
    fps: float
    cells: list[Cell]
    display_width: int  # CSS width: small benchmarks are shown enlarged (the page caps it at its own width)


def gallery_entries(group: Group) -> list[Entry]:
    """The runs shown as columns: every non-oracle run (an oracle's output is the ground truth column)."""
    return [e for e in group.entries if not e.oracle]


def build_gallery(group: Group, out: Path, limit: int | None = None, prefix: str = "gallery") -> list[Item]:
    """Write one composite per sample (the first ``limit`` when given) under ``out/prefix``."""
    if group.bench is None:
        return []
    entries = gallery_entries(group)
    folder = out / prefix / group.slug
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    # Only samples some run asked for: a --limit run takes the benchmark's first N, and the rest are not failures.
    samples = group.samples[: max((e.run.samples for e in entries), default=len(group.samples))]
    samples = samples if limit is None else samples[:limit]
    for sample_id in samples:
        items.append(_item(group, entries, sample_id, folder, out))
    return items


def _item(group: Group, entries: list[Entry], sample_id: str, folder: Path, out: Path) -> Item:
    manifest = group.bench.manifest
    size = (manifest.width, manifest.height)
    sample = group.bench[sample_id]
    task = sample.task(group.protocol)
    target = task.target.frames
    count = target.shape[0]
    columns = [
        np.repeat(_fit(sample.reference(), size)[None], count, axis=0),
        _length(render_poses(task.pose, size, **POSE_VIDEO), count),
        target,
    ]
    truth = "ground truth" if task.target_is_ground_truth else "target (own video)"
    pose_label = "pose" if group.protocol == "self" else f"pose (from {task.driver_id})"
    cells = [Cell("reference", "reference"), Cell(pose_label, "pose"), Cell(truth, "target")]
    for entry in entries:
        cell = Cell(entry.label, "run", entry.run.id)
        path = entry.videos.get(sample_id)
        frames = None
        if group.samples.index(sample_id) >= entry.run.samples:
            cell.note = f"not requested ({entry.run.partial or '--limit'})"
            columns.append(_blank(size, count, "not requested"))
            cells.append(cell)
            continue
        if path is None:
            cell.error = entry.failed.get(sample_id, "not generated")
        else:
            try:
                frames = _length(resize_frames(read_video(path).frames, size), count)
            except VideoError as exc:
                cell.error = str(exc)
        columns.append(frames if frames is not None else _blank(size, count, "failed"))
        cells.append(cell)
    _metrics(group, entries, cells, sample_id)
    composite = _compose(columns, [c.label for c in cells], size)
    name = f"{_safe(sample_id)}.mp4"
    write_video(folder / name, composite, manifest.fps)
    category, style = group.sample_info(sample_id)
    return Item(
        sample_id,
        category,
        style,
        (folder / name).relative_to(out).as_posix(),
        composite.shape[2],
        composite.shape[1],
        count,
        float(manifest.fps),
        cells,
        composite.shape[2] * max(1, round(DISPLAY_COLUMN / size[0])),
    )


def _metrics(group: Group, entries: list[Entry], cells: list[Cell], sample_id: str) -> None:
    run_cells = {c.run_id: c for c in cells if c.kind == "run"}
    for column in group.columns:
        scored = {e.run.id: e.per_sample[column.key][sample_id] for e in entries
                  if sample_id in e.per_sample.get(column.key, {})}  # fmt: skip
        if not scored:
            continue
        best = max(scored.values()) if column.higher_is_better else min(scored.values())
        for run_id, value in scored.items():
            run_cells[run_id].metrics.append(
                {
                    "key": column.key,
                    "arrow": column.arrow,
                    "value": value,
                    "text": format_value(column.name, value),
                    "best": len(scored) > 1 and value == best,
                }
            )


def _compose(columns: list[np.ndarray], labels: list[str], size: tuple[int, int]) -> np.ndarray:
    width, height = size
    strip = _caption(labels, width)
    body = np.concatenate(columns, axis=2)  # (T, H, n·W, 3)
    count = body.shape[0]
    full_w = body.shape[2] + body.shape[2] % 2
    full_h = strip.shape[0] + height + (strip.shape[0] + height) % 2
    out = np.zeros((count, full_h, full_w, 3), dtype=np.uint8)
    out[:] = BACKGROUND
    out[:, : strip.shape[0], : strip.shape[1]] = strip
    out[:, strip.shape[0] : strip.shape[0] + height, : body.shape[2]] = body
    return out


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def caption_height(width: int) -> int:
    size = max(9, min(16, width // 10))
    return (size + 10) // 2 * 2


def _caption(labels: list[str], width: int) -> np.ndarray:
    """A strip naming each column; text shrinks, then is shortened with an ellipsis, to fit its column."""
    height = caption_height(width)
    image = Image.new("RGB", (width * len(labels), height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for index, label in enumerate(labels):
        size = height - 10
        smallest = max(8, size - 3)  # shrink a little, then shorten: the HTML under the video has the full name
        font = _font(size)
        text = label
        while draw.textlength(text, font=font) > width - 6 and size > smallest:
            size -= 1
            font = _font(size)
        while draw.textlength(text, font=font) > width - 6 and len(text) > 2:
            text = text[:-2] + "…"
        x = index * width + (width - draw.textlength(text, font=font)) / 2
        draw.text((x, height / 2), text, fill=TEXT, font=font, anchor="lm")
        if index:
            draw.line([(index * width, 0), (index * width, height)], fill=(90, 90, 90))
    return np.asarray(image)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The reference image scaled to fit ``size`` (aspect kept), centred on white."""
    height, width = image.shape[:2]
    if (width, height) == size:
        return image
    scale = min(size[0] / width, size[1] / height)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = Image.fromarray(image).resize(new, Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", size, (255, 255, 255))
    canvas.paste(resized, ((size[0] - new[0]) // 2, (size[1] - new[1]) // 2))
    return np.asarray(canvas)


def _length(frames: np.ndarray, count: int) -> np.ndarray:
    if frames.shape[0] >= count:
        return frames[:count]
    return np.concatenate([frames, np.repeat(frames[-1:], count - frames.shape[0], axis=0)])


def _blank(size: tuple[int, int], count: int, text: str) -> np.ndarray:
    width, height = size
    image = Image.new("RGB", (width, height), (96, 96, 96))
    draw = ImageDraw.Draw(image)
    draw.text((width / 2, height / 2), text, fill=TEXT, font=_font(max(9, width // 10)), anchor="mm")
    return np.repeat(np.asarray(image)[None], count, axis=0)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)
