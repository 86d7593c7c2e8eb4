"""More latent channels for a trained small pipeline: grow its VAE, then its DiT, without starting over.

A VAE with more latent channels (``z_dim``) keeps more of each frame, at almost no cost: only its bottleneck and
the DiT's first and last layers see the channels. These functions start the larger model *as* the trained one:
every old weight goes to the same role in the new tensors, and the new channels enter through zero weights
(or an identity where a 1 x 1 convolution passes channels through), so the grown model computes what the old one
did until training finds a use for them. ``animatex train-vae`` grows the VAE when ``vae.init`` has fewer channels;
``animatex train`` grows the DiT when ``model.vae`` has more channels than ``model.weights``' pipeline.

Where the channels are: the VAE's posterior is ``[mean (z), log-variance (z)]``; the DiT's input is ``[noisy latent
(z), mask (4), reference latent (z)]`` and its condition (the reference-pose encoder's output) ``[mask, reference
latent]``; its output projection's rows are ``(patch position, channel)`` with the channel fastest.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch


def _grow(target: torch.Tensor, source: torch.Tensor, index: dict[int, torch.Tensor], fill: str) -> torch.Tensor:
    """``target``'s shape, ``fill``ed (``zero``, ``identity`` for a square 1 x 1 convolution, ``keep`` its
    values), with ``source`` placed at ``index[dim]`` along each grown dimension."""
    out = target.detach().clone()
    if fill != "keep":
        out.zero_()
    if fill == "identity":
        out.view(out.shape[0], out.shape[1]).fill_diagonal_(1.0)
    where = [torch.arange(n) for n in source.shape]
    for dim, idx in index.items():
        where[dim] = idx
    out[torch.meshgrid(*where, indexing="ij")] = source
    return out


def grow_vae_state(old: dict[str, torch.Tensor], new: dict[str, torch.Tensor], old_z: int) -> dict[str, torch.Tensor]:
    """``new``'s state dict (an ``AutoencoderKLWan`` with more latent channels) holding ``old``'s weights.

    The encoder's new mean and log-variance rows keep their random initialisation (so the new channels carry
    information from the first step); the decoder reads them with zero weights."""
    new_z = new["post_quant_conv.bias"].shape[0]
    latent = torch.arange(old_z)
    posterior = torch.cat([latent, latent + new_z])
    rules = {
        "encoder.conv_out.weight": ({0: posterior}, "keep"),
        "encoder.conv_out.bias": ({0: posterior}, "keep"),
        "quant_conv.weight": ({0: posterior, 1: posterior}, "identity"),
        "quant_conv.bias": ({0: posterior}, "zero"),
        "post_quant_conv.weight": ({0: latent, 1: latent}, "identity"),
        "post_quant_conv.bias": ({0: latent}, "zero"),
        "decoder.conv_in.weight": ({1: latent}, "zero"),
    }
    return _apply(old, new, rules)


def grow_model(model: Any, z_dim: int) -> Any:
    """A new :class:`~animatex.transformer.AnimateXModel` like ``model`` for a VAE of ``z_dim`` latent channels,
    holding ``model``'s weights: the DiT's input and output layers and the reference-pose encoder's last layer
    grow, with zero weights on the new channels (the DiT predicts no velocity for them until trained)."""
    from animatex.transformer import AnimateXModel

    config = model.config
    t = config.transformer
    old_z, mask = t.out_channels, t.in_channels - 2 * t.out_channels
    if z_dim < old_z:
        raise ValueError(f"cannot shrink the model's latent channels ({old_z} -> {z_dim})")
    grown = dataclasses.replace(
        config,
        transformer=dataclasses.replace(t, in_channels=2 * z_dim + mask, out_channels=z_dim),
        ref_pose=dataclasses.replace(config.ref_pose, out_channels=mask + z_dim),
    )
    new = AnimateXModel(grown)  # every tensor is overwritten below: its random init does not matter
    latent = torch.arange(old_z)
    inputs = torch.cat([latent, z_dim + torch.arange(mask), z_dim + mask + latent])
    positions = t.patch_size[0] * t.patch_size[1] * t.patch_size[2]
    outputs = (torch.arange(positions)[:, None] * z_dim + latent[None, :]).flatten()
    last = f"ref_pose_encoder.convs.{len(new.ref_pose_encoder.convs) - 1}"
    rules = {
        "transformer.patch_embedding.weight": ({1: inputs}, "zero"),
        "transformer.proj_out.weight": ({0: outputs}, "zero"),
        "transformer.proj_out.bias": ({0: outputs}, "zero"),
        f"{last}.weight": ({0: torch.arange(mask + old_z)}, "zero"),
        f"{last}.bias": ({0: torch.arange(mask + old_z)}, "zero"),
    }
    new.load_state_dict(_apply(model.state_dict(), new.state_dict(), rules))
    return new


def _apply(
    old: dict[str, torch.Tensor], new: dict[str, torch.Tensor], rules: dict[str, tuple[dict[int, torch.Tensor], str]]
) -> dict[str, torch.Tensor]:
    """``new``'s keys: grown by ``rules`` where named, otherwise ``old``'s tensor, which must have ``new``'s shape."""
    if set(old) != set(new):
        raise ValueError(
            f"the models differ in more than their latent channels: keys {sorted(set(old) ^ set(new))[:5]}"
        )
    out = {}
    for name, target in new.items():
        if name in rules:
            out[name] = _grow(target, old[name], *rules[name])
        elif old[name].shape != target.shape:
            raise ValueError(f"{name}: {tuple(old[name].shape)} -> {tuple(target.shape)} is not a latent channel")
        else:
            out[name] = old[name].detach().clone()
    return out
