"""The malformed-input corpus, part 1: benchmarks, prediction folders and pose files (tests/corpus.py).

Every case starts from a copy of the tiny synth benchmark at ``bench/`` in its folder and breaks one thing.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import edit_manifest, set_file
from corpus import Case, check
from PIL import Image

from a2bench.core.videoio import read_video, write_png_folder, write_video

PSNR = ["--metrics", "psnr"]


def bench(folder: Path) -> Path:
    return folder / "bench"


def validate(change: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    """``a2bench bench validate`` on the benchmark after ``change``."""

    def build(folder: Path) -> list[str]:
        change(bench(folder))
        return ["bench", "validate", str(bench(folder))]

    return build


def manifest_field(**fields: object) -> Callable[[Path], None]:
    return lambda root: edit_manifest(root, lambda doc: doc.update(fields))


def pose_point(value: object, group: str = "body") -> Callable[[Path], None]:
    """s001's pose.json with frame 2's first ``group`` point's x replaced by ``value``."""

    def change(root: Path) -> None:
        doc = json.loads((root / "s001" / "pose.json").read_text())
        doc["frames"][2][group][0][0] = value
        set_file(root, "s001", "pose.json", json.dumps(doc).encode(), update_manifest=True)

    return change


def pose_field(**fields: object) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        doc = json.loads((root / "s001" / "pose.json").read_text())
        doc.update(fields)
        set_file(root, "s001", "pose.json", json.dumps(doc).encode(), update_manifest=True)

    return change


def video_of(frames: Callable[[np.ndarray], np.ndarray], fps: int = 15) -> Callable[[Path], None]:
    """s002's video.mp4 replaced by ``frames(original frames)`` at ``fps``, its manifest entry updated."""

    def change(root: Path) -> None:
        original = read_video(root / "s002" / "video.mp4").frames
        path = write_video(root.parent / "new.mp4", frames(original), fps, lossless=True)
        set_file(root, "s002", "video.mp4", path.read_bytes(), update_manifest=True)

    return change


def reference_of(write: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(root: Path) -> None:
        path = root.parent / "ref.png"
        write(path)
        set_file(root, "s003", "reference.png", path.read_bytes(), update_manifest=True)

    return change


def prompt_of(data: bytes) -> Callable[[Path], None]:
    return lambda root: set_file(root, "s000", "prompt.txt", data, update_manifest=True)


BENCHMARKS = [
    Case("manifest source is a list", validate(manifest_field(source=[1, 2])), 1, r"manifest\.json: 'source'.*object"),
    Case("manifest source is a string", validate(manifest_field(source="hello")), 1, r"'source' .* got 'hello'"),
    Case("manifest description is a number", validate(manifest_field(description=5)), 1, r"'description' must be"),
    Case("manifest width is a string", validate(manifest_field(width="64")), 1, r"'width' must be a positive integer"),
    Case("manifest fps is zero", validate(manifest_field(fps=0)), 1, r"'fps' must be a positive number"),
    Case("manifest not JSON", validate(lambda r: (r / "manifest.json").write_text("{oops")), 1, r"manifest\.json"),
    Case("keypoint x is a string", validate(pose_point("0.5")), 1, r"s001.*pose\.json: frame 2: group 'body' point 0: "
         r"'0\.5' is not a number"),
    Case("keypoint x is true", validate(pose_point(True)), 1, r"pose\.json: frame 2: group 'body' point 0: True is"),
    Case("hand keypoint is null", validate(pose_point(None, "hands")), 1, r"group 'hands' point 0: None"),
    Case("keypoint outside the frame", validate(pose_point(1.5)), 1, r"s001.*outside \[0, 1\]"),
    Case("pose fps negative", validate(pose_field(fps=-15)), 1, r"s001.*'fps' must be a positive number"),
    Case("pose fps true", validate(pose_field(fps=True)), 1, r"s001.*'fps' must be a positive number"),
    Case("pose normalised for another size", validate(pose_field(width=128)), 1, r"s001.*normalised for 128x64"),
    Case("pose num_frames lies", validate(pose_field(num_frames=99)), 1, r"s001.*'num_frames' is 99"),
    Case("pose not JSON", validate(lambda r: set_file(r, "s001", "pose.json", b"{", update_manifest=True)), 1,
         r"s001.*pose\.json: not valid JSON"),
    Case("video shorter than its pose", validate(video_of(lambda f: f[:6])), 1,
         r"s002.*video\.mp4: frame-count mismatch: 6 frames, manifest says 12"),
    Case("video at another frame rate", validate(video_of(lambda f: f, fps=30)), 1, r"s002.*video\.mp4: 30 fps"),
    Case("video of another size", validate(video_of(lambda f: f[:, :32])), 1, r"s002.*video\.mp4: frame size 64x32"),
    Case("video far larger than declared", validate(video_of(lambda f: np.repeat(np.repeat(f, 3, 1), 3, 2))), 1,
         r"s002.*video\.mp4: frames are 192x192, larger than the 128x128 allowed"),
    Case("video not a video", validate(lambda r: set_file(r, "s002", "video.mp4", b"\0" * 64, update_manifest=True)),
         1, r"s002.*video\.mp4: cannot be (read|decoded)"),
    Case("reference PNG of 20000x20000", validate(reference_of(lambda p: Image.new("L", (20000, 20000)).save(p))), 1,
         r"s003.*reference\.png: (declares more pixels|must be an RGB)"),
    Case("reference PNG far larger than declared", validate(reference_of(lambda p: Image.new("RGB", (400, 400))
         .save(p))), 1, r"s003.*reference\.png: frames are 400x400, larger than the 128x128"),
    Case("reference PNG of 16 bits", validate(reference_of(lambda p: cv2.imwrite(str(p), np.zeros((8, 8, 3),
         np.uint16)))), 1, r"s003.*reference\.png: a 16-bit PNG"),
    Case("reference is a JPEG", validate(reference_of(lambda p: Image.new("RGB", (8, 8)).save(p, format="JPEG"))), 1,
         r"s003.*reference\.png: must be an RGB or RGBA PNG"),
    Case("prompt empty", validate(prompt_of(b"  \n")), 1, r"s000.*prompt\.txt: is empty"),
    Case("prompt not UTF-8", validate(prompt_of(b"\xff\xfe bad")), 1, r"s000.*prompt\.txt: not valid UTF-8"),
    Case("file changed after the manifest", validate(lambda r: (r / "s000" / "prompt.txt").write_text("other")), 1,
         r"s000.*prompt\.txt: checksum mismatch"),
    Case("file missing", validate(lambda r: (r / "s000" / "prompt.txt").unlink()), 1, r"s000.*prompt\.txt"),
]


def run_on(change: Callable[[Path], None]) -> Callable[[Path], list[str]]:
    """``a2bench run`` of reference-copy on the benchmark after ``change``."""

    def build(folder: Path) -> list[str]:
        change(bench(folder))
        return ["run", "--model", "reference-copy", "--bench", str(bench(folder)), *PSNR,
                "--db", str(folder / "r.db"), "--out", str(folder / "run")]

    return build


def others_scored(*failed: str) -> Callable[[Path, str], None]:
    def extra(folder: Path, output: str) -> None:
        from a2bench.runs.results import ResultsDB

        store = ResultsDB(folder / "r.db")
        (run,) = store.runs()
        assert run.status == "incomplete"
        assert set(store.sample_metrics(run.id)["psnr"]) == {"s000", "s001", "s002", "s003"} - set(failed)

    return extra


RUNS = [
    Case("run: one sample's pose for another size", run_on(pose_field(width=128)), 1,
         r"failed s001.*normalised for 128x64", extra=others_scored("s001")),
    Case("run: one sample's video shorter than its pose", run_on(video_of(lambda f: f[:6])), 1,
         r"failed s002.*frame-count mismatch", extra=others_scored("s002")),
    Case("run: one sample's video at 30 fps", run_on(video_of(lambda f: f, fps=30)), 1, r"failed s002.*30 fps",
         extra=others_scored("s002")),
    Case("run: one sample's prompt empty", run_on(prompt_of(b"")), 1, r"failed s000.*prompt\.txt: is empty",
         extra=others_scored("s000")),
    Case("run: one sample's keypoint a string", run_on(pose_point("0.5")), 1, r"failed s001.*not a number",
         extra=others_scored("s001")),
]


def frames_folder(write: Callable[[Path, np.ndarray], None], meta: str | None = '{"fps": "15/1"}'):
    """``eval --pred pred --gt gt`` where gt holds s000's frames as a PNG folder and pred is written by ``write``."""

    def build(folder: Path) -> list[str]:
        frames = read_video(bench(folder) / "s000" / "video.mp4").frames
        write_png_folder(folder / "gt" / "s000", frames, 15)
        pred = folder / "pred" / "s000"
        pred.mkdir(parents=True)
        write(pred, frames)
        if meta is not None:
            (pred / "video.json").write_text(meta)
        return ["eval", "--pred", str(folder / "pred"), "--gt", str(folder / "gt"), *PSNR]

    return build


def pngs(name: Callable[[int], str], change: Callable[[np.ndarray], np.ndarray] = lambda f: f):
    def write(pred: Path, frames: np.ndarray) -> None:
        for index, frame in enumerate(frames):
            Image.fromarray(change(frame)).save(pred / name(index))

    return write


def psnr_is(expected: float) -> Callable[[Path, str], None]:
    def extra(folder: Path, output: str) -> None:
        assert re.search(rf"psnr\s+{expected:g}\b", output), output

    return extra


def grey16(pred: Path, frames: np.ndarray) -> None:
    for index, frame in enumerate(frames):
        cv2.imwrite(str(pred / f"{index}.png"), frame[..., 0].astype(np.uint16) * 257)  # high byte = the frame


def transparent(pred: Path, frames: np.ndarray) -> None:
    pngs(lambda i: f"{i}.png")(pred, frames)
    rgba = np.dstack([frames[3], np.full(frames[3].shape[:2], 128, np.uint8)])
    Image.fromarray(rgba).save(pred / "3.png")


FOLDERS = [
    Case("pred frames 1.png … 12.png (unpadded)", frames_folder(pngs(lambda i: f"{i + 1}.png")), 0, r"psnr",
         extra=psnr_is(100)),
    Case("pred frames as JPEG", frames_folder(pngs(lambda i: f"{i:04d}.jpg")), 0, r"psnr"),
    Case("pred frames 1.png and 01.png", frames_folder(lambda p, f: (pngs(lambda i: f"{i}.png")(p, f),
         shutil.copy(p / "1.png", p / "01.png"))), 1, r"01\.png and 1\.png are both frame 1"),
    Case("pred frames without numbers", frames_folder(pngs(lambda i: f"frame{'abcdefghijkl'[i]}.png")), 1,
         r"framea\.png: a frame file's name must end in its frame number"),
    Case("pred frames with two prefixes", frames_folder(pngs(lambda i: f"{'ab'[i % 2]}_{i}.png")), 1,
         r"frame names start differently"),
    Case("pred video.json not JSON", frames_folder(pngs(lambda i: f"{i}.png"), "fps=15"), 1,
         r"s000/video\.json: not readable JSON"),
    Case("pred video.json a list", frames_folder(pngs(lambda i: f"{i}.png"), "[15]"), 1,
         r"video\.json: must be a JSON object"),
    Case("pred video.json without fps", frames_folder(pngs(lambda i: f"{i}.png"), '{"num_frames": 12}'), 1,
         r"video\.json: must be a JSON object with the frame rate"),
    Case("pred video.json num_frames lies", frames_folder(pngs(lambda i: f"{i}.png"), '{"fps": 15, "num_frames": 9}'),
         1, r"video\.json: says 9 frames, the folder holds 12"),
    Case("pred frames 16-bit grey", frames_folder(grey16), 0, r"psnr"),
    Case("pred frame with transparent pixels", frames_folder(transparent), 1, r"3\.png: has transparent pixels"),
    Case("pred frames of two sizes", frames_folder(lambda p, f: (pngs(lambda i: f"{i}.png")(p, f),
         Image.new("RGB", (8, 8)).save(p / "5.png"))), 1, r"5\.png: 8x8, but 0\.png is 64x64"),
    Case("pred frame of 20000x20000", frames_folder(lambda p, f: (pngs(lambda i: f"{i}.png")(p, f),
         Image.new("L", (20000, 20000)).save(p / "5.png"))), 1, r"5\.png: (declares more pixels|frames are 20000)"),
    Case("pred frame not an image", frames_folder(lambda p, f: (pngs(lambda i: f"{i}.png")(p, f),
         (p / "5.png").write_bytes(b"not a png"))), 1, r"5\.png: not a readable"),
]


def pose_file(text: str) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        (folder / "pose.json").write_text(text)
        return ["pose", "render", str(folder / "pose.json"), "--out", str(folder / "out")]

    return build


def pose_json_with(value: object) -> Callable[[Path], list[str]]:
    def build(folder: Path) -> list[str]:
        doc = json.loads((bench(folder) / "s000" / "pose.json").read_text())
        doc["frames"][0]["body"][3][1] = value
        return pose_file(json.dumps(doc))(folder)

    return build


POSES = [
    Case("pose render: not JSON", pose_file("{"), 1, r"pose\.json: not readable JSON"),
    Case("pose render: not a pose", pose_file("[]"), 1, r"pose\.json: expected a JSON object"),
    Case("pose render: keypoint a string", pose_json_with("0.5"), 1, r"pose\.json: frame 0: group 'body' point 3"),
    Case("pose render: keypoint NaN", pose_json_with(float("nan")), 1, r"pose\.json: frame 0: keypoints contain NaN"),
]


@pytest.mark.parametrize("case", BENCHMARKS + RUNS + FOLDERS + POSES, ids=str)
def test_malformed_input(case: Case, tiny_synth: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_synth, bench(tmp_path))
    check(case, tmp_path)
