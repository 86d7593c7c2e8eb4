"""``a2bench gate``: fail CI when a run regresses against a baseline (rules in docs/runner.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from a2bench.cli.run import DB_OPTION
from a2bench.core.fileio import write_atomic
from a2bench.runs.gate import GateError, GateResult, Tolerance, compare, load_run, parse_metric_spec


class GateUsageError(click.ClickException):
    """Printed as ``Error: ...`` and exits 2: the gate could not compare (1 is kept for regressions)."""

    exit_code = 2


@click.command("gate")
@click.option(
    "--baseline",
    required=True,
    metavar="FILE[#RUN]|RUN",
    help="Baseline: an export of `a2bench runs export --format json` (#RUN picks one of several), or a run id.",
)
@click.option("--current", required=True, metavar="RUN", help="The run to check: a run id (or unique prefix).")
@click.option(
    "--metric",
    "metric_specs",
    multiple=True,
    metavar="NAME[:TOL]",
    help="Gate this metric, worse by at most TOL (absolute, or N% of the baseline); repeatable or comma-separated. "
    "Default: every metric both runs have, tolerance 0.",
)
@DB_OPTION
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Level of the bootstrap interval of the mean paired difference.",
)
@click.option("--resamples", type=click.IntRange(min=1), default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--allow-different-benchmark", is_flag=True, help="Compare runs on different benchmark versions (warns).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), help="Write the verdicts here.")
def gate_command(
    baseline: str,
    current: str,
    metric_specs: tuple[str, ...],
    db: Path | None,
    confidence: float,
    resamples: int,
    seed: int,
    allow_different_benchmark: bool,
    json_out: Path | None,
) -> None:
    """Compare a run with a baseline metric by metric; exit 1 on a regression, 0 when none, 2 on usage errors.

    A metric regresses when it got worse by more than its tolerance and, for metrics with per-sample
    values, the paired bootstrap interval of the mean difference lies entirely on the worse side of 0.
    A sample done in the baseline but not in the current run fails the gate too.
    """
    try:
        tolerances: dict[str, Tolerance] = {}
        for spec in metric_specs:
            for part in filter(str.strip, spec.split(",")):
                name, tolerance = parse_metric_spec(part)
                tolerances[name] = tolerance
        base_run = load_run(baseline, db, "baseline")
        current_run = load_run(current, db, "current run")
        result = compare(
            base_run,
            current_run,
            tolerances,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
            allow_different_benchmark=allow_different_benchmark,
        )
    except GateError as exc:
        raise GateUsageError(str(exc)) from exc
    print_result(result)
    if json_out:
        try:
            write_atomic(json_out, (json.dumps(result.to_json(), indent=1) + "\n").encode())
        except OSError as exc:
            raise GateUsageError(f"--json {json_out}: cannot be written ({exc}); choose another path") from exc
    sys.exit(0 if result.passed else 1)


def print_result(result: GateResult) -> None:
    console = Console(width=max(Console().width, 120))
    base, cur = result.baseline.run, result.current.run
    for warning in result.warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}", highlight=False)
    table = Table(
        title=f"gate: {cur.model} {cur.id} vs baseline {base.model} {base.id} "
        f"on {cur.benchmark} {cur.benchmark_version} ({cur.protocol})"
    )
    for column, justify in (
        ("metric", "left"),
        ("", "center"),
        ("baseline", "right"),
        ("current", "right"),
        ("diff", "right"),
        (f"{result.confidence:.0%} CI", "right"),
        ("n", "right"),
        ("tolerance", "right"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify)
    styles = {"regression": "bold red", "incomparable": "bold red", "improved": "green", "skipped": "dim"}
    for v in result.verdicts:
        arrow = "" if v.higher_is_better is None else ("↑" if v.higher_is_better else "↓")
        ci = f"[{v.ci[0]:+.4g}, {v.ci[1]:+.4g}]" if v.ci else "—"
        tolerance = v.tolerance if v.tolerance_abs is None or not v.tolerance.endswith("%") else (
            f"{v.tolerance} ({v.tolerance_abs:.4g})"
        )  # fmt: skip
        verdict = v.verdict.upper() if v.verdict in ("regression", "incomparable") else v.verdict
        style = styles.get(v.verdict, "")
        table.add_row(
            v.metric,
            arrow,
            _num(v.baseline),
            _num(v.current),
            "—" if v.diff is None else f"{v.diff:+.4g}",
            ci,
            str(v.samples) if v.kind == "paired" else "—",
            tolerance,
            f"[{style}]{verdict}[/]" if style else verdict,
        )
    console.print(table)
    for v in result.verdicts:
        if v.reason and v.verdict != "skipped":
            console.print(f"{v.metric}: {v.reason}", highlight=False, markup=False)
    if result.incomplete:
        listing = ", ".join(f"{sid} ({why})" for sid, why in list(result.incomplete.items())[:20])
        more = f" and {len(result.incomplete) - 20} more" if len(result.incomplete) > 20 else ""
        console.print(
            f"[bold red]INCOMPLETE[/]: {len(result.incomplete)} sample(s) done in the baseline are missing now: "
            f"{escape(listing)}{more}",
            highlight=False,
        )
    failed = sum(v.verdict in ("regression", "incomparable") for v in result.verdicts)
    if result.passed:
        console.print("[green]gate passed[/]: no regression")
    else:
        parts = [f"{failed} metric(s) regressed or incomparable"] if failed else []
        parts += [f"{len(result.incomplete)} sample(s) incomplete"] if result.incomplete else []
        parts += [result.run_incomplete] if result.run_incomplete else []
        console.print(f"[bold red]gate FAILED[/]: {'; '.join(parts)}")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"
