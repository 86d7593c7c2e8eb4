"""``a2bench submit`` and ``a2bench validate``: leaderboard bundles (docs/runner.md)."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from a2bench.cli.run import DB_OPTION
from a2bench.core.data import BenchmarkError, load_benchmark
from a2bench.core.registry import UnknownNameError
from a2bench.runs.results import ResultsDB, ResultsError
from a2bench.runs.submissions import SubmissionError, build_submission, validate_submission


@click.command("submit")
@click.argument("run_id", metavar="RUN")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The bundle (.zip).")
@DB_OPTION
@click.option("--allow-incomplete", is_flag=True, help="Pack a run with failed samples (the bundle says so).")
@click.option("--allow-partial", is_flag=True, help="Pack a run of part of its benchmark (--limit); never valid.")
def submit_command(run_id: str, out: Path, db: Path | None, allow_incomplete: bool, allow_partial: bool) -> None:
    """Pack RUN (an id or unique prefix) into a leaderboard bundle: bundle.json and one video per sample."""
    try:
        store = ResultsDB(db)
        doc = build_submission(store, run_id, out, allow_incomplete=allow_incomplete, allow_partial=allow_partial)
    except (ResultsError, SubmissionError) as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:  # --out not writable, a video unreadable: the message names the file
        raise click.ClickException(f"{exc}; {out} is unchanged") from exc
    except (sqlite3.Error, json.JSONDecodeError) as exc:  # a damaged database file or row
        raise click.ClickException(f"run {run_id}: the results database cannot be read ({exc})") from exc
    run = doc["run"]
    state = "complete" if doc["complete"] else "INCOMPLETE"
    click.echo(
        f"{out}: run {run['id']} ({run['model']} on {run['benchmark']} {run['benchmark_version']}, {run['protocol']}), "
        f"{len(doc['files'])} videos, {len(doc['metrics'])} metrics, {state}, {out.stat().st_size} bytes"
    )


@click.command("validate")
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--bench", required=True, help="The benchmark the bundle claims: a registered name or a folder.")
@click.option("--rescore", is_flag=True, help="Re-score the videos and compare with the stored values (1e-6 rel).")
@click.option("--metrics", help="With --rescore: these metrics instead of the stored ones.")
@click.option("--device", default="cpu", show_default=True, help="Device for --rescore.")
@click.option("--allow-incomplete", is_flag=True, help="Accept samples the bundle declares failed (reported).")
def validate_command(
    bundle: Path, bench: str, rescore: bool, metrics: str | None, device: str, allow_incomplete: bool
) -> None:
    """Check a submission BUNDLE without trusting it; print every problem; exit 0 when valid, 1 otherwise.

    Order: archive safety (before reading any member), bundle.json schema and every file's sha256
    and size, the benchmark (manifest, every sample once, each video's frames and size), then
    optionally --rescore.
    """
    try:
        benchmark = load_benchmark(bench)
    except (BenchmarkError, UnknownNameError) as exc:
        raise click.ClickException(str(exc)) from exc
    console = Console(stderr=True)
    with console.status("validating") as status:
        report = validate_submission(
            bundle,
            benchmark,
            rescore=rescore,
            metrics=metrics,
            device=device,
            allow_incomplete=allow_incomplete,
            progress=lambda sid: status.update(f"validating {sid}"),
        )
    out = Console(highlight=False, soft_wrap=True)  # one line per problem, whole paths: greppable in CI logs
    for problem in report.problems:
        out.print(f"[red]✗[/] {escape(problem)}", markup=True)
    for note in report.notes:
        out.print(f"note: {note}", markup=False)
    if report.rescored:
        table = Table(title="re-scored")
        for column in ("metric", "stored", "re-scored", "match"):
            table.add_column(column)
        for name, row in report.rescored.items():
            stored = "—" if row["stored"] is None else f"{row['stored']:.8g}"
            match = {True: "yes", False: "[red]NO[/]", None: "—"}[row["match"]]
            table.add_row(name, stored, f"{row['rescored']:.8g}", match)
        out.print(table)
    if report.valid and report.bundle is not None:
        run = report.bundle.record.run
        out.print(f"[green]valid[/]: run {run.id} ({run.model}) on {benchmark.name} {benchmark.version}", markup=True)
        sys.exit(0)
    out.print(f"[red]INVALID[/]: {len(report.problems)} problem(s) in {bundle}", markup=True)
    sys.exit(1)
