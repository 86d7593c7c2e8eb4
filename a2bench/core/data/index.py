"""Write ``manifest.json`` for a folder of samples: how a home-built benchmark enters layout v1.

Every sub-folder is a sample (its name is the id). Its optional ``sample.json`` gives
``category``, ``style``, ``cross`` (``{"driver": id, ...}``) and any extra metadata; defaults
for category and style can be passed instead. Frame counts, frame rate and size come from each
``video.mp4``, which must agree across samples. Every file but ``sample.json`` is listed with its
sha256 and size.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

from a2bench.core.data.errors import BenchmarkError, where
from a2bench.core.data.load import load_folder
from a2bench.core.data.manifest import MANIFEST_NAME, CrossSpec, Manifest, SampleEntry, file_entry
from a2bench.core.videoio import VideoError, probe_video

SAMPLE_META = "sample.json"


def index_folder(
    root: Path,
    *,
    name: str,
    version: str,
    license: str,
    description: str = "",
    category: str | None = None,
    style: str | None = None,
) -> Path:
    """Scan ``root``, write its manifest, and load it back to prove it is valid."""
    root = Path(root)
    if (root / MANIFEST_NAME).exists():
        raise BenchmarkError(f"{where(str(root), file=MANIFEST_NAME)}: already exists; delete it to re-index")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise BenchmarkError(f"{root}: no sample folders found")
    problems, samples, formats = [], [], set()
    for folder in folders:
        sid = folder.name
        meta = {}
        if (folder / SAMPLE_META).is_file():
            try:
                meta = json.loads((folder / SAMPLE_META).read_text())
            except json.JSONDecodeError as exc:
                problems.append(f"{where(str(root), sid, SAMPLE_META)}: not valid JSON ({exc})")
                continue
        try:
            info = probe_video(folder / "video.mp4")
        except VideoError as exc:
            problems.append(f"{where(str(root), sid, 'video.mp4')}: {exc}")
            continue
        formats.add((info.fps, info.width, info.height))
        cat, sty = meta.pop("category", category), meta.pop("style", style)
        if not cat or not sty:
            problems.append(
                f"{where(str(root), sid)}: no category/style; put them in {SAMPLE_META} or pass --category/--style"
            )
            continue
        cross = meta.pop("cross", None)
        cross_spec = CrossSpec(cross["driver"], cross.get("pose"), cross.get("video")) if cross else None
        files = {
            p.relative_to(folder).as_posix(): file_entry(p)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != SAMPLE_META
        }
        samples.append(SampleEntry(sid, cat, sty, info.num_frames, files, cross_spec, meta))
    if len(formats) > 1:
        problems.append(f"{root}: videos disagree on frame rate or size: {sorted(formats)}; re-encode them alike")
    if problems:
        raise BenchmarkError(problems)
    fps, width, height = formats.pop()
    protocols = ("self", "cross") if all(s.cross for s in samples) else ("self",)
    manifest = Manifest(name, version, license, Fraction(fps), width, height, protocols, tuple(samples), description)
    (root / MANIFEST_NAME).write_text(manifest.dumps())
    try:
        load_folder(root)
    except BenchmarkError:
        (root / MANIFEST_NAME).unlink()
        raise
    return root / MANIFEST_NAME
