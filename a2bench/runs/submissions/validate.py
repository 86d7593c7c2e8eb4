"""Validate a submission bundle without trusting it, and optionally re-score its videos.

:func:`validate_submission` checks, in order, and reports every problem it finds with a message naming the
member: (1) the archive itself, from its central directory only, before any member is read
(:mod:`~a2bench.runs.submissions.archive`); (2) ``bundle.json`` (:mod:`~a2bench.runs.submissions.schema`) and every
member's size and sha256 against it, reading members as bounded streams; (3) the benchmark: manifest, one video per
sample, each video's frame count, size and frame rate; (4) optionally, re-scoring the videos and comparing with the
stored values. Nothing is extracted to disk: videos are decoded from memory. The limits are :class:`Limits`
(docs/runner.md, "Leaderboard submissions").
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from a2bench.core import videoio
from a2bench.core.data.benchmark import Benchmark, Sample
from a2bench.core.pose import PoseSequence
from a2bench.core.record import SampleRecord
from a2bench.runs.runner import score_videos
from a2bench.runs.submissions.archive import Limits, MemberError, check_members, open_archive, read_member
from a2bench.runs.submissions.schema import ABS_TOL, BUNDLE_JSON, Bundle, read_bundle_json, video_member

RESCORE_REL_TOL = 1e-6
_LIMITS = Limits()


@dataclass
class ValidationReport:
    """Every problem found (empty when the bundle is valid), notes, and the re-scored values."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rescored: dict[str, dict[str, Any]] | None = None  # metric → {stored, rescored, match}
    bundle: Bundle | None = None  # bundle.json, once it could be read

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
    limits: Limits = _LIMITS,
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
        bundle = _read_bundle_json(archive, members, limits, report)
        if bundle is None:
            return report
        report.bundle = bundle
        verified = _check_files(archive, members, bundle, limits, report)
        _check_benchmark(archive, members, bundle, verified, benchmark, allow_incomplete, limits, report, progress)
        if rescore:
            if report.problems:
                report.notes.append("not re-scored: the bundle has problems")
            else:
                _rescore(archive, members, bundle, benchmark, metrics, device, limits, report, progress)
    return report


# step 2: bundle.json and the listed files -------------------------------------------------------


def _read_bundle_json(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], limits: Limits, report: ValidationReport
) -> Bundle | None:
    info = members.get(BUNDLE_JSON)
    if info is None:
        report.problems.append(f"{BUNDLE_JSON}: missing; the archive is not an a2bench submission")
        return None
    try:
        _, _, data = read_member(archive, info, limits.max_json_bytes)
    except MemberError as exc:
        report.problems.append(f"{BUNDLE_JSON}: {exc}")
        return None
    bundle, problems = read_bundle_json(data)
    report.problems += [f"{BUNDLE_JSON}: {p}" for p in problems]
    return bundle


def _check_files(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    bundle: Bundle,
    limits: Limits,
    report: ValidationReport,
) -> set[str]:
    """Every listed file is present with its size and sha256; nothing unlisted is there. Returns the good ones."""
    verified = set()
    for member, entry in bundle.files.items():
        info = members.get(member)
        if info is None:
            report.problems.append(f"{member}: listed in bundle.json but missing from the archive")
            continue
        if info.file_size != entry["size"]:
            report.problems.append(f"{member}: {info.file_size} bytes, bundle.json says {entry['size']}")
            continue
        try:
            digest, _, _ = read_member(archive, info, limits.max_member_bytes, sink=lambda _block: None)
        except MemberError as exc:
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
        if name != BUNDLE_JSON and name not in bundle.files:
            report.problems.append(f"{name}: in the archive but not listed in bundle.json 'files'")
    return verified


# step 3: against the benchmark ------------------------------------------------------------------


def expected_frames(sample: Sample, protocol: str) -> int:
    """Frames a model must generate for ``sample``: the driving pose's length (without decoding videos)."""
    if protocol != "cross" or sample.cross is None:
        return sample.num_frames
    if sample.cross.pose is None:
        return sample.benchmark[sample.cross.driver].num_frames
    return PoseSequence.from_json(json.loads(sample.read_bytes(sample.cross.pose))).num_frames


def _check_benchmark(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    bundle: Bundle,
    verified: set[str],
    benchmark: Benchmark,
    allow_incomplete: bool,
    limits: Limits,
    report: ValidationReport,
    progress: Callable[[str], None] | None,
) -> None:
    run = bundle.record.run
    name = f"{benchmark.name} {benchmark.version}"
    if (run.benchmark, run.benchmark_version) != (benchmark.name, benchmark.version):
        report.problems.append(
            f"benchmark: the bundle is for {run.benchmark} {run.benchmark_version}, validating against {name}"
        )
    manifest_sha = benchmark.manifest.sha256
    if run.manifest_sha256 != manifest_sha:
        report.problems.append(
            f"benchmark: manifest sha256 {run.manifest_sha256[:12]}… differs from {name}'s "
            f"{manifest_sha[:12]}…: the run used another copy or version of the benchmark"
        )
    if run.protocol not in benchmark.manifest.protocols:
        report.problems.append(f"benchmark: {name} does not offer protocol {run.protocol!r}")
        return
    if not bundle.complete:
        message = f"run: the bundle says the run is incomplete (status {run.status!r})"
        (report.notes if allow_incomplete else report.problems).append(message)
    samples = bundle.record.samples
    bench_ids = [s.id for s in benchmark.samples]
    if run.samples < len(bench_ids):  # one explanation, not a line per sample the run never asked for
        report.problems.append(
            f"run: partial: the run asked for {run.samples} of the benchmark's {len(bench_ids)} samples (a2bench run "
            "--limit); a leaderboard entry needs every sample: run the benchmark without --limit"
        )
    for index, sid in enumerate(bench_ids):
        if sid not in samples and index >= run.samples:
            continue
        if sid not in samples:
            report.problems.append(f"sample {sid}: missing sample (the benchmark has it, the bundle does not)")
        elif samples[sid].status != "ok":
            message = f"sample {sid}: failed in the run ({samples[sid].error or 'no error recorded'})"
            (report.notes if allow_incomplete else report.problems).append(message)
    known = set(bench_ids)
    for sid in samples:
        if sid not in known:
            report.problems.append(f"sample {sid}: extra sample, not in {name}")
    size = (benchmark.manifest.width, benchmark.manifest.height)
    for sid in bench_ids:
        sample = samples.get(sid)
        member = video_member(sid)
        if sample is None or sample.status != "ok" or member not in verified:
            continue
        if progress:
            progress(sid)
        want = expected_frames(benchmark[sid], run.protocol)
        sha256 = bundle.files[member]["sha256"]
        for problem in _check_video(archive, members[member], sha256, sample, want, limits):
            report.problems.append(f"{member}: {problem}")
        if (sample.width, sample.height) != size:
            report.notes.append(
                f"{member}: {sample.width}x{sample.height}, the benchmark is {size[0]}x{size[1]}; "
                "scored after a bicubic resize, as `a2bench run` does"
            )


def _check_video(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    sha256: str,
    sample: SampleRecord,
    frames: int,
    limits: Limits,
) -> list[str]:
    """Probe (packets, size) before decoding, so a tiny file cannot expand into huge frames; then decode."""
    try:
        data = _video_bytes(archive, info, sha256, limits)
    except MemberError as exc:
        return [str(exc)]
    try:
        probe = videoio.probe_video_bytes(data, info.filename)
    except videoio.VideoError as exc:
        return [f"does not decode ({exc})"]
    packets, width, height = probe.num_frames, probe.width, probe.height
    declared = (sample.num_frames, sample.width, sample.height)
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
        video = videoio.read_video_bytes(data, info.filename)
    except videoio.VideoError as exc:
        return [f"does not decode: {exc}"]
    problems = []
    if video.num_frames != frames:
        problems.append(f"wrong frame count: {video.num_frames} frames decode, the benchmark sample needs {frames}")
    if video.size != (width, height):
        problems.append(f"decodes to {video.size[0]}x{video.size[1]}, bundle.json says {width}x{height}")
    if video.fps != Fraction(str(sample.fps)):
        problems.append(f"{video.fps} fps, bundle.json says {sample.fps}")
    return problems


def _video_bytes(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sha256: str, limits: Limits) -> bytes:
    """A video's bytes, read again for decoding: they must still hash to bundle.json's sha256 (the bytes
    decoded and scored are exactly the bytes verified, even if the archive changed meanwhile)."""
    digest, _, data = read_member(archive, info, limits.max_member_bytes)
    if digest != sha256:
        raise MemberError(
            f"sha256 mismatch on reading it again (bundle.json says {sha256[:12]}…, the bytes read hash to "
            f"{digest[:12]}…): the archive changed while it was validated; not decoded"
        )
    return data


# step 4: re-score -------------------------------------------------------------------------------


def _rescore(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    bundle: Bundle,
    benchmark: Benchmark,
    metrics: Sequence[str] | str | None,
    device: str,
    limits: Limits,
    report: ValidationReport,
    progress: Callable[[str], None] | None,
) -> None:
    from a2bench.metrics.evaluate import metric_names  # lazy: torch

    record = bundle.record
    stored = record.metrics
    try:
        names = metric_names(metrics if metrics else list(stored))
    except (ValueError, LookupError) as exc:
        report.problems.append(f"rescore: {exc}")
        return
    ids = [s.id for s in benchmark.samples if s.id in record.samples and record.samples[s.id].status == "ok"]
    if not ids:
        report.problems.append("rescore: no video to score")
        return

    def load(sid: str) -> np.ndarray:
        member = video_member(sid)
        data = _video_bytes(archive, members[member], bundle.files[member]["sha256"], limits)
        return videoio.read_video_bytes(data, member).frames

    loaders = {sid: (lambda sid=sid: load(sid)) for sid in ids}
    try:
        evaluation = score_videos(benchmark, loaders, record.run.protocol, names, device, progress)
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
        if not _close(value.value, stored[name].value):
            differences.append(f"value {stored[name].value!r} stored, {value.value!r} re-scored")
        stored_samples = stored[name].per_sample
        for sid, score in (value.per_sample or {}).items():
            if sid in stored_samples and not _close(score, stored_samples[sid]):
                differences.append(f"sample {sid}: {stored_samples[sid]!r} stored, {score!r} re-scored")
        if value.per_sample is not None and set(value.per_sample) != set(stored_samples):
            differences.append(
                f"per-sample values stored for {len(stored_samples)} samples, {len(value.per_sample)} re-scored"
            )
        if value.recipe != stored[name].recipe:
            differences.append(f"recipe {stored[name].recipe!r} stored, {value.recipe!r} now")
        report.rescored[name] = {"stored": stored[name].value, "rescored": value.value, "match": not differences}
        if differences:
            more = f" (and {len(differences) - 5} more)" if len(differences) > 5 else ""
            report.problems.append(f"rescore: {name} differs: {'; '.join(differences[:5])}{more}")


def _close(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=RESCORE_REL_TOL, abs_tol=ABS_TOL)
