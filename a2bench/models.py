"""The model registry: adapter names → :class:`~a2bench.core.adapter.Adapter` subclasses.

Built-ins live in ``baselines/`` and ``animatex/``; third-party packages add adapters through the
``a2bench.models`` entry-point group (no fork needed).
"""

from __future__ import annotations

from a2bench.core.adapter import Adapter
from a2bench.core.registry import Registry

MODELS: Registry[type[Adapter]] = Registry(
    "model", entry_point_group="a2bench.models", builtins=("a2bench.baselines", "a2bench.animatex.adapter")
)


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: register an adapter under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} sets no name")
    return MODELS.register(cls.name)(cls)
