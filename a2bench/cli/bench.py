"""``a2bench bench``: make, build, inspect, validate, index and export benchmarks."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from functools import partial
from pathlib import Path

import click

from a2bench.cli.output import Progress, size_option
from a2bench.core.data import Benchmark, BenchmarkError, export_hf, load_benchmark
from a2bench.core.data import build as builder
from a2bench.core.data.hf import push_hf
from a2bench.core.data.index import index_folder
from a2bench.core.registry import UnknownNameError
from a2bench.core.synth import SynthOptions, cached_synth, generate
from a2bench.core.weights import WeightsError


def _load(target: str) -> Benchmark:
    try:
        return load_benchmark(target)
    except (BenchmarkError, UnknownNameError) as exc:
        raise click.ClickException(str(exc)) from exc



@click.group()
def bench() -> None:
    """Make, inspect, validate and export benchmarks in A2Bench layout v1."""


@bench.command()
@click.argument("name", type=click.Choice(["synth"]))
@click.option("--out", type=click.Path(path_type=Path), help="Write here instead of the $A2BENCH_HOME cache.")
@click.option("--samples", default=16, show_default=True, help="Number of characters.")
@click.option("--frames", default=32, show_default=True, help="Frames per video.")
@click.option("--size", default="256x256", show_default=True, callback=size_option,
              help="Frame size WIDTHxHEIGHT (even, >= 64).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, help="Seed; the same options give identical files.")
@click.option("--fps", default=15, show_default=True, help="Frame rate of the videos.")
@click.option("--still", default=0.0, show_default=True, type=click.FloatRange(0, 1),
              help="Training data: each moving scene is frozen with this probability, with the prompt 'The "
                   "background stays still.'")  # fmt: skip
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Processes that render samples (default: up to 4); the files do not depend on it.")  # fmt: skip
def make(name: str, out: Path | None, samples: int, frames: int, size: tuple[int, int], seed: int, fps: int,
         still: float, workers: int | None) -> None:  # fmt: skip
    """Generate the built-in synthetic benchmark NAME (only `synth` so far).

    Without --out the benchmark is cached under $A2BENCH_HOME by (generator version, options), so
    every later command naming `synth` with the same options reuses it. Prints the folder. Before generating,
    the temporary folders that killed runs left beside it are removed (named on stderr).
    """
    width, height = size
    options = {"samples": samples, "frames": frames, "width": width, "height": height, "seed": seed, "fps": fps,
               "still": still}  # fmt: skip
    say = partial(click.echo, err=True)  # leftovers of killed runs: stdout stays the folder alone
    try:
        with Progress() as bar:
            progress = bar.track("synth: writing", "samples")
            if out:
                path = generate(out, SynthOptions(**options), workers, say, progress)
            else:
                path = cached_synth(workers=workers, say=say, progress=progress, **options)
    except (ValueError, FileExistsError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(path)


@bench.command()
@click.argument("target")
def info(target: str) -> None:
    """Summarise TARGET: a benchmark folder, a Hugging Face export, or a registered name (synth)."""
    benchmark = _load(target)
    m = benchmark.manifest
    frames = [s.num_frames for s in benchmark]
    lines = [
        f"name:        {m.name}",
        f"version:     {m.version}",
        f"license:     {m.license}",
        f"location:    {benchmark.source.description}",
        f"video:       {m.width}x{m.height} at {m.fps} fps",
        f"protocols:   {', '.join(m.protocols)}",
        f"samples:     {len(benchmark)} ({sum(frames)} frames; {min(frames)}-{max(frames)} per sample)",
        f"categories:  {_counts(s.category for s in benchmark)}",
        f"styles:      {_counts(s.style for s in benchmark)}",
    ]
    if m.description:
        lines.append(f"description: {m.description}")
    click.echo("\n".join(lines))


def _counts(values) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(Counter(values).items()))


@bench.command()
@click.argument("target")
def validate(target: str) -> None:
    """Check every file of TARGET: checksums, decoding, frame counts, sizes, frame rates, poses.

    Prints every problem found (not just the first) and exits with status 1 if there is any.
    """
    benchmark = _load(target)
    with Progress() as bar:
        track = bar.track("validating", "samples")
        number = {sample.id: n for n, sample in enumerate(benchmark, 1)}
        problems = benchmark.validate(progress=lambda sample: track(sample.id, number[sample.id], len(number)))
    if problems:
        click.echo("\n".join(problems), err=True)
        raise click.ClickException(f"{len(problems)} problem(s) in {benchmark.name}")
    click.echo(f"ok: {benchmark.name} {benchmark.version}, {len(benchmark)} samples, every file verified")


@bench.command()
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["hf"]), required=True, help="hf: a Hugging Face dataset.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New or empty output folder.")
@click.option("--push-to-hub", "repo", metavar="REPO",
              help="Then upload OUT to the Hub dataset repository REPO (owner/name; created if missing). Needs "
                   "network and `hf auth login` or HF_TOKEN.")  # fmt: skip
def export(target: str, fmt: str, out: Path, repo: str | None) -> None:
    """Export TARGET as a Hugging Face dataset: parquet rows plus a dataset card (docs/format.md).

    `datasets.load_dataset(OUT)` reads it, and `load_benchmark(OUT)` reads it back identically.
    """
    benchmark = _load(target)
    try:
        export_hf(benchmark, out)
    except BenchmarkError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(out)
    if repo:
        try:
            click.echo(push_hf(out, repo))
        except ConnectionError as exc:
            raise click.ClickException(str(exc)) from exc


@bench.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--name", required=True, help="Benchmark name, e.g. a2bench-home.")
@click.option("--version", "version_", required=True, help="Benchmark version, e.g. 1.0.")
@click.option("--license", "license_", required=True, help="License of the data, e.g. CC-BY-4.0.")
@click.option("--description", default="", help="One-paragraph description.")
@click.option("--category", help="Category for samples whose sample.json does not give one.")
@click.option("--style", help="Style for samples whose sample.json does not give one.")
def manifest(folder: Path, name: str, version_: str, license_: str, description: str, category, style) -> None:
    """Write manifest.json for FOLDER, a folder of sample folders (see docs/format.md)."""
    try:
        path = index_folder(
            folder,
            name=name,
            version=version_,
            license=license_,
            description=description,
            category=category,
            style=style,
        )
    except BenchmarkError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(path)


@bench.command()
@click.option(
    "--images",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of character images <id>.png|.jpg|.jpeg|.webp|.bmp.",
)
@click.option(
    "--videos",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of videos <id>.mp4|.mov|.mkv|.webm|.avi|.gif, paired with the images by file stem.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New or empty output folder.")
@click.option("--license", "license_", required=True, help="License of the data, e.g. CC-BY-4.0.")
@click.option("--name", help="Benchmark name [default: the output folder's name].")
@click.option("--version", "version_", default="1.0", show_default=True, help="Benchmark version.")
@click.option("--description", default="", help="One-paragraph description.")
@click.option(
    "--prompts", type=click.Path(exists=True, file_okay=False, path_type=Path), help="Folder of <id>.txt prompts."
)
@click.option("--default-prompt", help="Prompt for the samples without an <id>.txt in --prompts.")
@click.option(
    "--metadata",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON or CSV: category, style and any other fields per sample id.",
)
@click.option("--category", help="Category for samples the metadata gives none.")
@click.option("--style", help="Style for samples the metadata gives none.")
@click.option("--allow-unpaired", is_flag=True, help="Leave out images without videos and videos without images.")
@click.option(
    "--min-quality",
    type=click.FloatRange(0.0, 1.0),
    default=0.0,
    show_default=True,
    help="Drop samples whose pose-quality score is below this.",
)
@click.option("--fps", "fps_text", help="Frame rate of the benchmark, e.g. 15 or 30000/1001 [default: most common].")
@click.option("--size", callback=size_option,
              help="Frame size WIDTHxHEIGHT [default: most common among the videos at that rate].")  # fmt: skip
@click.option("--conform", is_flag=True, help="Resample and resize videos of another rate or size, not drop them.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help="DWPose device.")
def build(
    images: Path,
    videos: Path,
    out: Path,
    license_: str,
    name: str | None,
    version_: str,
    description: str,
    fps_text: str | None,
    size: tuple[int, int] | None,
    device: str,
    **options,
) -> None:
    """Build a benchmark from (character image, video) pairs: DWPose, screening, manifest (docs/build.md).

    Prints a table of every input (kept, or dropped and why) and writes it to OUT/build_report.json.
    Exits with status 1 when no sample is kept.
    """
    fps = None
    if fps_text is not None:
        try:
            fps = Fraction(fps_text)
            if fps <= 0:
                raise ValueError
        except (ValueError, ZeroDivisionError):
            raise click.BadParameter(f"expected a positive rate such as 15 or 30000/1001, got {fps_text!r}") from None
    settings = builder.BuildOptions(
        name=name or out.resolve().name,
        license=license_,
        version=version_,
        description=description,
        fps=fps,
        size=size,
        **options,
    )

    def progress(outcome: builder.Outcome, done: int, total: int) -> None:
        state = f"kept, quality {outcome.quality.score:.2f}" if outcome.kept else f"dropped: {outcome.reason}"
        click.echo(f"[{done}/{total}] {outcome.id}: {state}", err=True)

    try:
        result = builder.build_benchmark(images, videos, out, settings, lambda: builder.dwpose_extractor(device),
                                         progress=progress, say=partial(click.echo, err=True))  # fmt: skip
    except (BenchmarkError, WeightsError) as exc:
        raise click.ClickException(str(exc)) from exc
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(builder.format_table(result))
    if not result.ok:
        raise click.ClickException(f"no sample kept, no benchmark written; see {result.report_path}")
    click.echo(f"kept {len(result.kept)} of {len(result.outcomes)} inputs: {out} (report: {result.report_path})")
