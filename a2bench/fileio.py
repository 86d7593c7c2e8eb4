"""File helpers: atomic writes (a reader sees the old file or the complete new one) and streamed hashes."""

from __future__ import annotations

import hashlib
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
