"""Generate ``synth``: the built-in A2Bench-layout benchmark with ground truth for both protocols.

Sample ``i`` gets a character, a scene and a motion drawn from ``default_rng([seed, i])``; motions
and scenes are dealt round-robin (after a seeded shuffle) so every kind appears. The cross-driven
driver of each sample is the next one in a seeded cyclic order, never itself. Its pose is
:func:`a2bench.core.pose.retarget` of the driver's ``pose.json`` onto this character's reference pose,
and the ground truth is this character drawn at exactly those keypoints, on its own background.

``still`` (training data, default 0): each sample whose scene moves (snow, fire, rings, clouds) gets, with this
probability (a seeded draw), its scene frozen at time 0 (the snow, fire, rings or clouds are there but do not
move) and the prompt "The background stays still.", so that a model must read the prompt, not the scene, to know
whether the background moves. The evaluation benchmark keeps every scene's motion.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from a2bench.core.data.manifest import CrossSpec, Manifest, SampleEntry, file_entry
from a2bench.core.paths import home
from a2bench.core.pose import PoseSequence, retarget
from a2bench.core.pose.keypoints import from_pixels, to_pixels
from a2bench.core.pose.render import POSE_VIDEO, render_poses
from a2bench.core.staging import Say, remove_leftovers, staging_folder
from a2bench.core.synth.backgrounds import SCENES, STILL, Background
from a2bench.core.synth.characters import CharacterSpec, sample_character
from a2bench.core.synth.draw import draw_character
from a2bench.core.synth.motions import MOTIONS, PHRASES, sample_motion
from a2bench.core.synth.raster import Canvas
from a2bench.core.synth.skeleton import REST, body_points
from a2bench.core.videoio import write_video

Progress = Callable[[str, int, int], None]  # (sample id, done, total)
GENERATOR_VERSION = 2  # 2: pose.mp4, angle-preserving re-targeting

_STYLE_WORDS = {
    "flat": "flat cartoon style",
    "3d": "3D render style",
    "storybook": "storybook illustration style",
}


@dataclass(frozen=True)
class SynthOptions:
    samples: int = 16
    frames: int = 32
    width: int = 256
    height: int = 256
    seed: int = 0
    fps: int = 15
    still: float = 0.0

    def __post_init__(self) -> None:
        if self.samples < 1 or self.frames < 1:
            raise ValueError("synth needs at least 1 sample and 1 frame")
        if not 0.0 <= self.still <= 1.0:
            raise ValueError(f"synth still must be a fraction in [0, 1], got {self.still}")
        if self.width < 64 or self.height < 64 or self.width % 2 or self.height % 2:
            raise ValueError(f"synth frame size must be even and at least 64x64, got {self.width}x{self.height}")

    def to_dict(self) -> dict[str, int | float]:
        """Every option; ``still`` only when set, so the benchmark's manifest and cache key are those of before."""
        options = asdict(self)
        if not self.still:
            del options["still"]
        return options

    @property
    def key(self) -> str:
        """Cache key: generator version plus every option."""
        text = json.dumps({"generator": GENERATOR_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def version(self) -> str:
        still = f".still{self.still:g}" if self.still else ""
        return f"{GENERATOR_VERSION}.0+n{self.samples}.f{self.frames}.{self.width}x{self.height}.s{self.seed}{still}"


@dataclass(frozen=True)
class _Plan:
    """Everything about one sample except its pixels."""

    sample_id: str
    spec: CharacterSpec
    scene_index: int
    still: bool
    scene_seed: int
    motion: str
    prompt: str
    pose: PoseSequence
    driver: str | None


def cached_synth(
    workers: int | None = None, say: Say | None = None, progress: Progress | None = None, **options: float
) -> Path:
    """The synth benchmark for ``options`` under ``$A2BENCH_HOME``, generated on first use (``workers``
    processes; the files do not depend on it; ``say`` and ``progress`` as in :func:`generate`)."""
    opts = SynthOptions(**options)
    dest = home() / "benchmarks" / f"synth-{opts.key}"
    if not (dest / "manifest.json").is_file():
        generate(dest, opts, workers, say, progress)
    return dest


def generate(
    out: Path,
    options: SynthOptions,
    workers: int | None = None,
    say: Say | None = None,
    progress: Progress | None = None,
) -> Path:
    """Write the benchmark to ``out`` atomically (a temporary sibling folder, then a rename).

    First removes the temporary folders that killed runs left beside ``out`` (:mod:`a2bench.core.staging`); ``say``
    gets a line for each folder removed or, being in use by a running process, left alone. ``progress(sample id,
    done, total)`` is called as each sample is written."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(out, "tmp", say or (lambda _line: None))
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out}: exists and is not empty; choose a new folder")
    with staging_folder(out) as tmp:
        plans = _plan(options)
        by_id = {p.sample_id: p for p in plans}
        jobs = [(plan, by_id[plan.driver].pose if plan.driver else None, options, tmp) for plan in plans]
        workers = workers or min(os.cpu_count() or 1, 4)
        with ProcessPoolExecutor(workers) if workers > 1 and len(jobs) > 1 else nullcontext() as pool:
            entries = []
            for entry in pool.map(_write_sample, jobs) if pool is not None else map(_write_sample, jobs):
                entries.append(entry)
                if progress is not None:
                    progress(entry.id, len(entries), len(jobs))
        manifest = Manifest(
            name="synth",
            version=options.version,
            license="CC0-1.0",
            description=(
                "Procedurally generated anthropomorphic characters with known poses and rendered ground truth "
                "for the self-driven and cross-driven protocols (a2bench built-in)."
            ),
            fps=Fraction(options.fps),
            width=options.width,
            height=options.height,
            protocols=("self", "cross") if options.samples > 1 else ("self",),
            samples=tuple(entries),
            source={
                "generator": "a2bench.core.synth",
                "generator_version": GENERATOR_VERSION,
                "options": options.to_dict(),
                "pose_video": POSE_VIDEO,
            },
        )
        (tmp / "manifest.json").write_text(manifest.dumps())
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    return out


def character_specs(options: SynthOptions) -> dict[str, CharacterSpec]:
    """Each sample's character as the generator drew it (``options``: a synth manifest's ``source.options``)."""
    return {plan.sample_id: plan.spec for plan in _plan(options)}


def _plan(options: SynthOptions) -> list[_Plan]:
    order = np.random.default_rng([options.seed, 10**6])
    motions = [list(MOTIONS)[k % len(MOTIONS)] for k in order.permutation(options.samples)]
    scenes = [k % len(SCENES) for k in order.permutation(options.samples)]
    cycle = order.permutation(options.samples)
    stills = np.random.default_rng([options.seed, 10**6 + 1]).random(options.samples) < options.still
    drivers = {int(cycle[k]): int(cycle[(k + 1) % options.samples]) for k in range(options.samples)}
    size = (options.width, options.height)
    ids = [f"s{i:03d}" for i in range(options.samples)]
    plans = []
    for i in range(options.samples):
        rng = np.random.default_rng([options.seed, i])
        spec = sample_character(rng)
        motion = sample_motion(motions[i], rng)
        times = np.arange(options.frames) / options.fps
        frames = np.stack([body_points(spec, motion(t), size) for t in times])
        reference = body_points(spec, REST, size)
        pose = normalised(frames, reference, size, options.fps)
        scene = SCENES[scenes[i]]
        still = bool(stills[i]) and scene.effect is not None
        prompt = (
            f"A cute anthropomorphic {spec.kind.name} with {spec.describe()}, {_STYLE_WORDS[spec.style]}, "
            f"{PHRASES[motions[i]]} {scene.place}. {STILL if still else scene.motion}"
        )
        driver = ids[drivers[i]] if options.samples > 1 else None
        scene_seed = int.from_bytes(hashlib.sha256(f"{options.seed}/{ids[i]}".encode()).digest()[:4], "little")
        plans.append(_Plan(ids[i], spec, scenes[i], still, scene_seed, motions[i], prompt, pose, driver))
    return plans


def normalised(frames: np.ndarray, reference: np.ndarray, size: tuple[int, int], fps: int) -> PoseSequence:
    """Pixel keypoints to a PoseSequence as it will read back from ``pose.json`` (rounded)."""
    ones = np.ones(frames.shape[:-1])
    pose = PoseSequence(
        from_pixels(frames, size, ones), size, Fraction(fps), from_pixels(reference, size, ones[0]), size
    )
    return PoseSequence.from_json(json.loads(json.dumps(pose.to_json())))  # exactly what pose.json holds


def backgrounds(plan: _Plan, options: SynthOptions) -> list[np.ndarray]:
    """The sample's background at every frame time (shared by the self and cross videos)."""
    background = Background(SCENES[plan.scene_index], (options.width, options.height), seed=plan.scene_seed)
    times = [0.0 if plan.still else index / options.fps for index in range(options.frames)]  # still: frozen at 0
    return [background.frame(t) for t in times]


def render(spec: CharacterSpec, backdrops: list[np.ndarray], pose: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The character drawn at each frame's keypoints ``(T, 130, 3)`` over the matching backdrop."""
    frames = []
    for backdrop, points in zip(backdrops, pose, strict=True):
        canvas = Canvas(backdrop)
        draw_character(canvas, spec, to_pixels(points, size), size)
        frames.append(canvas.to_uint8())
    return np.stack(frames)


def _write_sample(job: tuple[_Plan, PoseSequence | None, SynthOptions, Path]) -> SampleEntry:
    plan, driver_pose, options, root = job
    size = (options.width, options.height)
    folder = root / plan.sample_id
    folder.mkdir()
    backdrops = backgrounds(plan, options)
    reference = render(plan.spec, backdrops[:1], plan.pose.reference[None], size)[0]
    Image.fromarray(reference).save(folder / "reference.png")
    video = render(plan.spec, backdrops, plan.pose.frames, size)
    write_video(folder / "video.mp4", video, options.fps, deterministic=True)
    (folder / "pose.json").write_text(json.dumps(plan.pose.to_json(), separators=(",", ":")) + "\n")
    write_video(folder / "pose.mp4", render_poses(plan.pose, **POSE_VIDEO), options.fps, deterministic=True)
    (folder / "prompt.txt").write_text(plan.prompt + "\n")
    cross = None
    if driver_pose is not None:
        cross_doc = retarget(driver_pose, plan.pose.reference, size).to_json()
        (folder / "cross_pose.json").write_text(json.dumps(cross_doc, separators=(",", ":")) + "\n")
        cross_pose = PoseSequence.from_json(cross_doc)  # render exactly what the file holds
        cross_frames = render(plan.spec, backdrops, cross_pose.frames, size)
        write_video(folder / "cross_video.mp4", cross_frames, options.fps, deterministic=True)
        cross = CrossSpec(plan.driver, "cross_pose.json", "cross_video.mp4")
    files = {p.name: file_entry(p) for p in sorted(folder.iterdir())}
    return SampleEntry(
        id=plan.sample_id,
        category=plan.spec.kind.category,
        style=plan.spec.style,
        num_frames=options.frames,
        files=files,
        cross=cross,
        extra={
            "character": plan.spec.kind.name,
            "motion": plan.motion,
            "scene": SCENES[plan.scene_index].name,
            **({"still": True} if plan.still else {}),
        },
    )
