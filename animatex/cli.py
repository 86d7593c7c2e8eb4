"""The ``animatex`` command line: ``animatex infer`` (docs/animatex.md "Command line")."""

from __future__ import annotations

import dataclasses
import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import click
import numpy as np
from PIL import Image

from a2bench.animatex.config import OFFLOAD_MODES, REFERENCE_POSE_RULES, TINY_DIR, ConfigError, get_preset
from a2bench.animatex.train.config import load_config, parse_yaml
from a2bench.core.frames import parse_size
from a2bench.core.pose import PoseError, PoseSequence, retarget
from a2bench.core.pose.extract import DWPose, extract_frames
from a2bench.core.pose.render import POSE_VIDEO, render_poses
from a2bench.core.videoio import VideoError, read_video, write_video
from a2bench.core.weights import WeightsError

VARIANTS = ("animatex", "animatex-simple", "animatex-tiny", "tiny", "tiny-simple")
TINY_WARNING = (
    "WARNING: --variant {variant} uses RANDOM WEIGHTS at toy sizes. This is a plumbing check of the pipeline, "
    "not a model: the video is noise."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Animate-X++ (a clean re-implementation on diffusers; docs/animatex.md)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


@main.command()
@click.option("--image", "image_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Reference image of the character.")  # fmt: skip
@click.option("--driving", type=click.Path(exists=True, path_type=Path), required=True,
              help="Driving video (DWPose runs on it) or an a2bench pose.json.")  # fmt: skip
@click.option("--prompt", default="a person is dancing.", show_default=True,
              help="Text prompt (a background-motion sentence goes here too).")  # fmt: skip
@click.option("--negative-prompt", default=None, help="Default: the release's negative prompt.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .mp4 to write.")
@click.option("--variant", type=click.Choice(VARIANTS), default="animatex", show_default=True)
@click.option("--frames", type=int, default=None, help="4k+1 frames (default: the preset's, 81; the full model: 81).")
@click.option("--size", default=None, help="WIDTHxHEIGHT, multiples of 16 (default: the preset's, 480x832).")
@click.option("--steps", type=int, default=None, help="Sampling steps (default: the preset's, 50).")
@click.option("--cfg", type=float, default=None, help="Guidance scale (default: 3 full, 5 simple; 1 = no negative).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--stride", type=int, default=1, show_default=True, help="Take every STRIDE-th driving frame.")
@click.option("--fps", type=float, default=None, help="Output fps (default: the driving fps / stride).")
@click.option("--align", is_flag=True, help="Re-target the driving pose to the character in --image (DWPose on it).")
@click.option("--ref-pose", "reference_pose", type=click.Choice(REFERENCE_POSE_RULES), default=None,
              help="The reference-pose image: driving (the driving pose's first frame, as the release) or "
                   "reference (the pose of --image: DWPose on it unless the pose.json has it). Default: the "
                   "variant's.")  # fmt: skip
@click.option("--side-by-side", is_flag=True, help="Write reference | pose | result, as the release's script.")
@click.option("--device", default=None, help="cuda or cpu (default: cuda when available).")
@click.option("--offload", type=click.Choice(OFFLOAD_MODES), default="none", show_default=True,
              help="Keep components on the CPU, each on --device only while it runs (model); the transformer one "
                   "block (group) or one layer (leaf) at a time. For GPUs smaller than the model.")  # fmt: skip
@click.option("--vae-tiling", is_flag=True, help="Tiled VAE encode/decode (less memory; slightly different seams).")
@click.option("--compile", "compile_blocks", is_flag=True,
              help="torch.compile the DiT blocks (slow first step; not with --offload leaf).")  # fmt: skip
def infer(
    image_path: Path,
    driving: Path,
    prompt: str,
    negative_prompt: str | None,
    out: Path,
    variant: str,
    frames: int | None,
    size: str | None,
    steps: int | None,
    cfg: float | None,
    seed: int,
    stride: int,
    fps: float | None,
    align: bool,
    reference_pose: str | None,
    side_by_side: bool,
    device: str | None,
    offload: str,
    vae_tiling: bool,
    compile_blocks: bool,
) -> None:
    """Animate the character in --image with the motion of --driving and write --out."""
    import torch

    from a2bench.animatex.pipeline import AnimateXPipeline  # lazy: diffusers is the optional model extra

    tiny = variant.startswith("tiny")
    if tiny:
        click.secho(TINY_WARNING.format(variant=variant), fg="red", bold=True, err=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    sampling = get_preset(variant).sampling
    try:
        width, height = parse_size(size) if size else (sampling.width, sampling.height)
        image = np.asarray(Image.open(image_path).convert("RGB"))
        own_pose = (reference_pose or get_preset(variant).inputs.reference_pose) == "reference"
        pose, driving_frames = _driving_pose(driving, image, align, own_pose, device)
        load_on = device if offload == "none" else "cpu"  # offloading: the modules stay on the CPU
        if tiny:
            pipe = AnimateXPipeline.tiny(seed=0, variant=variant, device=load_on)
        elif variant == "animatex-tiny":
            torch.set_flush_denormal(True)
            pipe = AnimateXPipeline.from_pretrained(TINY_DIR, device=load_on)
        else:
            if not device.startswith("cuda"):
                click.echo("note: the 14B model on CPU is impractically slow", err=True)
            pipe = AnimateXPipeline.from_release(variant, device=load_on)
        pipe.enable_efficiency(device, offload, vae_tiling, compile_blocks)
        result = pipe(image, pose, prompt, negative_prompt, num_frames=frames, size=(width, height), steps=steps,
                      cfg=cfg, seed=seed, stride=stride, driving_frames=driving_frames,
                      reference_pose=reference_pose)  # fmt: skip
    except (PoseError, VideoError, WeightsError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    idx = result.indices
    step = int(idx[1] - idx[0]) if len(idx) > 1 and idx[1] > idx[0] else 1
    rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(pose.fps) / step
    video = result.frames
    if side_by_side:
        video = _side_by_side(pipe, image, pose, idx, video)
    write_video(out, video, rate)
    click.echo(f"{out}: {len(video)} frames, {video.shape[2]}x{video.shape[1]}, {float(rate):g} fps")


def _driving_pose(
    driving: Path, image: np.ndarray, align: bool, own_pose: bool, device: str
) -> tuple[PoseSequence, np.ndarray | None]:
    """The driving pose (from pose.json, or DWPose on the video) and the driving RGB frames (videos only).

    DWPose also runs on ``image`` for ``align`` (re-targeting) and for ``own_pose`` (the reference-pose image is the
    image's pose) when the pose has no reference pose yet; the result carries it as its ``reference``."""
    frames = None
    estimator = None
    if driving.suffix.lower() == ".json":
        pose = PoseSequence.load(driving)
    else:
        video = read_video(driving)
        frames = video.frames
        estimator = DWPose(device="cuda" if device.startswith("cuda") else "cpu")
        pose = extract_frames(frames, video.fps, estimator).pose
        click.echo(f"{driving}: extracted the pose of {pose.num_frames} frames", err=True)
    if align or (own_pose and pose.reference is None):
        estimator = estimator or DWPose(device="cuda" if device.startswith("cuda") else "cpu")
        target = extract_frames(image[None], Fraction(1), estimator).pose.frames[0]
        size = (image.shape[1], image.shape[0])
        if align:
            pose = retarget(pose, target, size)
        else:
            pose = dataclasses.replace(pose, reference=target, reference_size=size)
    return pose, frames


def _side_by_side(pipe: Any, image: np.ndarray, pose: PoseSequence, idx: np.ndarray, video: np.ndarray) -> np.ndarray:
    """``[reference | pose | result]`` per frame, each panel at the result's size (bilinear), the pose as the model
    sees it, as the release's script shows them."""
    height, width = video.shape[1:3]
    ref = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    drawn = pipe.model_colours(render_poses(PoseSequence(pose.frames[idx], pose.size, pose.fps), (width, height),
                                            **POSE_VIDEO))  # fmt: skip
    return np.concatenate([np.broadcast_to(ref, video.shape), drawn, video], axis=2)


@main.command()
@click.option("--variant", type=click.Choice(["animatex", "animatex-simple"]), default="animatex", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The .safetensors bundle.")
@click.option("--dtype", type=click.Choice(["release", "bf16", "fp16", "fp32"]), default="release", show_default=True,
              help="release: the release's dtype per component; otherwise one dtype for all.")  # fmt: skip
def convert(variant: str, out: Path, dtype: str) -> None:
    """Write the registered release files of VARIANT as one safetensors bundle (faster later loads)."""
    import torch

    from a2bench.animatex.loading.bundle import convert as write_bundle  # lazy: it needs safetensors (model extra)

    dtypes = {"release": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    try:
        path = write_bundle(out, variant="full" if variant == "animatex" else "simple", dtype=dtypes[dtype])
    except (WeightsError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(path)


def _config_options(fn):
    help_set = "Override one config value (YAML value), e.g. --set train.steps=10; repeatable."
    fn = click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help=help_set)(fn)
    fn = click.option("--benchmark", default=None, help="Override data.benchmark.")(fn)
    return click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                        required=True, help="Training config (YAML; see configs/).")(fn)  # fmt: skip


def _load_training_config(config_path: Path, settings: tuple[str, ...], benchmark: str | None, **train: Any):
    overrides: dict = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot:
            raise click.BadParameter(f"{setting!r}: expected SECTION.KEY=VALUE", param_hint="--set")
        overrides.setdefault(section, {})[name] = parse_yaml(value)
    for name, value in train.items():
        if value is not None:
            overrides.setdefault("train", {})[name] = value
    if benchmark is not None:
        overrides.setdefault("data", {})["benchmark"] = benchmark
    return load_config(config_path, overrides)


@main.command()
@_config_options
@click.option("--resume", default=None, help="A checkpoint folder, or 'latest' (the newest in train.output_dir).")
@click.option("--steps", type=int, default=None, help="Override train.steps.")
@click.option("--output-dir", default=None, help="Override train.output_dir.")
def train(config_path: Path, settings: tuple[str, ...], benchmark: str | None, resume: str | None, steps: int | None,
          output_dir: str | None):  # fmt: skip
    """Train Animate-X++ (LoRA + pose encoders + IPI; a small preset from scratch) as --config says; run it under
    `accelerate launch` for several processes. Writes checkpoints, log.csv and loss.png to train.output_dir."""
    try:
        cfg = _load_training_config(config_path, settings, benchmark, steps=steps, output_dir=output_dir)
        if cfg.model.preset in ("tiny", "tiny-simple"):
            warning = f"WARNING: {cfg.model.preset!r} starts from RANDOM WEIGHTS (a check of the code, not a model)"
            click.secho(warning, fg="red", bold=True, err=True)
        from a2bench.animatex.train.loop import train as run_training  # lazy: diffusers, accelerate (model extra)

        result = run_training(cfg, resume=resume, echo=click.echo)
    except (ConfigError, WeightsError, FileNotFoundError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    if result.losses:
        click.echo(f"{result.output_dir}: {len(result.losses)} steps, last loss {result.losses[-1][1]:.6f}")


@main.command("train-vae")
@_config_options
def train_vae(config_path: Path, settings: tuple[str, ...], benchmark: str | None) -> None:
    """Train a small preset's VAE from scratch (the config's `vae` section, data from its `data` section); point
    model.vae of the main training at the vae.safetensors it writes."""
    try:
        cfg = _load_training_config(config_path, settings, benchmark)
        from a2bench.animatex.train.vae import train_vae as run  # lazy: diffusers (the model extra)

        run(cfg, echo=click.echo)
    except (ConfigError, FileNotFoundError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


@main.command("train-decoder")
@_config_options
def train_decoder(config_path: Path, settings: tuple[str, ...], benchmark: str | None) -> None:
    """Fine-tune a trained small pipeline's (model.weights) VAE decoder on its DiT's one-step predictions of training
    clips (the config's `decoder` section); writes decoder.output_dir/pipeline."""
    try:
        cfg = _load_training_config(config_path, settings, benchmark)
        from a2bench.animatex.train.decoder import train_decoder as run  # lazy: diffusers (the model extra)

        run(cfg, echo=click.echo)
    except (ConfigError, FileNotFoundError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc


if __name__ == "__main__":
    main()
