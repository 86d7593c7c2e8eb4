"""Tables and progress that stay usable when stdout or stderr is a pipe or a log file, not a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from a2bench.core.frames import parse_size


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
    """Progress on stderr with items/s and ETA, one line per :meth:`track`: a live bar on a terminal; when stderr
    is piped or logged, a plain line every ``every`` seconds and at the end, instead of a bar that would vanish."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if sys.stderr.isatty():
            from rich import progress as rp

            columns = (rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                       rp.TextColumn("{task.fields[rate]}"), rp.TimeElapsedColumn(), rp.TextColumn("eta"),
                       rp.TimeRemainingColumn())  # fmt: skip
            self._bar = rp.Progress(*columns, console=Console(stderr=True), transient=True)
            self._bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def track(self, what: str, unit: str = "samples") -> Callable[[str, int, int], None]:
        """A callback ``(item, done, total)`` for one task; its clock starts at its first call."""
        state: dict[str, Any] = {}

        def update(item: str, done: int, total: int) -> None:
            now = time.monotonic()
            if not state:
                state.update(began=now, said=now, task=self._bar and self._bar.add_task(what, total=total, rate=""))
            elapsed = now - state["began"]
            rate = done / elapsed if elapsed > 0 else 0.0
            speed = f"{rate:.2f} {unit}/s"
            if self._bar is not None:
                self._bar.update(state["task"], completed=done, total=total, description=f"{what} {item}", rate=speed)
            elif now - state["said"] >= self.every or done == total:
                state["said"] = now
                left = f", eta {_duration((total - done) / rate)}" if rate > 0 and done < total else ""
                click.echo(f"{what}: {done}/{total} {unit} ({speed}{left}), at {item}", err=True)

        return update


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def size_option(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    """Click callback turning a ``--size WIDTHxHEIGHT`` value into ``(width, height)`` (None stays None)."""
    try:
        return None if value is None else parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
