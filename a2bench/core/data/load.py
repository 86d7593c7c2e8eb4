"""``load_benchmark``: one entry point for registered names, layout folders and HF exports."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from a2bench.core.data.benchmark import Benchmark
from a2bench.core.data.errors import BenchmarkError, where
from a2bench.core.data.hf import is_hf_export, load_hf
from a2bench.core.data.manifest import MANIFEST_NAME, parse_manifest
from a2bench.core.data.sources import FolderSource
from a2bench.core.registry import Registry

#: Benchmarks known by name. Each entry is a callable ``(**options) -> Path`` that returns a folder
#: in A2Bench layout v1 (building it if needed). Third parties register under ``a2bench.benchmarks``.
BENCHMARKS: Registry[Callable[..., os.PathLike | str]] = Registry(
    "benchmark",
    base=Callable,
    entry_point_group="a2bench.benchmarks",
    builtins={"synth": "a2bench.core.synth:cached_synth"},
)


def load_benchmark(name_or_path: str | os.PathLike, **options: object) -> Benchmark:
    """Load a registered benchmark (``"synth"``), a layout v1 folder, or a Hugging Face export.

    A registered name wins over a folder of the same name; write ``./synth`` for the folder.
    ``options`` go to a registered benchmark's builder (e.g. ``samples=4`` for ``synth``).
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and "/" not in text and not text.startswith("."):
        if text in BENCHMARKS:
            return load_folder(Path(BENCHMARKS.get(text)(**options)))
        if not Path(text).exists():
            BENCHMARKS.get(text)  # raises "unknown benchmark … did you mean"
    if options:
        raise TypeError(f"options {sorted(options)} only apply to registered benchmarks, not to a path")
    path = Path(text)
    if is_hf_export(path):
        return load_hf(path)
    return load_folder(path)


def load_folder(root: Path) -> Benchmark:
    """Read a folder in A2Bench layout v1 (``manifest.json`` plus one folder per sample)."""
    bench = str(root)
    if not root.is_dir():
        raise BenchmarkError(f"{bench}: no such benchmark folder")
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BenchmarkError(
            f"{where(bench, file=MANIFEST_NAME)}: missing; a benchmark folder needs a manifest.json "
            "(see docs/format.md, or `a2bench bench manifest` to write one)"
        )
    try:
        doc = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{where(bench, file=MANIFEST_NAME)}: not valid JSON ({exc})") from exc
    manifest, problems = parse_manifest(doc, bench)
    if manifest is None:
        raise BenchmarkError(problems)
    return Benchmark(manifest, FolderSource(root, manifest.name), root)
