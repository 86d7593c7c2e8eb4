"""a2bench: the benchmark and evaluation suite for universal character image animation.

Importing this package installs the torchvision compatibility hook (see :mod:`a2bench.core.compat`); every
module of the suite lives below it (``a2bench.core``, ``a2bench.metrics``, ...), so the hook is in place before any
of them can import torchvision. This is the only place that installs it.
``a2bench.evaluate`` and ``a2bench.load_runs`` (:mod:`a2bench.runs.api`) are loaded on first use.
"""

from a2bench.core.compat import install_torchvision_hook

install_torchvision_hook()

from a2bench.core.provenance import VERSION as __version__  # noqa: E402, F401 - after the hook


def __getattr__(name: str) -> object:
    """``evaluate`` and ``load_runs`` from :mod:`a2bench.runs.api`, imported on first use (torch, pandas)."""
    if name in ("evaluate", "load_runs"):
        from a2bench.runs import api  # lazy: `import a2bench` stays light; the API needs torch and pandas

        return getattr(api, name)
    raise AttributeError(f"module 'a2bench' has no attribute {name!r}")
