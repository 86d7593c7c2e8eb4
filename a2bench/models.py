"""The model registry: adapter names → :class:`~a2bench.core.adapter.Adapter` subclasses.

Built-ins live in ``baselines/`` and ``animatex/`` and are listed here as lazy ``"module:attr"`` entries, so
running one model imports only its own module; third-party packages add adapters through the ``a2bench.models``
entry-point group (no fork needed). An adapter's ``name`` is the one it is registered as (:mod:`a2bench.core.registry`).
"""

from __future__ import annotations

from a2bench.core.adapter import Adapter
from a2bench.core.registry import Registry

MODELS: Registry[type[Adapter]] = Registry(
    "model",
    base=type[Adapter],
    entry_point_group="a2bench.models",
    builtins={
        "reference-copy": "a2bench.baselines.reference_copy:ReferenceCopy",
        "gt-oracle": "a2bench.baselines.oracle:GroundTruthOracle",
        "pose-warp": "a2bench.baselines.pose_warp:PoseWarp",
        "folder": "a2bench.baselines.folder:Folder",
        "command": "a2bench.baselines.command.adapter:Command",
        "animatex": "a2bench.animatex.adapter:AnimateX",
        "animatex-simple": "a2bench.animatex.adapter:AnimateXSimple",
        "animatex-tiny": "a2bench.animatex.adapter:AnimateXTiny",
    },
)
