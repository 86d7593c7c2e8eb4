"""Where a benchmark's file bytes come from: a folder on disk, or a Hugging Face dataset.

A source only hands out bytes of ``<sample id>/<relative path>``; checksums and decoding are the
benchmark's business. The folder source refuses anything that resolves outside the benchmark
root, symlinks included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from a2bench.core.data.errors import BenchmarkError, where


class Source(Protocol):
    description: str

    def read(self, sample_id: str, path: str) -> bytes: ...

    def problem(self, sample_id: str, path: str) -> str | None:
        """Why the file cannot be read (missing, unsafe), or None; cheap, no reading."""


class FolderSource:
    """Files under ``root/<sample id>/``."""

    def __init__(self, root: Path, bench: str) -> None:
        self.root = root
        self.real_root = root.resolve()
        self.bench = bench
        self.description = str(root)

    def problem(self, sample_id: str, path: str) -> str | None:
        candidate = self.root / sample_id / path
        real = candidate.resolve()
        if not real.is_relative_to(self.real_root):
            return (
                f"{where(self.bench, sample_id, path)}: resolves to {real}, outside the benchmark root "
                f"{self.real_root}; copy the file into the benchmark instead of linking it"
            )
        if not candidate.exists():
            return (
                f"{where(self.bench, sample_id, path)}: listed in the manifest but missing on disk "
                f"(expected {candidate}); restore it or regenerate the benchmark"
            )
        if not candidate.is_file():
            return f"{where(self.bench, sample_id, path)}: is not a regular file"
        return None

    def read(self, sample_id: str, path: str) -> bytes:
        problem = self.problem(sample_id, path)
        if problem:
            raise BenchmarkError(problem)
        return (self.root / sample_id / path).read_bytes()


class MemorySource:
    """Files held in memory per sample (what a Hugging Face dataset row carries)."""

    def __init__(self, files: dict[str, dict[str, bytes]], bench: str, description: str) -> None:
        self.files = files
        self.bench = bench
        self.description = description

    def problem(self, sample_id: str, path: str) -> str | None:
        if path not in self.files.get(sample_id, {}):
            return f"{where(self.bench, sample_id, path)}: listed in the manifest but absent from the dataset row"
        return None

    def read(self, sample_id: str, path: str) -> bytes:
        problem = self.problem(sample_id, path)
        if problem:
            raise BenchmarkError(problem)
        return self.files[sample_id][path]
