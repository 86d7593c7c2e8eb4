"""A2Bench layout v1 as a Hugging Face ``datasets`` dataset on disk, and back.

One row per sample: ``id``, ``category``, ``style``, ``num_frames``, ``prompt`` (for browsing)
and ``files``, a list of ``{path, data}`` holding every manifest-listed file byte for byte, so the
checksums of the manifest still hold after the round trip. The benchmark-level manifest is written
next to the dataset as ``a2bench_manifest.json``; :func:`a2bench.data.load_benchmark` recognises
the folder by that file.
"""

from __future__ import annotations

import json
from pathlib import Path

from a2bench.data.benchmark import Benchmark
from a2bench.data.errors import BenchmarkError, where
from a2bench.data.manifest import parse_manifest
from a2bench.data.sources import MemorySource

HF_MANIFEST_NAME = "a2bench_manifest.json"


def export_hf(benchmark: Benchmark, out: Path) -> Path:
    """Write ``benchmark`` as a ``datasets`` dataset (``save_to_disk`` layout) under ``out``."""
    import datasets

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BenchmarkError(f"{out}: output folder exists and is not empty; choose a new folder")
    rows: dict[str, list] = {k: [] for k in ("id", "category", "style", "num_frames", "prompt", "files")}
    for sample in benchmark:
        rows["id"].append(sample.id)
        rows["category"].append(sample.category)
        rows["style"].append(sample.style)
        rows["num_frames"].append(sample.num_frames)
        rows["prompt"].append(sample.prompt())
        rows["files"].append([{"path": p, "data": sample.read_bytes(p)} for p in sample.entry.files])
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "category": datasets.Value("string"),
            "style": datasets.Value("string"),
            "num_frames": datasets.Value("int32"),
            "prompt": datasets.Value("string"),
            "files": datasets.List({"path": datasets.Value("string"), "data": datasets.Value("binary")}),
        }
    )
    dataset = datasets.Dataset.from_dict(rows, features=features)
    dataset.save_to_disk(str(out))
    (out / HF_MANIFEST_NAME).write_text(benchmark.manifest.dumps())
    return out


def is_hf_export(path: Path) -> bool:
    return (path / HF_MANIFEST_NAME).is_file()


def load_hf(path: Path) -> Benchmark:
    """Read a folder written by :func:`export_hf`."""
    import datasets

    bench = str(path)
    try:
        doc = json.loads((path / HF_MANIFEST_NAME).read_text())
    except json.JSONDecodeError as exc:
        raise BenchmarkError(f"{where(bench, file=HF_MANIFEST_NAME)}: not valid JSON ({exc})") from exc
    manifest, problems = parse_manifest(doc, bench)
    if manifest is None:
        raise BenchmarkError(problems)
    try:
        dataset = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise BenchmarkError(f"{bench}: not a readable datasets folder ({exc}); re-export it") from exc
    files = {row["id"]: {f["path"]: f["data"] for f in row["files"]} for row in dataset}
    return Benchmark(manifest, MemorySource(files, manifest.name, f"{path} (Hugging Face dataset)"), path)
