"""``a2bench run``, ``a2bench models`` and ``a2bench runs``: generate, score, and read the results."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from a2bench.cli.evaluate import echo_sample_size_warnings
from a2bench.cli.output import Progress, print_table
from a2bench.core.adapter import AdapterError
from a2bench.core.data.errors import BenchmarkError
from a2bench.core.fileio import write_atomic
from a2bench.core.record import Run
from a2bench.core.registry import UnknownNameError
from a2bench.core.weights import WeightsError
from a2bench.models import MODELS
from a2bench.runs import runner
from a2bench.runs.results import ResultsDB, ResultsError

DB_OPTION = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Results database [default: $A2BENCH_HOME/results.db].",
)


def parse_model_args(values: tuple[str, ...]) -> dict[str, str]:
    """``("k=v", ...)`` → ``{"k": "v"}``; a value may contain ``=``."""
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not key=value", param_hint="--model-arg")
        out[key] = value
    return out


@click.command("run")
@click.option("--model", required=True, help="Adapter name (`a2bench models` lists them).")
@click.option("--bench", default="synth", show_default=True, help="Benchmark: a registered name or a folder.")
@click.option("--protocol", type=click.Choice(["self", "cross"]), default="self", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Only the first N samples.")
@click.option("--seed", default=0, show_default=True, help="Run seed; each sample's seed derives from it and its id.")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda (cuda:LOCAL_RANK under torchrun).")
@click.option("--model-arg", "model_args", multiple=True, metavar="KEY=VALUE", help="Adapter argument (repeatable).")
@click.option("--metrics", help="Metric names or a set (default: the Animate-X table set; docs/metrics.md).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Run folder for the videos.")
@DB_OPTION
@click.option("--no-eval", is_flag=True, help="Generate and check only; score later by re-running without it.")
def run_command(
    model: str,
    bench: str,
    protocol: str,
    limit: int | None,
    seed: int,
    device: str,
    model_args: tuple[str, ...],
    metrics: str | None,
    out: Path | None,
    db: Path | None,
    no_eval: bool,
) -> None:
    """Generate every sample of a benchmark with a model, score the videos, and record everything.

    Re-running the same command resumes: finished samples are skipped.
    """
    options = runner.RunOptions(
        model=model,
        model_args=parse_model_args(model_args),
        bench=bench,
        protocol=protocol,
        limit=limit,
        seed=seed,
        device=device,
        metrics=[] if no_eval else (metrics.split(",") if metrics else None),
        out=out,
        db=db,
    )
    console = Console(stderr=True)
    try:
        with echo_sample_size_warnings(), Progress() as progress:
            result = runner.run(options, progress.track(f"{model} generating"), progress.track(f"{model} scoring"))
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished samples are saved; run the same command again to resume")
        sys.exit(130)
    except (UnknownNameError, AdapterError, BenchmarkError, WeightsError, ResultsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:  # under torchrun: every rank, whatever happened
        runner.leave_process_group()
    if result.rank != 0:
        return
    _print_run(result.run, result.metrics, result.failed)
    click.echo(f"generated {result.generated}, reused {result.reused}, failed {len(result.failed)}")
    sys.exit(result.exit_code)


@click.command("score")
@click.argument("run_id", metavar="RUN")
@click.option("--metrics", required=True, help="Metric names or a set to add (docs/metrics.md).")
@click.option("--bench", help="Where the run's benchmark is [default: the run's --bench, else its name].")
@click.option("--device", default="cpu", show_default=True, help="cpu or cuda.")
@DB_OPTION
def score_command(run_id: str, metrics: str, bench: str | None, device: str, db: Path | None) -> None:
    """Add metrics to a recorded run (an id or unique prefix) without generating anything.

    Scores the run's stored, intact videos; the values join the run's others under the same run id.
    """
    try:
        with echo_sample_size_warnings(), Progress() as progress:
            track = progress.track(f"scoring {run_id}")
            result = runner.score_run(run_id, metrics, bench=bench, db=db, device=device, progress=track)
    except (UnknownNameError, BenchmarkError, WeightsError, ResultsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    _print_run(result.run, result.metrics, result.failed)
    sys.exit(result.exit_code)


def _print_run(run: Run, metrics: dict, failed: dict[str, str]) -> None:
    rows = [
        (name, f"{value['value']:.6g}", "↑" if value.get("higher_is_better") else "↓", str(value.get("recipe")))
        for name, value in metrics.items()
    ]
    title = f"run {run.id}: {run.model} on {run.benchmark} {run.benchmark_version} ({run.protocol})"
    print_table(("metric", "value", "", "recipe"), rows, title=title)
    click.echo(f"status: {run.state}; videos in {run.folder}")
    for sample_id, error in failed.items():
        click.echo(f"failed {sample_id}: {error}")


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print every adapter's record as JSON.")
def models_command(as_json: bool) -> None:
    """List the model adapters and what each needs."""
    records = {}
    for name in MODELS.names():
        cls = MODELS.get(name)
        records[name] = {
            "version": cls.version,
            "description": cls.description,
            "needs_gpu": cls.needs_gpu,
            "weights": list(cls.weights),
            "uses_ground_truth": cls.uses_ground_truth,
            "arguments": {
                key: {"type": arg.type.__name__, "help": arg.help, "default": arg.default, "required": arg.required}
                for key, arg in cls.arguments.items()
            },
        }
    if as_json:
        click.echo(json.dumps({"format": "a2bench-models", "version": 1, "models": records}, indent=2, default=str))
        return
    rows = []
    for name, record in records.items():
        files = record["weights"]
        needs = ["GPU" if record["needs_gpu"] else "CPU"]
        needs += [f"{len(files)} weight files (a2bench weights fetch --model {name})"] if files else []
        if record["uses_ground_truth"]:
            needs.append("ground truth (oracle)")
        args = ", ".join(f"{k}{'*' if a['required'] else ''}" for k, a in record["arguments"].items())
        rows.append((name, record["version"], ", ".join(needs), args, record["description"]))
    print_table(("name", "version", "needs", "arguments", "description"), rows)
    click.echo("* required --model-arg")


@click.group("runs")
def runs_command() -> None:
    """The runs in the results database."""


@runs_command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the runs' rows as JSON.")
@DB_OPTION
def runs_list(as_json: bool, db: Path | None) -> None:
    """One line per run."""
    runs = ResultsDB(db).runs()
    if as_json:
        doc = {"format": "a2bench-runs-list", "version": 1, "runs": [run.to_json() for run in runs]}
        click.echo(json.dumps(doc, indent=1))
        return
    rows = [
        (run.id, run.model, f"{run.benchmark} {run.benchmark_version}", run.protocol, str(run.samples), run.state,
         run.started)
        for run in runs
    ]  # fmt: skip
    print_table(("id", "model", "benchmark", "protocol", "samples", "status", "started"), rows)


@runs_command.command("show")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the run as `runs export` does: row, metrics, samples.")
@DB_OPTION
def runs_show(run_id: str, as_json: bool, db: Path | None) -> None:
    """A run's provenance, metrics and failures (RUN_ID may be a unique prefix)."""
    store = ResultsDB(db)
    try:
        record = store.load_record(run_id)
    except ResultsError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(record.to_export(), indent=1))
        return
    run = record.run
    _print_run(run, store.metrics(run.id), record.failed)
    click.echo(json.dumps({"identity": run.identity, "provenance": run.provenance}, indent=2))


@runs_command.command("delete")
@click.argument("run_ids", nargs=-1, required=True, metavar="RUN...")
@click.option("--keep-videos", is_flag=True, help="Remove the rows only; leave every video file in place.")
@DB_OPTION
def runs_delete(run_ids: tuple[str, ...], keep_videos: bool, db: Path | None) -> None:
    """Delete runs (ids or unique prefixes): their rows, the generations no other run uses, and those videos.

    Every id is resolved before anything is removed. Each run's rows go in one transaction; its videos are
    deleted after that commit, so a crash never leaves a row pointing at a deleted file.
    """
    store = ResultsDB(db)
    try:
        runs = list({run.id: run for run in (store.run(r) for r in run_ids)}.values())
    except ResultsError as exc:
        raise click.ClickException(str(exc)) from exc
    for row in runs:
        removed = store.delete_run(row.id)
        click.echo(f"deleted run {row.id} ({row.model} on {row.benchmark} {row.benchmark_version}, {row.protocol}): "
                   f"{removed.samples} sample rows, {removed.generations} generations no other run uses")  # fmt: skip
        for video in removed.videos:
            if keep_videos:
                click.echo(f"  kept {video}")
            elif video.exists():
                video.unlink()
                click.echo(f"  removed {video}")


@runs_command.command("export")
@click.argument("run_ids", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
@DB_OPTION
def runs_export(run_ids: tuple[str, ...], fmt: str, out: Path | None, db: Path | None) -> None:
    """Export runs (all when none are named): JSON with everything, or CSV of per-sample values."""
    store = ResultsDB(db)
    try:
        records = [store.load_record(r.id) for r in ([store.run(r) for r in run_ids] if run_ids else store.runs())]
    except ResultsError as exc:
        raise click.ClickException(str(exc)) from exc
    if fmt == "json":
        docs = [record.to_export() for record in records]
        text = json.dumps({"format": "a2bench-runs", "version": 1, "runs": docs}, indent=1) + "\n"
    else:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["run_id", "model", "benchmark", "protocol", "sample_id", "status", "metric", "value"])
        for record in records:
            head = [record.run.id, record.run.model, record.run.benchmark, record.run.protocol]
            for sample_id, sample in record.samples.items():
                values = {n: m.per_sample[sample_id] for n, m in record.metrics.items() if sample_id in m.per_sample}
                for metric, value in (values or {"": ""}).items():
                    writer.writerow([*head, sample_id, sample.status, metric, value])
        text = buffer.getvalue()
    if out:
        write_atomic(out, text.encode())
    else:
        click.echo(text, nl=False)
