"""The error every benchmark-loading problem raises."""

from __future__ import annotations


class BenchmarkError(ValueError):
    """A benchmark that does not follow A2Bench layout v1.

    Each problem is one line naming the benchmark, the sample and the file, what is wrong, and
    what to do about it. ``problems`` holds the lines when several were found at once.
    """

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


def where(bench: str, sample: str | None = None, file: str | None = None) -> str:
    """The ``bench: sample 'x': file`` prefix of a problem line."""
    text = bench
    if sample is not None:
        text += f": sample {sample!r}"
    if file is not None:
        text += f": {file}"
    return text
