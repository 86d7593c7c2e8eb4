"""``a2bench eval``: score a folder of generated videos against ground truth."""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from a2bench.core.data import BenchmarkError
from a2bench.core.fileio import write_atomic
from a2bench.core.registry import UnknownNameError
from a2bench.core.videoio import VideoError
from a2bench.core.weights import WeightsError
from a2bench.runs.api import evaluate


@click.command("eval")
@click.option(
    "--pred",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    required=True,
    help="Folder of predictions: <sample_id>.mp4 files, <sample_id>/ frame folders or <sample_id>_<frame>.png files.",
)
@click.option(
    "--gt",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of ground-truth videos named like the predictions.",
)
@click.option("--bench", help="A benchmark (name such as synth, folder, or HF export) supplying the ground truth.")
@click.option(
    "--protocol",
    type=click.Choice(["self", "cross"]),
    default="self",
    show_default=True,
    help="With --bench: which protocol's targets to score against.",
)
@click.option(
    "--metrics",
    "metric_spec",
    default="animatex",
    show_default=True,
    help="Comma-separated metric or set names (sets: animatex, pixel, modern, all).",
)
@click.option(
    "--samples",
    "sample_rule",
    type=click.Choice(["strict", "common", "gt", "pred"]),
    default="strict",
    show_default=True,
    help="Which samples to score when the two sides differ: strict refuses and lists the ids; common scores the ids "
    "both have; gt every ground-truth sample (extra predictions left out); pred every prediction. Left-out ids are "
    "listed.",
)
@click.option("--fps", type=float, help="Frame rate of frame folders without video.json (image metrics need none).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the full result here.")
@click.option("--device", help="torch device for the networks (default: cuda if available, else cpu).")
@click.option("--no-cache", is_flag=True, help="Do not read or write cached ground-truth features.")
def evaluate_command(
    pred: Path,
    gt: Path | None,
    bench: str | None,
    protocol: str,
    metric_spec: str,
    sample_rule: str,
    fps: float | None,
    json_out: Path | None,
    device: str | None,
    no_cache: bool,
) -> None:
    """Score the videos in --pred against --gt or --bench with the named metric recipes (docs/metrics.md)."""
    from a2bench.metrics import FrameError, metric_names  # lazy: torch and the metric networks (3 s)

    if (gt is None) == (bench is None):
        raise click.UsageError("give exactly one of --gt DIR or --bench NAME|PATH")
    try:
        names = metric_names(metric_spec)
        with echo_sample_size_warnings():
            result = evaluate(
                pred,
                gt,
                bench=bench,
                protocol=protocol,
                metrics=names,
                samples=sample_rule,
                fps=fps,
                device=device,
                cache=not no_cache,
                progress=lambda sid: click.echo(f"scoring {sid}", err=True),
                say=lambda line: click.echo(line, err=True),
            )
    except (FrameError, VideoError, BenchmarkError, WeightsError, UnknownNameError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    width = max(len(name) for name in result.metrics)
    for name, value in result.metrics.items():
        arrow = "↑" if value.higher_is_better else "↓"
        counts = f"  (n = {value.n_pred} / {value.n_target})" if value.n_pred is not None else ""
        click.echo(f"{name:<{width}}  {value.value:14.6g} {arrow}  {value.recipe}{counts}")
    for why, ids in result.excluded.items():
        click.echo(f"not scored ({why}, --samples {sample_rule}): {len(ids)}: {', '.join(ids)}", err=True)
    if result.unverified_weights:
        click.echo("unverified_weights: true (some network files did not match their published hashes)", err=True)
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(json_out, (json.dumps(result.to_json(), indent=2) + "\n").encode())
        click.echo(f"wrote {json_out}", err=True)
    sys.stdout.flush()
    if result.failed:  # the values above cover the other samples only
        for sample_id, why in result.failed.items():
            click.echo(f"failed {sample_id}: {why}", err=True)
        click.echo(f"{len(result.failed)} of {len(result.failed) + len(result.samples)} samples could not be scored "
                   "and are in no value above", err=True)  # fmt: skip
        sys.exit(1)


@contextmanager
def echo_sample_size_warnings() -> Iterator[None]:
    """Print each :class:`~metrics.SmallSampleWarning` raised inside as ``warning: ...`` on stderr; other
    warnings are shown as Python shows them."""
    from a2bench.metrics import SmallSampleWarning  # lazy: torch and the metric networks (3 s)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SmallSampleWarning)
        yield
    for warning in caught:
        if issubclass(warning.category, SmallSampleWarning):
            click.echo(f"warning: {warning.message}", err=True)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
