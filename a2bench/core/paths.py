"""Where a2bench keeps generated data: ``$A2BENCH_HOME`` (default ``~/.cache/a2bench``)."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("A2BENCH_HOME") or Path.home() / ".cache" / "a2bench")
