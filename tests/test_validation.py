"""Every kind of broken benchmark gives an error naming the sample and file, never a silent substitute."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import edit_manifest, set_file

from a2bench.core.data import BenchmarkError, load_benchmark
from a2bench.core.videoio import write_video


def _load_and_validate(root: Path) -> None:
    problems = load_benchmark(str(root)).validate()
    if problems:
        raise BenchmarkError(problems)


def test_the_unmodified_benchmark_is_clean(bench_copy: Path) -> None:
    assert load_benchmark(str(bench_copy)).validate() == []


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing manifest": (lambda r: (r / "manifest.json").unlink(), r"manifest\.json: missing"),
    "manifest not JSON": (lambda r: (r / "manifest.json").write_text("{oops"), r"manifest\.json: not valid JSON"),
    "wrong format version": (
        lambda r: edit_manifest(r, lambda d: d.update(format_version=2)),
        r"'format_version' 1 \(got 'a2bench-layout', 2\)",
    ),
    "missing top-level field": (
        lambda r: edit_manifest(r, lambda d: d.pop("license")),
        r"missing required field\(s\) license",
    ),
    "bad fps": (lambda r: edit_manifest(r, lambda d: d.update(fps="fast")), r"'fps' must be a positive number"),
    "unknown protocol": (
        lambda r: edit_manifest(r, lambda d: d.update(protocols=["self", "mirror"])),
        r"'protocols' must be a non-empty list",
    ),
    "duplicate id": (
        lambda r: edit_manifest(r, lambda d: d["samples"].append(dict(d["samples"][0]))),
        r"sample 's000': duplicate sample id",
    ),
    "invalid id": (
        lambda r: edit_manifest(r, lambda d: d["samples"][0].update(id="../evil")),
        r"samples\[0\] has invalid id '\.\./evil'",
    ),
    "path escaping the sample": (
        lambda r: edit_manifest(
            r, lambda d: d["samples"][0]["files"].update({"../s001/video.mp4": d["samples"][0]["files"]["video.mp4"]})
        ),
        r"sample 's000': \.\./s001/video\.mp4: '\.\.' and '\.' are not allowed",
    ),
    "absolute path": (
        lambda r: edit_manifest(
            r, lambda d: d["samples"][0]["files"].update({"/etc/passwd": {"sha256": "0" * 64, "size": 1}})
        ),
        r"sample 's000': /etc/passwd: absolute paths are not allowed",
    ),
    "required file not listed": (
        lambda r: edit_manifest(r, lambda d: d["samples"][1]["files"].pop("prompt.txt")),
        r"sample 's001': prompt\.txt: required file is not listed",
    ),
    "listed file missing on disk": (
        lambda r: (r / "s002" / "pose.json").unlink(),
        r"sample 's002': pose\.json: listed in the manifest but missing on disk",
    ),
    "unknown cross driver": (
        lambda r: edit_manifest(r, lambda d: d["samples"][0]["cross"].update(driver="s999")),
        r"sample 's000': cross\.driver 's999' is not a sample",
    ),
    "bad checksum entry": (
        lambda r: edit_manifest(r, lambda d: d["samples"][0]["files"]["video.mp4"].update(sha256="xyz")),
        r"sample 's000': video\.mp4: needs a lowercase hex 'sha256'",
    ),
    "bad frame count": (
        lambda r: edit_manifest(r, lambda d: d["samples"][0].update(num_frames=0)),
        r"sample 's000': 'num_frames' must be a positive integer",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_structural_problem_is_named_at_load(bench_copy: Path, case: str) -> None:
    damage, message = CASES[case]
    damage(bench_copy)
    with pytest.raises(BenchmarkError, match=message):
        load_benchmark(str(bench_copy))


def test_symlink_leaving_the_root_is_refused(bench_copy: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text((bench_copy / "s000" / "prompt.txt").read_text())
    (bench_copy / "s000" / "prompt.txt").unlink()
    os.symlink(outside, bench_copy / "s000" / "prompt.txt")
    with pytest.raises(BenchmarkError, match=r"sample 's000': prompt\.txt: resolves to .*outside the benchmark root"):
        load_benchmark(str(bench_copy))


def test_changed_file_fails_its_checksum_when_read(bench_copy: Path) -> None:
    (bench_copy / "s001" / "prompt.txt").write_text("A different character.\n")
    benchmark = load_benchmark(str(bench_copy))
    with pytest.raises(BenchmarkError, match=r"sample 's001': prompt\.txt: checksum mismatch"):
        benchmark["s001"].prompt()
    problems = benchmark.validate()
    assert len(problems) == 1 and "checksum mismatch" in problems[0]


def test_corrupt_video_with_matching_checksum_is_reported(bench_copy: Path) -> None:
    set_file(bench_copy, "s000", "video.mp4", b"\x00" * 500, update_manifest=True)
    with pytest.raises(BenchmarkError, match=r"sample 's000': video\.mp4: cannot be decoded"):
        _load_and_validate(bench_copy)


def test_corrupt_reference_png_is_reported(bench_copy: Path) -> None:
    set_file(bench_copy, "s003", "reference.png", b"\x89PNG garbage", update_manifest=True)
    with pytest.raises(BenchmarkError, match=r"sample 's003': reference\.png: not a readable PNG"):
        _load_and_validate(bench_copy)


def test_frame_count_mismatch_between_video_and_pose(bench_copy: Path) -> None:
    frames = load_benchmark(str(bench_copy))["s002"].video().frames
    data = write_video(bench_copy / "tmp.mp4", frames[:-1], 15).read_bytes()
    set_file(bench_copy, "s002", "video.mp4", data, update_manifest=True)
    with pytest.raises(BenchmarkError, match=r"s002': video\.mp4: frame-count mismatch: 11 frames, manifest says 12"):
        _load_and_validate(bench_copy)
    with pytest.raises(
        BenchmarkError, match=r"s002': pose\.json: frame-count mismatch: 12 pose frames but video\.mp4 has 11"
    ):
        _load_and_validate(bench_copy)


def test_malformed_pose_is_reported(bench_copy: Path) -> None:
    doc = json.loads((bench_copy / "s001" / "pose.json").read_text())
    doc["frames"][2]["face"] = doc["frames"][2]["face"][:60]
    set_file(bench_copy, "s001", "pose.json", json.dumps(doc).encode(), update_manifest=True)
    with pytest.raises(BenchmarkError, match=r"s001': pose\.json: frame 2: group 'face' must hold 68 points"):
        _load_and_validate(bench_copy)


def test_all_problems_are_reported_together(bench_copy: Path) -> None:
    (bench_copy / "s000" / "prompt.txt").write_text("changed")
    (bench_copy / "s003" / "pose.json").write_text("changed")
    problems = load_benchmark(str(bench_copy)).validate()
    assert [p.split(":")[1].strip() for p in problems] == ["sample 's000'", "sample 's003'"]


def test_unknown_benchmark_name_suggests_close_names() -> None:
    with pytest.raises(KeyError, match=r"unknown benchmark 'snyth'\. Did you mean 'synth'\?"):
        load_benchmark("snyth")


def test_listed_file_that_nothing_decodes_is_still_checksummed(bench_copy: Path) -> None:
    (bench_copy / "s002" / "notes.txt").write_text("made by hand")
    import hashlib

    data = (bench_copy / "s002" / "notes.txt").read_bytes()
    edit_manifest(
        bench_copy,
        lambda d: d["samples"][2]["files"].update(
            {"notes.txt": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}}
        ),
    )
    assert load_benchmark(str(bench_copy)).validate() == []
    (bench_copy / "s002" / "notes.txt").write_text("edited later")
    problems = load_benchmark(str(bench_copy)).validate()
    assert len(problems) == 1 and "sample 's002': notes.txt: checksum mismatch" in problems[0]
