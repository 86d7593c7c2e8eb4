"""Inputs of the ``command`` adapter: what a sample's input files are called, and the code that writes them.

Each input is also a placeholder holding the file's absolute path; a template's ``inputs`` overrides
the options below. The pose inputs' ``draw_size``, ``save_size`` and ``pad_to`` are expressions in the
template; the adapter evaluates them per sample and hands :func:`write_inputs` ints.
"""

from __future__ import annotations

import json
import pickle
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from a2bench.core.adapter import Job
from a2bench.core.pose import PoseSequence
from a2bench.core.pose.convert import dump_animatex_pickle
from a2bench.core.pose.keypoints import BODY, missing_mask
from a2bench.core.pose.render import render_poses
from a2bench.core.videoio import write_video

# How skeletons are drawn: draw_size [width, height] (None: the benchmark's size), then save_size (None: as
# drawn; else resized with OpenCV's bilinear, as the releases that draw large and save smaller do), and
# pad_to (None, or a frame count reached by repeating the last pose).
_DRAWING = {"convention": "animatex", "face": False, "swap_rb": False, "draw_size": None, "save_size": None}

# What a sample's inputs are called; each is also a placeholder holding the file's absolute path.
INPUTS: dict[str, dict[str, Any]] = {
    "reference": {"path": "reference.png"},
    "pose_video": {"path": "pose.mp4", **_DRAWING, "pad_to": None},
    "pose_frames": {
        "dir": "pose_frames",
        "name": "%04d.png",
        "start": 0,
        **_DRAWING,
        "pad_to": None,
        "reference_pose": None,
    },
    "pose_json": {"path": "pose.json"},
    "pose_pickle": {"path": "pose.pkl", "reference_pickle": None},
    "prompt_file": {"path": "prompt.txt"},
    "driving_video": {"path": "driving.mp4"},
    "driving_frames": {"dir": "driving_frames", "name": "%04d.png", "start": 0},
}


def write_inputs(job: Job, folder: Path, inputs: Mapping[str, dict[str, Any]]) -> None:
    """Write every input in ``inputs`` (kind → options, as in :attr:`Template.inputs`) into ``folder``."""
    for kind, options in inputs.items():
        _WRITERS[kind](job, folder, options)


def _write_reference(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    image = Image.fromarray(job.reference())
    if path.suffix.lower() in (".jpg", ".jpeg"):
        image.save(path, quality=95)
    else:
        image.save(path)


def _pose_images(job: Job, options: dict[str, Any], pose: PoseSequence | None = None) -> np.ndarray:
    """The driving pose (or ``pose``) drawn as ``options`` say: at draw_size, red/blue swapped, resized to save_size.

    A release draws with fixed line widths in pixels, so where it draws (its canvas size) sets how thick the
    limbs are once the model has resized the images to its own resolution; draw_size repeats that canvas.
    """
    pose = pose or job.pose
    size = tuple(options.get("draw_size") or job.size)
    frames = render_poses(pose, size, convention=options["convention"], face=bool(options["face"]))
    # swap_rb: some reference pipelines save their RGB canvas as if it were BGR (cv2.imwrite, or a
    # cvtColor(BGR2RGB) before an RGB writer), so the model was trained on pose images with red and blue
    # exchanged; reproduce that.
    if options["swap_rb"]:
        frames = frames[..., ::-1]
    save = options.get("save_size")
    if save is not None and tuple(save) != size:
        frames = np.stack([cv2.resize(frame, tuple(save), interpolation=cv2.INTER_LINEAR) for frame in frames])
    return frames


def _padded(frames: np.ndarray, options: dict[str, Any]) -> np.ndarray:
    """``frames`` with the last one repeated up to ``pad_to`` frames (a release that pads does the same)."""
    target = options.get("pad_to")
    if target is None or target <= len(frames):
        return frames
    return np.concatenate([frames, np.repeat(frames[-1:], target - len(frames), axis=0)])


def _write_pose_video(job: Job, folder: Path, options: dict[str, Any]) -> None:
    write_video(_target(folder, options["path"]), _padded(_pose_images(job, options), options), job.fps)


def _write_frames(folder: Path, options: dict[str, Any], frames: np.ndarray) -> Path:
    """Frames (RGB as the file should hold them) as numbered images, written by OpenCV."""
    directory = _target(folder, options["dir"])
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for index, frame in enumerate(frames):
        path = directory / (options["name"] % (index + int(options["start"])))
        if not cv2.imwrite(str(path), np.ascontiguousarray(frame[..., ::-1])):
            raise OSError(f"{path}: OpenCV could not write the image")
    return directory


def _write_pose_frames(job: Job, folder: Path, options: dict[str, Any]) -> None:
    directory = _write_frames(folder, options, _padded(_pose_images(job, options), options))
    if options["reference_pose"]:
        pose = job.pose
        reference = pose.reference if pose.reference is not None else pose.frames[0]
        single = PoseSequence(reference[None], pose.size, pose.fps)
        image = _pose_images(job, options, single)[0]
        path = directory / str(options["reference_pose"])
        if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
            raise OSError(f"{path}: OpenCV could not write the image")


def _write_pose_json(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _target(folder, options["path"]).write_text(json.dumps(job.pose.to_json()), encoding="utf-8")


def _write_pose_pickle(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    path.write_bytes(dump_animatex_pickle(job.pose))
    extra = options.get("reference_pickle")
    if extra:
        target = path.with_name(f"{path.stem}_ref_pose.pkl") if extra is True else _target(folder, str(extra))
        target.write_bytes(_reference_pickle(job.pose))


def _reference_pickle(pose: PoseSequence) -> bytes:
    """The reference image's body as DWPose's detector returns it: ``{"bodies": {"candidate", "subset"}}``.

    Animate-X v1 reads ``<pkl stem>_ref_pose.pkl`` → ``["bodies"]["candidate"][:18]`` (normalised x, y;
    missing = -1) when it exists; nothing in its release writes that file, so the layout beyond that key
    is our reading of DWPose's output.
    """
    reference = pose.reference if pose.reference is not None else pose.frames[0]
    body = reference[BODY]
    missing = missing_mask(body)
    candidate = np.where(missing[:, None], -1.0, body[:, :2]).astype(np.float32)
    subset = np.where(missing, -1.0, np.arange(18, dtype=np.float64))[None]
    return pickle.dumps({"bodies": {"candidate": candidate, "subset": subset}}, protocol=4)


def _write_prompt_file(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _target(folder, options["path"]).write_text(job.prompt() + "\n", encoding="utf-8")


def _driver(job: Job):
    return job.sample.benchmark[job.task.driver_id]


def _write_driving_video(job: Job, folder: Path, options: dict[str, Any]) -> None:
    path = _target(folder, options["path"])
    if path.suffix.lower() == ".mp4":
        path.write_bytes(_driver(job).read_bytes("video.mp4"))  # the benchmark's own file, byte for byte
    else:
        video = _driver(job).video()
        write_video(path, video.frames, video.fps)


def _write_driving_frames(job: Job, folder: Path, options: dict[str, Any]) -> None:
    _write_frames(folder, options, _driver(job).video().frames)


def _target(folder: Path, relative: str) -> Path:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


_WRITERS = {
    "reference": _write_reference,
    "pose_video": _write_pose_video,
    "pose_frames": _write_pose_frames,
    "pose_json": _write_pose_json,
    "pose_pickle": _write_pose_pickle,
    "prompt_file": _write_prompt_file,
    "driving_video": _write_driving_video,
    "driving_frames": _write_driving_frames,
}
