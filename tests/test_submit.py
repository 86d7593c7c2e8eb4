"""``a2bench submit`` / ``a2bench validate``: a round trip, and hostile or broken archives each rejected."""

from __future__ import annotations

import io
import json
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from a2bench.cli import main
from a2bench.core.data import load_benchmark
from a2bench.core.videoio import read_video_bytes, write_video
from a2bench.runs.results import Generation, ResultsDB
from a2bench.runs.runner import RunOptions, run
from a2bench.runs.submissions import Limits, validate_submission
from a2bench.runs.submissions.archive import member_name_problem, open_archive, read_member

METRICS = "psnr,ssim,l1,mae"


@pytest.fixture(scope="module")
def scored_run(tiny_synth: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A reference-copy run of the tiny synth, scored with pixel metrics: (database, run id)."""
    folder = tmp_path_factory.mktemp("submit-run")
    options = RunOptions(
        model="reference-copy",
        bench=str(tiny_synth),
        metrics=METRICS.split(","),
        out=folder / "run",
        db=folder / "r.db",
    )
    result = run(options)
    assert not result.failed
    return folder / "r.db", result.run.id


@pytest.fixture(scope="module")
def bundle(scored_run: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    db, run_id = scored_run
    out = tmp_path_factory.mktemp("bundle") / "bundle.zip"
    result = CliRunner().invoke(main, ["submit", run_id, "--out", str(out), "--db", str(db)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def benchmark(tiny_synth: Path):
    return load_benchmark(tiny_synth)


def read_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]], compression=zipfile.ZIP_STORED) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names some tests write on purpose
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in entries:
                archive.writestr(name, data)
    return path


def rebuild(
    bundle: Path,
    path: Path,
    *,
    edit: Callable[[dict, dict[str, bytes]], None] | None = None,
    extra: list[tuple[str | zipfile.ZipInfo, bytes]] = (),
) -> Path:
    """A copy of ``bundle`` whose bundle.json and members ``edit(doc, members)`` may change."""
    members = read_members(bundle)
    doc = json.loads(members.pop("bundle.json"))
    if edit:
        edit(doc, members)
    entries = [("bundle.json", json.dumps(doc).encode()), *members.items(), *extra]
    return write_zip(path, entries)


def relist(doc: dict, member: str, data: bytes) -> None:
    """Make bundle.json's ``files`` entry agree with new member bytes."""
    import hashlib

    doc["files"][member] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


def repool(doc: dict) -> None:
    """Set each metric with per-sample values to their mean over all frames, as a run would have stored it."""
    for name, values in doc["per_sample"].items():
        frames = {sid: doc["samples"][sid]["num_frames"] for sid in values}
        doc["metrics"][name]["value"] = sum(frames[sid] * v for sid, v in values.items()) / sum(frames.values())


def patch_central(data: bytes, name: str, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of ``name``'s central-directory record (what zipfile and the validator read)."""
    buffer, position = bytearray(data), 0
    while (position := buffer.find(b"PK\x01\x02", position)) >= 0:
        length = struct.unpack_from("<H", buffer, position + 28)[0]
        if bytes(buffer[position + 46 : position + 46 + length]) == name.encode():
            struct.pack_into(fmt, buffer, position + offset, value)
            return bytes(buffer)
        position += 4
    raise AssertionError(f"{name} not in the central directory")


def problems(path: Path, benchmark, **limits) -> list[str]:
    return validate_submission(path, benchmark, limits=replace(Limits(), **limits)).problems


def assert_rejected(path: Path, benchmark, message: str, **limits) -> None:
    found = problems(path, benchmark, **limits)
    assert any(message in p for p in found), f"expected {message!r} in {found}"


# --- round trip -----------------------------------------------------------------------------------


def test_round_trip(bundle: Path, benchmark, scored_run: tuple[Path, str], tiny_synth: Path) -> None:
    members = read_members(bundle)
    assert sorted(members) == ["bundle.json"] + [f"videos/s00{i}.mp4" for i in range(4)]
    doc = json.loads(members["bundle.json"])
    assert doc["format"] == "a2bench-submission" and doc["version"] == 1 and doc["complete"] is True
    assert doc["run"]["id"] == scored_run[1] and doc["run"]["identity"]["name"] == "reference-copy"
    assert "folder" not in doc["run"] and doc["run"]["provenance"]["a2bench_version"]
    assert doc["benchmark"]["manifest_sha256"] == benchmark.manifest.sha256
    assert set(doc["metrics"]) == set(METRICS.split(",")) and set(doc["per_sample"]["psnr"]) == set(doc["samples"])
    assert set(doc["files"]) == {f"videos/s00{i}.mp4" for i in range(4)}
    result = CliRunner().invoke(
        main, ["validate", str(bundle), "--bench", str(tiny_synth), "--rescore"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "NO" not in result.output
    report = validate_submission(bundle, benchmark, rescore=True)
    assert report.valid and report.rescored and all(row["match"] for row in report.rescored.values())
    assert not list(bundle.parent.glob(".*.tmp"))  # written atomically: no temporary file left


def test_rescore_catches_doctored_values(bundle: Path, benchmark, tmp_path: Path) -> None:
    def better_psnr(doc: dict, _members: dict) -> None:
        doc["per_sample"]["psnr"]["s001"] += 1.0
        doc["metrics"]["psnr"]["value"] += 1.0 / 4  # 4 samples of 12 frames: the aggregate agrees with them

    doctored = rebuild(bundle, tmp_path / "doctored.zip", edit=better_psnr)
    assert validate_submission(doctored, benchmark).valid  # files and values agree; only re-scoring can tell
    report = validate_submission(doctored, benchmark, rescore=True)
    assert any(p.startswith("rescore: psnr differs") and "sample s001" in p for p in report.problems)
    assert report.rescored["psnr"]["match"] is False and report.rescored["ssim"]["match"] is True


def test_incomplete_runs(scored_run: tuple[Path, str], tmp_path: Path, tiny_synth: Path, benchmark) -> None:
    db, run_id = scored_run
    store = ResultsDB(db)
    good = store.run(run_id)
    partial = replace(good, id="partial00000", status="incomplete")
    store.save_run(partial)
    for sid, generation in store.run_generations(run_id).items():
        if sid == "s002":
            generation = Generation("failed-s002", sid, "failed", error="RuntimeError: out of memory", created="x")
        store.record(partial.id, generation)
    values = store.metrics(run_id)
    kept = {n: {s: x for s, x in scores.items() if s != "s002"} for n, scores in store.sample_metrics(run_id).items()}
    # as the run would have scored them: the 3 generated samples, all of 12 frames
    store.save_metrics(
        partial.id,
        {n: {**v, "value": sum(kept[n].values()) / 3, "per_sample": kept[n]} for n, v in values.items()},
    )
    runner = CliRunner()
    out = tmp_path / "partial.zip"
    refused = runner.invoke(main, ["submit", partial.id, "--out", str(out), "--db", str(db)])
    assert refused.exit_code == 1 and "not complete" in refused.output and "--allow-incomplete" in refused.output
    assert not out.exists() and not list(tmp_path.glob(".*"))
    args = ["submit", partial.id, "--out", str(out), "--db", str(db), "--allow-incomplete"]
    assert runner.invoke(main, args).exit_code == 0
    doc = json.loads(read_members(out)["bundle.json"])
    assert doc["complete"] is False and doc["incomplete"]["failed"] == {"s002": "RuntimeError: out of memory"}
    assert "videos/s002.mp4" not in doc["files"] and doc["samples"]["s002"]["video"] is None
    assert_rejected(out, benchmark, "sample s002: failed in the run (RuntimeError: out of memory)")
    lenient = runner.invoke(main, ["validate", str(out), "--bench", str(tiny_synth), "--allow-incomplete"])
    assert lenient.exit_code == 0, lenient.output


# --- hostile and broken archives ------------------------------------------------------------------


def test_absolute_path(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = rebuild(bundle, tmp_path / "a.zip", extra=[("/etc/cron.d/evil", b"x")])
    assert_rejected(path, benchmark, "member '/etc/cron.d/evil': absolute path")


def test_path_traversal(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = rebuild(bundle, tmp_path / "t.zip", extra=[("videos/../../evil.mp4", b"x")])
    assert_rejected(path, benchmark, "member 'videos/../../evil.mp4': '..' component (path traversal)")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("videos\\s000.mp4", "backslash in the path"),
        ("C:/evil.mp4", "drive letter in the path"),
        ("videos/s000.mp4\x07", "control character"),
        ("../bundle.json", "path traversal"),
        ("videos/", "unexpected member"),
        ("videos/sub/s000.mp4", "unexpected member"),
        ("bundle.json", None),
        ("videos/s000.mp4", None),
    ],
)
def test_member_names(name: str, message: str | None) -> None:
    problem = member_name_problem(name)
    assert (problem is None) if message is None else (message in problem)


def test_symlink_member(bundle: Path, benchmark, tmp_path: Path) -> None:
    link = zipfile.ZipInfo("videos/s000.mp4")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16

    def to_link(doc: dict, members: dict) -> None:
        members.pop("videos/s000.mp4")

    path = rebuild(bundle, tmp_path / "l.zip", edit=to_link, extra=[(link, b"/etc/passwd")])
    assert_rejected(path, benchmark, "member 'videos/s000.mp4': symbolic link")


def test_duplicate_member_names(bundle: Path, benchmark, tmp_path: Path) -> None:
    members = read_members(bundle)
    path = rebuild(bundle, tmp_path / "d.zip", extra=[("videos/s001.mp4", members["videos/s000.mp4"])])
    assert_rejected(path, benchmark, "member 'videos/s001.mp4': duplicate member name")
    folded = rebuild(bundle, tmp_path / "c.zip", extra=[("videos/S001.mp4", b"x")])
    assert_rejected(folded, benchmark, "differs from 'videos/s001.mp4' only in case")


def test_oversized_member(bundle: Path, benchmark) -> None:
    assert_rejected(bundle, benchmark, "bytes uncompressed, over the limit of 1000", max_member_bytes=1000)
    assert_rejected(bundle, benchmark, "bundle.json': ", max_json_bytes=100)
    assert_rejected(bundle, benchmark, "total uncompressed size", max_total_bytes=20_000)
    assert_rejected(bundle, benchmark, "12 frames of 64x64 would decode to 147456 bytes", max_decoded_bytes=100_000)


def test_zip_bomb(bundle: Path, benchmark, tmp_path: Path) -> None:
    def bomb(doc: dict, members: dict) -> None:
        members.pop("videos/s000.mp4")

    zeros = bytes(300_000)
    path = rebuild(bundle, tmp_path / "b.zip", edit=bomb)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("videos/s000.mp4", zeros)
    assert path.stat().st_size < 40_000
    assert_rejected(path, benchmark, "member 'videos/s000.mp4': compression ratio", ratio_min_bytes=100_000)
    assert "(zip bomb)" in " ".join(problems(path, benchmark, ratio_min_bytes=100_000))


def test_too_many_members(bundle: Path, benchmark) -> None:
    assert_rejected(bundle, benchmark, "too many members: 5, the limit is 3", max_members=3)


def test_unexpected_member(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = rebuild(bundle, tmp_path / "u.zip", extra=[("notes.txt", b"hello")])
    assert_rejected(path, benchmark, "member 'notes.txt': unexpected member")
    unlisted = rebuild(bundle, tmp_path / "n.zip", extra=[("videos/s009.mp4", b"x")])
    assert_rejected(unlisted, benchmark, "videos/s009.mp4: in the archive but not listed in bundle.json 'files'")


def test_encrypted_member(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = tmp_path / "e.zip"
    path.write_bytes(patch_central(bundle.read_bytes(), "videos/s001.mp4", 8, "<H", 0x1))
    assert_rejected(path, benchmark, "member 'videos/s001.mp4': encrypted")


def test_overlapping_members(bundle: Path, benchmark, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundle) as archive:
        first = archive.getinfo("videos/s000.mp4").header_offset
    path = tmp_path / "o.zip"
    path.write_bytes(patch_central(bundle.read_bytes(), "videos/s001.mp4", 42, "<I", first))
    assert_rejected(path, benchmark, "its data overlaps member 'videos/s001.mp4' (overlapping entries")


def test_header_that_lies_about_the_size(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = tmp_path / "s.zip"
    path.write_bytes(patch_central(bundle.read_bytes(), "bundle.json", 24, "<I", 100))
    assert_rejected(path, benchmark, "bundle.json: corrupt member")


def test_tampered_video(bundle: Path, benchmark, tmp_path: Path) -> None:
    def tamper(doc: dict, members: dict) -> None:
        data = bytearray(members["videos/s001.mp4"])
        data[len(data) // 2] ^= 0xFF
        members["videos/s001.mp4"] = bytes(data)

    path = rebuild(bundle, tmp_path / "h.zip", edit=tamper)
    assert_rejected(path, benchmark, "videos/s001.mp4: sha256 mismatch")


def test_missing_sample(bundle: Path, benchmark, tmp_path: Path) -> None:
    def drop(doc: dict, members: dict) -> None:
        members.pop("videos/s003.mp4")
        doc["files"].pop("videos/s003.mp4")
        doc["samples"].pop("s003")
        for values in doc["per_sample"].values():
            values.pop("s003")
        repool(doc)

    path = rebuild(bundle, tmp_path / "m.zip", edit=drop)
    assert problems(path, benchmark) == ["sample s003: missing sample (the benchmark has it, the bundle does not)"]


def test_extra_sample(bundle: Path, benchmark, tmp_path: Path) -> None:
    def add(doc: dict, members: dict) -> None:
        members["videos/s999.mp4"] = members["videos/s000.mp4"]
        relist(doc, "videos/s999.mp4", members["videos/s000.mp4"])
        doc["samples"]["s999"] = {**doc["samples"]["s000"], "video": "videos/s999.mp4"}
        for values in doc["per_sample"].values():
            values["s999"] = values["s000"]
        repool(doc)

    path = rebuild(bundle, tmp_path / "x.zip", edit=add)
    assert problems(path, benchmark) == ["sample s999: extra sample, not in synth " + benchmark.version]


def test_wrong_frame_count(bundle: Path, benchmark, tmp_path: Path) -> None:
    def shorten(doc: dict, members: dict) -> None:
        video = read_video_bytes(members["videos/s002.mp4"], "s002")
        short = write_video(tmp_path / "short.mp4", video.frames[:5], video.fps, lossless=True).read_bytes()
        members["videos/s002.mp4"] = short
        relist(doc, "videos/s002.mp4", short)
        doc["samples"]["s002"]["num_frames"] = 5

    path = rebuild(bundle, tmp_path / "f.zip", edit=shorten)
    assert_rejected(path, benchmark, "videos/s002.mp4: wrong frame count: 5 frames, the benchmark sample needs 12")


def test_video_that_does_not_decode(bundle: Path, benchmark, tmp_path: Path) -> None:
    def garbage(doc: dict, members: dict) -> None:
        members["videos/s002.mp4"] = b"\x00" * 2000
        relist(doc, "videos/s002.mp4", members["videos/s002.mp4"])

    path = rebuild(bundle, tmp_path / "g.zip", edit=garbage)
    assert_rejected(path, benchmark, "videos/s002.mp4: does not decode")


def test_corrupt_zip(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = tmp_path / "truncated.zip"
    path.write_bytes(bundle.read_bytes()[: bundle.stat().st_size // 2])
    assert_rejected(path, benchmark, "corrupt or truncated zip archive")


def test_not_a_zip(benchmark, tmp_path: Path, tiny_synth: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"this is not an archive\n" * 10)
    assert_rejected(path, benchmark, "not a zip archive")
    result = CliRunner().invoke(main, ["validate", str(path), "--bench", str(tiny_synth)])
    assert result.exit_code == 1 and "INVALID" in result.output
    assert_rejected(tmp_path / "absent.zip", benchmark, "no such file")


def test_bundle_json_not_json_or_wrong_format(bundle: Path, benchmark, tmp_path: Path) -> None:
    members = read_members(bundle)
    videos = [(name, data) for name, data in members.items() if name != "bundle.json"]
    broken = write_zip(tmp_path / "j.zip", [("bundle.json", b"{not json"), *videos])
    assert problems(broken, benchmark) == [
        "bundle.json: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
    ]
    doc = json.loads(members["bundle.json"])
    wrong = write_zip(tmp_path / "w.zip", [("bundle.json", json.dumps({**doc, "format": "other"}).encode()), *videos])
    assert_rejected(wrong, benchmark, "bundle.json: wrong format")
    duplicate = write_zip(tmp_path / "k.zip", [("bundle.json", b'{"format": 1, "format": 2}'), *videos])
    assert_rejected(duplicate, benchmark, "duplicate key 'format'")
    no_json = write_zip(tmp_path / "n.zip", videos)
    assert_rejected(no_json, benchmark, "bundle.json: missing")
    schema = rebuild(bundle, tmp_path / "s.zip", edit=lambda doc, _m: doc["samples"]["s001"].pop("num_frames"))
    assert_rejected(schema, benchmark, "bundle.json: samples.s001.num_frames must be a positive integer")


def test_other_benchmark(bundle: Path, benchmark, tmp_path: Path) -> None:
    def other(doc: dict, _members: dict) -> None:
        doc["benchmark"]["manifest_sha256"] = doc["run"]["manifest_sha256"] = "0" * 64

    path = rebuild(bundle, tmp_path / "o.zip", edit=other)
    assert_rejected(path, benchmark, "benchmark: manifest sha256 000000000000… differs")


def test_problems_are_all_reported(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = rebuild(bundle, tmp_path / "many.zip", extra=[("/abs", b"x"), ("../up", b"x"), ("readme.md", b"x")])
    found = problems(path, benchmark)
    assert len(found) == 3 and all(name in " ".join(found) for name in ("'/abs'", "'../up'", "'readme.md'"))


def test_zip_reads_are_bounded(bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read_member streams, and stops as soon as a member yields more than its header declares."""
    with zipfile.ZipFile(bundle) as archive:
        info = archive.getinfo("bundle.json")
        digest, size, data = read_member(archive, info, 1 << 20)
        assert size == info.file_size and data is not None and len(data) == size
        sink = io.BytesIO()
        assert read_member(archive, info, 1 << 20, sink=sink.write) == (digest, size, None)
        assert sink.getvalue() == data

        class Endless(io.RawIOBase):  # a member stream that does not stop where the header says
            given = 0

            def read(self, n: int = -1) -> bytes:
                Endless.given += n
                return bytes(n)

        monkeypatch.setattr(archive, "open", lambda _info: Endless())
        with pytest.raises(ValueError, match="more data than its header declares"):
            read_member(archive, info, 1 << 20)
        assert Endless.given == info.file_size + 1


def test_hostile_bundle_json_is_reported_not_raised(bundle, benchmark, tmp_path) -> None:
    """Deep nesting and a 5,000-digit integer are refused as invalid JSON, without a traceback."""
    for index, text in enumerate(("[" * 200_000, '{"seed": ' + "9" * 5000 + "}")):
        broken = tmp_path / f"hostile{index}.zip"
        with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(broken, "w") as out:
            for info in source.infolist():
                out.writestr(info.filename, text.encode() if info.filename == "bundle.json" else source.read(info))
        assert_rejected(broken, benchmark, "bundle.json: not valid JSON")


def test_a_bundle_of_an_incomplete_run_needs_allow_incomplete(bundle, benchmark, tmp_path) -> None:
    """A bundle saying its run is incomplete is refused even when every sample it lists is ok."""
    changed = tmp_path / "incomplete.zip"
    with zipfile.ZipFile(bundle) as source, zipfile.ZipFile(changed, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "bundle.json":
                doc = json.loads(data)
                doc["complete"], doc["run"]["status"] = False, "interrupted"
                doc["incomplete"] = {"failed": {}, "never_generated": [], "status": "interrupted"}
                data = json.dumps(doc).encode()
            out.writestr(info.filename, data)
    assert_rejected(changed, benchmark, "the bundle says the run is incomplete (status 'interrupted')")
    allowed = validate_submission(changed, benchmark, allow_incomplete=True)
    assert not allowed.problems and any("incomplete" in note for note in allowed.notes)


# --- the central directory is bounded before zipfile parses it ------------------------------------


def many_members(path: Path, count: int) -> Path:
    """A zip of ``count`` tiny members (what a hostile archive hides behind a small declared count)."""
    return write_zip(path, [(f"videos/x{i:05d}.mp4", b"") for i in range(count)])


def patch_eocd(data: bytes, *, entries: int | None = None, size: int | None = None) -> bytes:
    """Overwrite the end-of-central-directory record's entry counts and/or central directory size."""
    buffer, at = bytearray(data), len(data) - 22
    assert buffer[at : at + 4] == b"PK\x05\x06"
    if entries is not None:
        struct.pack_into("<HH", buffer, at + 8, entries, entries)
    if size is not None:
        struct.pack_into("<L", buffer, at + 12, size)
    return bytes(buffer)


def to_zip64(data: bytes, *, entries: int | None = None, size: int | None = None) -> bytes:
    """The same archive with zip64 end records (what zipfile writes past 4 GiB): the classic record
    holds only 0xFFFF / 0xFFFFFFFF, the zip64 record the counts (``entries``/``size`` override them)."""
    at = len(data) - 22
    _, _, _, _, count, cd_size, cd_offset, _ = struct.unpack("<4s4H2LH", data[at:])
    record = struct.pack(
        "<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, *(2 * [entries or count]), size or cd_size, cd_offset
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return data[:at] + record + locator + end


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every archive whose central directory zipfile parses."""
    calls: list[str] = []
    original = zipfile.ZipFile._RealGetContents

    def spy(self: zipfile.ZipFile) -> None:
        calls.append(str(self.filename))
        original(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", spy)
    return calls


def test_a_central_directory_larger_than_declared_is_refused_unparsed(benchmark, tmp_path: Path, parsed) -> None:
    path = many_members(tmp_path / "hidden.zip", 200)
    path.write_bytes(patch_eocd(path.read_bytes(), entries=1))  # declares 1 member, holds 200
    found = problems(path, benchmark, max_members=10)
    assert len(found) == 1 and "over the limit of" in found[0] and "for 10 members" in found[0], found
    assert parsed == []
    assert_rejected(path, benchmark, "bundle.json: missing", max_members=1000)  # within a larger limit: parsed


def test_a_count_the_central_directory_cannot_hold_is_refused(bundle: Path, benchmark, tmp_path: Path) -> None:
    path = tmp_path / "count.zip"
    path.write_bytes(patch_eocd(bundle.read_bytes(), entries=100))  # 5 entries' worth of directory
    assert_rejected(path, benchmark, "cannot hold the 100 entries it declares")


def test_zip64_end_records_are_parsed_and_checked(bundle: Path, benchmark, tmp_path: Path, parsed) -> None:
    wide = tmp_path / "zip64.zip"
    wide.write_bytes(to_zip64(bundle.read_bytes()))
    report = validate_submission(wide, benchmark)
    assert report.valid, report.problems  # zip64 bundles (over 4 GiB) are read, not refused
    parsed.clear()
    many = to_zip64(many_members(tmp_path / "many.zip", 200).read_bytes())
    (tmp_path / "many64.zip").write_bytes(many)
    assert problems(tmp_path / "many64.zip", benchmark, max_members=10) == [
        f"{tmp_path / 'many64.zip'}: too many members: 200, the limit is 10"
    ]
    lying = tmp_path / "lying64.zip"
    lying.write_bytes(to_zip64(many_members(tmp_path / "m.zip", 200).read_bytes(), entries=1))  # zip64 says 1
    assert_rejected(lying, benchmark, "for 10 members", max_members=10)
    huge = tmp_path / "huge64.zip"
    huge.write_bytes(to_zip64(bundle.read_bytes(), size=1 << 40))
    assert_rejected(huge, benchmark, "central directory of 1099511627776 bytes, over the limit")
    assert parsed == []


def test_the_archive_is_opened_once(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing the file once it is checked changes nothing: zipfile reads the handle that was checked."""
    path = tmp_path / "swapped.zip"
    path.write_bytes(bundle.read_bytes())
    other = many_members(tmp_path / "other.zip", 3)
    original_init = zipfile.ZipFile.__init__

    def swap_then_open(self, *args, **kwargs):
        if other.exists():
            other.replace(path)  # between the checks and zipfile's parsing
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "__init__", swap_then_open)
    archive, found = open_archive(path)
    assert archive is not None and not found
    with archive:
        assert "bundle.json" in archive.namelist()
        handle = archive.fp
    assert handle is None or handle.closed  # closing the archive closes the file it owns


def test_a_video_changed_after_hashing_is_not_decoded_or_scored(
    bundle: Path, benchmark, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes decoded (and re-scored) are hashed again: a member that changes between reads is refused."""
    import a2bench.core.videoio

    opened: dict[str, int] = {}
    original_open = zipfile.ZipFile.open
    decoded: list[str] = []
    original_decode = a2bench.core.videoio.read_video_bytes

    def changing_open(self, info, *args, **kwargs):
        name = info.filename if isinstance(info, zipfile.ZipInfo) else info
        opened[name] = opened.get(name, 0) + 1
        stream = original_open(self, info, *args, **kwargs)
        if name != "videos/s001.mp4" or opened[name] != changed_read:
            return stream
        with stream:
            data = bytearray(stream.read())
        data[len(data) // 2] ^= 0xFF  # the same size, other bytes: as if rewritten in place
        return io.BytesIO(bytes(data))

    def recording_decode(data: bytes, name: str):
        decoded.append(name)
        return original_decode(data, name)

    monkeypatch.setattr(zipfile.ZipFile, "open", changing_open)
    monkeypatch.setattr(a2bench.core.videoio, "read_video_bytes", recording_decode)
    changed_read = 2  # hashed (1st read), then changed before it is probed and decoded (2nd read)
    report = validate_submission(bundle, benchmark)
    assert [p for p in report.problems if "s001" in p] == [
        next(p for p in report.problems if p.startswith("videos/s001.mp4: sha256 mismatch on reading it again"))
    ]
    assert "videos/s001.mp4" not in decoded and "videos/s000.mp4" in decoded
    opened.clear()
    decoded.clear()
    changed_read = 3  # verified and checked, then changed before it is scored (3rd read)
    report = validate_submission(bundle, benchmark, rescore=True)
    assert report.rescored is None and len(report.problems) == 1
    assert report.problems[0].startswith("rescore: ") and "sha256 mismatch on reading it again" in report.problems[0]
    assert "videos/s001.mp4" not in decoded[4:]  # decoded while checked (4 videos), never for scoring


def test_a_limit_run_is_partial_in_every_output(tiny_synth: Path, tmp_path: Path) -> None:
    db, cli = str(tmp_path / "r.db"), CliRunner()
    ran = cli.invoke(main, ["run", "--model", "reference-copy", "--bench", str(tiny_synth), "--metrics", "psnr",
                            "--limit", "2", "--db", db, "--out", str(tmp_path / "run")])  # fmt: skip
    assert ran.exit_code == 0 and "status: complete; partial: 2 of 4 samples" in ran.output
    assert "partial: 2 of 4 samples" in cli.invoke(main, ["runs", "list", "--db", db]).output
    (run,) = ResultsDB(tmp_path / "r.db").runs()
    refused = cli.invoke(main, ["submit", run.id, "--out", str(tmp_path / "b.zip"), "--db", db])
    assert refused.exit_code == 1 and "is partial: 2 of 4 samples" in refused.output
    assert "--allow-partial" in refused.output
    packed = cli.invoke(main, ["submit", run.id, "--out", str(tmp_path / "b.zip"), "--db", db, "--allow-partial"])
    assert packed.exit_code == 0, packed.output
    checked = cli.invoke(main, ["validate", str(tmp_path / "b.zip"), "--bench", str(tiny_synth)])
    assert checked.exit_code == 1 and "partial: the run asked for 2 of the benchmark's 4 samples" in checked.output
    assert "missing sample" not in checked.output  # one explanation, not a line per sample never asked for
    report = cli.invoke(main, ["report", run.id, "--bench", str(tiny_synth), "--db", db, "--out",
                               str(tmp_path / "report"), "--format", "html"])  # fmt: skip
    assert report.exit_code == 0, report.output
    shown = sorted(p.name for p in (tmp_path / "report" / "gallery").rglob("*.mp4"))
    assert shown == ["s000.mp4", "s001.mp4"]  # only the samples the run asked for
