"""Video and image metrics that reproduce named reference implementations (see docs/metrics.md)."""

import a2bench  # noqa: F401 - installs the torchvision compatibility hook first
