"""A2Bench layout v1 as a Hugging Face dataset (parquet shards plus a dataset card), and back.

One row per sample in ``data/test-*.parquet``: the sample's metadata, the reference image as a
``datasets.Image``, the videos as ``datasets.Video``, the pose JSON and prompt as text, every other listed
file in ``extra_files``, and the manifest's checksums in ``files``. Every file keeps its exact bytes, so
the checksums still hold after the round trip. ``README.md`` is the dataset card the Hub reads;
``a2bench_manifest.json`` is the benchmark's manifest, which :func:`a2bench.core.data.load_benchmark`
recognises the folder by. Exports of the older ``save_to_disk`` layout (``state.json`` and arrow files)
still load. docs/format.md describes the columns.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from a2bench.core.data.benchmark import Benchmark, Sample
from a2bench.core.data.errors import BenchmarkError, where
from a2bench.core.data.manifest import Manifest, SampleEntry, parse_manifest
from a2bench.core.data.sources import MemorySource

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

HF_MANIFEST_NAME = "a2bench_manifest.json"
SPLIT = "test"
DATA_FILES = f"data/{SPLIT}-*.parquet"
#: A new shard starts past this many bytes of sample files (the size `datasets` itself shards parquet at).
MAX_SHARD_BYTES = 500 * 2**20
#: The columns holding a file of the sample, by the file's path; the cross files are found through the manifest.
FILE_COLUMNS = {"reference.png": "reference", "video.mp4": "video", "pose.json": "pose", "prompt.txt": "prompt",
                "pose.mp4": "pose_video"}  # fmt: skip
TEXT_COLUMNS = ("pose", "prompt", "cross_pose")
MEDIA_COLUMNS = ("reference", "video", "pose_video", "cross_video", "extra_files")
#: Columns compared with the manifest when the dataset is loaded: a row that disagrees is not this benchmark's.
CHECKED_COLUMNS = ("id", "category", "style", "num_frames", "cross_driver", "files")
#: License identifiers the Hub knows; any other license is written as ``other`` with its name.
HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "bsd-2-clause", "bsd-3-clause", "gpl-3.0", "lgpl-3.0", "cc0-1.0", "cc-by-2.0", "cc-by-3.0",
    "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0", "cc-by-nd-4.0",
    "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "odc-by", "odbl", "pddl",
    "cdla-permissive-2.0", "cdla-sharing-1.0", "openrail", "unknown",
})  # fmt: skip


def features() -> datasets.Features:
    """The columns of an export, in order."""
    import datasets

    text, integer = datasets.Value("string"), datasets.Value("int32")
    return datasets.Features(
        {
            "id": text,
            "category": text,
            "style": text,
            "num_frames": integer,
            "fps": datasets.Value("float64"),
            "width": integer,
            "height": integer,
            "cross_driver": text,
            "reference": datasets.Image(),
            "video": datasets.Video(),
            "pose": text,
            "prompt": text,
            "pose_video": datasets.Video(),
            "cross_pose": text,
            "cross_video": datasets.Video(),
            "metadata": text,
            "extra_files": datasets.List({"path": text, "bytes": datasets.Value("binary")}),
            "files": datasets.List({"path": text, "sha256": text, "size": datasets.Value("int64")}),
        }
    )


def file_columns(entry: SampleEntry) -> dict[str, str]:
    """The column that holds each of the sample's files (``extra_files`` for files without one of their own)."""
    cross = {entry.cross.pose: "cross_pose", entry.cross.video: "cross_video"} if entry.cross else {}
    return {path: FILE_COLUMNS.get(path) or cross.get(path) or "extra_files" for path in entry.files}


def export_hf(benchmark: Benchmark, out: Path) -> Path:
    """Write ``benchmark`` as a Hugging Face dataset under ``out`` (new or empty); every file is checksum-verified.

    The export is written into a temporary folder beside ``out`` and moved there when complete, so a failed
    export leaves nothing behind.
    """
    import pyarrow.parquet as pq

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BenchmarkError(f"{out}: output folder exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    work = scratch / out.name  # made by mkdir, so it gets the usual permissions, not mkdtemp's 0700
    try:
        work.mkdir()
        schema = features().arrow_schema
        # Images and videos are compressed already; the text columns (pose JSON above all) are not.
        compression = {name: "none" if name.split(".")[0] in MEDIA_COLUMNS else "zstd" for name in _leaf_paths(schema)}
        shards = _shards(benchmark)
        (work / "data").mkdir()
        for index, shard in enumerate(shards):
            path = work / DATA_FILES.replace("*", f"{index:05d}-of-{len(shards):05d}")
            with pq.ParquetWriter(path, schema, compression=compression) as writer:
                for sample in shard:  # one row group per sample: a sample is read without its neighbours
                    writer.write_table(_row_table(sample, schema))
        (work / "README.md").write_text(dataset_card(benchmark, work), encoding="utf-8")
        (work / HF_MANIFEST_NAME).write_text(benchmark.manifest.dumps(), encoding="utf-8")
        if out.exists():
            out.rmdir()
        work.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out


def _leaf_paths(schema: pa.Schema) -> list[str]:
    """Parquet column paths (``extra_files.list.element.bytes``) of an arrow schema, for per-column options."""
    import pyarrow as pa

    def walk(name: str, kind: pa.DataType) -> list[str]:
        if pa.types.is_struct(kind):
            return [p for i in range(kind.num_fields) for p in walk(f"{name}.{kind.field(i).name}", kind.field(i).type)]
        if pa.types.is_list(kind) or pa.types.is_large_list(kind):
            return walk(f"{name}.list.element", kind.value_type)
        return [name]

    return [p for field in schema for p in walk(field.name, field.type)]


def _shards(benchmark: Benchmark) -> list[list[Sample]]:
    shards: list[list[Sample]] = [[]]
    size = 0
    for sample in benchmark:
        sample_size = sum(entry.size for entry in sample.entry.files.values())
        if shards[-1] and size + sample_size > MAX_SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append(sample)
        size += sample_size
    return shards


def _row_table(sample: Sample, schema: pa.Schema) -> pa.Table:
    """One sample's row: metadata, every listed file (read and checksum-verified) in its column, the checksums."""
    import pyarrow as pa

    entry, manifest = sample.entry, sample.benchmark.manifest
    row: dict = {
        "id": entry.id,
        "category": entry.category,
        "style": entry.style,
        "num_frames": entry.num_frames,
        "fps": float(manifest.fps),
        "width": manifest.width,
        "height": manifest.height,
        "cross_driver": entry.cross.driver if entry.cross else None,
        "metadata": json.dumps(entry.extra, ensure_ascii=False),
        "extra_files": [],
        "files": [{"path": p, "sha256": e.sha256, "size": e.size} for p, e in entry.files.items()],
    }
    for path, column in file_columns(entry).items():
        data = sample.read_bytes(path)
        if column == "extra_files":
            row[column].append({"path": path, "bytes": data})
        elif column in TEXT_COLUMNS:
            try:
                row[column] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BenchmarkError(
                    f"{where(sample.benchmark.name, entry.id, path)}: not valid UTF-8 ({exc}); the export holds it as "
                    "text: save it as UTF-8"
                ) from exc
        else:  # the path tells a reader the file's type
            row[column] = {"bytes": data, "path": path}
    return pa.Table.from_pylist([row], schema=schema)


def dataset_card(benchmark: Benchmark, folder: Path) -> str:
    """``README.md`` of an export in ``folder`` (its parquet written): the Hub's YAML metadata, then a description."""
    import datasets
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    m = benchmark.manifest
    license_id = m.license.lower()
    hub_license = {"license": license_id} if license_id in HUB_LICENSES else {
        "license": "other", "license_name": re.sub(r"[^a-z0-9.]+", "-", license_id).strip("-") or "custom"}  # fmt: skip
    card = DatasetCardData(
        **hub_license,
        pretty_name=f"{m.name} {m.version}",
        task_categories=["image-to-video"],
        tags=["a2bench", "character-animation", "pose", "video"],
        size_categories=[_size_category(len(benchmark))],
    )
    MetadataConfigs({"default": {"data_files": [{"split": SPLIT, "path": DATA_FILES}]}}).to_dataset_card_data(card)
    num_bytes = sum(e.size for s in m.samples for e in s.files.values())
    info = datasets.DatasetInfo(
        features=features(),
        splits=datasets.SplitDict(),
        download_size=sum(p.stat().st_size for p in folder.glob(DATA_FILES)),
        dataset_size=num_bytes,
    )
    info.splits.add(datasets.SplitInfo(name=SPLIT, num_bytes=num_bytes, num_examples=len(benchmark)))
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    protocols = {
        "self": "drive the reference image with the sample's own `pose`; score against `video`",
        "cross": "drive it with the motion of sample `cross_driver` re-targeted to this character (`cross_pose` "
        "when given); score against `cross_video` when given, else against `video`",
    }
    fps = m.fps.numerator if m.fps.denominator == 1 else f"{m.fps.numerator}/{m.fps.denominator}"
    body = CARD_BODY.format(
        name=m.name,
        version=m.version,
        description=m.description or "A character image animation benchmark.",
        samples=len(benchmark),
        width=m.width,
        height=m.height,
        fps=fps,
        license=m.license,
        protocols="\n".join(f"- **{p}**: {protocols[p]}." for p in m.protocols),
        data_files=DATA_FILES,
        manifest=HF_MANIFEST_NAME,
    )
    return f"---\n{card.to_yaml()}\n---\n\n{body}"


def _size_category(count: int) -> str:
    """The Hub's ``size_categories`` bucket of ``count`` rows."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if count < limit:
            return name
    return "n>1M"


CARD_BODY = """\
# {name} {version}

{description}

An a2bench benchmark for character image animation: animate a character's
reference image so that it follows a pose sequence. {samples} samples (one row each, split `test`), videos of
{width}x{height} at {fps} fps. License: {license}.

Protocols:

{protocols}

## Columns

| column | content |
|---|---|
| `id`, `category`, `style` | the sample and its character's category and rendering style |
| `num_frames`, `fps`, `width`, `height` | frames of `video` (and of `pose`), frame rate and size of every video |
| `cross_driver` | the sample whose motion drives this one in the cross protocol (null without it) |
| `reference` | the character to animate (PNG, `datasets.Image`) |
| `video` | ground truth of the self protocol (mp4, `datasets.Video`) |
| `pose` | keypoints of every frame of `video` and of `reference` (a2bench pose JSON) |
| `prompt` | character description and a background-motion sentence |
| `pose_video` | the rendered skeletons of `pose` (mp4; null when absent) |
| `cross_pose`, `cross_video` | cross protocol: re-targeted driving pose, its ground truth (null when absent) |
| `metadata` | other per-sample fields, a JSON object |
| `extra_files` | any other file of the sample, `{{path, bytes}}` |
| `files` | path, sha256 and size of every file of the sample, as the benchmark's manifest lists them |

Every file keeps its exact bytes. `{manifest}` is the benchmark's manifest (a2bench layout v1).

## Loading

With `datasets` (the parquet files are `{data_files}`):

```python
import datasets

ds = datasets.load_dataset("path/or/repo", split="test")
# Decoding a `datasets.Video` needs torchcodec; without it, take the videos' bytes:
for column in ("video", "pose_video", "cross_video"):
    ds = ds.cast_column(column, datasets.Video(decode=False))
ds[0]["reference"]      # PIL image
ds[0]["video"]["bytes"] # the mp4 file
```

With a2bench, which verifies every file's checksum and decodes videos itself
(download a Hub copy first: `hf download REPO --repo-type dataset --local-dir DIR`):

```python
from a2bench.core.data import load_benchmark

bench = load_benchmark("DIR")
sample = bench.samples[0]
sample.reference(), sample.video(), sample.pose(), sample.task("self")
```
"""


def push_hf(folder: Path, repo_id: str) -> str:
    """Upload an export to the Hub dataset repository ``repo_id`` (created if missing); returns its URL.

    Raises ``ConnectionError`` with what went wrong and how to upload the folder later.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.utils import httpx

    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="dataset",
                          commit_message="a2bench bench export")  # fmt: skip
    except (OSError, ValueError, httpx.HTTPError) as exc:
        raise ConnectionError(
            f"could not upload {folder} to the Hub dataset {repo_id} ({exc}). The export in {folder} is complete; "
            f"upload it later with `hf upload {repo_id} {folder} --repo-type dataset` (needs network, and "
            "`hf auth login` or HF_TOKEN)"
        ) from exc
    return f"https://huggingface.co/datasets/{repo_id}"


def is_hf_export(path: Path) -> bool:
    return (path / HF_MANIFEST_NAME).is_file()


def load_hf(path: Path) -> Benchmark:
    """Read a folder written by :func:`export_hf`, or by its ``save_to_disk`` predecessor."""
    bench = str(path)
    try:
        doc = json.loads((path / HF_MANIFEST_NAME).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{where(bench, file=HF_MANIFEST_NAME)}: not valid JSON ({exc})") from exc
    manifest, problems = parse_manifest(doc, bench)
    if manifest is None:
        raise BenchmarkError(problems)
    if (path / "state.json").is_file():
        return _load_saved_to_disk(path, manifest)
    return Benchmark(manifest, ParquetSource(path, manifest), path)


def _load_saved_to_disk(path: Path, manifest: Manifest) -> Benchmark:
    """The first export layout: ``Dataset.save_to_disk`` with columns ``id, …, files`` (``files``: ``{path, data}``)."""
    import datasets

    try:
        dataset = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise BenchmarkError(f"{path}: not a readable datasets folder ({exc}); re-export it") from exc
    files = {row["id"]: {f["path"]: f["data"] for f in row["files"]} for row in dataset}
    return Benchmark(manifest, MemorySource(files, manifest.name, f"{path} (Hugging Face dataset)"), path)


class ParquetSource:
    """The files of an export's parquet rows, read one sample's column at a time (nothing is held in memory).

    Loading reads the small columns only and checks that every sample of the manifest has exactly one row that
    agrees with it; reading a file reads its row group and column.
    """

    def __init__(self, root: Path, manifest: Manifest) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.root = root
        self.bench = manifest.name
        self.description = f"{root} (Hugging Face dataset)"
        self.columns = {entry.id: file_columns(entry) for entry in manifest.samples}
        self.rows: dict[str, tuple[Path, pq.FileMetaData, int, int]] = {}  # file, its footer, row group, row
        expected = {entry.id: _checked_values(entry) for entry in manifest.samples}
        names = set(features())
        problems, seen = [], set()
        for file in sorted(root.glob(DATA_FILES)):
            rel = file.relative_to(root).as_posix()
            try:
                parquet = pq.ParquetFile(file)
                missing = sorted(names - set(parquet.schema_arrow.names))
                table = None if missing else parquet.read(columns=list(CHECKED_COLUMNS))
            except (pa.ArrowException, OSError) as exc:
                problems.append(f"{root}: {rel}: not a readable parquet file ({exc}); export or download it again")
                continue
            if missing:
                problems.append(f"{root}: {rel}: no column(s) {', '.join(missing)}; not an a2bench export")
                continue
            groups = range(parquet.num_row_groups)
            places = [(g, i) for g in groups for i in range(parquet.metadata.row_group(g).num_rows)]
            for (group, offset), row in zip(places, table.to_pylist(), strict=True):
                sid = row["id"]
                head = f"{where(self.bench, sid)}: {rel}"
                if sid not in expected:
                    problems.append(f"{head}: a row for a sample {HF_MANIFEST_NAME} does not list")
                elif sid in seen:
                    problems.append(f"{head}: a second row for this sample")
                elif differ := [k for k in CHECKED_COLUMNS if row[k] != expected[sid][k]]:
                    problems.append(
                        f"{head}: the row's {', '.join(differ)} differ from {HF_MANIFEST_NAME}; the rows and the "
                        "manifest are not of the same export: export it again"
                    )
                else:
                    self.rows[sid] = (file, parquet.metadata, group, offset)
                seen.add(sid)
        problems += [
            f"{where(self.bench, sid)}: no row in {root}/{DATA_FILES}; export or download the dataset again"
            for sid in expected
            if sid not in seen
        ]
        if problems:
            raise BenchmarkError(problems)

    def problem(self, sample_id: str, path: str) -> str | None:
        if sample_id not in self.rows or path not in self.columns[sample_id]:
            return f"{where(self.bench, sample_id, path)}: listed in the manifest but absent from the dataset"
        return None

    def read(self, sample_id: str, path: str) -> bytes:
        import pyarrow as pa
        import pyarrow.parquet as pq

        problem = self.problem(sample_id, path)
        if problem:
            raise BenchmarkError(problem)
        file, metadata, group, offset = self.rows[sample_id]
        column = self.columns[sample_id][path]
        head = where(self.bench, sample_id, path)
        try:
            values = pq.ParquetFile(file, metadata=metadata).read_row_group(group, columns=[column]).column(0)
            if pa.types.is_string(values.type):
                values = values.cast(pa.binary())  # the text's bytes as written, without decoding them
            value = values[offset].as_py()
        except (pa.ArrowException, OSError) as exc:
            raise BenchmarkError(
                f"{head}: cannot be read from {file.relative_to(self.root).as_posix()} (row group {group}, column "
                f"{column}: {exc}); the file is damaged: export or download it again"
            ) from exc
        if column == "extra_files":
            value = next((f["bytes"] for f in value or () if f["path"] == path), None)
        elif isinstance(value, dict):
            value = value["bytes"]
        if value is None:
            raise BenchmarkError(f"{head}: listed in the manifest but absent from the dataset row (column {column})")
        return value


def _checked_values(entry: SampleEntry) -> dict:
    """What the columns in :data:`CHECKED_COLUMNS` must hold for ``entry``."""
    return {
        "id": entry.id,
        "category": entry.category,
        "style": entry.style,
        "num_frames": entry.num_frames,
        "cross_driver": entry.cross.driver if entry.cross else None,
        "files": [{"path": p, "sha256": e.sha256, "size": e.size} for p, e in entry.files.items()],
    }
