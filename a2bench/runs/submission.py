"""Leaderboard submissions: pack a run into a zip bundle, and validate a bundle without trusting it.

A bundle (format ``a2bench-submission`` version 1) is a zip archive holding exactly:

- ``bundle.json``: the run row (identity, provenance), the benchmark's name, version and manifest
  sha256, the protocol, the aggregate and per-sample metric values, every sample's status, and
  ``files``: the sha256 and size of every other member;
- ``videos/<sample_id>.mp4``: the run's video of every sample it generated.

:func:`validate_submission` treats the archive as hostile. It checks, in order, and reports every
problem it finds with a message naming the member: (1) the archive itself, from its central directory
only, before any member is read (paths, links, duplicates, names, counts, sizes, compression ratio,
encryption, overlapping entries); (2) ``bundle.json``'s schema and every member's size and sha256
against it, reading members as bounded streams; (3) the benchmark: manifest, one video per sample,
each video's frame count, size and frame rate; (4) optionally, re-scoring the videos and comparing
with the stored values. Nothing is extracted to disk: videos are decoded from memory. The limits are
:class:`Limits` (docs/runner.md, "Leaderboard submissions").
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from a2bench.core.data.benchmark import Benchmark, Sample
from a2bench.core.data.manifest import SAMPLE_ID
from a2bench.core.fileio import finite_number
from a2bench.core.provenance import VERSION as A2BENCH_VERSION
from a2bench.core.provenance import manifest_sha256
from a2bench.runs.results import ResultsDB
from a2bench.runs.runner import score_videos

FORMAT = "a2bench-submission"
VERSION = 1
BUNDLE_JSON = "bundle.json"
VIDEO_MEMBER = re.compile(r"^videos/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\.mp4$")
RESCORE_REL_TOL = 1e-6
AGGREGATE_REL_TOL = 1e-9  # an aggregate against its per-sample values: float64 rounding is ~1e-13 at 10,000 samples
_RESCORE_ABS_TOL = 1e-12  # values that should be exactly 0 (L1 of a perfect prediction)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same run packs to the same bytes
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name
_CHUNK = 1 << 20


class SubmissionError(ValueError):
    """A run that cannot be packed as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Limits:
    """What :func:`validate_submission` accepts before reading any member (defaults in docs/runner.md)."""

    max_archive_bytes: int = 64 << 30  # the zip file itself
    max_members: int = 10_001  # 10,000 videos and bundle.json
    max_member_bytes: int = 2 << 30  # one member, uncompressed
    max_total_bytes: int = 64 << 30  # all members, uncompressed
    max_json_bytes: int = 64 << 20  # bundle.json, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed size of one member ...
    ratio_min_bytes: int = 1 << 20  # ... checked for members larger than this (small JSON may compress well)
    max_decoded_bytes: int = 4 << 30  # one video's RGB frames (frames x width x height x 3), checked before decoding


# ------------------------------------------------------------------------------------------------
# submit


def build_submission(
    store: ResultsDB,
    run_id: str,
    out: str | os.PathLike,
    *,
    allow_incomplete: bool = False,
    allow_partial: bool = False,
) -> dict[str, Any]:
    """Pack run ``run_id`` of ``store`` into the zip ``out`` (written to a temporary file, then renamed).

    Returns the ``bundle.json`` document. A run with failed or missing samples, or one that did not
    finish, needs ``allow_incomplete`` (the bundle then says ``"complete": false`` and lists them); a run of part
    of its benchmark (``--limit``) needs ``allow_partial``.
    """
    run = store.run(run_id)
    if run.partial and not allow_partial:
        raise SubmissionError(
            f"run {run.id} is {run.partial} (a2bench run --limit); a leaderboard entry needs every sample: run the "
            "benchmark without --limit, or pass --allow-partial to pack it anyway (validate will say it is partial)"
        )
    generations = store.run_generations(run.id)
    metrics = store.metrics(run.id)
    if not metrics:
        raise SubmissionError(f"run {run.id} has no metric values; score it first (run it again without --no-eval)")
    per_sample = store.sample_metrics(run.id)
    broken = [f"{name} = {m['value']!r}" for name, m in metrics.items() if finite_number(m["value"]) is None]
    broken += [
        f"{name} of sample {sid} = {value!r}"
        for name, values in per_sample.items()
        for sid, value in values.items()
        if finite_number(value) is None
    ]
    if broken:
        raise SubmissionError(
            f"run {run.id}: {', '.join(broken[:5])}: not finite numbers, which no bundle may hold; score the run "
            "again (run the same `a2bench run` again)"
        )
    failed = {sid: g.error or "failed" for sid, g in generations.items() if g.status != "ok"}
    unrecorded = max(0, run.samples - len(generations))
    reasons = [f"{len(failed)} sample(s) failed ({', '.join(list(failed)[:5])})"] if failed else []
    reasons += [f"{unrecorded} sample(s) were never generated"] if unrecorded else []
    reasons += [f"its status is {run.status!r}"] if run.status != "complete" else []
    if reasons and not allow_incomplete:
        raise SubmissionError(
            f"run {run.id} is not complete: {'; '.join(reasons)}. Resume it with the same `a2bench run` command, "
            "or pass --allow-incomplete to submit it as incomplete"
        )
    files: dict[str, dict[str, Any]] = {}
    samples: dict[str, dict[str, Any]] = {}
    sources: dict[str, Path] = {}
    for sid, generation in generations.items():
        if not SAMPLE_ID.match(sid):
            raise SubmissionError(f"run {run.id}: sample id {sid!r} cannot name a file in a bundle")
        entry = {
            "status": generation.status,
            "error": generation.error,
            "video": None,
            "num_frames": generation.num_frames,
            "width": generation.width,
            "height": generation.height,
            "fps": generation.fps,
            "seconds": generation.seconds,
        }
        if generation.status == "ok":
            path = Path(generation.path or "")
            if not path.is_file():
                raise SubmissionError(f"sample {sid}: video {path} is missing; run the same `a2bench run` again")
            member = f"videos/{sid}.mp4"
            entry["video"] = member
            files[member] = {"sha256": generation.sha256, "size": path.stat().st_size}
            sources[member] = path
        samples[sid] = entry
    run_doc = {k: v for k, v in asdict(run).items() if k != "folder"}  # a local path: nothing to publish
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "a2bench_version": A2BENCH_VERSION,
        "run": run_doc,
        "benchmark": {
            "name": run.benchmark,
            "version": run.benchmark_version,
            "manifest_sha256": run.manifest_sha256,
            "protocol": run.protocol,
        },
        "complete": not reasons,
        "incomplete": {"failed": failed, "never_generated": unrecorded, "status": run.status} if reasons else None,
        "metrics": metrics,
        "per_sample": per_sample,
        "samples": samples,
        "files": files,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            archive.writestr(
                _member_info(BUNDLE_JSON, zipfile.ZIP_DEFLATED), json.dumps(doc, indent=1, sort_keys=True) + "\n"
            )
            for member, path in sources.items():
                _copy_checked(archive, member, path, files[member])
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return doc


def _member_info(name: str, compression: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = compression
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


def _copy_checked(archive: zipfile.ZipFile, member: str, path: Path, expected: dict[str, Any]) -> None:
    """Copy a video into the archive (stored: mp4 does not compress), hashing exactly the bytes written."""
    digest, size = hashlib.sha256(), 0
    info = _member_info(member, zipfile.ZIP_STORED)
    info.file_size = expected["size"]
    with open(path, "rb") as src, archive.open(info, "w", force_zip64=expected["size"] >= 1 << 31) as dst:
        for block in iter(lambda: src.read(_CHUNK), b""):
            digest.update(block)
            size += len(block)
            dst.write(block)
    if digest.hexdigest() != expected["sha256"] or size != expected["size"]:
        raise SubmissionError(
            f"{path}: changed since it was generated (sha256 mismatch with the results database); "
            "run the same `a2bench run` again to regenerate it"
        )


# ------------------------------------------------------------------------------------------------
# validate


@dataclass
class ValidationReport:
    """Every problem found (empty when the bundle is valid), notes, and the re-scored values."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rescored: dict[str, dict[str, Any]] | None = None  # metric → {stored, rescored, match}
    bundle: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not self.problems


def validate_submission(
    path: str | os.PathLike,
    benchmark: Benchmark,
    *,
    rescore: bool = False,
    metrics: Sequence[str] | str | None = None,
    device: str = "cpu",
    allow_incomplete: bool = False,
    limits: Limits = Limits(),
    progress: Callable[[str], None] | None = None,
) -> ValidationReport:
    """Check a bundle step by step (module docstring); later steps run only when earlier ones allow."""
    report = ValidationReport()
    path = Path(path)
    archive, problems = open_archive(path, limits)
    report.problems += problems
    if archive is None:
        return report
    with archive:
        report.problems += check_members(archive, limits)
        if report.problems:
            report.notes.append("nothing was read from the archive: fix the problems above first")
            return report
        members = {info.filename: info for info in archive.infolist()}
        doc = _read_bundle_json(archive, members, limits, report)
        if doc is None:
            return report
        report.bundle = doc
        verified = _check_files(archive, members, doc, limits, report)
        _check_benchmark(archive, members, doc, verified, benchmark, allow_incomplete, limits, report, progress)
        if rescore:
            if report.problems:
                report.notes.append("not re-scored: the bundle has problems")
            else:
                _rescore(archive, members, doc, benchmark, metrics, device, limits, report, progress)
    return report


# step 1: the archive, from its central directory -------------------------------------------------


def open_archive(path: Path, limits: Limits = Limits()) -> tuple[zipfile.ZipFile | None, list[str]]:
    """Open ``path`` as a zip, or say why not (not a file, too large, not a zip, corrupt, too many members).

    The file is opened once: its size, signature and end-of-central-directory records are checked on
    that handle, which is then the one zipfile reads (closing the archive closes it), so replacing the
    path meanwhile changes nothing."""
    if not path.is_file():
        return None, [f"{path}: no such file"]
    try:  # O_NONBLOCK: a path swapped for a FIFO since is_file() must not block the open
        handle = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb")
    except OSError as exc:
        return None, [f"{path}: cannot be opened ({exc})"]
    try:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            problem = f"{path}: not a regular file"
        elif info.st_size > limits.max_archive_bytes:
            problem = f"{path}: {info.st_size} bytes, over the limit of {limits.max_archive_bytes} for a bundle"
        elif handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            problem = f"{path}: not a zip archive (it does not start with a zip signature)"
        else:
            problem = _central_directory_problem(handle, limits)
            problem = f"{path}: {problem}" if problem else None
        if problem:
            handle.close()
            return None, [problem]
        handle.seek(0)
        return _OwnedZipFile(handle), []
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        handle.close()
        return None, [f"{path}: corrupt or truncated zip archive ({exc})"]


class _OwnedZipFile(zipfile.ZipFile):
    """A ZipFile reading an open file object that it owns: closing the archive closes the file."""

    def __init__(self, handle: io.BufferedReader) -> None:
        self._handle = handle
        super().__init__(handle)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._handle.close()


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: signature, disks, entries, size, offset, comment
_ZIP64_LOCATOR = struct.Struct("<4sLQL")  # signature, disk, offset of the zip64 record, disks
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")  # signature, record size, versions, disks, entries, size, offset
_CD_ENTRY = 46  # fixed part of one central-directory entry
_CD_NAME_MAX = len("videos/") + 64 + len(".mp4")  # the longest acceptable member name
_CD_EXTRA_MAX = 256  # per entry: extra fields (zip64 sizes, timestamps, ...) and comment


def _end_records(handle: io.BufferedReader) -> list[tuple[int, int]] | None:
    """``(entries, central directory size)`` as the end-of-central-directory record and every zip64
    record declares them, located as zipfile locates them; None when there is no end record (zipfile
    then refuses the file itself)."""
    end = handle.seek(0, os.SEEK_END)
    if end < _EOCD.size:
        return None
    handle.seek(end - _EOCD.size)
    data = handle.read()
    if data[:4] == b"PK\x05\x06" and data[-2:] == b"\0\0":  # no archive comment: zipfile's first try
        at = end - _EOCD.size
    else:
        start = max(0, end - (1 << 16) - _EOCD.size)
        handle.seek(start)
        tail = handle.read()
        found = tail.rfind(b"PK\x05\x06")
        if found < 0 or len(tail) - found < _EOCD.size:
            return None
        at, data = start + found, tail[found : found + _EOCD.size]
    fields = _EOCD.unpack(data)
    records = [(fields[4], fields[5])]
    if at < _ZIP64_LOCATOR.size:
        return records
    handle.seek(at - _ZIP64_LOCATOR.size)
    signature, _, offset, _ = _ZIP64_LOCATOR.unpack(handle.read(_ZIP64_LOCATOR.size))
    if signature != b"PK\x06\x07":
        return records
    # zipfile reads the zip64 record just before the locator (or, in newer versions, at the offset the
    # locator gives): check every one of them, and not the 16-bit and 32-bit fields they replace
    records = []
    for where in {at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size, offset}:
        if 0 <= where <= end - _ZIP64_EOCD.size:
            handle.seek(where)
            record = _ZIP64_EOCD.unpack(handle.read(_ZIP64_EOCD.size))
            if record[0] == b"PK\x06\x06":
                records.append((record[7], record[8]))
    return records or [(fields[4], fields[5])]


def _central_directory_problem(handle: io.BufferedReader, limits: Limits) -> str | None:
    """Why the central directory must not be parsed at all, from the end records alone: zipfile ignores
    the declared entry count and parses the whole directory, so its size is bounded as well."""
    budget = limits.max_members * (_CD_ENTRY + _CD_NAME_MAX + _CD_EXTRA_MAX)
    for entries, size in _end_records(handle) or []:
        if entries > limits.max_members:
            return f"too many members: {entries}, the limit is {limits.max_members}"
        if size > budget:
            return (
                f"central directory of {size} bytes, over the limit of {budget} for {limits.max_members} members "
                "(more members than it declares?)"
            )
        if entries * _CD_ENTRY > size:
            return (
                f"corrupt zip archive: a central directory of {size} bytes cannot hold the {entries} entries "
                "it declares"
            )
    return None


def member_name_problem(name: str) -> str | None:
    """Why ``name`` is not an acceptable member name of a bundle, or None."""
    if not name:
        return "empty member name"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return f"member {name!r}: control character in the name"
    if name.startswith("/"):
        return f"member {name!r}: absolute path"
    if re.match(r"^[A-Za-z]:", name):
        return f"member {name!r}: drive letter in the path"
    if "\\" in name:
        return f"member {name!r}: backslash in the path (zip paths use '/')"
    parts = name.split("/")
    if ".." in parts:
        return f"member {name!r}: '..' component (path traversal)"
    if name != BUNDLE_JSON and not VIDEO_MEMBER.match(name):
        return f"member {name!r}: unexpected member; a bundle holds only {BUNDLE_JSON} and videos/<sample_id>.mp4"
    return None


def check_members(archive: zipfile.ZipFile, limits: Limits = Limits()) -> list[str]:
    """Every problem of the central directory: names, types, duplicates, counts, sizes, ratios, encryption."""
    infos = archive.infolist()
    problems: list[str] = []
    if len(infos) > limits.max_members:
        problems.append(f"too many members: {len(infos)}, the limit is {limits.max_members}")
    seen: dict[str, str] = {}
    total = 0
    for info in infos:
        name = info.filename
        problem = member_name_problem(name)
        if problem:
            problems.append(problem)
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            problems.append(f"member {name!r}: symbolic link (links are never allowed)")
        elif kind not in (0, stat.S_IFREG):
            problems.append(f"member {name!r}: not a regular file (mode {oct(mode)})")
        folded = name.casefold()
        if folded in seen:
            same = seen[folded] == name
            problems.append(
                f"member {name!r}: duplicate member name"
                + ("" if same else f" (differs from {seen[folded]!r} only in case)")
            )
        seen.setdefault(folded, name)
        if info.flag_bits & 0x1:
            problems.append(f"member {name!r}: encrypted (bundles must not be encrypted)")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(
                f"member {name!r}: compression method {info.compress_type} is not allowed (only stored or deflate)"
            )
        limit = limits.max_json_bytes if name == BUNDLE_JSON else limits.max_member_bytes
        if info.file_size > limit:
            problems.append(f"member {name!r}: {info.file_size} bytes uncompressed, over the limit of {limit}")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            problems.append(
                f"member {name!r}: stored but its sizes disagree ({info.compress_size} vs {info.file_size})"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.ratio_min_bytes and ratio > limits.max_ratio:
            problems.append(
                f"member {name!r}: compression ratio {ratio:.0f}:1 over the limit of {limits.max_ratio:g}:1 (zip bomb)"
            )
        total += info.file_size
    if total > limits.max_total_bytes:
        problems.append(f"total uncompressed size {total} bytes, over the limit of {limits.max_total_bytes}")
    problems += _overlaps(archive, infos)
    return problems


def _overlaps(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> list[str]:
    """Members whose data overlap another's (the overlapping-entry zip bomb) or the central directory."""
    problems = []
    ordered = sorted(infos, key=lambda i: i.header_offset)
    end_of_data = getattr(archive, "start_dir", None)
    for index, info in enumerate(ordered):
        try:
            name_bytes = len(info.orig_filename.encode("utf-8" if info.flag_bits & 0x800 else "cp437"))
        except UnicodeEncodeError:
            name_bytes = len(info.orig_filename.encode("utf-8"))
        end = info.header_offset + _LOCAL_HEADER + name_bytes + info.compress_size
        if index + 1 < len(ordered):
            following, what = ordered[index + 1].header_offset, f"member {ordered[index + 1].filename!r}"
        else:
            following, what = end_of_data, "the central directory"
        if following is not None and end > following:
            problems.append(f"member {info.filename!r}: its data overlaps {what} (overlapping entries: a zip bomb)")
    return problems


# step 2: bundle.json and the listed files -------------------------------------------------------


class _MemberError(ValueError):
    pass


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, sink: Callable[[bytes], None] | None = None
) -> tuple[str, int, bytes | None]:
    """Stream one member: ``(sha256, size, bytes or None when a sink took them)``.

    Reads in 1 MiB blocks and stops as soon as more than ``min(declared size, limit)`` bytes come out,
    so a header that lies about the size cannot make it read (or inflate) more.
    """
    cap = min(info.file_size, limit)
    digest, size = hashlib.sha256(), 0
    kept: list[bytes] = []
    try:
        with archive.open(info) as stream:
            while True:
                block = stream.read(min(_CHUNK, cap - size + 1))
                if not block:
                    break
                size += len(block)
                if size > cap:
                    raise _MemberError(f"more data than its header declares ({info.file_size} bytes); stopped")
                digest.update(block)
                if sink is not None:
                    sink(block)
                else:
                    kept.append(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        raise _MemberError(f"corrupt member ({exc})") from exc
    if size != info.file_size:
        raise _MemberError(f"{size} bytes decompressed, its header declares {info.file_size}")
    return digest.hexdigest(), size, None if sink is not None else b"".join(kept)


def _read_bundle_json(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], limits: Limits, report: ValidationReport
) -> dict[str, Any] | None:
    info = members.get(BUNDLE_JSON)
    if info is None:
        report.problems.append(f"{BUNDLE_JSON}: missing; the archive is not an a2bench submission")
        return None
    try:
        _, _, data = read_member(archive, info, limits.max_json_bytes)
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except _MemberError as exc:
        report.problems.append(f"{BUNDLE_JSON}: {exc}")
        return None
    except (ValueError, RecursionError, _DuplicateKey) as exc:  # JSON and Unicode errors are ValueErrors
        report.problems.append(f"{BUNDLE_JSON}: not valid JSON ({str(exc)[:300]})")
        return None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        got = (doc.get("format"), doc.get("version")) if isinstance(doc, dict) else type(doc).__name__
        report.problems.append(
            f"{BUNDLE_JSON}: wrong format: expected format {FORMAT!r} version {VERSION}, got {got!r}; "
            "make bundles with `a2bench submit`"
        )
        return None
    problems = _schema_problems(doc)
    if problems:
        report.problems += [f"{BUNDLE_JSON}: {p}" for p in problems]
        return None
    report.problems += [f"{BUNDLE_JSON}: {p}" for p in _aggregate_problems(doc)]
    return doc


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"duplicate key {key!r}")
        out[key] = value
    return out


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_RUN_FIELDS = {
    "id": str,
    "model": str,
    "identity": dict,
    "benchmark": str,
    "benchmark_version": str,
    "manifest_sha256": str,
    "protocol": str,
    "seed": int,
    "samples": int,
    "metric_names": list,
    "provenance": dict,
    "status": str,
}


def _schema_problems(doc: dict[str, Any]) -> list[str]:
    """Structural problems of a bundle.json whose format and version are right."""
    problems: list[str] = []
    types = {
        "run": dict,
        "benchmark": dict,
        "complete": bool,
        "metrics": dict,
        "per_sample": dict,
        "samples": dict,
        "files": dict,
    }
    for key, kind in types.items():
        if not isinstance(doc.get(key), kind):
            problems.append(f"{key!r} must be a JSON {kind.__name__.replace('dict', 'object')}")
    if problems:
        return problems
    run, bench = doc["run"], doc["benchmark"]
    for key, kind in _RUN_FIELDS.items():
        if not isinstance(run.get(key), kind) or (kind is int and isinstance(run.get(key), bool)):
            problems.append(f"run.{key} must be a {kind.__name__}")
    for key in ("name", "version", "manifest_sha256", "protocol"):
        if not isinstance(bench.get(key), str) or not bench[key]:
            problems.append(f"benchmark.{key} must be a non-empty string")
    if not problems:
        pairs = (("benchmark", "name"), ("benchmark_version", "version"), ("manifest_sha256", "manifest_sha256"))
        for run_key, bench_key in (*pairs, ("protocol", "protocol")):
            if run[run_key] != bench[bench_key]:
                problems.append(
                    f"run.{run_key} {run[run_key]!r} differs from benchmark.{bench_key} {bench[bench_key]!r}"
                )
    for name, value in doc["metrics"].items():
        if (
            not isinstance(value, dict)
            or "value" not in value
            or not isinstance(value.get("higher_is_better"), bool)
            or not isinstance(value.get("recipe"), str)
        ):
            problems.append(f"metrics.{name} must be an object with a number 'value', 'higher_is_better', 'recipe'")
        elif finite_number(value["value"]) is None:
            problems.append(f"metrics.{name}.value: {value['value']!r} is not a finite number")
    for name, values in doc["per_sample"].items():
        if name not in doc["metrics"]:
            problems.append(f"per_sample.{name}: no such metric in 'metrics'")
        if not isinstance(values, dict):
            problems.append(f"per_sample.{name} must map sample ids to numbers")
            continue
        problems += [
            f"per_sample.{name}.{sid}: {v!r} is not a finite number"
            for sid, v in values.items()
            if finite_number(v) is None
        ]
        if unknown := [sid for sid in values if sid not in doc["samples"]]:
            problems.append(f"per_sample.{name}: values for samples not in 'samples': {', '.join(unknown[:5])}")
    failed = []
    for sid, sample in doc["samples"].items():
        where = f"samples.{sid}"
        if not SAMPLE_ID.match(sid):
            problems.append(f"{where}: invalid sample id")
            continue
        if not isinstance(sample, dict) or sample.get("status") not in ("ok", "failed"):
            problems.append(f"{where} must be an object with status 'ok' or 'failed'")
            continue
        if sample["status"] == "failed":
            failed.append(sid)
            if sample.get("video") is not None:
                problems.append(f"{where}: a failed sample has no video")
            continue
        if sample.get("video") != f"videos/{sid}.mp4":
            problems.append(f"{where}.video must be 'videos/{sid}.mp4'")
        for key in ("num_frames", "width", "height"):
            if not _is_count(sample.get(key)) or sample[key] == 0:
                problems.append(f"{where}.{key} must be a positive integer")
        try:
            if Fraction(str(sample.get("fps"))) <= 0:
                raise ValueError
        except (ValueError, ZeroDivisionError):
            problems.append(f"{where}.fps must be a positive rate like '15' or '30000/1001'")
    for member, entry in doc["files"].items():
        if not VIDEO_MEMBER.match(member):
            problems.append(f"files: {member!r} is not videos/<sample_id>.mp4")
        elif (
            not isinstance(entry, dict)
            or not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))
            or not _is_count(entry.get("size"))
        ):
            problems.append(f"files.{member} must be an object with a hex 'sha256' and an integer 'size'")
        else:
            sid = VIDEO_MEMBER.match(member).group(1)
            if (doc["samples"].get(sid) or {}).get("status") != "ok":
                problems.append(f"files: {member!r} belongs to no generated sample in 'samples'")
    for sid, sample in doc["samples"].items():
        if isinstance(sample, dict) and sample.get("status") == "ok" and f"videos/{sid}.mp4" not in doc["files"]:
            problems.append(f"samples.{sid}: its video videos/{sid}.mp4 is not listed in 'files'")
    if doc["complete"] and (failed or doc.get("incomplete")):
        problems.append("'complete' is true but the bundle lists failed samples")
    if not doc["complete"] and not isinstance(doc.get("incomplete"), dict):
        problems.append("'complete' is false but 'incomplete' does not say why")
    return problems


def _aggregate_problems(doc: dict[str, Any]) -> list[str]:
    """Paired metrics whose stored aggregate is not what their own per-sample values give.

    A paired metric's value is the mean over every scored frame (``a2bench.metrics.base.PairedMetric``), and a sample's
    value the mean over its frames, so the aggregate is the mean of the per-sample values weighted by each
    sample's ``num_frames`` (step 3 checks those against the videos). Every generated sample must have a value,
    and only those. A metric with no per-sample values is checked to be a distribution metric (FID, FVD, ...),
    whose single value only ``--rescore`` can check."""
    problems = []
    samples, per_sample = doc["samples"], doc["per_sample"]
    generated = [sid for sid, sample in samples.items() if sample["status"] == "ok"]
    for name, metric in doc["metrics"].items():
        values = per_sample.get(name)
        if not values:
            if _is_paired(name):
                problems.append(
                    f"per_sample.{name}: missing; {name} is a paired metric, whose value is pooled from per-sample "
                    "values: make bundles with `a2bench submit`"
                )
            continue
        if missing := [sid for sid in generated if sid not in values]:
            problems.append(f"per_sample.{name}: no value for generated sample(s) {', '.join(missing[:5])}")
        if failed := [sid for sid in values if samples[sid]["status"] != "ok"]:
            problems.append(
                f"per_sample.{name}: values for failed sample(s) {', '.join(failed[:5])}, which have no video"
            )
        if missing or failed:
            continue
        frames = {sid: samples[sid]["num_frames"] for sid in values}
        pooled = math.fsum(frames[sid] * value for sid, value in values.items()) / sum(frames.values())
        if not math.isclose(pooled, metric["value"], rel_tol=AGGREGATE_REL_TOL, abs_tol=_RESCORE_ABS_TOL):
            problems.append(
                f"metrics.{name}.value {metric['value']!r} disagrees with its per-sample values, whose mean over "
                f"all frames (each sample weighted by its num_frames) is {pooled!r}"
            )
    return problems


def _is_paired(name: str) -> bool:
    """Whether this a2bench's metric ``name`` has per-sample values (False for names it does not know)."""
    from a2bench.metrics import METRICS, PairedMetric  # imports torch: only for bundles with a metric without them

    return name in METRICS.names() and issubclass(METRICS.get(name), PairedMetric)


def _check_files(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    doc: dict[str, Any],
    limits: Limits,
    report: ValidationReport,
) -> set[str]:
    """Every listed file is present with its size and sha256; nothing unlisted is there. Returns the good ones."""
    verified = set()
    for member, entry in doc["files"].items():
        info = members.get(member)
        if info is None:
            report.problems.append(f"{member}: listed in bundle.json but missing from the archive")
            continue
        if info.file_size != entry["size"]:
            report.problems.append(f"{member}: {info.file_size} bytes, bundle.json says {entry['size']}")
            continue
        try:
            digest, _, _ = read_member(archive, info, limits.max_member_bytes, sink=lambda _block: None)
        except _MemberError as exc:
            report.problems.append(f"{member}: {exc}")
            continue
        if digest != entry["sha256"]:
            report.problems.append(
                f"{member}: sha256 mismatch (bundle.json says {entry['sha256'][:12]}…, the member hashes to "
                f"{digest[:12]}…): the file was changed after the bundle was made"
            )
            continue
        verified.add(member)
    for name in members:
        if name != BUNDLE_JSON and name not in doc["files"]:
            report.problems.append(f"{name}: in the archive but not listed in bundle.json 'files'")
    return verified


# step 3: against the benchmark ------------------------------------------------------------------


def expected_frames(sample: Sample, protocol: str) -> int:
    """Frames a model must generate for ``sample``: the driving pose's length (without decoding videos)."""
    if protocol != "cross" or sample.cross is None:
        return sample.num_frames
    if sample.cross.pose is None:
        return sample.benchmark[sample.cross.driver].num_frames
    from a2bench.core.pose import PoseSequence

    return PoseSequence.from_json(json.loads(sample.read_bytes(sample.cross.pose))).num_frames


def _check_benchmark(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    doc: dict[str, Any],
    verified: set[str],
    benchmark: Benchmark,
    allow_incomplete: bool,
    limits: Limits,
    report: ValidationReport,
    progress: Callable[[str], None] | None,
) -> None:
    declared = doc["benchmark"]
    name = f"{benchmark.name} {benchmark.version}"
    if (declared["name"], declared["version"]) != (benchmark.name, benchmark.version):
        report.problems.append(
            f"benchmark: the bundle is for {declared['name']} {declared['version']}, validating against {name}"
        )
    manifest_sha = manifest_sha256(benchmark)
    if declared["manifest_sha256"] != manifest_sha:
        report.problems.append(
            f"benchmark: manifest sha256 {declared['manifest_sha256'][:12]}… differs from {name}'s "
            f"{manifest_sha[:12]}…: the run used another copy or version of the benchmark"
        )
    protocol = declared["protocol"]
    if protocol not in benchmark.manifest.protocols:
        report.problems.append(f"benchmark: {name} does not offer protocol {protocol!r}")
        return
    if not doc.get("complete", False):
        message = f"run: the bundle says the run is incomplete (status {doc['run'].get('status')!r})"
        (report.notes if allow_incomplete else report.problems).append(message)
    samples = doc["samples"]
    bench_ids = [s.id for s in benchmark.samples]
    requested = doc["run"]["samples"]
    if requested < len(bench_ids):  # one explanation, not a line per sample the run never asked for
        report.problems.append(
            f"run: partial: the run asked for {requested} of the benchmark's {len(bench_ids)} samples (a2bench run "
            "--limit); a leaderboard entry needs every sample: run the benchmark without --limit"
        )
    for sid in bench_ids:
        if sid not in samples and bench_ids.index(sid) >= requested:
            continue
        if sid not in samples:
            report.problems.append(f"sample {sid}: missing sample (the benchmark has it, the bundle does not)")
        elif samples[sid]["status"] != "ok":
            message = f"sample {sid}: failed in the run ({samples[sid].get('error') or 'no error recorded'})"
            (report.notes if allow_incomplete else report.problems).append(message)
    known = set(bench_ids)
    for sid in samples:
        if sid not in known:
            report.problems.append(f"sample {sid}: extra sample, not in {name}")
    size = (benchmark.manifest.width, benchmark.manifest.height)
    for sid in bench_ids:
        sample_doc = samples.get(sid)
        member = f"videos/{sid}.mp4"
        if sample_doc is None or sample_doc["status"] != "ok" or member not in verified:
            continue
        if progress:
            progress(sid)
        want = expected_frames(benchmark[sid], protocol)
        sha256 = doc["files"][member]["sha256"]
        for problem in _check_video(archive, members[member], sha256, sample_doc, want, limits):
            report.problems.append(f"{member}: {problem}")
        declared_size = (sample_doc["width"], sample_doc["height"])
        if declared_size != size:
            report.notes.append(
                f"{member}: {declared_size[0]}x{declared_size[1]}, the benchmark is {size[0]}x{size[1]}; "
                "scored after a bicubic resize, as `a2bench run` does"
            )


def _check_video(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    sha256: str,
    sample: dict[str, Any],
    frames: int,
    limits: Limits,
) -> list[str]:
    """Probe (packets, size) before decoding, so a tiny file cannot expand into huge frames; then decode."""
    from a2bench.core.videoio import VideoError, probe_video_bytes, read_video_bytes

    try:
        data = _video_bytes(archive, info, sha256, limits)
    except _MemberError as exc:
        return [str(exc)]
    try:
        probe = probe_video_bytes(data, info.filename)
    except VideoError as exc:
        return [f"does not decode ({exc})"]
    packets, width, height = probe.num_frames, probe.width, probe.height
    declared = (sample["num_frames"], sample["width"], sample["height"])
    if packets != frames:
        return [f"wrong frame count: {packets} frames, the benchmark sample needs {frames}"]
    if (packets, width, height) != declared:
        return [f"{packets} frames {width}x{height}, bundle.json says {declared[0]} frames {declared[1]}x{declared[2]}"]
    if packets * width * height * 3 > limits.max_decoded_bytes:
        return [
            f"{packets} frames of {width}x{height} would decode to {packets * width * height * 3} bytes, over the "
            f"limit of {limits.max_decoded_bytes}"
        ]
    try:
        video = read_video_bytes(data, info.filename)
    except VideoError as exc:
        return [f"does not decode: {exc}"]
    problems = []
    if video.num_frames != frames:
        problems.append(f"wrong frame count: {video.num_frames} frames decode, the benchmark sample needs {frames}")
    if video.size != (width, height):
        problems.append(f"decodes to {video.size[0]}x{video.size[1]}, bundle.json says {width}x{height}")
    if video.fps != Fraction(str(sample["fps"])):
        problems.append(f"{video.fps} fps, bundle.json says {sample['fps']}")
    return problems


def _video_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sha256: str, limits: Limits) -> bytes:
    """A video's bytes, read again for decoding: they must still hash to bundle.json's sha256 (the bytes
    decoded and scored are exactly the bytes verified, even if the archive changed meanwhile)."""
    digest, _, data = read_member(archive, info, limits.max_member_bytes)
    if digest != sha256:
        raise _MemberError(
            f"sha256 mismatch on reading it again (bundle.json says {sha256[:12]}…, the bytes read hash to "
            f"{digest[:12]}…): the archive changed while it was validated; not decoded"
        )
    return data


# step 4: re-score -------------------------------------------------------------------------------


def _rescore(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    doc: dict[str, Any],
    benchmark: Benchmark,
    metrics: Sequence[str] | str | None,
    device: str,
    limits: Limits,
    report: ValidationReport,
    progress: Callable[[str], None] | None,
) -> None:
    from a2bench.core.videoio import read_video_bytes
    from a2bench.metrics.evaluate import metric_names

    stored = doc["metrics"]
    try:
        names = metric_names(metrics if metrics else list(stored))
    except (ValueError, LookupError) as exc:
        report.problems.append(f"rescore: {exc}")
        return
    ids = [s.id for s in benchmark.samples if doc["samples"].get(s.id, {}).get("status") == "ok"]
    if not ids:
        report.problems.append("rescore: no video to score")
        return

    def load(sid: str):
        member = f"videos/{sid}.mp4"
        data = _video_bytes(archive, members[member], doc["files"][member]["sha256"], limits)
        return read_video_bytes(data, member).frames

    loaders = {sid: (lambda sid=sid: load(sid)) for sid in ids}
    try:
        evaluation = score_videos(benchmark, loaders, doc["benchmark"]["protocol"], names, device, progress)
    except Exception as exc:  # a metric's own failure (weights, decode) is reported, not raised
        report.problems.append(f"rescore: {type(exc).__name__}: {exc}")
        return
    if evaluation.failed:  # scored without them, the values would differ for another reason than the videos' scores
        report.problems += [f"rescore: sample {sid}: {why}" for sid, why in evaluation.failed.items()]
        return
    report.rescored = {}
    for name, value in evaluation.metrics.items():
        if name not in stored:
            report.notes.append(f"rescore: {name} = {value.value:.6g} (not stored in the bundle, nothing to compare)")
            report.rescored[name] = {"stored": None, "rescored": value.value, "match": None}
            continue
        differences = []
        if not _close(value.value, stored[name]["value"]):
            differences.append(f"value {stored[name]['value']!r} stored, {value.value!r} re-scored")
        stored_samples = doc["per_sample"].get(name) or {}
        for sid, score in (value.per_sample or {}).items():
            if sid in stored_samples and not _close(score, stored_samples[sid]):
                differences.append(f"sample {sid}: {stored_samples[sid]!r} stored, {score!r} re-scored")
        if value.per_sample is not None and set(value.per_sample) != set(stored_samples):
            differences.append(
                f"per-sample values stored for {len(stored_samples)} samples, {len(value.per_sample)} re-scored"
            )
        if value.recipe != stored[name].get("recipe"):
            differences.append(f"recipe {stored[name].get('recipe')!r} stored, {value.recipe!r} now")
        report.rescored[name] = {"stored": stored[name]["value"], "rescored": value.value, "match": not differences}
        if differences:
            more = f" (and {len(differences) - 5} more)" if len(differences) > 5 else ""
            report.problems.append(f"rescore: {name} differs: {'; '.join(differences[:5])}{more}")


def _close(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=RESCORE_REL_TOL, abs_tol=_RESCORE_ABS_TOL)
