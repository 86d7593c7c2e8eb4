"""A hardened zip reader for submission bundles: nothing in the archive is trusted.

Before any member is read, the archive is checked from its end records and central directory only
(:func:`open_archive`, :func:`check_members`): paths, links, duplicates, names, counts, sizes, compression ratio,
encryption, overlapping entries, each within :class:`Limits`. Members are then read as bounded streams
(:func:`read_member`) that stop as soon as one yields more than its header declares. Nothing is extracted to disk.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from a2bench.runs.submissions.schema import BUNDLE_JSON, VIDEO_MEMBER

CHUNK = 1 << 20  # bytes read or written at a time
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name


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


class MemberError(ValueError):
    """A member that cannot be read as its header declares (corrupt, or more or fewer bytes)."""


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
                block = stream.read(min(CHUNK, cap - size + 1))
                if not block:
                    break
                size += len(block)
                if size > cap:
                    raise MemberError(f"more data than its header declares ({info.file_size} bytes); stopped")
                digest.update(block)
                if sink is not None:
                    sink(block)
                else:
                    kept.append(block)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError) as exc:
        raise MemberError(f"corrupt member ({exc})") from exc
    if size != info.file_size:
        raise MemberError(f"{size} bytes decompressed, its header declares {info.file_size}")
    return digest.hexdigest(), size, None if sink is not None else b"".join(kept)
