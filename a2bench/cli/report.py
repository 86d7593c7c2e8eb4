"""``a2bench report``: leaderboards, plots, a video gallery and the paper's numbers from the results database."""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import click
from rich.console import Console

from a2bench.cli.run import DB_OPTION
from a2bench.core.data.errors import BenchmarkError
from a2bench.core.paths import home
from a2bench.core.videoio import VideoError
from a2bench.reports.build import ReportOptions, build_report
from a2bench.reports.collect import ReportError
from a2bench.runs.results import ResultsError, default_db, read_records


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("report")
@click.argument("run_ids", nargs=-1, metavar="[RUN_ID]...")
@click.option("--runs", "runs", multiple=True, metavar="ID[,ID]", help="Runs to report (ids or unique prefixes).")
@click.option("--all", "all_runs", is_flag=True, help="Every run in the database (the default without run ids).")
@click.option(
    "--bench",
    metavar="PATH|NAME",
    help="Only runs of this benchmark: a folder (matched by manifest sha256; also used for the gallery) "
    "or a name / name@version.",
)
@click.option("--protocol", type=click.Choice(["self", "cross"]), help="Only runs of this protocol.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Report folder, replaced as a whole [default: $A2BENCH_HOME/report].",
)
@click.option(
    "--format",
    "formats",
    default="md,html,csv,tex,json",
    show_default=True,
    help="Comma-separated outputs: md, html (with plots and gallery), csv, tex, json.",
)
@DB_OPTION
@click.option(
    "--gallery-samples",
    type=click.IntRange(min=0),
    help="Composite videos for the first N samples only (0: no gallery) [default: every sample].",
)
@click.option("--no-published", is_flag=True, help="Leave out the Animate-X paper's published numbers.")
def report_command(
    run_ids: tuple[str, ...],
    runs: tuple[str, ...],
    all_runs: bool,
    bench: str | None,
    protocol: str | None,
    out: Path | None,
    formats: str,
    db: Path | None,
    gallery_samples: int | None,
    no_published: bool,
) -> None:
    """Write a report of recorded runs: leaderboard tables (Markdown, CSV, LaTeX, JSON), and a static HTML
    page with sortable tables, plots with bootstrap intervals, a side-by-side video gallery and the
    Animate-X paper's A2Bench numbers.

    One table per benchmark version and protocol. Incomplete or partial runs and oracles are shown but
    never ranked (docs/reports.md).
    """
    selected = _split(run_ids + runs)
    if selected and all_runs:
        raise click.UsageError("give run ids or --all, not both")
    options = ReportOptions(
        out=out or home() / "report",
        source=str(db or default_db()),
        bench=bench,
        protocol=protocol,
        formats=tuple(_split((formats,))),
        gallery_samples=gallery_samples,
        published=not no_published,
    )
    console = Console(stderr=True)
    try:  # a live status line on a terminal; each step as a plain line when stderr is piped or logged
        with console.status("report") if console.is_terminal else nullcontext() as status:
            result = build_report(
                options,
                lambda: read_records(db, selected),
                status.update if status is not None else lambda message: click.echo(f"report: {message}", err=True),
                lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True),
            )
    except (ReportError, ResultsError, BenchmarkError, VideoError) as exc:
        raise click.ClickException(str(exc)) from exc
    for group in result.data.groups:
        ranked = sum(1 for e in group.entries if e.ranked)
        console.print(f"{group.title}: {len(group.entries)} run(s), {ranked} ranked", highlight=False)
    click.echo(f"wrote {len(result.files)} files to {result.out}")
    if result.index is not None:
        click.echo(f"open {result.index}")
