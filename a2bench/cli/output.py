"""Tables and progress that stay usable when stdout or stderr is a pipe or a log file, not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import click
from rich.console import Console
from rich.table import Table


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]], title: str | None = None) -> None:
    """A rich table on a terminal; otherwise tab-separated lines (a header, then one line per row) with every
    value whole, so ``| grep NAME`` and ``| cut -f1`` work (rich would cut values to fit 80 columns)."""
    if sys.stdout.isatty():
        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        Console().print(table)
        return
    if title:
        click.echo(f"# {title}")
    for row in (columns, *rows):
        click.echo("\t".join(" ".join(str(value).split()) for value in row))


class Progress:
    """Per-item progress on stderr with items/s and ETA: a live bar on a terminal, and when stderr is piped or
    logged, a plain line every ``every`` seconds (and at the end) instead of a bar that would vanish."""

    def __init__(self, what: str, unit: str = "samples", every: float = 10.0) -> None:
        self.what, self.unit, self.every = what, unit, every
        self.live = sys.stderr.isatty()
        self._bar: object | None = None
        self._began = self._said = time.monotonic()

    def __enter__(self) -> Callable[[str, int, int | None], None]:
        if self.live:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as Bar

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
                       TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("eta"),
                       TimeRemainingColumn())  # fmt: skip
            self._bar = Bar(*columns, console=Console(stderr=True), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.what, total=None, rate="")
        return self.update

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def update(self, item: str, done: int, total: int | None) -> None:
        """``done`` of ``total`` items finished, the last being ``item``."""
        now = time.monotonic()
        rate = done / (now - self._began) if now > self._began else 0.0
        speed = f"{rate:.2f} {self.unit}/s"
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total, description=f"{self.what} {item}", rate=speed)
            return
        if now - self._said < self.every and done != total:
            return
        self._said = now
        left = f", eta {_duration((total - done) / rate)}" if total and rate > 0 else ""
        of = f"/{total}" if total else ""
        click.echo(f"{self.what}: {done}{of} {self.unit} ({speed}{left}), last {item}", err=True)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
