"""Video IO: exact frames on the lossless path, exact frame rates, frame folders in frame order, clear errors on bad
files, and limits checked before decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from a2bench.core.videoio import Limits, VideoError, probe_video, read_video, write_png_folder, write_video


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


def _write_frames(folder: Path, frames: np.ndarray, names: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for frame, name in zip(frames, names, strict=True):
        Image.fromarray(frame).save(folder / name)
    return folder


def test_frame_folders_are_read_in_number_order(tmp_path: Path, frames: np.ndarray) -> None:
    many = np.concatenate([frames, frames[::-1], frames])[:11]
    unpadded = _write_frames(tmp_path / "unpadded", many, [f"{i + 1}.png" for i in range(11)])  # 1.png … 11.png
    video = read_video(unpadded, fps=15)
    np.testing.assert_array_equal(video.frames, many)  # 2.png before 10.png
    jpeg = _write_frames(tmp_path / "jpeg", frames, [f"frame_{i}.jpg" for i in range(len(frames))])
    expected = np.stack([cv2.imread(str(jpeg / f"frame_{i}.jpg"))[..., ::-1] for i in range(len(frames))])
    np.testing.assert_array_equal(read_video(jpeg, fps=15).frames, expected)  # JPEG as cv2.imread decodes it


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["1.png", "01.png"], r"1\.png and 1\.png|01\.png and 1\.png are both frame 1"),
        (["a.png", "b.png"], r"a\.png: a frame file's name must end in its frame number"),
        (["x_1.png", "y_2.png"], r"frame names start differently \('x_', 'y_'\)"),
    ],
)
def test_frame_folders_that_cannot_be_ordered_are_refused(tmp_path: Path, frames: np.ndarray, names, message) -> None:
    folder = _write_frames(tmp_path / "bad", frames[: len(names)], names)
    with pytest.raises(VideoError, match=message):
        read_video(folder, fps=15)


def test_frames_of_other_depths_and_alpha(tmp_path: Path) -> None:
    grey16 = np.array([[0x01FF, 0x8000], [0xFFFF, 0x00FF]], np.uint16)
    folder = tmp_path / "grey16"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), grey16)
    video = read_video(folder, fps=1)
    np.testing.assert_array_equal(video.frames[0, ..., 0], grey16 >> 8)  # as DisCo's cv2.imread; PIL would give 255
    assert (video.frames[0] == video.frames[0, ..., :1]).all()
    rgba = np.full((2, 2, 4), 200, np.uint8)
    opaque = tmp_path / "opaque"
    opaque.mkdir()
    rgba[..., 3] = 255
    Image.fromarray(rgba).save(opaque / "0.png")
    np.testing.assert_array_equal(read_video(opaque, fps=1).frames[0], rgba[..., :3])  # opaque alpha is dropped
    rgba[0, 0, 3] = 10
    Image.fromarray(rgba).save(opaque / "0.png")
    with pytest.raises(VideoError, match=r"0\.png: has transparent pixels; composite"):
        read_video(opaque, fps=1)


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ("not json", r"video\.json: not readable JSON"),
        ("[15]", r"video\.json: must be a JSON object with the frame rate"),
        ('{"num_frames": 4}', r"video\.json: must be a JSON object with the frame rate"),
        ('{"fps": "abc"}', r"video\.json: fps 'abc' is not a positive number"),
        ('{"fps": 0}', r"video\.json: fps 0 is not a positive number"),
        ('{"fps": 15, "num_frames": 9}', r"video\.json: says 9 frames, the folder holds 4"),
    ],
)
def test_bad_video_json_is_named(tmp_path: Path, frames: np.ndarray, meta: str, message: str) -> None:
    folder = write_png_folder(tmp_path / "v", frames[:4], 15)
    (folder / "video.json").write_text(meta)
    with pytest.raises(VideoError, match=message):
        read_video(folder)


def test_decodes_are_limited_before_decoding(tmp_path: Path, frames: np.ndarray) -> None:
    path = write_video(tmp_path / "v.mp4", frames, 15, lossless=True)
    small = Limits(width=frames.shape[2] - 1, height=4096, frames=100)
    with pytest.raises(VideoError, match=rf"v\.mp4: frames are {frames.shape[2]}x{frames.shape[1]}, larger than"):
        read_video(path, limits=small)
    with pytest.raises(VideoError, match=r"exceed the 2-frame"):
        read_video(path, limits=Limits(frames=2))
    folder = write_png_folder(tmp_path / "pngs", frames, 15)
    with pytest.raises(VideoError, match=r"exceed the 2-frame"):
        read_video(folder, limits=Limits(frames=2))
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    Image.new("L", (20000, 20000)).save(bomb / "0.png")  # compresses to a few hundred kB
    with pytest.raises(VideoError, match=r"0\.png: (declares more pixels|frames are 20000x20000)"):
        read_video(bomb, fps=1)
