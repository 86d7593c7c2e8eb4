"""``a2bench pose``: extract pose sequences from videos (DWPose) and render them as skeleton videos."""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
from PIL import Image

from a2bench.cli.output import size_option
from a2bench.core.fileio import write_atomic
from a2bench.core.pose import PoseError, PoseSequence
from a2bench.core.pose.convert import dump_animatex_pickle
from a2bench.core.pose.extract import DeviceError, DWPose, Extraction, extract_video  # registers the DWPose files
from a2bench.core.pose.render import MODEL_INPUT, as_model_input, render_poses
from a2bench.core.videoio import VIDEO_SUFFIXES, VideoError, write_video
from a2bench.core.weights import WeightsError


@click.group()
def pose() -> None:
    """Pose sequences in a2bench's 130-keypoint layout (docs/pose.md)."""


@pose.command()
@click.argument("pose_json", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="An .mp4 file, or a folder (no suffix) for PNG frames.",
)
@click.option(
    "--convention",
    type=click.Choice(["animatex", "dwpose"]),
    default="animatex",
    show_default=True,
    help="animatex: body + feet, as the Animate-X++ release draws; dwpose: DWPose's draw_pose.",
)
@click.option(
    "--colours",
    type=click.Choice(["model", "drawn"]),
    default="model",
    show_default=True,
    help="model: as the convention's model sees them (animatex: red and blue exchanged and through JPEG at quality 95, "
    "as the release writes its canvas with cv2.imwrite and reads it back as RGB; dwpose: as drawn); drawn: the "
    "canvas as drawn, as benchmark pose.mp4 files hold it.",
)
@click.option("--no-face", is_flag=True, help="Leave out the 68 face points (Animate-X's 'without face' images).")
@click.option("--size", callback=size_option,
              help="WIDTHxHEIGHT to draw at (default: the size stored in the pose file).")  # fmt: skip
@click.option(
    "--scale-widths",
    is_flag=True,
    help="Scale line widths and dot radii by the shorter side / 512 (the references keep them fixed).",
)
def render(
    pose_json: Path,
    out: Path,
    convention: str,
    colours: str,
    no_face: bool,
    size: tuple[int, int] | None,
    scale_widths: bool,
) -> None:
    """Draw POSE_JSON (an a2bench pose.json) as a skeleton video."""
    try:
        poses = PoseSequence.load(pose_json)
        target = size
        frames = render_poses(poses, target, convention=convention, face=not no_face, scale_widths=scale_widths)
        if colours == "model":
            frames = as_model_input(frames, **MODEL_INPUT[convention])
        write_video(out, frames, poses.fps)
    except (PoseError, VideoError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(out)


@pose.command()
@click.argument("source", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    required=True,
    help="For a video: the pose.json to write (or an existing folder). For a folder: the output folder.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--input-order",
    type=click.Choice(["bgr", "rgb"]),
    default="bgr",
    show_default=True,
    help="Channel order the networks see: bgr as the Animate-X++ release and rtmlib, rgb as DWPose's annotator.",
)
@click.option(
    "--reference",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Reference image whose pose is stored as the file's 'reference' (single video only).",
)
@click.option("--render", is_flag=True, help="Also draw each pose as a skeleton video, <stem>.pose.mp4.")
@click.option("--pickle", "animatex", is_flag=True, help="Also write the Animate-X++ release's pose pickle, .pkl.")
def extract(
    source: Path, out: Path, device: str, input_order: str, reference: Path | None, render: bool, animatex: bool
) -> None:
    """DWPose keypoints of one person in SOURCE (a video, or a folder of videos) as a2bench pose.json.

    The person is tracked through the video: the largest box first, then the box overlapping the previous
    one most (docs/pose.md). Needs yolox_l.onnx and dw-ll_ucoco_384.onnx: `a2bench weights fetch NAME`.
    """
    if source.is_dir():
        videos = sorted(p for p in source.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        if not videos:
            raise click.ClickException(
                f"{source}: holds no videos ({', '.join(VIDEO_SUFFIXES)}); pass a video or a folder of videos"
            )
        if reference:
            raise click.UsageError("--reference goes with a single video, not a folder")
        jobs = [(video, out / f"{video.stem}.pose.json") for video in videos]
    else:
        jobs = [(source, out / f"{source.stem}.pose.json" if out.is_dir() else out)]
    try:
        image = np.asarray(Image.open(reference).convert("RGB")) if reference else None
        estimator = DWPose(device=device, input_order=input_order)
    except (WeightsError, DeviceError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    failed = []
    for video, target in jobs:
        try:
            result = extract_video(video, estimator, reference=image)
            _write(result, target, render, animatex)
        except (VideoError, PoseError) as exc:
            click.echo(f"error: {exc}", err=True)
            failed.append(video.name)
            continue
        click.echo(
            f"{video}: {result.pose.num_frames} frames, {int((~result.detected).sum())} without a person box, "
            f"{int((result.people > 1).sum())} with more than one person -> {target}"
        )
    if not estimator.verified:
        click.echo("note: computed with unverified weights (A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1)", err=True)
    if failed:
        raise click.ClickException(f"{len(failed)} of {len(jobs)} videos failed: {', '.join(failed)}")


def _write(result: Extraction, target: Path, render: bool, animatex: bool) -> None:
    """``target`` (pose.json), and beside it ``<stem>.mp4`` / ``<stem>.pkl`` where asked."""
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(target, (json.dumps(result.pose.to_json(), separators=(",", ":")) + "\n").encode())
    stem = target.name.removesuffix(".json")
    if render:
        width, height = result.pose.size
        odd = bool(width % 2 or height % 2)  # H.264 yuv420p needs even sizes; lossless RGB does not
        write_video(target.with_name(f"{stem}.mp4"), render_poses(result.pose), result.pose.fps, lossless=odd)
    if animatex:
        write_atomic(target.with_name(f"{stem}.pkl"), dump_animatex_pickle(result.pose))
