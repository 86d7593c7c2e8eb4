"""Compatibility hook: import torchvision 0.28.0 (a CUDA build) next to the CPU torch 2.13.0.

PyPI only has a ``+cu130`` build of torchvision 0.28.0. With the CPU torch its C extension fails to
load, and ``torchvision/_meta_registrations.py`` then dies with
``RuntimeError: operator torchvision::nms does not exist`` because it registers fake kernels for
``torchvision::nms`` and ``torchvision::qnms`` whose schemas only the extension defines. That error
breaks every package that imports torchvision: lpips, pytorch-fid, cd-fvd, torchmetrics,
transformers' ``PreTrainedModel`` and diffusers' models.

The hook below is a meta-path finder that never supplies a module. When Python is about to import
``torchvision._meta_registrations`` it asks ``torchvision.extension._has_ops()``; only if the
extension failed does it define the two missing operator *schemas* (no kernels). The pure-Python
parts of torchvision (models, transforms) then work; its C++ ops (``nms``, ``roi_align``) and image
decoding keep raising torchvision's own "Couldn't load custom C++ ops" error. When the extension
loads (a matching CUDA torch, a future CPU build) the hook does nothing.

``import a2bench`` installs it, so every top-level package of this distribution has it before it
touches torchvision. See docs/install.md.
"""

from __future__ import annotations

import importlib.abc
import sys

# Schemas of the operators torchvision's fake-kernel registrations need (torchvision 0.28 ops).
_MISSING_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_TRIGGER = "torchvision._meta_registrations"


class _TorchvisionSchemaHook(importlib.abc.MetaPathFinder):
    """Defines the missing ``torchvision::`` schemas just before ``_meta_registrations`` runs."""

    def __init__(self) -> None:
        self.library = None  # keeps the torch.library.Library alive (dropping it undefines ops)
        self.defined: tuple[str, ...] = ()

    def find_spec(self, fullname, path=None, target=None):
        if fullname == _TRIGGER and self.library is None:
            extension = sys.modules.get("torchvision.extension")
            if extension is not None and not extension._has_ops():
                self._define_schemas()
        return None  # let the regular finders import the module

    def _define_schemas(self) -> None:
        import torch

        self.library = torch.library.Library("torchvision", "DEF")
        for schema in _MISSING_SCHEMAS.values():
            self.library.define(schema)
        self.defined = tuple(_MISSING_SCHEMAS)


def _installed_hook() -> _TorchvisionSchemaHook | None:
    return next((h for h in sys.meta_path if isinstance(h, _TorchvisionSchemaHook)), None)


def install_torchvision_hook() -> None:
    """Install the hook once (idempotent). Must run before the first ``import torchvision``."""
    if _installed_hook() is None:
        sys.meta_path.insert(0, _TorchvisionSchemaHook())


def shimmed_torchvision_ops() -> tuple[str, ...]:
    """Names of the ``torchvision::`` operator schemas the hook had to define (empty if none)."""
    hook = _installed_hook()
    return hook.defined if hook is not None else ()
