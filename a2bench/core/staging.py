"""Folders built beside their destination and renamed into place, and the leftovers of killed processes.

``a2bench bench make`` and ``a2bench report`` write ``OUT`` in a new folder ``.OUT.tmp-XXXXXXXX`` beside it and
rename that folder to ``OUT`` when it is complete (a report also moves the previous one aside into
``.OUT.old-XXXXXXXX``). A process killed with SIGKILL cannot remove these folders, so the next run of a command
writing the same ``OUT`` removes them (:func:`remove_leftovers`).

Which folders are leftovers: the process that creates one holds an exclusive ``flock`` on it (on the folder itself)
until it has renamed or removed it. The kernel releases the lock when the process ends, however it ends, so a
folder nobody holds a lock on belongs to no running process; one whose lock is held belongs to a process still
writing the same ``OUT`` and is left alone (and named). The lock works between processes of one machine, and
over NFS where the server supports locks. A folder is only ever removed while its remover holds its lock.
"""

from __future__ import annotations

import fcntl
import glob
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

Say = Callable[[str], None]


def _prefix(out: Path, kind: str) -> str:
    return f".{out.name}.{kind}-"


def _open_locked(path: Path) -> int | None:
    """A descriptor of folder ``path`` holding its exclusive lock, or None when another process holds it."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _still_at(fd: int, path: Path) -> bool:
    """Whether ``path`` is still the folder ``fd`` was opened on (not renamed into place, removed or replaced)."""
    try:
        return os.path.samestat(os.fstat(fd), os.lstat(path))
    except FileNotFoundError:
        return False


def remove_leftovers(out: Path, kind: str, say: Say, salvage: Callable[[Path], None] | None = None) -> None:
    """Remove the ``.OUT.<kind>-*`` folders beside ``out`` that no running process holds (module docstring).

    ``salvage(folder)`` runs first on each, while it is locked (a report puts back a previous report that a killed
    swap had moved aside). ``say`` gets one line per folder removed or left alone."""
    for path in sorted(out.parent.glob(glob.escape(_prefix(out, kind)) + "*")):
        if path.is_symlink() or not path.is_dir():
            continue
        try:
            fd = _open_locked(path)
        except OSError:  # gone meanwhile (renamed into place by its process), or unreadable: not ours to judge
            continue
        if fd is None:
            say(f"{path}: in use by another running process writing {out}; left alone")
            continue
        try:
            if not _still_at(fd, path):
                continue
            if salvage is not None:
                salvage(path)
            shutil.rmtree(path)
            say(f"removed {path}, left by an earlier run that was killed")
        finally:
            os.close(fd)


@contextmanager
def staging_folder(out: Path, kind: str = "tmp") -> Iterator[Path]:
    """A new empty folder ``.OUT.<kind>-XXXXXXXX`` beside ``out``, locked until the block ends; whatever is still
    at its path then (nothing once the caller renamed it to ``out``) is removed."""
    while True:
        path = Path(tempfile.mkdtemp(dir=out.parent, prefix=_prefix(out, kind)))
        try:
            fd = _open_locked(path)
        except FileNotFoundError:  # a concurrent remove_leftovers took it for a leftover before it was locked
            continue
        if fd is not None and _still_at(fd, path):
            break
        if fd is not None:
            os.close(fd)
    try:
        yield path
    finally:
        try:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)
