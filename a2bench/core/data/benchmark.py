"""``Benchmark`` and its lazy ``Sample``s: reading A2Bench layout v1 with checks at every step.

Loading validates the manifest's structure and that every listed file exists inside the root
(cheap). Reading a file verifies its size and sha256 before decoding it, so a changed or corrupt
file is an error the moment it is used, never a silently different input. ``Benchmark.validate``
reads and decodes everything and reports all problems at once.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from a2bench.core.data.errors import BenchmarkError, where
from a2bench.core.data.manifest import Manifest, SampleEntry, sha256_bytes
from a2bench.core.data.sources import Source
from a2bench.core.pose import PoseError, PoseSequence, retarget
from a2bench.core.videoio import Limits, Video, VideoError, VideoInfo, probe_video_bytes, read_video_bytes


@dataclass(frozen=True)
class Task:
    """What a model is asked to do for one sample under one protocol, and what it is scored against.

    ``target_is_ground_truth`` is False for the cross protocol of a benchmark without rendered
    cross-driven ground truth: as in the Animate-X paper, the output is then compared with the
    sample's own video although the motion differs.
    """

    protocol: str
    sample_id: str
    driver_id: str
    pose: PoseSequence
    target: Video
    target_is_ground_truth: bool


def over_white(rgba: np.ndarray) -> np.ndarray:
    """``(H, W, 4)`` uint8 RGBA composited over white as ``(H, W, 3)`` uint8 RGB."""
    rgba = rgba.astype(np.float32)
    alpha = rgba[..., 3:] / 255.0
    return np.round(rgba[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)


class Sample:
    """One character: reference image, ground-truth video, poses, prompt; files read on demand."""

    def __init__(self, entry: SampleEntry, benchmark: Benchmark) -> None:
        self.entry = entry
        self.benchmark = benchmark

    id = property(lambda self: self.entry.id)
    category = property(lambda self: self.entry.category)
    style = property(lambda self: self.entry.style)
    num_frames = property(lambda self: self.entry.num_frames)
    cross = property(lambda self: self.entry.cross)

    def __repr__(self) -> str:
        return f"Sample({self.id!r}, category={self.category!r}, style={self.style!r})"

    def read_bytes(self, path: str) -> bytes:
        """The file's bytes after checking them against the manifest's size and sha256."""
        entry = self.entry.files.get(path)
        if entry is None:
            raise BenchmarkError(f"{self._where(path)}: not listed in the manifest")
        data = self.benchmark.source.read(self.id, path)
        if len(data) != entry.size or sha256_bytes(data) != entry.sha256:
            raise BenchmarkError(
                f"{self._where(path)}: checksum mismatch (manifest: {entry.size} bytes, sha256 "
                f"{entry.sha256[:12]}…; file: {len(data)} bytes, sha256 {sha256_bytes(data)[:12]}…). The file "
                "changed after the manifest was written: restore the original or regenerate the benchmark"
            )
        return data

    def reference_rgba(self) -> np.ndarray:
        """The reference image as ``(H, W, 4)`` uint8 (alpha 255 when the PNG has none)."""
        data = self.read_bytes("reference.png")
        name = self._where("reference.png")
        manifest = self.benchmark.manifest
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format != "PNG" or image.mode not in ("RGB", "RGBA"):
                    raise BenchmarkError(
                        f"{name}: must be an RGB or RGBA PNG, got "
                        f"{image.format} in mode {image.mode}; convert it (e.g. PIL .convert('RGB'))"
                    )
                if data[24] != 8:  # the IHDR bit depth: PIL reads 16-bit RGB silently as its high bytes
                    raise BenchmarkError(f"{name}: a {data[24]}-bit PNG; save the reference image with 8 bits per "
                                         "channel")  # fmt: skip
                Limits.around(manifest.width, manifest.height, 1).check(*image.size, None, name)
                return np.asarray(image.convert("RGBA"))
        except Image.DecompressionBombError:
            raise BenchmarkError(f"{name}: declares more pixels than an image may have; resize it") from None
        except VideoError as exc:
            raise BenchmarkError(str(exc)) from exc
        except OSError as exc:
            raise BenchmarkError(f"{name}: not a readable PNG ({exc})") from exc

    def reference(self) -> np.ndarray:
        """The reference image as ``(H, W, 3)`` uint8; an RGBA image is composited over white."""
        return over_white(self.reference_rgba())

    def video(self) -> Video:
        """The sample's video: ground truth of the self-driven protocol."""
        return self._video("video.mp4")

    def pose_video(self) -> Video | None:
        """The rendered skeleton video, if the benchmark ships one."""
        return self._video("pose.mp4") if "pose.mp4" in self.entry.files else None

    def pose(self) -> PoseSequence:
        """Keypoints of every frame of ``video.mp4`` plus the reference image's."""
        return self._pose("pose.json")

    def prompt(self) -> str:
        """Character description plus a background-motion sentence."""
        try:
            text = self.read_bytes("prompt.txt").decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise BenchmarkError(f"{self._where('prompt.txt')}: not valid UTF-8 ({exc})") from exc
        if not text:
            raise BenchmarkError(f"{self._where('prompt.txt')}: is empty; write the character and background text")
        return text

    def task(self, protocol: str) -> Task:
        """The model input and the scoring target for ``protocol`` (``self`` or ``cross``)."""
        if protocol not in self.benchmark.manifest.protocols:
            offered = ", ".join(self.benchmark.manifest.protocols)
            raise BenchmarkError(f"{where(self.benchmark.name)}: protocol {protocol!r} not offered (offers {offered})")
        if protocol == "self":
            return Task("self", self.id, self.id, self.pose(), self.video(), True)
        cross = self.cross
        if cross.pose is not None:
            pose = self._pose(cross.pose)
        else:
            own = self.pose()
            target_ref = own.reference if own.reference is not None else own.frames[0]
            pose = retarget(self.benchmark[cross.driver].pose(), target_ref, own.size)
        if cross.video is not None:
            return Task("cross", self.id, cross.driver, pose, self._video(cross.video), True)
        return Task("cross", self.id, cross.driver, pose, self.video(), False)

    def _video(self, path: str) -> Video:
        manifest = self.benchmark.manifest
        limits = Limits.around(manifest.width, manifest.height, self.num_frames)
        try:
            return read_video_bytes(self.read_bytes(path), self._where(path), limits)
        except VideoError as exc:
            raise BenchmarkError(str(exc)) from exc

    def _probe(self, path: str) -> VideoInfo:
        try:
            return probe_video_bytes(self.read_bytes(path), self._where(path))
        except VideoError as exc:
            raise BenchmarkError(str(exc)) from exc

    def _pose(self, path: str) -> PoseSequence:
        name = self._where(path)
        try:
            return PoseSequence.from_json(json.loads(self.read_bytes(path)), name)
        except json.JSONDecodeError as exc:
            raise BenchmarkError(f"{name}: not valid JSON ({exc})") from exc
        except PoseError as exc:
            raise BenchmarkError(str(exc)) from exc

    def _where(self, path: str | None = None) -> str:
        return where(self.benchmark.name, self.id, path)


class Benchmark:
    """A validated manifest plus a source of file bytes; iterate for its samples."""

    def __init__(self, manifest: Manifest, source: Source, location: Path | None = None) -> None:
        self.manifest = manifest
        self.source = source
        self.location = location
        self.samples = tuple(Sample(entry, self) for entry in manifest.samples)
        self._by_id = {s.id: s for s in self.samples}
        problems = [p for s in manifest.samples for f in s.files if (p := source.problem(s.id, f))]
        if problems:
            raise BenchmarkError(problems)

    name = property(lambda self: self.manifest.name)
    version = property(lambda self: self.manifest.version)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    def __getitem__(self, sample_id: str) -> Sample:
        try:
            return self._by_id[sample_id]
        except KeyError:
            raise BenchmarkError(f"{where(self.name)}: no sample {sample_id!r}") from None

    def __repr__(self) -> str:
        return f"Benchmark({self.name!r}, version={self.version!r}, samples={len(self)}, at {self.source.description})"

    def validate(self, progress: Callable[[Sample], None] | None = None) -> list[str]:
        """Read and decode every file; return every problem found (empty when the benchmark is sound)."""
        problems: list[str] = []
        for sample in self.samples:
            if progress is not None:
                progress(sample)
            problems += sample_problems(sample)
        return problems


def sample_problems(sample: Sample, *, decode: bool = True) -> list[str]:
    """Every problem of one sample's files: each read checks its checksum, every file is parsed, and what they hold
    is cross-checked (frame counts, sizes, frame rates). ``decode=False`` reads videos' headers and counts their
    packets instead of decoding their pictures: the cheap check ``a2bench run`` makes before generating."""
    manifest = sample.benchmark.manifest
    size = (manifest.width, manifest.height)
    problems: list[str] = []

    def attempt(fn: Callable[[], object]) -> object | None:
        try:
            return fn()
        except BenchmarkError as exc:
            problems.extend(exc.problems)
            return None

    attempt(sample.reference)
    attempt(sample.prompt)
    # (pose file, video file, frame count the manifest requires); either file may be absent.
    pairs = [("pose.json", "video.mp4", sample.num_frames)]
    if "pose.mp4" in sample.entry.files:
        pairs.append((None, "pose.mp4", sample.num_frames))
    if sample.cross is not None:
        pairs.append((sample.cross.pose, sample.cross.video, None))
    decoded = {"reference.png", "prompt.txt"}
    read_video = sample._video if decode else sample._probe
    for pose_path, video_path, expected in pairs:
        decoded.update({pose_path, video_path})
        video = attempt(lambda p=video_path: read_video(p)) if video_path else None
        pose = attempt(lambda p=pose_path: sample._pose(p)) if pose_path else None
        where_video, where_pose = sample._where(video_path), sample._where(pose_path)
        if video is not None:
            if expected is not None and video.num_frames != expected:
                problems.append(
                    f"{where_video}: frame-count mismatch: {video.num_frames} frames, manifest says {expected}"
                )
            if video.size != size:
                problems.append(
                    f"{where_video}: frame size {video.size[0]}x{video.size[1]}, manifest says {size[0]}x{size[1]}"
                )
            if video.fps != manifest.fps:
                problems.append(f"{where_video}: {video.fps} fps, manifest says {manifest.fps}")
        if pose is not None:
            if video is not None and pose.num_frames != video.num_frames:
                problems.append(
                    f"{where_pose}: frame-count mismatch: {pose.num_frames} pose frames but "
                    f"{video_path} has {video.num_frames} frames; they must correspond one to one"
                )
            if pose.size != size:
                problems.append(
                    f"{where_pose}: normalised for {pose.size[0]}x{pose.size[1]}, frames are {size[0]}x{size[1]}"
                )
    for path in sample.entry.files:  # files nothing decodes still get their checksum checked
        if path not in decoded:
            attempt(lambda p=path: sample.read_bytes(p))
    return problems
