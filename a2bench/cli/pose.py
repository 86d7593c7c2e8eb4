"""``a2bench pose``: work with pose sequences (render them as DWPose-style skeleton videos)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from a2bench.cli.bench import parse_size
from a2bench.pose import PoseError, PoseSequence
from a2bench.pose.render import render_poses
from a2bench.videoio import VideoError, write_video


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
@click.option("--no-face", is_flag=True, help="Leave out the 68 face points (Animate-X's 'without face' images).")
@click.option("--size", help="WIDTHxHEIGHT to draw at (default: the size stored in the pose file).")
def render(pose_json: Path, out: Path, convention: str, no_face: bool, size: str | None) -> None:
    """Draw POSE_JSON (an a2bench pose.json) as a skeleton video."""
    try:
        poses = PoseSequence.from_json(json.loads(pose_json.read_text()), str(pose_json))
        target = parse_size(size) if size else None
        frames = render_poses(poses, target, convention=convention, face=not no_face)
        write_video(out, frames, poses.fps)
    except (PoseError, VideoError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(out)
