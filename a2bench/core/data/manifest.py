"""``manifest.json`` of A2Bench layout v1: its schema, structural validation and writing.

The manifest is the benchmark's table of contents: benchmark-level metadata plus, per sample, its
id, category, style, frame count, cross-driven pairing and every file with its sha256 and size.
docs/format.md is the user-facing description; this module is the executable one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path, PurePosixPath

from a2bench.core.data.errors import where

LAYOUT = "a2bench-layout"
LAYOUT_VERSION = 1
MANIFEST_NAME = "manifest.json"
PROTOCOLS = ("self", "cross")
REQUIRED_FILES = ("reference.png", "video.mp4", "pose.json", "prompt.txt")
OPTIONAL_FILES = ("pose.mp4",)
SAMPLE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TOP_REQUIRED = ("name", "version", "license", "fps", "width", "height", "protocols", "samples")


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class CrossSpec:
    """Cross-driven pairing: whose motion drives this sample, and optional prepared files."""

    driver: str
    pose: str | None = None  # re-targeted driving pose; absent: the suite re-targets the driver's
    video: str | None = None  # ground truth for the re-targeted pose; absent: compare with video.mp4


@dataclass(frozen=True)
class SampleEntry:
    id: str
    category: str
    style: str
    num_frames: int
    files: dict[str, FileEntry]
    cross: CrossSpec | None = None
    extra: dict = field(default_factory=dict)  # free-form per-sample metadata (kept, not interpreted)


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    license: str
    fps: Fraction
    width: int
    height: int
    protocols: tuple[str, ...]
    samples: tuple[SampleEntry, ...]
    description: str = ""
    source: dict = field(default_factory=dict)  # how the benchmark was made (generator, options)

    def to_json(self) -> dict:
        fps = self.fps.numerator if self.fps.denominator == 1 else f"{self.fps.numerator}/{self.fps.denominator}"
        return {
            "format": LAYOUT,
            "format_version": LAYOUT_VERSION,
            "name": self.name,
            "version": self.version,
            "license": self.license,
            "description": self.description,
            "fps": fps,
            "width": self.width,
            "height": self.height,
            "protocols": list(self.protocols),
            "source": self.source,
            "samples": [_sample_to_json(s) for s in self.samples],
        }

    def dumps(self) -> str:
        """Canonical text: keys in schema order, two-space indent, trailing newline (stable bytes)."""
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    @property
    def sha256(self) -> str:
        """The sha256 of the canonical text: the manifest hash a run records and a submission declares."""
        return sha256_bytes(self.dumps().encode())


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_entry(path: Path) -> FileEntry:
    data = path.read_bytes()
    return FileEntry(sha256_bytes(data), len(data))


def parse_manifest(doc: object, bench: str) -> tuple[Manifest | None, list[str]]:
    """Validate the manifest's structure; returns it (None if unusable) and the problems found."""
    problems: list[str] = []
    fix = "see docs/format.md"
    if not isinstance(doc, dict):
        return None, [f"{where(bench, file=MANIFEST_NAME)}: top level must be a JSON object; {fix}"]
    if doc.get("format") != LAYOUT or doc.get("format_version") != LAYOUT_VERSION:
        return None, [
            f"{where(bench, file=MANIFEST_NAME)}: 'format' must be {LAYOUT!r} and 'format_version' "
            f"{LAYOUT_VERSION} (got {doc.get('format')!r}, {doc.get('format_version')!r}); "
            "this reader understands A2Bench layout v1 only"
        ]
    missing = [k for k in _TOP_REQUIRED if k not in doc]
    if missing:
        return None, [f"{where(bench, file=MANIFEST_NAME)}: missing required field(s) {', '.join(missing)}; {fix}"]
    head = where(bench, file=MANIFEST_NAME)
    for key in ("name", "version", "license"):
        if not isinstance(doc[key], str) or not doc[key]:
            problems.append(f"{head}: {key!r} must be a non-empty string")
    for key in ("width", "height"):
        if not isinstance(doc[key], int) or isinstance(doc[key], bool) or doc[key] <= 0:
            problems.append(f"{head}: {key!r} must be a positive integer, got {doc[key]!r}")
    try:
        fps = Fraction(str(doc["fps"]))
        if fps <= 0:
            raise ValueError
    except (ValueError, ZeroDivisionError):
        problems.append(f"{head}: 'fps' must be a positive number or 'num/den', got {doc['fps']!r}")
        fps = Fraction(1)
    if not isinstance(doc.get("source", {}), dict):
        problems.append(f"{head}: 'source' (how the benchmark was made) must be a JSON object, got {doc['source']!r}")
    if not isinstance(doc.get("description", ""), str):
        problems.append(f"{head}: 'description' must be a string, got {doc['description']!r}")
    protocols = doc["protocols"]
    if not isinstance(protocols, list) or not protocols or any(p not in PROTOCOLS for p in protocols):
        problems.append(f"{head}: 'protocols' must be a non-empty list from {list(PROTOCOLS)}, got {protocols!r}")
        protocols = []
    samples_doc = doc["samples"]
    if not isinstance(samples_doc, list) or not samples_doc:
        problems.append(f"{head}: 'samples' must be a non-empty list")
        samples_doc = []
    samples, seen = [], set()
    for index, sdoc in enumerate(samples_doc):
        sample, sample_problems = _parse_sample(sdoc, index, bench, "cross" in protocols)
        problems += sample_problems
        if sample is None:
            continue
        if sample.id in seen:
            problems.append(f"{where(bench, sample.id)}: duplicate sample id; ids must be unique")
        seen.add(sample.id)
        samples.append(sample)
    for sample in samples:
        if sample.cross is not None and sample.cross.driver not in seen:
            problems.append(
                f"{where(bench, sample.id)}: cross.driver {sample.cross.driver!r} is not a sample of this benchmark"
            )
        elif sample.cross is not None and sample.cross.driver == sample.id:
            problems.append(f"{where(bench, sample.id)}: cross.driver must be another sample, not itself")
    if problems:
        return None, problems
    manifest = Manifest(
        name=doc["name"],
        version=doc["version"],
        license=doc["license"],
        fps=fps,
        width=doc["width"],
        height=doc["height"],
        protocols=tuple(protocols),
        samples=tuple(samples),
        description=str(doc.get("description", "")),
        source=dict(doc.get("source") or {}),
    )
    return manifest, []


def check_relative_path(path: object) -> str | None:
    """Why ``path`` is not an acceptable in-sample relative POSIX path, or None if it is."""
    if not isinstance(path, str) or not path:
        return "file paths must be non-empty strings"
    pure = PurePosixPath(path)
    if pure.is_absolute() or "\\" in path or ":" in path:
        return "absolute paths are not allowed; use a path relative to the sample folder"
    if any(part in ("..", ".") for part in pure.parts):
        return "'..' and '.' are not allowed in file paths; files must stay inside the sample folder"
    return None


def _parse_sample(doc: object, index: int, bench: str, needs_cross: bool) -> tuple[SampleEntry | None, list[str]]:
    if not isinstance(doc, dict):
        return None, [f"{where(bench, file=MANIFEST_NAME)}: samples[{index}] must be an object"]
    sid = doc.get("id")
    if not isinstance(sid, str) or not SAMPLE_ID.match(sid):
        return None, [
            f"{where(bench, file=MANIFEST_NAME)}: samples[{index}] has invalid id {sid!r}; ids are 1-64 "
            "characters of letters, digits, '_', '-', '.', starting with a letter or digit (they name folders)"
        ]
    head, problems = where(bench, sid), []
    for key in ("category", "style"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            problems.append(f"{head}: {key!r} must be a non-empty string")
    num_frames = doc.get("num_frames")
    if not isinstance(num_frames, int) or isinstance(num_frames, bool) or num_frames <= 0:
        problems.append(f"{head}: 'num_frames' must be a positive integer, got {num_frames!r}")
    files: dict[str, FileEntry] = {}
    files_doc = doc.get("files")
    if not isinstance(files_doc, dict):
        problems.append(f"{head}: 'files' must map file paths to {{sha256, size}}")
        files_doc = {}
    for path, entry in files_doc.items():
        reason = check_relative_path(path)
        if reason:
            problems.append(f"{where(bench, sid, path)}: {reason}")
            continue
        if not isinstance(entry, dict) or not SHA256.match(str(entry.get("sha256", ""))):
            problems.append(f"{where(bench, sid, path)}: needs a lowercase hex 'sha256' of 64 characters")
            continue
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            problems.append(f"{where(bench, sid, path)}: needs an integer 'size' in bytes")
            continue
        files[path] = FileEntry(entry["sha256"], size)
    for required in REQUIRED_FILES:
        if required not in files and isinstance(doc.get("files"), dict):
            problems.append(f"{where(bench, sid, required)}: required file is not listed in the manifest")
    cross = None
    if "cross" in doc:
        cross, cross_problems = _parse_cross(doc["cross"], head, files)
        problems += cross_problems
    elif needs_cross:
        problems.append(f"{head}: the benchmark offers the 'cross' protocol but this sample has no 'cross' entry")
    if problems:
        return None, problems
    extra = {k: v for k, v in doc.items() if k not in ("id", "category", "style", "num_frames", "files", "cross")}
    return SampleEntry(sid, doc["category"], doc["style"], num_frames, files, cross, extra), []


def _parse_cross(doc: object, head: str, files: dict[str, FileEntry]) -> tuple[CrossSpec | None, list[str]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("driver"), str):
        return None, [f"{head}: 'cross' must be an object with a 'driver' sample id"]
    problems = []
    for key in ("pose", "video"):
        if doc.get(key) is not None and doc[key] not in files:
            problems.append(f"{head}: cross.{key} {doc[key]!r} is not listed in 'files'")
    return CrossSpec(doc["driver"], doc.get("pose"), doc.get("video")), problems


def _sample_to_json(sample: SampleEntry) -> dict:
    out = {
        "id": sample.id,
        "category": sample.category,
        "style": sample.style,
        "num_frames": sample.num_frames,
        **sample.extra,
        "files": {p: {"sha256": e.sha256, "size": e.size} for p, e in sample.files.items()},
    }
    if sample.cross is not None:
        cross = {"driver": sample.cross.driver}
        cross.update({k: v for k, v in (("pose", sample.cross.pose), ("video", sample.cross.video)) if v})
        out["cross"] = cross
    return out
