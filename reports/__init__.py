"""Leaderboards, plots and video galleries rendered from the results database."""

import a2bench  # noqa: F401 - installs the torchvision compatibility hook first
