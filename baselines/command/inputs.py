"""Inputs of the ``command`` adapter: what a sample's input files are called, and the code that writes them.

Each input is also a placeholder holding the file's absolute path; a template's ``inputs`` overrides
the options below.
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

from a2bench.models import Job
from a2bench.pose import PoseSequence
from a2bench.pose.convert import dump_animatex_pickle
from a2bench.pose.keypoints import BODY, missing_mask
from a2bench.pose.render import render_poses
from a2bench.videoio import write_video

# What a sample's inputs are called; each is also a placeholder holding the file's absolute path.
INPUTS: dict[str, dict[str, Any]] = {
    "reference": {"path": "reference.png"},
    "pose_video": {"path": "pose.mp4", "convention": "animatex", "face": False, "swap_rb": False},
    "pose_frames": {
        "dir": "pose_frames",
        "name": "%04d.png",
        "start": 0,
        "convention": "animatex",
        "face": False,
        "swap_rb": False,
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
    frames = render_poses(pose or job.pose, job.size, convention=options["convention"], face=bool(options["face"]))
    # swap_rb: some reference pipelines save their RGB canvas as if it were BGR (cv2.imwrite, or a
    # cvtColor(BGR2RGB) before an RGB writer), so the model was trained on pose images with red and blue
    # exchanged; reproduce that.
    return frames[..., ::-1] if options["swap_rb"] else frames


def _write_pose_video(job: Job, folder: Path, options: dict[str, Any]) -> None:
    write_video(_target(folder, options["path"]), _pose_images(job, options), job.fps)


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
    directory = _write_frames(folder, options, _pose_images(job, options))
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
