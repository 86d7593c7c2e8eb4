"""`bench export --format hf`: a parquet dataset with a card that `datasets` loads and a2bench reads back exactly."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner
from conftest import edit_manifest

from a2bench.cli import main
from a2bench.core.data import Benchmark, BenchmarkError, export_hf, hf, load_benchmark
from a2bench.core.data.hf import dataset_card

VIDEO_COLUMNS = ("video", "pose_video", "cross_video")
SHARD = "data/test-00000-of-00001.parquet"


@pytest.fixture(scope="module")
def exported(tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny benchmark exported once (read-only: copy it before damaging it)."""
    return export_hf(load_benchmark(str(tiny_synth)), tmp_path_factory.mktemp("hf") / "export")


@pytest.fixture
def export_copy(exported: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(exported, tmp_path / "export"))


def test_load_dataset_gives_one_row_per_sample(exported: Path, tiny_synth: Path, tmp_path: Path) -> None:
    ds = datasets.load_dataset(str(exported), split="test", cache_dir=str(tmp_path / "cache"))
    bench = load_benchmark(str(tiny_synth))
    assert ds.column_names == ["id", "category", "style", "num_frames", "fps", "width", "height", "cross_driver",
                               "reference", "video", "pose", "prompt", "pose_video", "cross_pose", "cross_video",
                               "metadata", "extra_files", "files"]  # fmt: skip
    assert ds.features["reference"] == datasets.Image()
    assert all(ds.features[c] == datasets.Video() for c in VIDEO_COLUMNS)
    assert ds.features["pose"] == ds.features["prompt"] == datasets.Value("string")
    assert ds["id"] == [s.id for s in bench]
    for column in VIDEO_COLUMNS:  # decoding a Video needs torchcodec, which a2bench does not install
        ds = ds.cast_column(column, datasets.Video(decode=False))
    for row, sample in zip(ds, bench, strict=True):
        entry, manifest = sample.entry, bench.manifest
        np.testing.assert_array_equal(np.asarray(row["reference"].convert("RGBA")), sample.reference_rgba())
        assert row["video"]["bytes"] == sample.read_bytes("video.mp4")
        assert row["pose_video"]["bytes"] == sample.read_bytes("pose.mp4")
        assert row["cross_video"]["bytes"] == sample.read_bytes(entry.cross.video)
        assert row["pose"].encode() == sample.read_bytes("pose.json")
        assert row["cross_pose"].encode() == sample.read_bytes(entry.cross.pose)
        assert row["prompt"].strip() == sample.prompt()
        assert (row["category"], row["style"], row["num_frames"], row["cross_driver"]) == (
            entry.category, entry.style, entry.num_frames, entry.cross.driver)  # fmt: skip
        assert (row["fps"], row["width"], row["height"]) == (15.0, manifest.width, manifest.height)
        assert json.loads(row["metadata"]) == entry.extra and entry.extra
        assert row["files"] == [{"path": p, "sha256": e.sha256, "size": e.size} for p, e in entry.files.items()]
        assert row["extra_files"] == []


def test_load_benchmark_round_trips_every_byte(exported: Path, tiny_synth: Path) -> None:
    original, again = load_benchmark(str(tiny_synth)), load_benchmark(str(exported))
    assert again.manifest == original.manifest
    assert again.source.description == f"{exported} (Hugging Face dataset)"
    assert again.validate() == []
    for a, b in zip(original, again, strict=True):
        for path in a.entry.files:
            assert a.read_bytes(path) == b.read_bytes(path)
        np.testing.assert_array_equal(a.video().frames, b.video().frames)
        np.testing.assert_array_equal(a.task("cross").pose.frames, b.task("cross").pose.frames)


def test_files_without_a_column_of_their_own_travel_in_extra_files(bench_copy: Path, tmp_path: Path) -> None:
    data = b"\x89PNG not really"
    (bench_copy / "s001" / "notes").mkdir()
    (bench_copy / "s001" / "notes" / "matte.png").write_bytes(data)
    edit_manifest(bench_copy, lambda doc: doc["samples"][1]["files"].update(
        {"notes/matte.png": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}))  # fmt: skip
    out = export_hf(load_benchmark(str(bench_copy)), tmp_path / "hf")
    extra = pq.read_table(out / SHARD, columns=["extra_files"]).column(0).to_pylist()
    assert extra == [[], [{"path": "notes/matte.png", "bytes": data}], [], []]
    assert load_benchmark(str(out))["s001"].read_bytes("notes/matte.png") == data


def test_a_large_benchmark_is_split_into_shards(
    tiny_synth: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = load_benchmark(str(tiny_synth))
    monkeypatch.setattr(hf, "MAX_SHARD_BYTES", 1)  # every sample is past it: a shard each
    out = export_hf(bench, tmp_path / "hf")
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert shards == [f"test-0000{i}-of-00004.parquet" for i in range(4)]
    ds = datasets.load_dataset(str(out), split="test", cache_dir=str(tmp_path / "cache"))
    assert ds["id"] == ["s000", "s001", "s002", "s003"]
    again = load_benchmark(str(out))
    assert [again[s.id].read_bytes("video.mp4") for s in bench] == [s.read_bytes("video.mp4") for s in bench]


def test_card_yaml_names_the_data_files_features_and_license(exported: Path) -> None:
    text = (exported / "README.md").read_text()
    assert text.startswith("---\n")
    front = yaml.safe_load(text.split("---\n")[1])
    assert front["license"] == "cc0-1.0" and front["pretty_name"] == "synth 2.0+n4.f12.64x64.s3"
    assert front["task_categories"] == ["image-to-video"]
    (config,) = front["configs"]
    assert config["config_name"] == "default"
    (files,) = config["data_files"]
    assert files["split"] == "test" and sorted(exported.glob(files["path"])) == [exported / SHARD]
    names = [f["name"] for f in front["dataset_info"]["features"]]
    assert names == pq.read_schema(exported / SHARD).names
    manifest = json.loads((exported / "a2bench_manifest.json").read_text())
    num_bytes = sum(f["size"] for s in manifest["samples"] for f in s["files"].values())
    assert front["dataset_info"]["splits"] == [{"name": "test", "num_bytes": num_bytes, "num_examples": 4}]
    assert "load_benchmark(" in text and "datasets.load_dataset(" in text


def test_card_of_a_license_the_hub_does_not_know(tiny_synth: Path, exported: Path) -> None:
    bench = load_benchmark(str(tiny_synth))
    manifest = dataclasses.replace(bench.manifest, license="Studio Internal License v2")
    card = dataset_card(Benchmark(manifest, bench.source, bench.location), exported)
    front = yaml.safe_load(card.split("---\n")[1])
    assert (front["license"], front["license_name"]) == ("other", "studio-internal-license-v2")
    assert "License: Studio Internal License v2." in card


def test_a_damaged_row_is_an_error_naming_the_sample(export_copy: Path, tiny_synth: Path) -> None:
    parquet = export_copy / SHARD
    raw = bytearray(parquet.read_bytes())
    video = (tiny_synth / "s001" / "video.mp4").read_bytes()
    at = raw.find(video)  # videos are stored uncompressed: the file's bytes are in the parquet as they are
    assert at > 0
    raw[at + len(video) // 2] ^= 0xFF
    parquet.write_bytes(bytes(raw))
    bench = load_benchmark(str(export_copy))
    with pytest.raises(BenchmarkError, match=r"sample 's001': video\.mp4: checksum mismatch"):
        bench["s001"].video()
    problems = bench.validate()
    assert len(problems) == 1 and "sample 's001': video.mp4: checksum mismatch" in problems[0]


def test_an_unreadable_parquet_names_the_samples_it_held(export_copy: Path) -> None:
    parquet = export_copy / SHARD
    parquet.write_bytes(parquet.read_bytes()[:-100])
    with pytest.raises(BenchmarkError) as error:
        load_benchmark(str(export_copy))
    problems = error.value.problems
    assert f"{SHARD}: not a readable parquet file" in problems[0]
    assert [p.split(": no row")[0] for p in problems[1:]] == [f"synth: sample 's00{i}'" for i in range(4)]


def test_rows_that_disagree_with_the_manifest_are_named(export_copy: Path) -> None:
    parquet = export_copy / SHARD
    table = pq.read_table(parquet)
    pq.write_table(table.filter(pc.field("id") != "s003"), parquet)
    doc = json.loads((export_copy / "a2bench_manifest.json").read_text())
    doc["samples"][2]["category"] = "robot"
    (export_copy / "a2bench_manifest.json").write_text(json.dumps(doc))
    with pytest.raises(BenchmarkError) as error:
        load_benchmark(str(export_copy))
    assert error.value.problems == [
        f"synth: sample 's002': {SHARD}: the row's category differ from a2bench_manifest.json; the rows and the "
        "manifest are not of the same export: export it again",
        f"synth: sample 's003': no row in {export_copy}/data/test-*.parquet; export or download the dataset again",
    ]


def test_saved_to_disk_exports_still_load(tiny_synth: Path, tmp_path: Path) -> None:
    """The first export layout (``Dataset.save_to_disk``, files as ``{path, data}``) may exist in the wild."""
    original = load_benchmark(str(tiny_synth))
    rows = {"id": [s.id for s in original],
            "files": [[{"path": p, "data": s.read_bytes(p)} for p in s.entry.files] for s in original]}  # fmt: skip
    datasets.Dataset.from_dict(rows).save_to_disk(str(tmp_path / "old"))
    (tmp_path / "old" / "a2bench_manifest.json").write_text(original.manifest.dumps())
    again = load_benchmark(str(tmp_path / "old"))
    assert again.manifest == original.manifest
    for a, b in zip(original, again, strict=True):
        for path in a.entry.files:
            assert a.read_bytes(path) == b.read_bytes(path)


def test_a_failed_export_leaves_nothing(bench_copy: Path, tmp_path: Path) -> None:
    (bench_copy / "s002" / "prompt.txt").write_text("tampered")
    out = tmp_path / "out" / "hf"
    with pytest.raises(BenchmarkError, match=r"sample 's002': prompt\.txt: checksum mismatch"):
        export_hf(load_benchmark(str(bench_copy)), out)
    assert list((tmp_path / "out").iterdir()) == []


def test_push_to_hub_offline_says_how_to_upload_later(tiny_synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "hf"
    args = ["bench", "export", str(tiny_synth), "--format", "hf", "--out", str(out), "--push-to-hub", "me/bench"]
    result = CliRunner().invoke(main, args)  # conftest sets HF_HUB_OFFLINE=1
    assert result.exit_code == 1
    assert f"could not upload {out} to the Hub dataset me/bench" in result.output
    assert "offline mode is enabled" in result.output
    assert f"upload it later with `hf upload me/bench {out} --repo-type dataset`" in result.output
    assert len(load_benchmark(str(out))) == 4
