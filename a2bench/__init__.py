"""a2bench: the benchmark and evaluation suite for universal character image animation.

Importing this package installs the torchvision compatibility hook (see :mod:`a2bench.compat`)
before anything can import torchvision; the other top-level packages import it first.
"""

from importlib.metadata import PackageNotFoundError, version

from a2bench.compat import install_torchvision_hook

install_torchvision_hook()

try:
    __version__ = version("a2bench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
