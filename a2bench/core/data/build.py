"""``a2bench bench build``: pairs of (character image, video) → a benchmark in A2Bench layout v1.

This is how a lab rebuilds A2Bench the way the Animate-X paper made it: characters from a text-to-image
model, dance videos from an image-to-video model, DWPose keypoints, then screening. docs/build.md is
the user-facing description; in short:

1. **Plan** (nothing is written if anything here fails, and every problem is listed at once): images
   and videos pair up by file stem, the stem is the sample id, every sample needs a prompt, a category
   and a style. Unpaired files are errors unless ``allow_unpaired``.
2. **Per pair**: read the image (RGB; alpha composited over white) and decode the video; choose the
   benchmark's frame rate and size (given, or the most common); extract poses; score their quality
   (:mod:`a2bench.core.pose.quality`); drop the sample with a reason, or write its folder.
3. **Finish**: ``manifest.json`` through :func:`a2bench.core.data.index.index_folder` (the ``bench manifest``
   machinery), ``build_report.json``, and one rename of the temporary folder onto the output.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from a2bench.core.data.benchmark import over_white
from a2bench.core.data.errors import BenchmarkError
from a2bench.core.data.index import SAMPLE_META, index_folder
from a2bench.core.data.load import load_folder
from a2bench.core.data.manifest import MANIFEST_NAME, SAMPLE_ID
from a2bench.core.fileio import write_atomic
from a2bench.core.pose.extract import DWPose, extract_frames
from a2bench.core.pose.keypoints import BODY, NUM_KEYPOINTS, PoseError, PoseSequence, missing_mask
from a2bench.core.pose.quality import PoseQuality, extraction_quality
from a2bench.core.pose.render import POSE_VIDEO, render_poses
from a2bench.core.provenance import VERSION
from a2bench.core.staging import Say, remove_leftovers, staging_folder
from a2bench.core.videoio import VIDEO_SUFFIXES, Video, VideoError, VideoInfo, probe_video, read_video, write_video
from a2bench.core.weights import WeightsError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
REPORT_NAME = "build_report.json"
REPORT_FORMAT = "a2bench-build-report"
#: Sample keys the builder writes itself; metadata may not set them.
RESERVED_KEYS = ("id", "num_frames", "files", "cross", "quality", "build")

#: ``(frames (T, H, W, 3) RGB uint8, fps, reference image (H', W', 3)) -> Extraction``-like object
#: with ``pose``, ``detected``, ``box_scores`` and ``people`` (see :mod:`a2bench.core.pose.extract`).
Extractor = Callable[[np.ndarray, Fraction, np.ndarray], Any]


@dataclass(frozen=True)
class BuildOptions:
    """Everything ``a2bench bench build`` accepts besides the folders (docs/build.md)."""

    name: str
    license: str
    version: str = "1.0"
    description: str = ""
    prompts: Path | None = None
    default_prompt: str | None = None
    metadata: Path | None = None
    category: str | None = None
    style: str | None = None
    allow_unpaired: bool = False
    min_quality: float = 0.0
    fps: Fraction | None = None
    size: tuple[int, int] | None = None
    conform: bool = False


@dataclass
class Outcome:
    """What happened to one input stem; one row of the report."""

    id: str
    image: str | None
    video: str | None
    status: str = "dropped"  # or "kept"
    reason: str | None = None  # short code, e.g. "undecodable-video"; None when kept
    detail: str = ""
    num_frames: int | None = None
    video_handling: str | None = None  # "copied", "re-encoded" or "conformed"
    quality: PoseQuality | None = None

    @property
    def kept(self) -> bool:
        return self.status == "kept"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "reason": self.reason,
            "detail": self.detail,
            "image": self.image,
            "video": self.video,
            "num_frames": self.num_frames,
            "video_handling": self.video_handling,
            "quality": self.quality.to_json() if self.quality else None,
        }


@dataclass
class BuildResult:
    """The outcome of every input, the warnings, and where the benchmark (or the failure report) went."""

    out: Path
    ok: bool
    outcomes: list[Outcome]
    warnings: list[str] = field(default_factory=list)
    fps: Fraction | None = None
    size: tuple[int, int] | None = None

    @property
    def report_path(self) -> Path:
        return self.out / REPORT_NAME

    @property
    def kept(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.kept]


@dataclass(frozen=True)
class _Pair:
    id: str
    image: Path
    video: Path
    prompt: str
    meta: dict[str, Any]


def dwpose_extractor(device: str = "cpu") -> tuple[Extractor, dict[str, Any]]:
    """DWPose from the weights registry on ``device``, and its provenance for the manifest's ``source``."""
    estimator = DWPose(device=device)

    def extract(frames: np.ndarray, fps: Fraction, reference: np.ndarray) -> Any:
        return extract_frames(frames, fps, estimator, reference=reference)

    models = "DWPose: yolox_l.onnx + dw-ll_ucoco_384.onnx"
    return extract, {"estimator": models, "device": device, "verified_weights": estimator.verified}


def build_benchmark(
    images: Path,
    videos: Path,
    out: Path,
    options: BuildOptions,
    load_extractor: Callable[[], tuple[Extractor, dict[str, Any]]],
    *,
    progress: Callable[[Outcome, int, int], None] | None = None,
    say: Say | None = None,
) -> BuildResult:
    """Build ``out`` from the pairs in ``images`` and ``videos``; see the module docstring.

    ``load_extractor`` returns the pose extractor and its provenance (e.g. :func:`dwpose_extractor`); it
    is called once the inputs have been checked. Raises :class:`BenchmarkError` listing every problem
    with the inputs or options before any work is done. Otherwise returns the outcome of every input
    (``progress(outcome, done, total)`` is called after each pair). When no sample is kept, ``ok`` is
    False and ``out`` holds only ``build_report.json``; a later build may write over such a folder. The build
    happens in a locked temporary folder beside ``out`` (:mod:`a2bench.core.staging`); those that killed builds left
    are removed first, each named to ``say``.
    """
    images, videos, out = Path(images), Path(videos), Path(out)
    _check_out(out)
    pairs, outcomes, warnings = _plan(images, videos, options)
    extractor, provenance = load_extractor()
    probes: dict[str, VideoInfo] = {}
    for pair in pairs:
        with contextlib.suppress(VideoError):  # decoding reports it below with the full message
            probes[pair.id] = probe_video(pair.video)
    fps, size = _target_format(pairs, probes, options)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out, "tmp", say or (lambda _line: None))
    with staging_folder(out) as tmp:
        for done, pair in enumerate(pairs, 1):
            outcome = _build_sample(pair, probes.get(pair.id), tmp, fps, size, options, extractor, warnings)
            outcomes.append(outcome)
            if progress is not None:
                progress(outcome, done, len(pairs))
        outcomes.sort(key=lambda o: o.id)
        result = BuildResult(out, any(o.kept for o in outcomes), outcomes, warnings, fps, size)
        report = _report(result, images, videos, options, provenance)
        if not result.ok:
            _check_out(out)
            out.mkdir(exist_ok=True)
            write_atomic(out / REPORT_NAME, report)
            return result
        _write_manifest(tmp, result, options, provenance)
        (tmp / REPORT_NAME).write_bytes(report)
        _check_out(out)  # again: something may have appeared there while the build ran
        if out.exists():
            shutil.rmtree(out)  # empty, or only the report of a failed build
        os.replace(tmp, out)
    return result


# ------------------------------------------------------------------------------------------------
# Planning: pairing, ids, prompts, metadata


def _check_out(out: Path) -> None:
    if out.is_symlink():  # the final rename replaces the path itself: a link would be lost, not filled
        raise BenchmarkError(f"{out}: is a symbolic link; pass the real folder ({out.resolve()}) instead")
    if not out.exists():
        return
    if not out.is_dir():
        raise BenchmarkError(f"{out}: exists and is not a folder; choose a new output folder")
    entries = [p.name for p in out.iterdir()]
    if not entries:
        return
    if entries == [REPORT_NAME]:
        try:
            if json.loads((out / REPORT_NAME).read_text()).get("status") == "failed":
                return
        except (OSError, ValueError, AttributeError):
            pass
    raise BenchmarkError(f"{out}: exists and is not empty; choose a new folder (the build never writes over data)")


def _scan(folder: Path, suffixes: tuple[str, ...], kind: str, warnings: list[str]) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_file() and path.suffix.lower() in suffixes:
            found.setdefault(path.stem, []).append(path)
        else:
            warnings.append(f"{path}: ignored, not {kind} file ({', '.join(suffixes)})")
    return found


def _plan(images: Path, videos: Path, options: BuildOptions) -> tuple[list[_Pair], list[Outcome], list[str]]:
    problems: list[str] = []
    warnings: list[str] = []
    for folder, flag in ((images, "--images"), (videos, "--videos"), (options.prompts, "--prompts")):
        if folder is not None and not Path(folder).is_dir():
            problems.append(f"{folder}: {flag} must be an existing folder")
    if options.min_quality < 0 or math.isnan(options.min_quality):
        problems.append(f"min_quality must be a number >= 0, got {options.min_quality}")
    if problems:
        raise BenchmarkError(problems)
    image_files = _scan(images, IMAGE_SUFFIXES, "an image", warnings)
    video_files = _scan(videos, VIDEO_SUFFIXES, "a video", warnings)
    outcomes: list[Outcome] = []
    stems = sorted(set(image_files) | set(video_files))
    unpaired = []
    for stem in stems:
        for files, kind in ((image_files, "images"), (video_files, "videos")):
            if len(files.get(stem, [])) > 1:
                names = ", ".join(p.name for p in files[stem])
                problems.append(f"{stem!r}: ambiguous, several {kind} share the stem ({names}); keep one")
        image, video = image_files.get(stem, [None])[0], video_files.get(stem, [None])[0]
        if image is None or video is None:
            have, lack = (image, "video") if video is None else (video, "image")
            detail = f"{have.name} has no {lack} of the same stem"
            unpaired.append(Outcome(stem, _name(image), _name(video), reason=f"no-{lack}", detail=detail))
    paired = [s for s in stems if s in image_files and s in video_files]
    for stem in paired:
        if not SAMPLE_ID.match(stem):
            problems.append(
                f"{stem!r}: not a valid sample id (from {image_files[stem][0].name} and {video_files[stem][0].name}); "
                "ids are 1-64 characters of letters, digits, '_', '-', '.', starting with a letter or digit; "
                "rename both files"
            )
    folded = Counter(s.lower() for s in paired)
    for stem in paired:
        if folded[stem.lower()] > 1:
            problems.append(
                f"{stem!r}: differs from another id only in letter case; folders would collide on "
                "case-insensitive file systems; rename one pair"
            )
    if unpaired and not options.allow_unpaired:
        problems += [f"{o.id!r}: {o.detail}; pair it or pass --allow-unpaired to leave it out" for o in unpaired]
    outcomes += unpaired
    prompts = _prompts(paired, options, problems, warnings)
    metadata = _metadata(paired, options, problems, warnings)
    if not paired and not problems:
        problems.append(f"no (image, video) pairs: no stem is in both {images} and {videos}")
    if problems:
        raise BenchmarkError(problems)
    pairs = [_Pair(s, image_files[s][0], video_files[s][0], prompts[s], metadata[s]) for s in paired]
    return pairs, outcomes, warnings


def _name(path: Path | None) -> str | None:
    return None if path is None else path.name


def _prompts(ids: list[str], options: BuildOptions, problems: list[str], warnings: list[str]) -> dict[str, str]:
    prompts: dict[str, str] = {}
    files = {}
    if options.prompts is not None:
        files = {p.stem: p for p in Path(options.prompts).glob("*.txt") if not p.name.startswith(".")}
        warnings += [f"{files[s]}: prompt of no sample (no image and video named {s!r})" for s in files if s not in ids]
    default = (options.default_prompt or "").strip()
    lacking = []
    for sid in ids:
        if sid in files:
            try:
                text = files[sid].read_bytes().decode("utf-8").strip()
            except UnicodeDecodeError as exc:
                problems.append(f"{files[sid]}: not valid UTF-8 ({exc})")
                continue
            if not text:
                problems.append(f"{files[sid]}: empty; write the character description and a background sentence")
                continue
            prompts[sid] = text
        elif default:
            prompts[sid] = default
        else:
            lacking.append(sid)
    if lacking:
        problems.append(
            f"no prompt for {len(lacking)} sample(s): {', '.join(lacking)}; put <id>.txt files in --prompts "
            "or pass --default-prompt"
        )
    return prompts


def _metadata(ids: list[str], options: BuildOptions, problems: list[str], warnings: list[str]) -> dict[str, dict]:
    table: dict[str, dict] = {}
    if options.metadata is not None:
        table = _read_metadata(Path(options.metadata), problems)
        warnings += [f"{options.metadata}: metadata of {s!r}, which is not a sample" for s in table if s not in ids]
    out, lacking = {}, []
    for sid in ids:
        meta = {k: v for k, v in table.get(sid, {}).items() if v not in (None, "")}
        reserved = sorted(set(meta) & set(RESERVED_KEYS))
        if reserved:
            problems.append(f"{options.metadata}: {sid!r} sets {', '.join(reserved)}, which the build writes itself")
        meta.setdefault("category", options.category)
        meta.setdefault("style", options.style)
        if not all(isinstance(meta[k], str) and meta[k] for k in ("category", "style")):
            lacking.append(sid)
        out[sid] = meta
    if lacking:
        problems.append(
            f"no category/style for {len(lacking)} sample(s): {', '.join(lacking)}; give them (non-empty text) "
            "in --metadata or pass --category/--style"
        )
    return out


def _read_metadata(path: Path, problems: list[str]) -> dict[str, dict]:
    """``{id: {key: value}}`` from a JSON object or list of objects with ``id``, or a CSV with an ``id`` column."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # spreadsheets often write a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot be read ({exc})")
        return {}
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
        if rows and "id" not in rows[0]:
            problems.append(f"{path}: the CSV needs a header row with an 'id' column")
            return {}
    elif path.suffix.lower() == ".json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}: not valid JSON ({exc})")
            return {}
        if isinstance(doc, dict) and all(isinstance(v, dict) for v in doc.values()):
            rows = [{"id": k, **v} for k, v in doc.items()]
        elif isinstance(doc, list) and all(isinstance(v, dict) and isinstance(v.get("id"), str) for v in doc):
            rows = doc
        else:
            problems.append(f"{path}: expected {{id: {{key: value}}}} or a list of objects with an 'id'")
            return {}
    else:
        problems.append(f"{path}: metadata must be a .json or .csv file")
        return {}
    table: dict[str, dict] = {}
    for row in rows:
        sid = row.get("id")
        if sid in table:
            problems.append(f"{path}: id {sid!r} appears twice")
        table[sid] = {k: v for k, v in row.items() if k != "id" and k is not None}
    return table


# ------------------------------------------------------------------------------------------------
# Per sample: decode, conform, extract, score, write


def _target_format(
    pairs: list[_Pair], probes: dict[str, VideoInfo], options: BuildOptions
) -> tuple[Fraction | None, tuple[int, int] | None]:
    """The benchmark's frame rate and size: as given, else the most common (ties: the first sample's)."""
    infos = [probes[p.id] for p in pairs if p.id in probes]
    fps = options.fps or _most_common([i.fps for i in infos])
    size = options.size or _most_common(
        [(i.width, i.height) for i in infos if i.fps == fps] or [(i.width, i.height) for i in infos]
    )
    return fps, size


def _most_common(values: list) -> Any:
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    return next(v for v in values if counts[v] == best)


def _build_sample(
    pair: _Pair,
    probe: VideoInfo | None,
    root: Path,
    fps: Fraction | None,
    size: tuple[int, int] | None,
    options: BuildOptions,
    extractor: Extractor,
    warnings: list[str],
) -> Outcome:
    outcome = Outcome(pair.id, pair.image.name, pair.video.name)

    def drop(reason: str, detail: str) -> Outcome:
        outcome.reason, outcome.detail = reason, detail
        return outcome

    try:
        reference = read_image(pair.image)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        return drop("unreadable-image", f"{pair.image.name}: not a readable image ({exc})")
    try:
        video = read_video(pair.video)
    except VideoError as exc:
        return drop("undecodable-video", str(exc).replace(str(pair.video), pair.video.name))
    if probe is None or fps is None or size is None:  # demuxing failed where decoding did not: not seen so far
        return drop("undecodable-video", f"{pair.video.name}: decodes, but its container cannot be probed")
    frames = video.frames
    if (video.fps, video.size) == (fps, size):
        copyable = pair.video.suffix.lower() == ".mp4" and probe.num_frames == video.num_frames
        outcome.video_handling = "copied" if copyable else "re-encoded"
    elif options.conform:
        frames = conform(video, fps, size)
        outcome.video_handling = "conformed"
    else:
        return drop(
            "format-mismatch",
            f"{_format(video.fps, video.size)} but the benchmark is {_format(fps, size)}; pass --conform to "
            "resample and resize it, or --fps/--size to choose the benchmark's format",
        )
    outcome.num_frames = len(frames)
    try:
        extraction = extractor(frames, fps, reference)
        pose = _checked_pose(extraction, frames)
    except WeightsError:
        raise
    except Exception as exc:  # one failing video must not end a build of hundreds; the report says why
        return drop("extraction-failed", f"{type(exc).__name__}: {exc}")
    if not np.asarray(extraction.detected).any():
        return drop("no-person", f"no person detected in any of its {len(frames)} frames")
    quality = outcome.quality = extraction_quality(extraction)
    if quality.missing_fraction == 1:
        return drop("no-keypoints", "a person was detected, but none of the 18 body and 2 foot points in any frame")
    if quality.score < options.min_quality:
        name, value = quality.weakest
        return drop(
            "low-quality", f"quality {quality.score:.2f} < {options.min_quality:.2f} (weakest: {name} {value:.2f})"
        )
    reference_body = int((~missing_mask(pose.reference[BODY])).sum())
    if reference_body == 0:
        warnings.append(f"{pair.id!r}: no body keypoint found on {pair.image.name}; the cross protocol needs them")
    _write_sample(root / pair.id, pair, reference, frames, fps, pose, outcome, reference_body)
    outcome.status, outcome.detail = "kept", f"quality {quality.score:.2f}"
    return outcome


def read_image(path: Path) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB: EXIF rotation applied, transparency composited over white."""
    with Image.open(path) as image:
        return over_white(np.asarray(ImageOps.exif_transpose(image).convert("RGBA")))


def conform(video: Video, fps: Fraction, size: tuple[int, int]) -> np.ndarray:
    """``video``'s frames at ``fps`` (nearest earlier frame) and ``size`` (centre crop to the aspect, then resize)."""
    import cv2

    frames = video.frames
    if video.fps != fps:
        count = max(1, math.floor(len(frames) * fps / video.fps))
        frames = frames[[min(len(frames) - 1, math.floor(k * video.fps / fps)) for k in range(count)]]
    if video.size != size:
        (width, height), (w, h) = size, video.size
        if w * height > width * h:  # too wide: crop the sides
            crop = max(1, round(h * width / height))
            frames = frames[:, :, (w - crop) // 2 : (w - crop) // 2 + crop]
        elif w * height < width * h:  # too tall: crop top and bottom
            crop = max(1, round(w * height / width))
            frames = frames[:, (h - crop) // 2 : (h - crop) // 2 + crop]
        shrink = frames.shape[2] >= width and frames.shape[1] >= height
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        frames = np.stack([cv2.resize(f, (width, height), interpolation=interpolation) for f in frames])
    return frames


def _format(fps: Fraction | None, size: tuple[int, int] | None) -> str:
    return f"{fps} fps {size[0]}x{size[1]}" if fps is not None and size is not None else "unknown"


def _checked_pose(extraction: Any, frames: np.ndarray) -> PoseSequence:
    """The extraction's pose after checking it against the frames and the layout."""
    count, height, width = frames.shape[:3]
    pose = extraction.pose
    if pose.frames.shape != (count, NUM_KEYPOINTS, 3) or tuple(pose.size) != (width, height):
        raise ValueError(
            f"the estimator returned keypoints {pose.frames.shape} at {pose.size} "
            f"for {count} frames of {width}x{height}"
        )
    if pose.reference is None:
        raise ValueError("the estimator returned no reference pose")
    for name in ("detected", "box_scores", "people"):
        if np.shape(getattr(extraction, name)) != (count,):
            raise ValueError(f"the estimator's {name} has shape {np.shape(getattr(extraction, name))}, not ({count},)")
    try:
        pose.validate("extracted pose")
    except PoseError as exc:
        raise ValueError(str(exc)) from None
    return pose


def _write_sample(
    folder: Path,
    pair: _Pair,
    reference: np.ndarray,
    frames: np.ndarray,
    fps: Fraction,
    pose: PoseSequence,
    outcome: Outcome,
    reference_body: int,
) -> None:
    folder.mkdir()
    Image.fromarray(reference).save(folder / "reference.png")
    if outcome.video_handling == "copied":
        shutil.copyfile(pair.video, folder / "video.mp4")
    else:  # lossless: the stored video decodes to exactly the frames the poses were extracted from
        write_video(folder / "video.mp4", frames, fps, lossless=True)
    (folder / "pose.json").write_text(json.dumps(pose.to_json(), separators=(",", ":")) + "\n")
    write_video(folder / "pose.mp4", render_poses(pose, **POSE_VIDEO), fps, lossless=True)
    (folder / "prompt.txt").write_text(pair.prompt + "\n", encoding="utf-8")
    build = {
        "image": pair.image.name,
        "video": pair.video.name,
        "video_handling": outcome.video_handling,
        "reference_body_points": reference_body,
    }
    meta = {**pair.meta, "quality": outcome.quality.to_json(), "build": build}
    (folder / SAMPLE_META).write_text(json.dumps(meta, ensure_ascii=False))


# ------------------------------------------------------------------------------------------------
# Finishing: manifest and report


def _source(result: BuildResult, options: BuildOptions, provenance: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "builder": "a2bench bench build",
        "a2bench_version": VERSION,
        "pose": {**(provenance or {}), "pose_video": POSE_VIDEO},
        "min_quality": options.min_quality,
        "conform": options.conform,
        "inputs": len(result.outcomes),
        "dropped": len(result.outcomes) - len(result.kept),
    }


def _write_manifest(root: Path, result: BuildResult, options: BuildOptions, provenance: dict[str, Any] | None) -> None:
    """Index ``root`` with the ``bench manifest`` machinery, then record how it was built in ``source``.

    The ``sample.json`` files stay (unlisted, as for ``bench manifest``) so that the benchmark can be
    re-indexed after editing them, e.g. to add cross-driven pairs.
    """
    index_folder(
        root, name=options.name, version=options.version, license=options.license, description=options.description
    )
    manifest = replace(load_folder(root).manifest, source=_source(result, options, provenance))
    (root / MANIFEST_NAME).write_text(manifest.dumps(), encoding="utf-8")
    load_folder(root)


def _report(
    result: BuildResult, images: Path, videos: Path, options: BuildOptions, provenance: dict[str, Any] | None
) -> bytes:
    doc = {
        "format": REPORT_FORMAT,
        "version": 1,
        "status": "ok" if result.ok else "failed",
        "name": options.name,
        "inputs": {
            "images": str(images),
            "videos": str(videos),
            "prompts": None if options.prompts is None else str(options.prompts),
            "metadata": None if options.metadata is None else str(options.metadata),
        },
        "options": {
            "min_quality": options.min_quality,
            "allow_unpaired": options.allow_unpaired,
            "conform": options.conform,
            "fps": None if options.fps is None else str(options.fps),
            "size": None if options.size is None else list(options.size),
        },
        "pose": {**(provenance or {}), "pose_video": POSE_VIDEO},
        "fps": None if result.fps is None else str(result.fps),
        "width": None if result.size is None else result.size[0],
        "height": None if result.size is None else result.size[1],
        "kept": len(result.kept),
        "dropped": len(result.outcomes) - len(result.kept),
        "samples": [o.to_json() for o in result.outcomes],
        "warnings": result.warnings,
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def format_table(result: BuildResult) -> str:
    """The report as a plain-text table, one line per input."""
    rows = [("id", "status", "frames", "quality", "reason")]
    for o in result.outcomes:
        quality = "-" if o.quality is None else f"{o.quality.score:.2f}"
        frames = "-" if o.num_frames is None else str(o.num_frames)
        rows.append((o.id, o.status, frames, quality, "" if o.kept else f"{o.reason}: {o.detail}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]), row[3].rjust(widths[3])]
        lines.append("  ".join([*cells, row[4]]).rstrip())
    return "\n".join(lines)
