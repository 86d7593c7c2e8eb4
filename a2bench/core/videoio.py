"""Video input/output: the one place a2bench decodes and encodes videos.

Reads mp4/mov/mkv/webm/avi/gif (PyAV, FFmpeg bundled in its wheel) and folders of PNG/JPEG frames (in the
order of the numbers that end their names; decoded as ``cv2.imread`` decodes them), within size limits; writes H.264
mp4 (lossy ``yuv420p`` that every browser plays, or bit-exact ``libx264rgb`` at crf 0) and PNG
folders. Frame counts and frame rates are exact: rates are kept as :class:`fractions.Fraction`, and
a file that decodes to fewer frames than its header declares is reported as truncated rather than
returned short. torchvision 0.28 has no video IO and OpenCV cannot write H.264 here, hence PyAV.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".gif")
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")  # the frame files of a frame folder
PNG_FOLDER_META = "video.json"  # frame rate of a PNG folder, written next to the frames
_NUMBERED = re.compile(r"^(.*?)(\d+)$")  # a frame file's stem: any prefix, then its frame number


@dataclass(frozen=True)
class Limits:
    """The most a decode may produce; larger input is refused before it is decoded (a file that declares a huge
    size or frame count cannot exhaust memory). Benchmarks set them from their manifest (:meth:`around`)."""

    width: int = 8192
    height: int = 8192
    frames: int = 100_000
    bytes: int = 16 * 2**30  # decoded RGB, all frames

    @classmethod
    def around(cls, width: int, height: int, frames: int) -> Limits:
        """Twice a declared size and frame count (plus 16 frames): room for an error that names the mismatch."""
        return cls(2 * width, 2 * height, 2 * frames + 16, 3 * (2 * width) * (2 * height) * (2 * frames + 16))

    def check(self, width: int, height: int, frames: int | None, name: str) -> None:
        """Raise :class:`VideoError` naming ``name`` when ``width × height`` (× ``frames``) exceeds the limits."""
        if width > self.width or height > self.height:
            raise VideoError(
                f"{name}: frames are {width}x{height}, larger than the {self.width}x{self.height} allowed here; "
                "resize the video (or, for a benchmark, fix the file: its manifest declares a smaller size)"
            )
        if frames is not None and (frames > self.frames or 3 * width * height * frames > self.bytes):
            raise VideoError(
                f"{name}: {frames} frames of {width}x{height} exceed the {self.frames}-frame / "
                f"{self.bytes / 2**30:.1f} GiB limit for one decode; cut the video into shorter samples"
            )


DEFAULT_LIMITS = Limits()


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

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.width, self.height


def as_fps(fps: float | int | str | Fraction) -> Fraction:
    """Normalise a frame rate (``15``, ``29.97``, ``"30000/1001"``) to a positive Fraction."""
    rate = Fraction(fps).limit_denominator(1001) if isinstance(fps, float) else Fraction(fps)
    if rate <= 0:
        raise VideoError(f"frame rate must be positive, got {fps!r}")
    return rate


def read_video(
    path: str | os.PathLike, *, fps: float | Fraction | None = None, limits: Limits = DEFAULT_LIMITS
) -> Video:
    """Decode a video file or a folder of frames (PNG or JPEG) to RGB uint8 frames, within ``limits``.

    ``fps`` is only used for a frame folder without ``video.json``; for files the container's rate
    is authoritative.
    """
    path = Path(path)
    if path.is_dir():
        return _read_frame_folder(path, fps, limits)
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise VideoError(
            f"{path}: unsupported video type {path.suffix!r}; "
            f"use one of {', '.join(VIDEO_SUFFIXES)} or a folder of PNG/JPEG frames"
        )
    return _decode(path, str(path), limits)


def read_video_bytes(data: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> Video:
    """Decode an in-memory video file within ``limits``; ``name`` is used in error messages."""
    return _decode(io.BytesIO(data), name, limits)


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


def _decode(source: str | io.BytesIO, name: str, limits: Limits) -> Video:
    try:
        with av.open(source) as container:
            stream = _video_stream(container, name)
            stream.thread_type = "AUTO"
            declared = stream.frames
            ctx = stream.codec_context
            limits.check(ctx.width, ctx.height, declared or None, name)
            fps = _stream_fps(stream, name)
            frames = []
            for frame in container.decode(stream):
                limits.check(frame.width, frame.height, len(frames) + 1, name)
                frames.append(frame.to_ndarray(format="rgb24"))
    except av.FFmpegError as exc:
        raise VideoError(f"{name}: cannot be decoded ({exc}); the file is corrupt or not a video") from exc
    if not frames:
        raise VideoError(f"{name}: contains zero decodable frames")
    if declared and len(frames) < declared:
        raise VideoError(
            f"{name}: truncated: the header declares {declared} frames but only "
            f"{len(frames)} decode; re-export or re-download the file"
        )
    if len({f.shape for f in frames}) != 1:
        raise VideoError(f"{name}: the frame size changes within the video; re-encode it at one size")
    return Video(np.stack(frames), fps)


def frame_files(folder: Path) -> list[Path]:
    """The frame files (PNG/JPEG) of ``folder`` in frame order (:func:`order_frames`)."""
    files = [p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith(".")]
    if not files:
        raise VideoError(f"{folder}: folder holds no frames ({', '.join(FRAME_SUFFIXES)} files)")
    return order_frames(files, str(folder))


def order_frames(files: list[Path], where: str) -> list[Path]:
    """Frame files of one video in frame order: by the number that ends each name, so ``2.png`` comes before
    ``10.png``. Names that do not end in a number, that differ before it, or that repeat a number (``1.png`` and
    ``01.png``) cannot be ordered for sure and are refused."""
    numbered: dict[int, Path] = {}
    prefixes: set[str] = set()
    for file in sorted(files):
        match = _NUMBERED.match(file.stem)
        if match is None:
            raise VideoError(f"{file}: a frame file's name must end in its frame number (0000.png, frame_12.jpg); "
                             "rename the frames so their order is known")  # fmt: skip
        prefixes.add(match.group(1))
        number = int(match.group(2))
        if number in numbered:
            raise VideoError(f"{where}: {numbered[number].name} and {file.name} are both frame {number}; keep one")
        numbered[number] = file
    if len(prefixes) > 1:
        shown = ", ".join(repr(p) for p in sorted(prefixes)[:4])
        raise VideoError(f"{where}: frame names start differently ({shown}); a folder holds the frames of one video")
    return [numbered[n] for n in sorted(numbered)]


SampleSource = Path | tuple[Path, ...]  # a video file, a frame folder, or one sample's frame files in order


def sample_videos(folder: str | os.PathLike) -> dict[str, SampleSource]:
    """Sample id → its video in a folder of many samples' videos, in any of the field's layouts:

    * ``<id>.mp4`` (any video suffix) files;
    * ``<id>/`` frame folders (PNG/JPEG, with or without ``video.json``), as DisCo, MagicAnimate and UniAnimate
      write their outputs;
    * flat frame files ``<id>_<frame>.png`` (or ``<id>-<frame>.jpg``) directly in the folder.

    Layouts may be mixed; other files (a results JSON, a README) are ignored; an id found twice is an error.
    """
    root = Path(folder)
    if not root.is_dir():
        raise VideoError(f"{root}: not a folder of videos")
    found: dict[str, SampleSource] = {}
    flat: dict[str, list[Path]] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or entry.suffix.lower() in VIDEO_SUFFIXES:
            key = entry.name if entry.is_dir() else entry.stem
            if key in found:
                raise VideoError(f"{root}: sample {key} appears twice ({_name(found[key])} and {entry.name}); keep one")
            found[key] = entry
        elif entry.suffix.lower() in FRAME_SUFFIXES:
            match = _NUMBERED.match(entry.stem)
            key = match.group(1).rstrip("_-. ") if match else ""
            if not key:
                raise VideoError(f"{entry}: frames directly in {root} must be named <sample_id>_<frame>{entry.suffix} "
                                 f"(or put each sample's frames in {root}/<sample_id>/)")  # fmt: skip
            flat.setdefault(key, []).append(entry)
    for key, files in flat.items():
        if key in found:
            raise VideoError(f"{root}: sample {key} appears twice ({_name(found[key])} and {files[0].name}…); keep one")
        found[key] = tuple(order_frames(files, f"{root}/{key}_*"))
    if not found:
        raise VideoError(f"{root}: no videos (<sample_id>.mp4 files, <sample_id>/ frame folders or "
                         "<sample_id>_<frame>.png files)")  # fmt: skip
    return dict(sorted(found.items()))


def describe_layout(sources: dict[str, SampleSource]) -> str:
    """How :func:`sample_videos` read a folder, e.g. ``16 samples: 16 frame folders``."""
    kinds = {"video files": 0, "frame folders": 0, "flat frame files": 0}
    for source in sources.values():
        flat = isinstance(source, tuple)
        kinds["flat frame files" if flat else "frame folders" if source.is_dir() else "video files"] += 1
    parts = [f"{count} as {kind}" for kind, count in kinds.items() if count]
    return f"{len(sources)} samples: {', '.join(parts)}"


def read_sample(source: SampleSource, fps: float | Fraction | None = None) -> Video | np.ndarray:
    """The video of one :func:`sample_videos` entry: a :class:`Video` when its frame rate is known (a video file,
    a frame folder with ``video.json``, or ``fps`` given), else its frames alone (image metrics need no rate)."""
    if isinstance(source, tuple):
        frames = read_frame_files(list(source), f"{source[0].parent}/{_name(source)}")
        return Video(frames, as_fps(fps)) if fps is not None else frames
    if source.is_dir() and not (source / PNG_FOLDER_META).exists() and fps is None:
        return read_frame_files(frame_files(source), str(source))
    return read_video(source, fps=fps)


def _name(source: SampleSource) -> str:
    return f"{source[0].name}…" if isinstance(source, tuple) else source.name


def read_frame(file: Path, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """One PNG/JPEG frame as ``(H, W, 3)`` uint8 RGB, decoded as DisCo's ``cv2.imread`` decodes it.

    JPEG exactly as ``cv2.imread`` (EXIF orientation applied). PNG: 8-bit files as they are (grey copied to R, G,
    B; a palette expanded); 16-bit files become their high byte (``value >> 8``), as ``cv2.imread`` gives them (PIL's
    ``convert("RGB")`` would saturate 16-bit grey at 255). An alpha channel is dropped when fully opaque and refused
    otherwise: what a transparent pixel should show is not defined. Other depths (32-bit, float) are refused.
    """
    try:
        with Image.open(file) as header:  # the size, before anything is decoded
            width, height = header.size
    except Image.DecompressionBombError:
        raise VideoError(f"{file}: declares more pixels than an image may have here; resize it") from None
    except OSError as exc:
        raise VideoError(f"{file}: not a readable image ({exc})") from exc
    limits.check(width, height, None, str(file))
    # JPEG as cv2.imread reads it (its EXIF orientation applied); PNG unchanged, to see its depth and alpha.
    flags = cv2.IMREAD_COLOR if file.suffix.lower() in (".jpg", ".jpeg") else cv2.IMREAD_UNCHANGED
    image = cv2.imdecode(np.fromfile(file, np.uint8), flags)
    if image is None:
        raise VideoError(f"{file}: not a readable PNG or JPEG (the file is damaged or of another type)")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise VideoError(f"{file}: {image.dtype} samples; frames must be 8- or 16-bit images")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=-1)
    if image.shape[2] == 4:
        if (image[..., 3] < 255).any():
            raise VideoError(f"{file}: has transparent pixels; composite the frame over its background (or drop "
                             "the alpha channel) before scoring it")  # fmt: skip
        image = image[..., :3]
    if image.shape[2] != 3:
        raise VideoError(f"{file}: {image.shape[2]} channels; frames must be grey, RGB or RGBA")
    return np.ascontiguousarray(image[..., ::-1])


def _frame_rate(folder: Path, fps: float | Fraction | None, count: int) -> Fraction:
    """The rate in ``video.json`` (which must agree with the frames present), else ``fps``."""
    meta_file = folder / PNG_FOLDER_META
    if not meta_file.exists():
        if fps is None:
            raise VideoError(f"{folder}: frame folder has no {PNG_FOLDER_META}; pass its frame rate (fps=)")
        return as_fps(fps)
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VideoError(f"{meta_file}: not readable JSON ({exc}); write {{\"fps\": \"15/1\"}}") from exc
    if not isinstance(meta, dict) or "fps" not in meta:
        raise VideoError(f"{meta_file}: must be a JSON object with the frame rate, e.g. {{\"fps\": \"15/1\"}}")
    try:
        rate = as_fps(meta["fps"]) if not isinstance(meta["fps"], bool) else None
    except (TypeError, ValueError, ZeroDivisionError):
        rate = None
    if rate is None:
        raise VideoError(f"{meta_file}: fps {meta['fps']!r} is not a positive number (e.g. 15 or \"30000/1001\")")
    declared = meta.get("num_frames")
    if declared is not None and declared != count:
        raise VideoError(f"{meta_file}: says {declared!r} frames, the folder holds {count}; a frame is missing or "
                         "extra (fix the folder or the file)")  # fmt: skip
    return rate


def _read_frame_folder(path: Path, fps: float | Fraction | None, limits: Limits) -> Video:
    files = frame_files(path)
    rate = _frame_rate(path, fps, len(files))
    return Video(read_frame_files(files, str(path), limits), rate)


def read_frame_files(files: list[Path], name: str, limits: Limits = DEFAULT_LIMITS) -> np.ndarray:
    """The frames ``(T, H, W, 3)`` of image files given in frame order (:func:`read_frame` each); ``name`` (the
    video they make up) goes into the errors. A frame rate is neither needed nor known."""
    frames: list[np.ndarray] = []
    for file in files:
        frame = read_frame(file, limits)
        limits.check(frame.shape[1], frame.shape[0], len(frames) + 1, name)
        if frames and frame.shape != frames[0].shape:
            raise VideoError(f"{file}: {frame.shape[1]}x{frame.shape[0]}, but {files[0].name} is "
                             f"{frames[0].shape[1]}x{frames[0].shape[0]}; every frame must have one size")  # fmt: skip
        frames.append(frame)
    return np.stack(frames)
