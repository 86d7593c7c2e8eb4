"""Video input/output: the one place a2bench decodes and encodes videos.

Reads mp4/mov/mkv/webm/avi/gif (PyAV, FFmpeg bundled in its wheel) and PNG folders; writes H.264
mp4 (lossy ``yuv420p`` that every browser plays, or bit-exact ``libx264rgb`` at crf 0) and PNG
folders. Frame counts and frame rates are exact: rates are kept as :class:`fractions.Fraction`, and
a file that decodes to fewer frames than its header declares is reported as truncated rather than
returned short. torchvision 0.28 has no video IO and OpenCV cannot write H.264 here, hence PyAV.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
PNG_FOLDER_META = "video.json"  # frame rate of a PNG folder, written next to the frames


class VideoError(ValueError):
    """A video that cannot be read or written as asked; the message names the file."""


@dataclass(frozen=True)
class Video:
    """Decoded RGB frames ``(T, H, W, 3)`` uint8 and their exact frame rate."""

    frames: np.ndarray
    fps: Fraction

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.frames.shape[2]), int(self.frames.shape[1])


@dataclass(frozen=True)
class VideoInfo:
    """What a container declares, read without decoding frames."""

    num_frames: int
    fps: Fraction
    width: int
    height: int
    codec: str


def as_fps(fps: float | int | str | Fraction) -> Fraction:
    """Normalise a frame rate (``15``, ``29.97``, ``"30000/1001"``) to a positive Fraction."""
    rate = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    if rate <= 0:
        raise VideoError(f"frame rate must be positive, got {fps!r}")
    return rate


def read_video(path: str | os.PathLike, *, fps: float | Fraction | None = None) -> Video:
    """Decode a video file or PNG folder to RGB uint8 frames.

    ``fps`` is only used for a PNG folder without ``video.json``; for files the container's rate
    is authoritative.
    """
    path = Path(path)
    if path.is_dir():
        return _read_png_folder(path, fps)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(
            f"{path}: unsupported video type {path.suffix!r}; "
            f"use one of {', '.join(VIDEO_SUFFIXES)} or a folder of PNG frames"
        )
    return _decode(path, str(path))


def read_video_bytes(data: bytes, name: str) -> Video:
    """Decode an in-memory video file; ``name`` is used in error messages."""
    return _decode(io.BytesIO(data), name)


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Frame count (exact: packets are counted), rate and size, without decoding pictures."""
    return _probe(str(Path(path)), str(path))


def probe_video_bytes(data: bytes, name: str) -> VideoInfo:
    """:func:`probe_video` of an in-memory video; errors name ``name``."""
    return _probe(io.BytesIO(data), name)


def _probe(source: str | io.BytesIO, name: str) -> VideoInfo:
    try:
        with av.open(source) as container:
            stream = _video_stream(container, name)
            count = sum(1 for packet in container.demux(stream) if packet.size > 0)
            ctx = stream.codec_context
            return VideoInfo(count, _stream_fps(stream, name), ctx.width, ctx.height, ctx.name)
    except av.FFmpegError as exc:
        raise VideoError(f"{name}: cannot be read as a video ({exc})") from exc


def write_video(
    path: str | os.PathLike,
    frames: np.ndarray | Iterable[np.ndarray],
    fps: float | int | Fraction,
    *,
    lossless: bool = False,
    crf: int = 17,
    deterministic: bool = False,
) -> Path:
    """Write RGB uint8 frames as H.264 mp4 (or a PNG folder when ``path`` has no suffix).

    ``lossless=True`` uses ``libx264rgb`` at crf 0, which decodes bit-exactly (not playable in
    browsers); the default is ``yuv420p`` at ``crf`` (17: visually lossless), playable everywhere.
    The file is written to a temporary name and renamed, so a crash never leaves a partial video.

    The encoder always runs on one thread (x264's frame threading makes bytes depend on timing).
    ``deterministic=True`` also turns off x264's SIMD code (``asm=0``, about 4x slower to encode):
    with it on, identical frames were measured to encode to different bytes from run to run, which
    would break the checksums of a regenerated benchmark.
    """
    path = Path(path)
    if path.suffix == "":
        return write_png_folder(path, frames, fps)
    if path.suffix.lower() != ".mp4":
        raise VideoError(f"{path}: can only write .mp4 files or PNG folders (no suffix)")
    array = _check_frames(frames, str(path))
    rate = as_fps(fps)
    height, width = array.shape[1:3]
    if not lossless and (width % 2 or height % 2):
        raise VideoError(
            f"{path}: H.264 yuv420p needs even width and height, got {width}x{height}; "
            "crop or pad the frames, or pass lossless=True"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".mp4")
    os.close(fd)
    try:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "faststart"}) as container:
            codec = "libx264rgb" if lossless else "libx264"
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = width, height
            stream.pix_fmt = "rgb24" if lossless else "yuv420p"
            options = {"crf": "0" if lossless else str(crf), "preset": "medium"}
            stream.options = {**options, "x264-params": "asm=0"} if deterministic else options
            # One encoder thread: x264's frame threading makes the bytes depend on timing and cores.
            stream.codec_context.thread_count = 1
            for frame in array:
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                container.mux(stream.encode(picture))
            container.mux(stream.encode(None))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_png_folder(
    path: str | os.PathLike, frames: np.ndarray | Iterable[np.ndarray], fps: float | int | Fraction
) -> Path:
    """Write frames as ``frame_00000.png``… plus ``video.json`` holding the exact frame rate."""
    path = Path(path)
    array = _check_frames(frames, str(path))
    rate = as_fps(fps)
    if path.exists() and any(path.iterdir()):
        raise VideoError(f"{path}: folder exists and is not empty; choose a new folder")
    path.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(array):
        Image.fromarray(frame).save(path / f"frame_{index:05d}.png")
    meta = {"fps": f"{rate.numerator}/{rate.denominator}", "num_frames": len(array)}
    (path / PNG_FOLDER_META).write_text(json.dumps(meta) + "\n")
    return path


def _check_frames(frames: np.ndarray | Iterable[np.ndarray], name: str) -> np.ndarray:
    array = frames if isinstance(frames, np.ndarray) else np.stack(list(frames))
    if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
        raise VideoError(f"{name}: frames must be uint8 of shape (T, H, W, 3), got {array.dtype} {array.shape}")
    if array.shape[0] == 0:
        raise VideoError(f"{name}: refusing to write a video with zero frames")
    return np.ascontiguousarray(array)


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.VideoStream:
    if not container.streams.video:
        raise VideoError(f"{name}: has no video stream")
    return container.streams.video[0]


def _stream_fps(stream: av.video.VideoStream, name: str) -> Fraction:
    rate = stream.average_rate or stream.base_rate or stream.guessed_rate
    if not rate:
        raise VideoError(f"{name}: the container does not declare a frame rate")
    return Fraction(rate.numerator, rate.denominator)


def _decode(source: str | io.BytesIO, name: str) -> Video:
    try:
        with av.open(source) as container:
            stream = _video_stream(container, name)
            stream.thread_type = "AUTO"
            declared = stream.frames
            fps = _stream_fps(stream, name)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    except av.FFmpegError as exc:
        raise VideoError(f"{name}: cannot be decoded ({exc}); the file is corrupt or not a video") from exc
    if not frames:
        raise VideoError(f"{name}: contains zero decodable frames")
    if declared and len(frames) < declared:
        raise VideoError(
            f"{name}: truncated: the header declares {declared} frames but only "
            f"{len(frames)} decode; re-export or re-download the file"
        )
    return Video(np.stack(frames), fps)


def _read_png_folder(path: Path, fps: float | Fraction | None) -> Video:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise VideoError(f"{path}: folder holds no .png frames")
    meta_file = path / PNG_FOLDER_META
    if meta_file.exists():
        rate = as_fps(json.loads(meta_file.read_text())["fps"])
    elif fps is not None:
        rate = as_fps(fps)
    else:
        raise VideoError(f"{path}: PNG folder has no {PNG_FOLDER_META}; pass its frame rate (fps=)")
    frames = []
    for file in files:
        try:
            with Image.open(file) as image:
                frames.append(np.asarray(image.convert("RGB")))
        except OSError as exc:
            raise VideoError(f"{file}: not a readable PNG ({exc})") from exc
    if len({f.shape for f in frames}) != 1:
        raise VideoError(f"{path}: frames have different sizes")
    return Video(np.stack(frames), rate)
