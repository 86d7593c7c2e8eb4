"""``a2bench run``: feed every sample of a benchmark to a model, keep every video, score, record.

What a run guarantees (docs/runner.md):

- **Resume.** A run's id hashes the adapter identity, the benchmark manifest, protocol, seed, sample
  list and metrics, so the same command finds the same run. Each generation is keyed by (adapter
  identity, sample content, protocol, sample seed); keys already done are skipped, by this run or
  any earlier one, and a different model or argument can never pick up another's video.
- **Atomicity.** A video is written to a temporary file and renamed, then its row is committed.
- **Integrity.** Every output is checked (a video per sample, uint8, frame count, size, finite)
  when generated and again (checksum, frame count, size) before scoring. A failure is recorded with
  its error and the run goes on; failed samples are never scored as zero, the run is marked
  ``incomplete`` and the command exits non-zero.
- **Determinism.** Each sample's seed derives from (run seed, sample id), not from batch or order.
- **Several processes.** Under ``torchrun`` each rank generates ``samples[rank::world]`` and writes
  its own rows (SQLite WAL); rank 0 waits for all, then scores and reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from a2bench.core.adapter import Adapter, Job
from a2bench.core.data.benchmark import Benchmark, Sample, sample_problems
from a2bench.core.data.load import load_benchmark
from a2bench.core.fileio import hash_file
from a2bench.core.frames import resize_frames
from a2bench.core.paths import home
from a2bench.core.provenance import SOURCE_TREE, VERSION, git_commit, package_versions
from a2bench.core.record import Run
from a2bench.core.videoio import Video, VideoError, probe_video, read_video, write_video
from a2bench.models import MODELS
from a2bench.runs.results import Generation, ResultsDB

if TYPE_CHECKING:
    from a2bench.metrics.evaluate import Evaluation


@dataclass(frozen=True)
class RunOptions:
    """Everything ``a2bench run`` takes; ``metrics=None`` means the default set, ``[]`` no scoring."""

    model: str
    model_args: dict[str, str] = field(default_factory=dict)
    bench: str = "synth"
    protocol: str = "self"
    limit: int | None = None
    seed: int = 0
    device: str = "cpu"
    metrics: Sequence[str] | None = None
    out: Path | None = None
    db: Path | None = None


@dataclass
class RunResult:
    """What a run did: its row, counts, failures by sample id, and the metrics (rank 0 only)."""

    run: Run
    generated: int = 0
    reused: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    rank: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


Progress = Callable[[str, int, int], None]  # (sample id, done, total)


def sample_seed(run_seed: int, sample_id: str) -> int:
    """The seed a sample is generated with: independent of batch size, order and process count."""
    return int.from_bytes(hashlib.sha256(f"{run_seed}/{sample_id}".encode()).digest()[:4], "little") & 0x7FFFFFFF


def sample_content_hash(sample: Sample, protocol: str) -> str:
    """sha256 over the files that define the sample's task (and, for ``cross``, the driver's)."""
    parts: dict[str, Any] = {"files": {p: f.sha256 for p, f in sorted(sample.entry.files.items())}}
    if protocol == "cross" and sample.cross is not None:
        driver = sample.benchmark[sample.cross.driver]
        parts["cross"] = [sample.cross.driver, sample.cross.pose, sample.cross.video]
        parts["driver"] = {p: f.sha256 for p, f in sorted(driver.entry.files.items())}
    return _hash(parts)


def run(options: RunOptions, progress: Progress | None = None, scoring: Progress | None = None) -> RunResult:
    """Generate, check, store and score; see the module docstring for the guarantees. ``progress`` hears of each
    generated sample, ``scoring`` of each sample as it is scored."""
    from a2bench.metrics.evaluate import metric_names, require_weights  # lazy: torch

    benchmark = load_benchmark(options.bench)
    if options.protocol not in benchmark.manifest.protocols:
        offered = ", ".join(benchmark.manifest.protocols)
        raise ValueError(f"benchmark {benchmark.name} offers protocols {offered}, not {options.protocol!r}")
    model = MODELS.get(options.model)  # an unknown name or argument first, with its suggestions
    model.parse_arguments(options.model_args)
    metrics = metric_names(options.metrics) if options.metrics != [] else []
    require_weights(metrics)  # before the model loads or generates anything; such a run is never recorded
    adapter = model(device=_device(options.device), **options.model_args)
    samples = list(benchmark.samples[: options.limit])
    identity = adapter.identity()
    manifest_sha = benchmark.manifest.sha256
    run_id = _hash([identity, manifest_sha, options.protocol, options.seed, [s.id for s in samples], metrics])[:12]
    folder = Path(options.out) if options.out else home() / "runs" / f"{adapter.name}-{run_id}"
    db = ResultsDB(options.db)
    rank, world = _distributed()
    row = Run(
        id=run_id,
        model=adapter.name,
        identity=identity,
        benchmark=benchmark.name,
        benchmark_version=benchmark.version,
        manifest_sha256=manifest_sha,
        protocol=options.protocol,
        seed=options.seed,
        samples=len(samples),
        metric_names=metrics,
        folder=str(folder.resolve()),
        provenance=_provenance(options, adapter, world, len(benchmark)),
        status="running",
        started=_now(),
        oracle=bool(model.uses_ground_truth),
    )
    if rank == 0:
        (folder / "videos").mkdir(parents=True, exist_ok=True)
        db.save_run(row)
    _barrier(world)
    result = RunResult(row, rank=rank)
    try:
        _generate(adapter, benchmark, samples[rank::world], row, db, folder, result, progress)
    except KeyboardInterrupt:
        db.set_status(run_id, "interrupted", _now())
        raise
    if world > 1:  # every rank's counts, for rank 0's summary (also a barrier)
        result.generated, result.reused = _sum_over_ranks(result.generated, result.reused)
    if rank != 0:
        return result
    metrics = db.run(run_id).metric_names  # the command's, and any `a2bench score` added since
    try:
        result.metrics, result.failed = _score_stored(db, row, samples, benchmark, metrics, options.device, scoring)
    except BaseException:  # never leave the run "running"; re-running the command scores again
        db.set_status(run_id, "incomplete", _now())
        raise
    if metrics:
        db.save_metrics(run_id, result.metrics)
    status = "incomplete" if result.failed else "complete"
    db.set_status(run_id, status, _now())
    result.run = db.run(run_id)
    return result


def score_run(
    run_id: str,
    metrics: Sequence[str] | str,
    *,
    bench: str | None = None,
    db: Path | None = None,
    device: str = "cpu",
    progress: Progress | None = None,
) -> RunResult:
    """Score a recorded run's stored, intact videos with more ``metrics``, without generating anything.

    The new values are stored beside the run's others (a metric it has is replaced) and its ``metric_names``
    grow, so the run id stays and re-running its command scores them all. ``bench`` is where the benchmark is
    (default: the run's recorded ``--bench``, else its name); its manifest must be the run's.
    """
    from a2bench.metrics.evaluate import metric_names, require_weights  # lazy: torch

    store = ResultsDB(db)
    row = store.run(run_id)
    names = metric_names(metrics)
    require_weights(names)
    benchmark = _recorded_benchmark(row, bench)
    samples = list(benchmark.samples[: row.samples])
    values, failed = _score_stored(store, row, samples, benchmark, names, device, progress)
    result = RunResult(row, failed=failed)
    store.add_metrics(row.id, values)
    if failed:
        store.set_status(row.id, "incomplete", _now())
    result.run = store.run(row.id)
    result.metrics = store.metrics(row.id)
    return result


def _recorded_benchmark(run: Run, bench: str | None) -> Benchmark:
    """The benchmark ``run`` was made on: ``bench``, else its recorded ``--bench``, else its name; the manifest
    sha256 must be the run's."""
    tried = []
    for candidate in [bench] if bench else [*run.bench_args, run.benchmark]:
        try:
            found = load_benchmark(candidate)
        except Exception as exc:  # not there any more, or not a benchmark: try the next
            tried.append(f"{candidate} ({exc})")
            continue
        if found.manifest.sha256 == run.manifest_sha256:
            return found
        tried.append(f"{candidate} (another manifest: {found.name} {found.version})")
    raise ValueError(f"run {run.id} was made on {run.benchmark} {run.benchmark_version} (manifest "
                     f"{run.manifest_sha256[:12]}…), not at: {'; '.join(tried)}; pass --bench FOLDER")  # fmt: skip


def _generate(
    adapter: Adapter,
    benchmark: Benchmark,
    samples: list[Sample],
    run: Run,
    db: ResultsDB,
    folder: Path,
    result: RunResult,
    progress: Progress | None,
) -> None:
    identity_hash = _hash(run.identity)
    manifest = benchmark.manifest
    geometry = [manifest.width, manifest.height, str(manifest.fps), TASK_VERSION]
    todo: list[tuple[Sample, str, int]] = []
    finished = 0
    for sample in samples:
        seed = sample_seed(run.seed, sample.id)
        key = _hash([identity_hash, sample_content_hash(sample, run.protocol), run.protocol, seed, geometry])
        done = db.generation(key)
        if done is not None and done.status == "ok" and _intact(done):
            db.link(run.id, done)  # an earlier run's video (or this run's, on resume)
            result.reused += 1
            finished += 1
        elif (problem := _precheck(adapter, sample, run, seed, folder)) is not None:
            db.record(run.id, Generation(key, sample.id, "failed", error=problem, seconds=0.0, created=_now()))
            result.failed[sample.id] = problem
            finished += 1
        else:
            todo.append((sample, key, seed))
    for start in range(0, len(todo), adapter.batch_size):
        batch = todo[start : start + adapter.batch_size]
        began = time.perf_counter()
        try:
            jobs = [
                Job(sample, sample.task(run.protocol), seed, _workdir(folder, sample.id)) for sample, _, seed in batch
            ]
            videos = adapter.generate(jobs)
            if not isinstance(videos, list) or len(videos) != len(jobs):
                count = len(videos) if isinstance(videos, list) else type(videos).__name__
                raise OutputError(f"adapter returned {count} videos for a batch of {len(jobs)}; it must return a list")
            outcomes: list[Video | str] = list(videos)
        except Exception as exc:  # an adapter failure fails its batch, never the run
            outcomes = [_describe(exc)] * len(batch)
            jobs = []
        seconds = (time.perf_counter() - began) / len(batch)
        for index, ((sample, key, _), outcome) in enumerate(zip(batch, outcomes, strict=True)):
            if not isinstance(outcome, str):
                try:  # the file name carries the key: runs sharing --out never overwrite each other's videos
                    path = folder / "videos" / f"{sample.id}-{key[:16]}.mp4"
                    outcome = _store(outcome, jobs[index], adapter, path)
                except Exception as exc:  # a bad output (or a full disk) fails this sample, never the run
                    outcome = str(exc) if isinstance(exc, OutputError) else _describe(exc)
            if isinstance(outcome, str):
                generation = Generation(key, sample.id, "failed", error=outcome, seconds=seconds, created=_now())
                result.failed[sample.id] = outcome
            else:
                generation = Generation(key, sample.id, "ok", seconds=seconds, created=_now(), **outcome)
                result.generated += 1
            db.record(run.id, generation)
            finished += 1
            if progress:
                progress(sample.id, finished, len(samples))


def _precheck(adapter: Adapter, sample: Sample, run: Run, seed: int, folder: Path) -> str | None:
    """Why ``sample`` cannot be generated, found before any model call, or None.

    The checks of ``a2bench bench validate`` that need no decoding (checksums, parsing, frame counts, sizes, frame
    rates, for the sample and, under ``cross``, its driver), then the adapter's own :meth:`Adapter.check` of the job.
    """
    problems = sample_problems(sample, decode=False)
    if run.protocol == "cross" and sample.cross is not None:
        problems += sample_problems(sample.benchmark[sample.cross.driver], decode=False)
    if problems:
        return (f"the benchmark's files for this sample are inconsistent, so nothing was generated: "
                f"{'; '.join(problems)}. Fix the benchmark (a2bench bench validate lists every problem)")  # fmt: skip
    if type(adapter).check is Adapter.check:  # accepts every job: skip building one (a task decodes its target)
        return None
    try:
        adapter.check(Job(sample, sample.task(run.protocol), seed, _workdir(folder, sample.id)))
    except Exception as exc:  # the adapter refuses this task: it fails alone, before any generation
        return str(exc) or _describe(exc)
    return None


# Bump when what a Job gives adapters changes for the same files (re-targeting, pose rendering): old videos are
# then regenerated instead of reused.
TASK_VERSION = 1


class OutputError(ValueError):
    """An adapter output that is not a usable video for its sample."""


def check_frames(video: object, job: Job, adapter: Adapter) -> np.ndarray:
    """The frames of an adapter's output, or :class:`OutputError` saying what is wrong with them."""
    where = f"sample {job.sample.id}"
    if not isinstance(video, Video):
        raise OutputError(f"{where}: adapter returned {type(video).__name__}, expected a2bench.core.videoio.Video")
    frames = np.asarray(video.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise OutputError(f"{where}: frames must be (T, H, W, 3), got shape {frames.shape}")
    if np.issubdtype(frames.dtype, np.floating) and not np.isfinite(frames).all():
        raise OutputError(f"{where}: frames contain NaN or infinity")
    if frames.dtype != np.uint8:
        raise OutputError(f"{where}: frames must be uint8 RGB, got {frames.dtype}")
    if frames.shape[0] != job.num_frames:
        raise OutputError(f"{where}: {frames.shape[0]} frames, the task has {job.num_frames}")
    try:
        fps = Fraction(video.fps)
    except (TypeError, ValueError, ZeroDivisionError):
        fps = None
    if fps is None or fps <= 0:
        raise OutputError(f"{where}: frame rate {video.fps!r} is not a positive number")
    size = (frames.shape[2], frames.shape[1])
    declared = adapter.output.size or job.size
    if size != tuple(declared):
        raise OutputError(f"{where}: frames are {size[0]}x{size[1]}, the adapter declares {declared[0]}x{declared[1]}")
    return frames


def _store(video: Video, job: Job, adapter: Adapter, path: Path) -> dict[str, Any]:
    frames = check_frames(video, job, adapter)
    write_video(path, frames, video.fps, lossless=True)  # bit-exact; written to a temp name, then renamed
    return {
        "path": str(path.resolve()),
        "sha256": hash_file(path),
        "num_frames": int(frames.shape[0]),
        "width": int(frames.shape[2]),
        "height": int(frames.shape[1]),
        "fps": str(Fraction(video.fps)),
    }


def _check_stored(db: ResultsDB, run: Run, samples: list[Sample]) -> dict[str, Path | str]:
    """Per sample: the stored video's path when intact, else the error (missing, failed, changed)."""
    stored = db.run_generations(run.id)
    out: dict[str, Path | str] = {}
    for sample in samples:
        generation = stored.get(sample.id)
        if generation is None:
            out[sample.id] = "no generation recorded (the process generating it did not finish)"
        elif generation.status != "ok":
            out[sample.id] = generation.error or "failed"
        elif not _intact(generation):
            out[sample.id] = f"{generation.path}: missing or changed since it was generated (sha256 mismatch)"
        else:
            try:
                info = probe_video(generation.path)
            except VideoError as exc:
                out[sample.id] = str(exc)
                continue
            if (info.num_frames, info.width, info.height) != (
                generation.num_frames,
                generation.width,
                generation.height,
            ):
                out[sample.id] = f"{generation.path}: {info.num_frames} frames {info.width}x{info.height} on disk"
            else:
                out[sample.id] = Path(generation.path)
    return out


def _score_stored(
    db: ResultsDB,
    run: Run,
    samples: list[Sample],
    benchmark: Benchmark,
    metrics: list[str],
    device: str,
    progress: Progress | None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Score the run's stored videos of ``samples`` that are intact: ``(metric values, sample id → why it failed)``,
    a failure being a sample not generated, changed on disk since, or generated but not scorable."""
    checked = _check_stored(db, run, samples)
    failed = {sid: error for sid, error in checked.items() if isinstance(error, str)}
    if not metrics:
        return {}, failed
    good = {sid: path for sid, path in checked.items() if isinstance(path, Path)}
    values, unscored = _score(benchmark, good, run.protocol, metrics, device, progress)
    failed.update({sid: f"generated, but could not be scored: {why}" for sid, why in unscored.items()})
    return values, failed


def _score(
    benchmark: Benchmark,
    videos: dict[str, Path],
    protocol: str,
    metrics: list[str],
    device: str,
    progress: Progress | None = None,
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Score intact videos against their targets: ``(metric values with their titles, sample id → why it could not be
    scored)``."""
    from a2bench.metrics import METRICS, FrameError  # lazy: torch

    if not videos:
        return {}, {}
    loaders = {sid: (lambda p=path: read_video(p).frames) for sid, path in videos.items()}
    started: list[str] = []

    def each(sample_id: str) -> None:  # evaluate calls it as a sample starts
        if progress:
            progress(sample_id, len(started), len(videos))
        started.append(sample_id)

    try:
        evaluation = score_videos(benchmark, loaders, protocol, metrics, device, each)
    except FrameError as exc:  # not one sample could be scored: the message names each reason
        return {}, dict.fromkeys(videos, str(exc))
    if progress:
        progress(started[-1], len(videos), len(videos))
    values = {name: {**value.to_json(), "title": METRICS.get(name).title} for name, value in evaluation.metrics.items()}
    return values, evaluation.failed


def score_videos(
    benchmark: Benchmark,
    videos: dict[str, Callable[[], np.ndarray]],
    protocol: str,
    metrics: Sequence[str] | str,
    device: str,
    progress: Callable[[str], None] | None = None,
) -> Evaluation:
    """Score ``sample id → frames loader`` against the samples' targets, resized to the benchmark's size when
    they differ: how ``a2bench run`` scores, and what ``a2bench validate --rescore`` repeats."""
    from a2bench.metrics.evaluate import evaluate  # lazy: torch

    size = (benchmark.manifest.width, benchmark.manifest.height)
    preds = {sid: (lambda load=load: resize_frames(load(), size)) for sid, load in videos.items()}
    targets = {sid: (lambda s=benchmark[sid]: s.task(protocol).target.frames) for sid in videos}
    return evaluate(preds, targets, metrics, device=None if device == "cpu" else device, progress=progress)


def _intact(generation: Generation) -> bool:
    path = Path(generation.path or "")
    return path.is_file() and hash_file(path) == generation.sha256


def _workdir(folder: Path, sample_id: str) -> Path:
    path = folder / "work" / sample_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def _describe(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{at}"


def _distributed() -> tuple[int, int]:
    """``(rank, world size)`` under torchrun (a gloo/NCCL group is initialised), else ``(0, 1)``."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    import torch.distributed as dist

    if int(os.environ.get("LOCAL_WORLD_SIZE", world)) != world:
        raise ValueError(
            "a2bench run shards over the processes of one machine only (its SQLite results database and run "
            "folder must be local to every rank); run one a2bench run per node with its own --db instead"
        )
    if not dist.is_initialized():  # long timeout: rank 0 waits while the others generate (hours for large models)
        dist.init_process_group("gloo", timeout=timedelta(days=7))
    return dist.get_rank(), dist.get_world_size()


def leave_process_group() -> None:
    """Destroy the process group :func:`_distributed` joined, if any: ``a2bench run`` calls it on every rank before
    it exits, errors included. Left to interpreter shutdown, gloo's worker threads may still hold a collective's
    tensors, and the rank dies with SIGABRT ("terminate called without an active exception"), failing the launch."""
    if "torch.distributed" not in sys.modules:  # never imported: no group to leave
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


def _sum_over_ranks(*counts: int) -> list[int]:
    import torch
    import torch.distributed as dist

    total = torch.tensor(counts, dtype=torch.int64)
    dist.all_reduce(total)
    return total.tolist()


def _device(device: str) -> str:
    """``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun, so each rank gets its own GPU."""
    if device == "cuda" and "LOCAL_RANK" in os.environ:
        return f"cuda:{os.environ['LOCAL_RANK']}"
    return device


def _provenance(options: RunOptions, adapter: Adapter, world: int, samples_in_benchmark: int) -> dict[str, Any]:
    return {
        "a2bench_version": VERSION,
        "git_commit": git_commit(SOURCE_TREE),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": _device_name(adapter.device),
        "processes": world,
        "benchmark_samples": samples_in_benchmark,
        "command": sys.argv,
        "model_args": options.model_args,
        "bench": str(Path(options.bench).resolve()) if Path(options.bench).exists() else options.bench,
    }


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
