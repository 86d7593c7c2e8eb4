"""``animatex`` and ``animatex-simple``: Animate-X++ as ``a2bench run`` models (docs/animatex.md "Adapter").

Both need CUDA and the official weights (``a2bench weights fetch animatex-full`` / ``animatex-simple``); without
either they fail in the constructor, before any sample, with one message that says what is missing and how to
get it. The pipeline is loaded in the constructor too, so a run never fails half-way for want of a file.

Per job:

* **frames**: ``F`` = the job's frame count ``T`` rounded up to ``4k + 1`` (the simple model), or the IPI's
  fixed 81 (the full model). For ``T <= F`` the driving poses are frames ``0 … T−1`` with the last one repeated
  up to ``F``, and the first ``T`` generated frames are kept. For ``T > 81`` (full model only) the 81 poses are
  taken evenly over the sequence (``round(linspace(0, T − 1, 81))``) and each output frame is the generated
  frame of the nearest pose: a time-resampling, noted in the docs.
* **size**: the benchmark's ``(W, H)`` rounded to the nearest multiples of 16 (at least 16) for generation, the
  result resized back to ``(W, H)`` (bicubic) when they differ.
* **IPI frames** (full model, ``--model-arg ipi_frames=``): ``driver`` (default, as the release) encodes the
  driving sample's RGB video with OpenCLIP; under the ``self`` protocol that is the ground-truth video, as with
  Animate-X v1 in docs/baselines.md. ``pose`` encodes the rendered pose frames instead (no pixels of the target).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2bench.animatex import weights as files
from a2bench.animatex.config import OFFLOAD_MODES, REFERENCE_POSE_RULES, TINY_DIR
from a2bench.core.adapter import Adapter, AdapterError, Argument, Job
from a2bench.core.frames import resize_frames
from a2bench.core.videoio import Video
from a2bench.core.weights import locate, weights_dir

TINY_HINT = "`--model animatex-tiny`, the small Animate-X++ trained here, runs on CPU"


def round_frames(count: int) -> int:
    """The smallest ``4k + 1 >= count``."""
    return count + (1 - count) % 4


def round_size(size: tuple[int, int], multiple: int = 16) -> tuple[int, int]:
    """``(W, H)`` rounded to the nearest multiples of ``multiple`` (at least one multiple)."""
    return tuple(max(multiple, round(v / multiple) * multiple) for v in size)  # type: ignore[return-value]


def plan_frames(count: int, generated: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pose indices for the generated frames, generated frame for each of the count output frames)``."""
    if count <= generated:
        poses = np.minimum(np.arange(generated), count - 1)
        return poses, np.arange(count)
    poses = np.round(np.linspace(0, count - 1, generated)).astype(np.int64)
    return poses, np.abs(poses[None, :] - np.arange(count)[:, None]).argmin(axis=1)


REF_POSE_ARGUMENT = Argument(
    str,
    "the reference-pose image: driving (the driving pose's first frame) or reference (the reference image's pose); "
    "default: the model config's (the release: driving)",
)


def _check_ref_pose(name: str, args: dict[str, Any]) -> None:
    if args["ref_pose"] not in (None, *REFERENCE_POSE_RULES):
        raise AdapterError(f"model {name!r}: ref_pose must be one of {', '.join(REFERENCE_POSE_RULES)}")


class _AnimateX(Adapter):
    needs_gpu = True
    variant: str = "animatex"
    fetch_group: str = "animatex-full"
    arguments: ClassVar[dict[str, Argument]] = {
        "steps": Argument(int, "sampling steps", 50),
        "cfg": Argument(float, "guidance scale (default: the release's, 3 full / 5 simple; 1 skips the negative)"),
        "ipi_frames": Argument(
            str, "the IPI's RGB frames: driver (the driving video, as the release) or pose", "driver"
        ),
        "ref_pose": REF_POSE_ARGUMENT,
        "offload": Argument(str, "none, model, group (block-level) or leaf: less GPU memory, same video", "none"),
        "vae_tiling": Argument(bool, "tiled VAE decode and encode (less memory; the video changes slightly)", False),
        "compile": Argument(bool, "torch.compile the DiT blocks (a slow first step; not with offload=leaf)", False),
    }

    def __init__(self, device: str = "cpu", **args: str) -> None:
        self.device = device
        self.args = self.parse_arguments(args)
        if self.args.get("ipi_frames", "pose") not in ("driver", "pose"):
            raise AdapterError(f"model {self.name!r}: ipi_frames must be 'driver' or 'pose'")
        _check_ref_pose(self.name, self.args)
        if self.args["offload"] not in OFFLOAD_MODES:
            raise AdapterError(f"model {self.name!r}: offload must be one of {', '.join(OFFLOAD_MODES)}")
        problems = []
        if not device.startswith("cuda"):
            problems.append(f"a CUDA GPU (got --device {device}; run with --device cuda on a machine with one)")
        elif not _cuda_available():
            problems.append("a CUDA GPU (torch sees none here)")
        missing = [name for name in self.weights if locate(name) is None]
        if missing:
            shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
            problems.append(
                f"{len(missing)} weight file(s) not found in {weights_dir()} ($A2BENCH_WEIGHTS) ({shown}): "
                f"fetch them with `a2bench weights fetch {self.fetch_group}`"
            )
        if problems:
            raise AdapterError(
                f"model {self.name!r} cannot run here; it needs "
                + "; and ".join(problems)
                + f". Meanwhile, {TINY_HINT}."
            )
        from a2bench.animatex.pipeline import AnimateXPipeline  # lazy: diffusers is the optional model extra

        offload = self.args["offload"]
        self.pipe = AnimateXPipeline.from_release(self.variant, device=device if offload == "none" else "cpu")
        self.pipe.enable_efficiency(device, offload, self.args["vae_tiling"], self.args["compile"])

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        return [animate(self.pipe, job, round_size(job.size), self.args) for job in jobs]


def animate(pipe: Any, job: Job, size: tuple[int, int], args: dict[str, Any]) -> Video:
    """One job through :class:`~a2bench.animatex.pipeline.AnimateXPipeline` at ``size`` (the frame rule above), resized
    back to the job's size. ``args``: ``steps``, ``cfg``, ``ref_pose`` and, full model, ``ipi_frames``."""
    ipi = pipe.model.config.ipi
    generated = ipi.num_frames if ipi is not None else round_frames(job.num_frames)
    poses, keep = plan_frames(job.num_frames, generated)
    driving = None
    if ipi is not None and args.get("ipi_frames") == "driver":
        driving = job.sample.benchmark[job.task.driver_id].video().frames
        driving = driving[np.minimum(np.arange(job.num_frames), len(driving) - 1)]
    result = pipe(job.reference(), job.pose, job.prompt(), num_frames=generated, size=size, steps=args["steps"],
                  cfg=args["cfg"], seed=job.seed, indices=poses, driving_frames=driving,
                  reference_pose=args.get("ref_pose"))  # fmt: skip
    return Video(resize_frames(result.frames[keep], job.size), job.fps)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


class AnimateX(_AnimateX):
    description = "Animate-X++ full model (Wan2.1-I2V-14B + pose encoders + Implicit Pose Indicator); CUDA, 14B."
    variant = "animatex"
    fetch_group = "animatex-full"
    weights = files.FULL


class AnimateXSimple(_AnimateX):
    description = "Animate-X++ simple model (no Implicit Pose Indicator); CUDA, 14B."
    variant = "animatex-simple"
    fetch_group = "animatex-simple"
    weights = files.SIMPLE
    arguments: ClassVar[dict[str, Argument]] = {k: v for k, v in _AnimateX.arguments.items() if k != "ipi_frames"}


class AnimateXTiny(Adapter):
    """``animatex-tiny``: the small Animate-X++ trained here (docs/animatex-tiny.md), on CPU or GPU.

    Generates 33 frames at 64 × 64 (its training size) by the frame rule above, resized to the benchmark's
    size; its IPI sees the rendered pose frames (as it was trained), never the driving video's pixels.
    ``weights`` runs another small pipeline of the same kind (a folder written by
    :meth:`AnimateXPipeline.save_pretrained`, e.g. a training run's ``pipeline/``); its hash is in the run's
    identity like the shipped one's.
    """

    description = "The small Animate-X++ trained here from scratch on synthetic characters (64 px, 33 frames); CPU."
    arguments: ClassVar[dict[str, Argument]] = {
        "steps": Argument(int, "sampling steps (default: the weights' config; the shipped model's is 1)"),
        "cfg": Argument(
            float, "guidance scale (default: the weights' config; 1, the shipped one's, skips the negative)"
        ),
        "weights": Argument(str, "a save_pretrained folder to run instead of the shipped weights"),
        "ref_pose": REF_POSE_ARGUMENT,
    }

    def __init__(self, device: str = "cpu", **args: str) -> None:
        super().__init__(device, **args)
        _check_ref_pose(self.name, self.args)
        folder = Path(self.args["weights"]) if self.args["weights"] else TINY_DIR
        weights = folder / "model.safetensors"
        if not weights.is_file():
            shipped = "they ship with the source tree; reinstall from a full checkout"
            own = "--model-arg weights= takes a folder written by AnimateXPipeline.save_pretrained"
            where = shipped if folder == TINY_DIR else own
            raise AdapterError(f"model {self.name!r}: its weights {weights} are missing ({where})")
        import torch

        from a2bench.animatex.pipeline import AnimateXPipeline  # lazy: diffusers is the optional model extra

        torch.set_flush_denormal(True)  # CPU: denormal floats are many times slower (no effect on the outputs' use)
        self.pipe = AnimateXPipeline.from_pretrained(folder, device=device)
        self.folder, self.label = folder, "animatex-tiny" if folder == TINY_DIR else str(folder)

    def identity(self) -> dict[str, Any]:
        """The base identity plus the sha256 of the weights and of ``config.json`` (its sampling defaults)."""
        out = super().identity()
        out["weights"] = {f"{self.label}/{name}": hashlib.sha256((self.folder / name).read_bytes()).hexdigest()
                          for name in ("model.safetensors", "config.json")}  # fmt: skip
        return out

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        s = self.pipe.model.config.sampling
        args = {"steps": self.args["steps"] or s.num_inference_steps, "cfg": self.args["cfg"],
                "ref_pose": self.args["ref_pose"]}  # fmt: skip
        return [animate(self.pipe, job, (s.width, s.height), args) for job in jobs]
