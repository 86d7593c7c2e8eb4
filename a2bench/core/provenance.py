"""What a stored result records about where it came from: the a2bench version, package versions, the git commit."""

from __future__ import annotations

import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

try:
    VERSION = version("a2bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"
SOURCE_TREE = Path(__file__).resolve().parents[2]  # the checkout (or site-packages) holding the a2bench package

# The packages whose versions a score depends on (recorded with every evaluation and run).
PACKAGES = (
    "a2bench",
    "torch",
    "numpy",
    "scipy",
    "scikit-image",
    "opencv-python-headless",
    "lpips",
    "pytorch-fid",
    "cd-fvd",
    "av",
    "pillow",
)


def package_versions() -> dict[str, str]:
    """``{package: version}`` for :data:`PACKAGES`, ``"not installed"`` where one is missing."""
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit(folder: str | Path) -> str | None:
    """The commit checked out in the git work tree holding ``folder``, or None (not a checkout, or no git)."""
    try:
        out = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None

