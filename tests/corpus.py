"""The malformed-input corpus: inputs a user can hand a2bench, each with the outcome it must get.

A :class:`Case` builds its inputs in a fresh folder and names the ``a2bench`` command line to run on them. What every
case checks (:func:`check`): the exit code the docs give for it, the file or sample named in the output, no Python
traceback (an escaped exception is a failure, whatever its type), and, where the case has stored results, that they
are unchanged. The cases themselves live in the ``test_corpus_*.py`` modules, one per kind of input; each new reader
comes with new cases there.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from a2bench.cli import main


@dataclass(frozen=True)
class Case:
    """One malformed input: ``build(folder)`` writes it and returns the command line (without ``a2bench``).

    ``names`` is a regular expression the output must match (the file, sample or value at fault, and what to do);
    ``exit_code`` the code the command documents for it (most commands exit 1 on any error; ``gate`` keeps 1 for
    a regression and exits 2 when it cannot compare);
    ``unchanged`` lists files, relative to the folder, whose bytes the command must not change (a results
    database, a stored run); ``extra`` runs more assertions after the command.
    """

    name: str
    build: Callable[[Path], list[str]]
    exit_code: int
    names: str
    unchanged: tuple[str, ...] = ()
    extra: Callable[[Path, str], None] | None = None

    def __str__(self) -> str:  # pytest ids
        return self.name


def _digests(folder: Path, paths: tuple[str, ...]) -> dict[str, str]:
    return {p: hashlib.sha256((folder / p).read_bytes()).hexdigest() for p in paths}


def check(case: Case, folder: Path) -> str:
    """Run ``case`` in ``folder`` and assert everything it promises; returns the command's output."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = case.build(folder)
    before = _digests(folder, case.unchanged)
    result = CliRunner().invoke(main, argv, catch_exceptions=True)
    output = result.output
    escaped = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not escaped, f"{case.name}: {type(result.exception).__name__} escaped: {result.exception}\n{output}"
    assert "Traceback (most recent call last)" not in output, f"{case.name}: a traceback was printed\n{output}"
    code = result.exit_code
    assert code == case.exit_code, f"{case.name}: exit {code}, expected {case.exit_code}\n{output}"
    assert re.search(case.names, output, re.S), f"{case.name}: output does not match {case.names!r}\n{output}"
    assert _digests(folder, case.unchanged) == before, f"{case.name}: stored results changed"
    if case.extra is not None:
        case.extra(folder, output)
    return output
