"""Video IO: exact frames on the lossless path, exact frame rates, clear errors on bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from a2bench.videoio import VideoError, probe_video, read_video, write_video


@pytest.fixture
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (9, 48, 64, 3), dtype=np.uint8)


def test_lossless_mp4_round_trip_is_bit_exact(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "a.mp4", frames, 15, lossless=True)
    video = read_video(path)
    assert video.num_frames == 9 and video.fps == Fraction(15) and video.size == (64, 48)
    np.testing.assert_array_equal(video.frames, frames)


def test_png_folder_round_trip_is_exact_and_keeps_fps(tmp_path: Path, frames: np.ndarray) -> None:
    write_video(tmp_path / "frames", frames, Fraction(30000, 1001))
    video = read_video(tmp_path / "frames")
    assert video.fps == Fraction(30000, 1001)
    np.testing.assert_array_equal(video.frames, frames)


@pytest.mark.parametrize("fps", [15, Fraction(30000, 1001), 24, 8])
def test_frame_rate_and_count_are_exact(tmp_path: Path, frames: np.ndarray, fps) -> None:
    path = write_video(tmp_path / "a.mp4", frames, fps)
    info = probe_video(path)
    assert (info.num_frames, info.fps, info.width, info.height) == (9, Fraction(fps), 64, 48)
    assert read_video(path).fps == Fraction(fps)


def test_lossy_mp4_is_close_on_smooth_content(tmp_path: Path) -> None:
    ramp = np.broadcast_to(np.linspace(0, 255, 64, dtype=np.uint8)[None, None, :, None], (5, 48, 64, 3)).copy()
    video = read_video(write_video(tmp_path / "a.mp4", ramp, 15))
    assert np.abs(video.frames.astype(int) - ramp).mean() < 2


def test_truncated_file_is_reported(tmp_path: Path, frames: np.ndarray) -> None:
    data = write_video(tmp_path / "a.mp4", frames, 15, lossless=True).read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(VideoError, match=r"cut\.mp4: truncated: the header declares 9 frames"):
        read_video(cut)


def test_undecodable_and_empty_files_are_reported(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 10)
    with pytest.raises(VideoError, match=r"junk\.mp4: cannot be decoded"):
        read_video(junk)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"empty\.mp4"):
        read_video(empty)
    with pytest.raises(VideoError, match="no such file"):
        read_video(tmp_path / "missing.mp4")


def test_writing_bad_input_is_refused(tmp_path: Path, frames: np.ndarray) -> None:
    with pytest.raises(VideoError, match="zero frames"):
        write_video(tmp_path / "a.mp4", frames[:0], 15)
    with pytest.raises(VideoError, match="uint8 of shape"):
        write_video(tmp_path / "a.mp4", frames.astype(np.float32), 15)
    with pytest.raises(VideoError, match="even width and height"):
        write_video(tmp_path / "a.mp4", frames[:, :, :63], 15)
    assert read_video(write_video(tmp_path / "odd.mp4", frames[:, :, :63], 15, lossless=True)).size == (63, 48)
    assert not list(tmp_path.glob(".a.mp4*")), "a failed write must not leave temporary files"


def test_gif_and_webm_are_read(tmp_path: Path, frames: np.ndarray) -> None:
    import av

    for name, codec, pix in (("a.gif", "gif", "rgb8"), ("a.webm", "libvpx-vp9", "yuv420p")):
        with av.open(str(tmp_path / name), "w") as container:
            stream = container.add_stream(codec, rate=10)
            stream.width, stream.height, stream.pix_fmt = 64, 48, pix
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode(None))
        assert read_video(tmp_path / name).num_frames == 9
