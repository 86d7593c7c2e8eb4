"""A clean implementation of Animate-X++ (arXiv 2508.09454)."""

import a2bench  # noqa: F401 - installs the torchvision compatibility hook first
