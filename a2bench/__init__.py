"""a2bench: the benchmark and evaluation suite for universal character image animation.

Importing this package installs the torchvision compatibility hook (see :mod:`a2bench.core.compat`)
before anything can import torchvision; the other top-level packages import it first.
``a2bench.evaluate`` and ``a2bench.load_runs`` (:mod:`a2bench.runs.api`) are loaded on first use.
"""

from importlib.metadata import PackageNotFoundError, version

from a2bench.core.compat import install_torchvision_hook

install_torchvision_hook()

try:
    __version__ = version("a2bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> object:
    """``evaluate`` and ``load_runs`` from :mod:`a2bench.runs.api`, imported on first use (torch, pandas)."""
    if name in ("evaluate", "load_runs"):
        from a2bench.runs import api

        return getattr(api, name)
    raise AttributeError(f"module 'a2bench' has no attribute {name!r}")
