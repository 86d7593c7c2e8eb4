"""The bundle format: ``bundle.json`` written (:func:`bundle_document`) and read back (:func:`read_bundle_json`).

A bundle (format ``a2bench-submission`` version 1) is a zip archive holding exactly ``bundle.json`` and
``videos/<sample_id>.mp4`` for every sample the run generated. ``bundle.json`` holds the run record in its bundle
layout (:meth:`RunRecord.to_bundle`: ``run``, ``metrics``, ``per_sample``, ``samples``) and what the bundle adds:
``benchmark`` (the run's name, version, manifest sha256 and protocol), ``complete`` and ``incomplete``, ``files`` (the
sha256 and size of every other member), ``created`` and ``a2bench_version``. Reading checks the record with the
record's own reader (:meth:`RunRecord.from_bundle`), then what the bundle adds, then that every paired metric's
aggregate is what its per-sample values give.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from a2bench.core.data.manifest import SAMPLE_ID
from a2bench.core.provenance import VERSION as A2BENCH_VERSION
from a2bench.core.record import RecordError, RunRecord, is_count

FORMAT = "a2bench-submission"
VERSION = 1
BUNDLE_JSON = "bundle.json"
VIDEO_MEMBER = re.compile(r"^videos/([A-Za-z0-9][A-Za-z0-9_.-]{0,63})\.mp4$")
AGGREGATE_REL_TOL = 1e-9  # an aggregate against its per-sample values: float64 rounding is ~1e-13 at 10,000 samples
ABS_TOL = 1e-12  # values that should be exactly 0 (L1 of a perfect prediction)


def video_member(sample_id: str) -> str:
    return f"videos/{sample_id}.mp4"


@dataclass(frozen=True)
class Bundle:
    """A checked ``bundle.json``: the run record, and what the bundle says besides."""

    record: RunRecord
    complete: bool
    incomplete: dict[str, Any] | None  # why not complete: failed samples, the number never generated, the status
    files: dict[str, dict[str, Any]]  # member → {"sha256", "size"}


def bundle_document(record: RunRecord, files: dict[str, dict[str, Any]], incomplete: dict[str, Any] | None) -> dict:
    """``bundle.json``'s document for ``record`` whose videos are the members ``files``; ``incomplete`` says why the
    run is not complete (None when it is)."""
    run = record.run
    videos = {VIDEO_MEMBER.match(member).group(1): member for member in files}
    return {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "a2bench_version": A2BENCH_VERSION,
        **record.to_bundle(videos),
        "benchmark": {
            "name": run.benchmark,
            "version": run.benchmark_version,
            "manifest_sha256": run.manifest_sha256,
            "protocol": run.protocol,
        },
        "complete": incomplete is None,
        "incomplete": incomplete,
        "files": files,
    }


def read_bundle_json(data: bytes) -> tuple[Bundle | None, list[str]]:
    """``bundle.json``'s bytes as a :class:`Bundle`, and every problem found: without the bundle when it cannot be
    read (not JSON, another format, a field that is not what ``a2bench submit`` writes); with it when only its values
    disagree with each other."""
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (ValueError, RecursionError) as exc:  # JSON, Unicode and duplicate-key errors are ValueErrors
        return None, [f"not valid JSON ({str(exc)[:300]})"]
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != VERSION:
        got = (doc.get("format"), doc.get("version")) if isinstance(doc, dict) else type(doc).__name__
        return None, [
            f"wrong format: expected format {FORMAT!r} version {VERSION}, got {got!r}; "
            "make bundles with `a2bench submit`"
        ]
    envelope = {"benchmark": (dict, "object"), "complete": (bool, "bool"), "files": (dict, "object")}
    problems = [f"{key!r} must be a JSON {what}" for key, (kind, what) in envelope.items()
                if not isinstance(doc.get(key), kind)]  # fmt: skip
    try:
        record = RunRecord.from_bundle(doc)
    except RecordError as exc:
        record, problems = None, problems + exc.problems
    problems += _bundle_problems(doc)
    if problems or record is None:
        return None, problems
    bundle = Bundle(record, doc["complete"], doc.get("incomplete"), doc["files"])
    return bundle, _aggregate_problems(bundle)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _bundle_problems(doc: dict[str, Any]) -> list[str]:
    """What the bundle adds to the record: the benchmark block, video members, files, completeness (each part
    checked where its section has the right type; the record's reader reports the types)."""
    problems: list[str] = []
    bench, run, files = doc.get("benchmark"), doc.get("run"), doc.get("files")
    raw = doc.get("samples")
    samples = {sid: s for sid, s in raw.items() if isinstance(s, dict)} if isinstance(raw, dict) else {}
    if isinstance(bench, dict):
        keys = {"name": "benchmark", "version": "benchmark_version", "manifest_sha256": "manifest_sha256",
                "protocol": "protocol"}  # fmt: skip
        problems += [f"benchmark.{key} must be a non-empty string" for key in keys
                     if not isinstance(bench.get(key), str) or not bench[key]]  # fmt: skip
        if not problems and isinstance(run, dict):
            problems += [
                f"run.{run_key} {run[run_key]!r} differs from benchmark.{key} {bench[key]!r}"
                for key, run_key in keys.items()
                if isinstance(run.get(run_key), str) and run[run_key] != bench[key]
            ]
    for sid, sample in samples.items():
        member = video_member(sid)
        if not SAMPLE_ID.match(sid):
            continue
        if sample.get("status") == "failed" and sample.get("video") is not None:
            problems.append(f"samples.{sid}: a failed sample has no video")
        elif sample.get("status") == "ok" and sample.get("video") != member:
            problems.append(f"samples.{sid}.video must be '{member}'")
    if isinstance(files, dict):
        for member, entry in files.items():
            match = VIDEO_MEMBER.match(member)
            if not match:
                problems.append(f"files: {member!r} is not videos/<sample_id>.mp4")
            elif (
                not isinstance(entry, dict)
                or not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256")))
                or not is_count(entry.get("size"))
            ):
                problems.append(f"files.{member} must be an object with a hex 'sha256' and an integer 'size'")
            elif samples.get(match.group(1), {}).get("status") != "ok":
                problems.append(f"files: {member!r} belongs to no generated sample in 'samples'")
        problems += [
            f"samples.{sid}: its video {video_member(sid)} is not listed in 'files'"
            for sid, sample in samples.items()
            if sample.get("status") == "ok" and video_member(sid) not in files
        ]
    complete = doc.get("complete")
    if complete is True and (any(s.get("status") == "failed" for s in samples.values()) or doc.get("incomplete")):
        problems.append("'complete' is true but the bundle lists failed samples")
    if complete is False and not isinstance(doc.get("incomplete"), dict):
        problems.append("'complete' is false but 'incomplete' does not say why")
    return problems


def _aggregate_problems(bundle: Bundle) -> list[str]:
    """Paired metrics whose stored aggregate is not what their own per-sample values give.

    A paired metric's value is the mean over every scored frame (``a2bench.metrics.base.PairedMetric``), and a sample's
    value the mean over its frames, so the aggregate is the mean of the per-sample values weighted by each
    sample's ``num_frames`` (validation checks those against the videos). Every generated sample must have a value,
    and only those. A metric with no per-sample values is checked to be a distribution metric (FID, FVD, ...),
    whose single value only ``--rescore`` can check."""
    problems = []
    samples = bundle.record.samples
    generated = [sid for sid, sample in samples.items() if sample.status == "ok"]
    for name, metric in bundle.record.metrics.items():
        values = metric.per_sample
        if not values:
            if _is_paired(name):
                problems.append(
                    f"per_sample.{name}: missing; {name} is a paired metric, whose value is pooled from per-sample "
                    "values: make bundles with `a2bench submit`"
                )
            continue
        if missing := [sid for sid in generated if sid not in values]:
            problems.append(f"per_sample.{name}: no value for generated sample(s) {', '.join(missing[:5])}")
        if failed := [sid for sid in values if samples[sid].status != "ok"]:
            problems.append(
                f"per_sample.{name}: values for failed sample(s) {', '.join(failed[:5])}, which have no video"
            )
        if missing or failed:
            continue
        frames = {sid: samples[sid].num_frames or 0 for sid in values}
        pooled = math.fsum(frames[sid] * value for sid, value in values.items()) / sum(frames.values())
        if not math.isclose(pooled, metric.value, rel_tol=AGGREGATE_REL_TOL, abs_tol=ABS_TOL):
            problems.append(
                f"metrics.{name}.value {metric.value!r} disagrees with its per-sample values, whose mean over "
                f"all frames (each sample weighted by its num_frames) is {pooled!r}"
            )
    return problems


def _is_paired(name: str) -> bool:
    """Whether this a2bench's metric ``name`` has per-sample values (False for names it does not know)."""
    from a2bench.metrics import METRICS, PairedMetric  # lazy: torch; only for a metric without per-sample values

    return name in METRICS.names() and issubclass(METRICS.get(name), PairedMetric)
