"""File helpers: atomic writes (a reader sees the old file or the complete new one), streamed hashes, and
numbers read from files a2bench did not write itself."""

from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it into place."""
    path = Path(path)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as tmp:
        tmp.write(data)
    os.replace(tmp.name, path)


def hash_file(path: str | os.PathLike, hasher: hashlib._Hash | None = None, header: bytes = b"") -> str:
    """Hex digest of ``header`` + the file's bytes, read in 1 MiB blocks (sha256 unless ``hasher`` is given)."""
    hasher = hasher or hashlib.sha256()
    hasher.update(header)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a finite JSON number; None for a bool, a string, null, NaN, infinity or an
    integer beyond a float's range (Python's json reads ``NaN``, ``Infinity`` and 400-digit integers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
