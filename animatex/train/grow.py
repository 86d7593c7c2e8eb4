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

A wider DiT (:func:`widen_model`, ``animatex train`` with ``model.widen``) starts as the trained one too, by
Net2Net's duplication (Chen et al., 2016): every width-sized vector ``v`` (the residual stream, the attention's
heads, the FFN's hidden units, the time, text and image embeddings, the pose encoders' and the IPI's outputs)
becomes ``[v, v, ...]``. LayerNorm and RMSNorm see the same mean and variance in ``k`` copies, each attention head
is repeated whole, so the wider network computes exactly what the narrow one did if each layer that reads copies
splits the old weight among them: ``W / k + E_i`` with ``sum(E_i) = 0``. The noise ``E`` changes nothing at the
start, but it gives each copy its own gradient, so the copies can learn different things.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable

import torch

from a2bench.animatex.transformer import AnimateXModel


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


def grow_model(model: AnimateXModel, z_dim: int) -> AnimateXModel:
    """A new :class:`~a2bench.animatex.transformer.AnimateXModel` like ``model`` for a VAE of ``z_dim`` latent channels,
    holding ``model``'s weights: the DiT's input and output layers and the reference-pose encoder's last layer
    grow, with zero weights on the new channels (the DiT predicts no velocity for them until trained)."""
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

    def rule(name: str, tensor: torch.Tensor) -> torch.Tensor | None:
        return _grow(new[name], tensor, *rules[name]) if name in rules else None

    return _map_state(old, new, rule, "a latent channel")


def _map_state(
    old: dict[str, torch.Tensor],
    new: dict[str, torch.Tensor],
    rule: Callable[[str, torch.Tensor], torch.Tensor | None],
    what: str,
) -> dict[str, torch.Tensor]:
    """``new``'s keys, each ``rule(name, old tensor)`` or, where that is ``None``, ``old``'s tensor, which must then
    have ``new``'s shape (a mismatch names the tensor: it is not ``what`` the rules grow)."""
    if set(old) != set(new):
        raise ValueError(f"the models differ in more than {what}: keys {sorted(set(old) ^ set(new))[:5]}")
    out = {}
    for name, target in new.items():
        grown = rule(name, old[name])
        if grown is None and old[name].shape != target.shape:
            raise ValueError(f"{name}: {tuple(old[name].shape)} -> {tuple(target.shape)} is not {what}")
        out[name] = (old[name] if grown is None else grown).detach().clone()
    return out


# Which dimensions of a DiT tensor carry its width: OUT ones hold a width vector (repeated k times), IN ones read
# one (the weight split among the copies). First match wins. ``chunks``: the OUT dimension holds that many width
# vectors side by side (the time projection's six modulation vectors), each repeated in place.
_OUT, _IN = "out", "in"
_BLOCK_LINEARS = r"blocks\.\d+\.(attn[12]\.(to_[qkv]|to_out\.0|add_[kv]_proj)|ffn\.net\.(0\.proj|2))"
_EMBEDDERS = r"condition_embedder\.((time|text)_embedder\.linear_[12]|image_embedder\.(ff\.net\.2|norm2))"
_WIDTH_RULES: tuple[tuple[str, dict[int, str], int], ...] = (
    (r"transformer\.(blocks\.\d+\.)?scale_shift_table", {2: _OUT}, 1),
    (r"transformer\.condition_embedder\.time_proj\.weight", {1: _IN, 0: _OUT}, 6),
    (r"transformer\.condition_embedder\.time_proj\.bias", {0: _OUT}, 6),
    (
        rf"transformer\.(condition_embedder\.(time|text)_embedder\.linear_2|{_BLOCK_LINEARS})\.weight",
        {1: _IN, 0: _OUT},
        1,
    ),
    (r"transformer\.proj_out\.weight", {1: _IN}, 1),
    (
        rf"transformer\.(patch_embedding|{_EMBEDDERS}|{_BLOCK_LINEARS}|blocks\.\d+\.(attn[12]\.norm_(q|k|added_k)|norm2))"
        r"\.(weight|bias)",
        {0: _OUT},
        1,
    ),
    (r"ipi\.resampler\.proj_out2\.(weight|bias)", {0: _OUT}, 1),
)


def _widen(
    tensor: torch.Tensor, dims: dict[int, str], chunks: int, k: int, noise: float, g: torch.Generator
) -> torch.Tensor:
    """``tensor`` with its width dimensions ``k`` times as long: the IN one first, so that the repeated rows of
    the OUT one share its noise (the copies of an output must stay equal)."""
    for dim in sorted(dims, key=lambda d: dims[d] != _IN):
        if dims[dim] == _IN:
            share = tensor / k
            e = torch.randn((k, *tensor.shape), generator=g) * (noise * float(share.std()))
            tensor = torch.cat(list(share + (e - e.mean(0))), dim)
        else:
            parts = tensor.unflatten(dim, (chunks, -1))
            tensor = torch.cat([parts] * k, dim + 1).flatten(dim, dim + 1)
    return tensor


def widen_model(model: AnimateXModel, k: int, noise: float = 0.25, seed: int = 0) -> AnimateXModel:
    """A new :class:`~a2bench.animatex.transformer.AnimateXModel` like ``model`` with a DiT ``k`` times as wide (``k``
    times the heads, the FFN width and the image projection; the pose encoders' and the IPI's outputs follow)
    that computes what ``model`` computes. ``noise``: the spread of the split weights' differences, relative to
    the spread of the split weight."""
    if k < 1:
        raise ValueError(f"the width factor must be a whole number >= 1; got {k}")
    config = model.config
    t = config.transformer
    wide = dataclasses.replace(
        config,
        transformer=dataclasses.replace(
            t,
            num_attention_heads=k * t.num_attention_heads,
            ffn_dim=k * t.ffn_dim,
            added_kv_proj_dim=None if t.added_kv_proj_dim is None else k * t.added_kv_proj_dim,
        ),
        pose_video=dataclasses.replace(config.pose_video, out_channels=k * config.pose_video.out_channels),
        ipi=None if config.ipi is None else dataclasses.replace(config.ipi, out_dim=k * config.ipi.out_dim),
    )
    new = AnimateXModel(wide)  # every tensor is overwritten below: its random init does not matter
    last = rf"pose_video_encoder\.convs\.{len(new.pose_video_encoder.convs) - 1}\.(weight|bias)"
    rules = (*_WIDTH_RULES, (last, {0: _OUT}, 1))
    g = torch.Generator().manual_seed(seed)

    def rule(name: str, tensor: torch.Tensor) -> torch.Tensor | None:
        for pattern, dims, chunks in rules:
            if re.fullmatch(pattern, name):
                return _widen(tensor, dims, chunks, k, noise, g)
        return None

    new.load_state_dict(_map_state(model.state_dict(), new.state_dict(), rule, "the DiT's width"))
    return new.train(model.training)
