"""The release's DiT LoRA: one update pair per weight, and merging it into the weights.

:mod:`~a2bench.animatex.loading.animatex_ckpt` reads the pairs from the release checkpoint;
:func:`~a2bench.animatex.loading.wan.load_transformer` and the bundle converter merge them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch

from a2bench.animatex.loading.keys import CheckpointKeyError

RELEASE_LORA_SCALE = 1.0  # W + 1.0 · B @ A, whatever the rank (full.py:89, simple.py:92, lora.py:246-268)


@dataclass(frozen=True)
class LoraPair:
    """One LoRA update ``scale · up @ down`` of a DiT weight (``down`` = PEFT ``lora_A``, ``up`` = ``lora_B``)."""

    down: torch.Tensor  # (rank, in)
    up: torch.Tensor  # (out, rank)
    original: str  # the original-layout weight it updates, e.g. blocks.3.self_attn.q.weight

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    def delta(self, scale: float = RELEASE_LORA_SCALE, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """``scale · up @ down`` in ``dtype``."""
        return scale * (self.up.to(dtype) @ self.down.to(dtype))


def merge_lora(
    target: torch.nn.Module | dict[str, torch.Tensor],
    lora: Mapping[str, LoraPair],
    scale: float = RELEASE_LORA_SCALE,
) -> None:
    """Merge in place: ``W ← W + scale · (B @ A)`` for every pair, on a diffusers DiT model or state dict.

    Computed in float32 on the weight's device and rounded once to the weight's dtype (the release computes in
    the DiT's bfloat16). ``scale`` defaults to the release's 1.0, which ignores the rank.
    """
    if isinstance(target, torch.nn.Module):
        params = dict(target.named_parameters())
        missing = [k for k in lora if k not in params]
        if missing:
            raise CheckpointKeyError("LoRA targets not in the model", missing=missing)
        with torch.no_grad():
            for key, pair in lora.items():
                weight = params[key]
                delta = pair.delta(scale).to(weight.device)
                weight.copy_((weight.float() + delta).to(weight.dtype))
        return
    missing = [k for k in lora if k not in target]
    if missing:
        raise CheckpointKeyError("LoRA targets not in the state dict", missing=missing)
    for key, pair in lora.items():
        weight = target[key]
        target[key] = (weight.float() + pair.delta(scale).to(weight.device)).to(weight.dtype)


def lora_adapter_state_dict(lora: Mapping[str, LoraPair]) -> dict[str, torch.Tensor]:
    """The LoRA as PEFT adapter tensors in diffusers names (``blocks.3.attn1.to_q.lora_A.weight`` …).

    For ``transformer.load_lora_adapter(sd, prefix=None, ...)`` (needs ``peft``). PEFT scales by
    ``lora_alpha / r``; the release's merge equals ``lora_alpha = r`` (diffusers' default when no alphas are
    given), i.e. scale 1.0.
    """
    out = {}
    for key, pair in lora.items():
        module = key.removesuffix(".weight")
        out[f"{module}.lora_A.weight"] = pair.down
        out[f"{module}.lora_B.weight"] = pair.up
    return out
