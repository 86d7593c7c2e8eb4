"""Model adapters: the one interface through which ``a2bench run`` drives any animation model.

An adapter is a subclass of :class:`Adapter` registered under a name in :data:`a2bench.models.MODELS`:
built-ins (in ``baselines/`` and ``animatex/``) as lazy ``"module:attr"`` entries there, third-party packages
through the ``a2bench.models`` entry-point group (no fork needed). The registry sets :attr:`Adapter.name` to
that name (:mod:`a2bench.core.registry`). It receives a batch of
:class:`Job`\\ s — a benchmark sample, what the protocol asks for (the driving pose, which for
``cross`` is another sample's motion re-targeted to this character), and a per-sample seed — and
returns one :class:`~a2bench.core.videoio.Video` per job.

Arguments come from ``--model-arg key=value`` and are declared in :attr:`Adapter.arguments`, so
they are typed, documented by ``a2bench models``, and part of the adapter's identity: the results
database never attributes one configuration's videos to another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from a2bench.core.data.benchmark import Sample, Task
from a2bench.core.pose import PoseSequence
from a2bench.core.pose.render import POSE_VIDEO, render_poses
from a2bench.core.videoio import Video
from a2bench.core.weights import resolve


class AdapterError(ValueError):
    """Bad adapter arguments or an adapter that cannot run here; the message says what to do."""


@dataclass(frozen=True)
class Argument:
    """One ``--model-arg`` an adapter accepts."""

    type: type
    help: str
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Job:
    """One sample to animate under one protocol."""

    sample: Sample
    task: Task
    seed: int
    workdir: Path | None = None  # a folder of the run for this sample's scratch files and logs

    @property
    def pose(self) -> PoseSequence:
        """The driving pose: the sample's own (``self``) or the re-targeted driver's (``cross``)."""
        return self.task.pose

    @property
    def num_frames(self) -> int:
        return self.task.pose.num_frames

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the benchmark's videos."""
        manifest = self.sample.benchmark.manifest
        return manifest.width, manifest.height

    @property
    def fps(self) -> Fraction:
        return Fraction(self.sample.benchmark.manifest.fps)

    def reference(self) -> np.ndarray:
        return self.sample.reference()

    def prompt(self) -> str:
        return self.sample.prompt()

    def pose_frames(self) -> np.ndarray:
        """The driving pose drawn as benchmark ``pose.mp4`` files are (:data:`POSE_VIDEO`)."""
        return render_poses(self.pose, self.size, **POSE_VIDEO)


@dataclass(frozen=True)
class Output:
    """What an adapter declares it generates; ``None`` means "the benchmark's own".

    The runner checks ``size`` and resizes to the benchmark's for scoring; ``num_frames`` and ``fps``
    describe the model's native output (``a2bench models``): every returned video must still have the
    task's frame count, trimmed or resampled by the adapter.
    """

    size: tuple[int, int] | None = None
    num_frames: int | None = None
    fps: Fraction | None = None


class Adapter:
    """Base class of model adapters; subclasses set the class attributes and implement :meth:`generate`."""

    name: ClassVar[str] = ""  # set by the registry: the name the adapter is registered as
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    needs_gpu: ClassVar[bool] = False
    uses_ground_truth: ClassVar[bool] = False  # oracles: never ranked as models
    batch_size: ClassVar[int] = 1
    weights: ClassVar[tuple[str, ...]] = ()  # names in the weights registry
    arguments: ClassVar[dict[str, Argument]] = {}
    output: ClassVar[Output] = Output()

    def __init__(self, device: str = "cpu", **args: str) -> None:
        if self.needs_gpu and not device.startswith("cuda"):
            raise AdapterError(f"model {self.name!r} needs a CUDA GPU; run with --device cuda on a machine with one")
        self.device = device
        self.args = self.parse_arguments(args)

    @classmethod
    def parse_arguments(cls, given: dict[str, str]) -> dict[str, Any]:
        """``--model-arg`` values converted to their types and completed with defaults; an unknown, missing or
        malformed one is an :class:`AdapterError` (checked before anything loads)."""
        unknown = sorted(set(given) - set(cls.arguments))
        if unknown:
            known = ", ".join(sorted(cls.arguments)) or "none"
            raise AdapterError(f"model {cls.name!r} has no argument {', '.join(unknown)} (it accepts: {known})")
        parsed = {}
        for key, spec in cls.arguments.items():
            if key in given:
                try:
                    parsed[key] = _convert(given[key], spec.type)
                except ValueError as exc:
                    raise AdapterError(
                        f"model {cls.name!r}: {key}={given[key]!r} is not a {spec.type.__name__}"
                    ) from exc
            elif spec.required:
                raise AdapterError(f"model {cls.name!r} needs --model-arg {key}=... ({spec.help})")
            else:
                parsed[key] = spec.default
        return parsed

    def identity(self) -> dict[str, Any]:
        """Everything that determines the outputs: name, version, arguments, weight hashes."""
        return {
            "name": self.name,
            "version": self.version,
            "args": {k: _jsonable(v) for k, v in sorted(self.args.items())},
            "weights": {name: resolve(name).sha256 for name in self.weights},
        }

    def check(self, job: Job) -> None:
        """Raise (an :class:`AdapterError`, naming the sample and the limit) when this model cannot generate ``job``,
        e.g. more frames than it makes. ``a2bench run`` asks for every sample before generating anything, so such a
        sample fails alone and costs no model call. The default accepts every job."""

    def generate(self, jobs: Sequence[Job]) -> list[Video]:
        """One video per job, in order; raise to fail the batch (the runner records the error)."""
        raise NotImplementedError


def _convert(text: str, kind: type) -> Any:
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    return kind(text)


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
