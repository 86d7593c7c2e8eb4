"""Pack a recorded run into a submission bundle (the format: :mod:`~a2bench.runs.submissions.schema`)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from a2bench.core.data.manifest import SAMPLE_ID
from a2bench.core.fileio import finite_number
from a2bench.runs.results import ResultsDB
from a2bench.runs.submissions.archive import CHUNK
from a2bench.runs.submissions.schema import BUNDLE_JSON, bundle_document, video_member

_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member times: the same run packs to the same bytes


class SubmissionError(ValueError):
    """A run that cannot be packed as asked; the message says why and what to do."""


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
    record = store.load_record(run_id)
    run = record.run
    if run.partial and not allow_partial:
        raise SubmissionError(
            f"run {run.id} is {run.partial} (a2bench run --limit); a leaderboard entry needs every sample: run the "
            "benchmark without --limit, or pass --allow-partial to pack it anyway (validate will say it is partial)"
        )
    if not record.metrics:
        raise SubmissionError(f"run {run.id} has no metric values; score it first (run it again without --no-eval)")
    broken = [f"{name} = {m.value!r}" for name, m in record.metrics.items() if finite_number(m.value) is None]
    broken += [
        f"{name} of sample {sid} = {value!r}"
        for name, metric in record.metrics.items()
        for sid, value in metric.per_sample.items()
        if finite_number(value) is None
    ]
    if broken:
        raise SubmissionError(
            f"run {run.id}: {', '.join(broken[:5])}: not finite numbers, which no bundle may hold; score the run "
            "again (run the same `a2bench run` again)"
        )
    failed, unrecorded = record.failed, record.never_generated
    reasons = [f"{len(failed)} sample(s) failed ({', '.join(list(failed)[:5])})"] if failed else []
    reasons += [f"{unrecorded} sample(s) were never generated"] if unrecorded else []
    reasons += [f"its status is {run.status!r}"] if run.status != "complete" else []
    if reasons and not allow_incomplete:
        raise SubmissionError(
            f"run {run.id} is not complete: {'; '.join(reasons)}. Resume it with the same `a2bench run` command, "
            "or pass --allow-incomplete to submit it as incomplete"
        )
    files: dict[str, dict[str, Any]] = {}
    sources: dict[str, Path] = {}
    for sid, sample in record.samples.items():
        if not SAMPLE_ID.match(sid):
            raise SubmissionError(f"run {run.id}: sample id {sid!r} cannot name a file in a bundle")
        if sample.status == "ok":
            path = Path(sample.video or "")
            if not path.is_file():
                raise SubmissionError(f"sample {sid}: video {path} is missing; run the same `a2bench run` again")
            member = video_member(sid)
            files[member] = {"sha256": sample.sha256, "size": path.stat().st_size}
            sources[member] = path
    incomplete = {"failed": failed, "never_generated": unrecorded, "status": run.status} if reasons else None
    doc = bundle_document(record, files, incomplete)
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
        for block in iter(lambda: src.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
            dst.write(block)
    if digest.hexdigest() != expected["sha256"] or size != expected["size"]:
        raise SubmissionError(
            f"{path}: changed since it was generated (sha256 mismatch with the results database); "
            "run the same `a2bench run` again to regenerate it"
        )
