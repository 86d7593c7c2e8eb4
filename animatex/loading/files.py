"""Safe readers: safetensors (single or sharded through the index JSON) and ``torch.load(weights_only=True)``.

No file is ever unpickled with code execution: ``.pth``/``.ckpt``/``.bin`` go through ``weights_only=True``
(tensors, dicts, lists and numbers only). Registered files are located and hash-checked with
:func:`a2bench.core.weights.resolve`, which raises :class:`~a2bench.core.weights.WeightsError` with the fetch command
when one is missing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

import torch

from a2bench.animatex.loading.keys import CheckpointKeyError
from a2bench.core.weights import WeightsError, resolve

NESTED = ("model_state", "state_dict")  # wrappers some trainers put around a state dict (DiffSynth unwraps these)
# A dtype for every floating-point tensor, or one chosen per key (None: keep the file's).
DType: TypeAlias = torch.dtype | Callable[[str], torch.dtype | None] | None


def registered_path(name: str) -> Path:
    """Where the registered file ``name`` is, after its hash check (``WeightsError`` names the fix)."""
    return resolve(name).path


def cast(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    """``tensor`` in ``dtype`` when it is floating point (integer buffers keep theirs)."""
    if dtype is None or not tensor.is_floating_point() or tensor.dtype == dtype:
        return tensor
    return tensor.to(dtype)


def cast_key(key: str, tensor: Any, dtype: DType) -> Any:
    """:func:`cast` with ``dtype`` possibly chosen per key; non-tensors pass through."""
    if not isinstance(tensor, torch.Tensor):
        return tensor
    return cast(tensor, dtype(key) if callable(dtype) else dtype)


def read_pickle(path: str | Path, what: str = "checkpoint") -> dict[str, Any]:
    """A ``torch.save`` file through ``torch.load(weights_only=True)``, memory-mapped when its format allows.

    A top-level ``model_state`` or ``state_dict`` holding a dict is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{what} {path} does not exist")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # legacy (non-zip) files cannot be memory-mapped
            if "mmap" not in str(exc) and "zip" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError or EOFError by cause
        raise WeightsError(f"{what} {path} is not a loadable tensor checkpoint ({exc})") from None
    if not isinstance(state, Mapping):
        raise WeightsError(f"{what} {path} holds a {type(state).__name__}, not a state dict")
    for key in NESTED:
        if isinstance(state.get(key), Mapping):
            state = state[key]
            break
    return dict(state)


def read_safetensors(path: str | Path, dtype: DType = None) -> dict[str, torch.Tensor]:
    """Every tensor of one safetensors file, floating-point ones cast to ``dtype`` one at a time."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"safetensors file {path} does not exist")
    out: dict[str, torch.Tensor] = {}
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a mapping
            out[key] = cast_key(key, handle.get_tensor(key), dtype)
    return out


def read_sharded(
    index: str | Path,
    dtype: DType = None,
    shard_paths: Mapping[str, Path] | None = None,
) -> dict[str, torch.Tensor]:
    """The tensors of a sharded safetensors checkpoint, through its ``*.safetensors.index.json``.

    Each shard must hold exactly the keys the index's ``weight_map`` gives it. ``shard_paths`` maps shard file
    names to their paths (default: beside the index). Tensors are cast while read, so the peak memory is the
    result in ``dtype`` plus one tensor.
    """
    from safetensors import safe_open

    index = Path(index)
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{index} is not a safetensors index (a JSON with a weight_map): {exc}") from None
    by_shard: dict[str, set[str]] = {}
    for key, shard in weight_map.items():
        by_shard.setdefault(shard, set()).add(key)
    out: dict[str, torch.Tensor] = {}
    for shard, keys in sorted(by_shard.items()):
        path = Path(shard_paths[shard]) if shard_paths and shard in shard_paths else index.parent / shard
        if not path.is_file():
            raise WeightsError(f"shard {shard} named by {index} is missing (looked for {path})")
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            present = set(handle.keys())
            if present != keys:
                raise CheckpointKeyError(
                    f"shard {path} does not hold the keys its index gives it",
                    missing=keys - present,
                    unexpected=present - keys,
                )
            for key in sorted(keys):
                out[key] = cast_key(key, handle.get_tensor(key), dtype)
    return out


def read_tensor_file(path: str | Path, dtype: DType = None, what: str = "checkpoint") -> dict[str, Any]:
    """A state dict from a safetensors file, a safetensors index, a folder holding one, or a ``torch.save`` file."""
    path = Path(path)
    if path.is_dir():
        indexes = sorted(path.glob("*.safetensors.index.json"))
        singles = sorted(path.glob("*.safetensors"))
        if len(indexes) == 1:
            return read_sharded(indexes[0], dtype)
        if not indexes and len(singles) == 1:
            return read_safetensors(singles[0], dtype)
        raise WeightsError(
            f"{path} holds {len(indexes)} safetensors indexes and {len(singles)} safetensors files; "
            "name the index JSON or the file itself"
        )
    if path.name.endswith(".index.json"):
        return read_sharded(path, dtype)
    if path.suffix == ".safetensors":
        return read_safetensors(path, dtype)
    state = read_pickle(path, what)
    return {k: cast_key(k, v, dtype) for k, v in state.items()}
