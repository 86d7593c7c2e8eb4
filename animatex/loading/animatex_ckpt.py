"""``animate-x++.ckpt`` / ``animate-x++_simple.ckpt``: the DiT LoRA and the Animate-X++ modules' weights.

The release's checkpoint is a flat ``torch.save`` dict (read here with ``weights_only=True``) holding

* PEFT LoRA pairs over the original Wan DiT names under ``pipe.dit.``, e.g.
  ``pipe.dit.blocks.3.self_attn.q.lora_A.default.weight`` (rank × in) and ``...lora_B.default.weight``
  (out × rank). The release (``ModelManager.load_lora_v2`` → ``GeneralLoRAFromPeft``) merges each pair as
  ``W ← W + alpha · (B @ A)`` with ``alpha = 1.0`` (``lora_alpha=1.0`` in both scripts) and **no** division by
  the rank: :data:`~a2bench.animatex.loading.lora.RELEASE_LORA_SCALE`. Targets and rank are whatever the file holds.
* the Animate-X++ modules, found by a module name anywhere in the key (the release splits on ``"<name>."``):
  :data:`GROUPS` — ``dwpose_embedding`` (pose-video Conv3d stack), ``randomref_embedding_pose`` (reference-pose
  Conv2d stack), and in the full model ``pose_embedding_before`` (IPI keypoint encoder) and
  ``pose_embedding_after`` (IPI resampler). They are returned as one state dict per module with everything up
  to and including ``"<name>."`` removed, ready for ``module.load_state_dict``.

Every key is accounted for: a LoRA key whose target is not a DiT weight, an unpaired ``lora_A``/``lora_B``, a
module key the release architecture does not have, a missing one, or any other key is an error listing them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from a2bench.animatex import weights as files
from a2bench.animatex.loading.files import read_pickle, registered_path
from a2bench.animatex.loading.keys import CheckpointKeyError, check_state_dict, describe, shape_of
from a2bench.animatex.loading.lora import LoraPair
from a2bench.animatex.loading.wan import dit_key_to_diffusers, dit_key_to_original, empty_transformer

LORA_PREFIX = "pipe.dit."

POSE_VIDEO = "dwpose_embedding"
REF_POSE = "randomref_embedding_pose"
IPI_KEYPOINTS = "pose_embedding_before"
IPI_RESAMPLER = "pose_embedding_after"
GROUPS = (POSE_VIDEO, REF_POSE, IPI_KEYPOINTS, IPI_RESAMPLER)
# The AnimateXModel sub-module each group loads into (the IPI's only in the full model).
MODULE_GROUPS = {
    "pose_video_encoder.convs": POSE_VIDEO,
    "ref_pose_encoder.convs": REF_POSE,
    "ipi.keypoint_encoder": IPI_KEYPOINTS,
    "ipi.resampler": IPI_RESAMPLER,
}
# Stashed by the release's loader (UniAnimate-DiT heritage) but loaded into no Animate-X++ module.
UNUSED_GROUPS = ("inpaint_embedding", "learn_in_embedding")
REQUIRED = {"full": GROUPS, "simple": (POSE_VIDEO, REF_POSE)}
# The keypoint encoder's sinusoidal table is a persistent buffer; a checkpoint saved from trainable parameters
# only lacks it, and it is a fixed function of its shape, so the module may rebuild it.
OPTIONAL = {IPI_KEYPOINTS: ("pos_embed.pos_table",)}
VARIANT_FILES = {"full": files.CHECKPOINT_FULL, "simple": files.CHECKPOINT_SIMPLE}


def addition_keys(*, ipi_layers: int = 3, resampler_depth: int = 8) -> dict[str, set[str]]:
    """The parameter and buffer names of the release's modules (suffixes after ``"<group>."``).

    ``ipi_layers``: transformer layers of the keypoint encoder (3); ``resampler_depth``: resampler layers (8).
    """
    wb = ("weight", "bias")
    encoder_layer = [f"self_attn.{p}" for p in ("in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias")]
    encoder_layer += [f"{m}.{p}" for m in ("linear1", "linear2", "norm1", "norm2") for p in wb]
    resampler_layer = [f"0.{m}.{p}" for m in ("norm1", "norm2") for p in wb]
    resampler_layer += ["0.to_q.weight", "0.to_kv.weight", "0.to_out.weight", "1.0.weight", "1.0.bias"]
    resampler_layer += ["1.1.weight", "1.3.weight"]
    return {
        POSE_VIDEO: {f"{i}.{p}" for i in range(0, 13, 2) for p in wb},
        REF_POSE: {f"{i}.{p}" for i in range(0, 11, 2) for p in wb},
        IPI_KEYPOINTS: {f"encoder.layers.{i}.{k}" for i in range(ipi_layers) for k in encoder_layer}
        | {f"{m}.{p}" for m in ("increase_embed_dim.0", "increase_embed_dim.1") for p in wb}
        | {f"{m}.{p}" for m in ("pre_image_condition_p.0", "pre_image_condition_p.2") for p in wb}
        | {"pos_embed.pos_table"},
        IPI_RESAMPLER: {f"layers.{i}.{k}" for i in range(resampler_depth) for k in resampler_layer}
        | {f"{m}.{p}" for m in ("proj_in", "proj_out", "norm_out", "proj_out2", "proj_conv") for p in wb}
        | {"latents"},
    }


@dataclass
class AnimateXCheckpoint:
    """A release checkpoint split by destination.

    ``lora``: diffusers DiT weight name (e.g. ``blocks.3.attn1.to_q.weight``) → :class:`LoraPair`.
    ``groups``: module name (:data:`GROUPS`, possibly :data:`UNUSED_GROUPS`) → its state dict, prefixes removed.
    ``ignored``: keys left out because ``strict=False``; ``notes``: what was tolerated and why.
    """

    variant: str
    lora: dict[str, LoraPair] = field(default_factory=dict)
    groups: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    source: str = ""

    @property
    def ranks(self) -> set[int]:
        return {pair.rank for pair in self.lora.values()}

    def lora_targets(self) -> set[str]:
        """The original-layout module kinds the LoRA touches (``self_attn.q``, ``ffn.0``, …)."""
        return {re.sub(r"^blocks\.\d+\.", "", pair.original).removesuffix(".weight") for pair in self.lora.values()}


def _group_of(key: str) -> tuple[str, str] | None:
    """``(group, suffix)`` when a module name is one of ``key``'s dotted parts."""
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        if part in GROUPS or part in UNUSED_GROUPS:
            return part, ".".join(parts[i + 1 :])
    return None


def parse_lora_key(key: str) -> tuple[str, str] | None:
    """``(original target weight, "A" | "B")`` of a PEFT LoRA key, or None when it is not one.

    Accepts ``[<anything>pipe.dit.][diffusion_model.]<module>.lora_{A,B}[.<adapter>].weight``.
    """
    if LORA_PREFIX in key:
        key = key.partition(LORA_PREFIX)[2]
    key = key.removeprefix("diffusion_model.")
    parts = key.split(".")
    for which in ("A", "B"):
        name = f"lora_{which}"
        if name in parts:
            i = parts.index(name)
            tail = parts[i + 1 :]  # "weight", or the PEFT adapter name then "weight"
            if i == 0 or not (tail == ["weight"] or (len(tail) == 2 and tail[1] == "weight")):
                return None
            return ".".join(parts[:i]) + ".weight", which
    return None


def dit_original_shapes(config: Any = None) -> dict[str, tuple[int, ...]]:
    """Original-layout DiT weight names and shapes for a transformer config (no memory: meta tensors)."""
    return {dit_key_to_original(k): tuple(v.shape) for k, v in empty_transformer(config).state_dict().items()}


def split_state_dict(
    state: Mapping[str, Any],
    *,
    variant: str | None = None,
    transformer_config: Any = None,
    dit_shapes: Mapping[str, Any] | None = None,
    ipi_layers: int = 3,
    resampler_depth: int = 8,
    expected: Mapping[str, Mapping[str, Any]] | None = None,
    strict: bool = True,
    require_lora: bool = True,
    source: str = "",
) -> AnimateXCheckpoint:
    """Split a release state dict into the DiT LoRA (diffusers names) and the per-module state dicts.

    ``variant``: ``"full"`` needs the IPI groups, ``"simple"`` does not; None picks by their presence.
    ``dit_shapes`` (original names → shapes) or ``transformer_config`` (default: the 14B model) gives the
    weights a LoRA may target. The modules' keys are checked by name against the release architecture
    (:func:`addition_keys`), or by name and shape against ``expected`` (group → the module's ``state_dict()``)
    for the groups it names. ``strict=False`` records unknown keys in ``ignored`` instead of failing (the
    release silently skips keys that are neither LoRA nor module weights).
    """
    lora_parts: dict[str, dict[str, tuple[str, torch.Tensor]]] = {}
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unknown: list[str] = []
    for key, value in state.items():
        group = _group_of(key)
        if group is not None and isinstance(value, torch.Tensor):
            name, suffix = group
            if suffix in groups.setdefault(name, {}):
                raise CheckpointKeyError(f"{source or 'checkpoint'}: two keys for {name}.{suffix}", unexpected=[key])
            groups[name][suffix] = value
            continue
        parsed = parse_lora_key(key) if "lora" in key and isinstance(value, torch.Tensor) else None
        if parsed is None:
            unknown.append(key)
            continue
        target, which = parsed
        if which in lora_parts.setdefault(target, {}):
            raise CheckpointKeyError(
                f"{source or 'checkpoint'}: two LoRA {which} tensors for {target}", unexpected=[key]
            )
        lora_parts[target][which] = (key, value)

    what = source or "Animate-X++ checkpoint"
    if unknown and strict:
        raise CheckpointKeyError(
            what,
            unexpected=unknown,
            hint="these are neither DiT LoRA keys nor weights of the Animate-X++ modules "
            f"({', '.join(GROUPS)}); pass strict=False to skip them as the release does",
        )
    if variant is None:
        variant = "full" if IPI_KEYPOINTS in groups or IPI_RESAMPLER in groups else "simple"
    if variant not in REQUIRED:
        raise ValueError(f"variant must be 'full' or 'simple', not {variant!r}")
    result = AnimateXCheckpoint(variant=variant, ignored=sorted(unknown) if not strict else [], source=source)

    # LoRA: complete pairs over existing DiT weights with consistent shapes.
    shapes = dict(dit_shapes) if dit_shapes is not None else dit_original_shapes(transformer_config)
    unpaired = [keys[w][0] for keys in lora_parts.values() for w in keys if len(keys) == 1]
    no_target = [keys[w][0] for target, keys in lora_parts.items() for w in keys if target not in shapes]
    if unpaired or no_target:
        raise CheckpointKeyError(
            f"{what}: LoRA",
            missing=[f"partner of {k}" for k in unpaired],
            unexpected=no_target,
            hint="LoRA keys must come in lora_A/lora_B pairs over weights of the Wan2.1 DiT (original names)",
        )
    wrong = []
    for target, keys in sorted(lora_parts.items()):
        (_, down), (_, up) = keys["A"], keys["B"]
        weight = shape_of(shapes[target])
        if not (
            len(weight) == 2
            and down.ndim == 2
            and up.ndim == 2
            and tuple(up.shape[:1]) + tuple(down.shape[1:]) == weight
            and up.shape[1] == down.shape[0]
        ):
            wrong.append(f"{target}: A {list(down.shape)}, B {list(up.shape)}, W {list(weight)}")
            continue
        result.lora[dit_key_to_diffusers(target)] = LoraPair(down=down, up=up, original=target)
    if wrong:
        raise CheckpointKeyError(f"{what}: LoRA", mismatched=wrong)
    if require_lora and not result.lora:
        raise CheckpointKeyError(f"{what}: no DiT LoRA", missing=[f"{LORA_PREFIX}blocks.*.lora_A/lora_B"])
    if len(result.ranks) > 1:
        result.notes.append(f"LoRA ranks differ between weights: {sorted(result.ranks)}")

    # Modules: the variant's required ones present, each with the architecture's keys.
    architecture = addition_keys(ipi_layers=ipi_layers, resampler_depth=resampler_depth)
    needed = set(REQUIRED[variant]) | set(expected or ())
    absent = [g for g in sorted(needed) if g not in groups]
    if absent:
        raise CheckpointKeyError(f"{what} ({variant} model): modules", missing=[f"{g}.*" for g in absent])
    for name, state_of_group in groups.items():
        optional = OPTIONAL.get(name, ())
        if expected is not None and name in expected:
            check_state_dict(state_of_group, expected[name], f"{what}: {name}", optional=optional)
        elif name in architecture:
            names = dict.fromkeys(architecture[name])
            check_state_dict(state_of_group, names, f"{what}: {name}", optional=optional, shapes=False)
        for key in optional:
            if key not in state_of_group:
                result.notes.append(f"{name}.{key} is absent (a fixed table: the module builds it)")
        if name in UNUSED_GROUPS:
            result.notes.append(f"{name}: {len(state_of_group)} tensors that no Animate-X++ module uses")
        elif name not in REQUIRED[variant]:
            result.notes.append(f"{name}: present, but the {variant} model has no such module")
    result.groups = groups
    return result


def read_checkpoint(
    path: str | Path | None = None,
    *,
    variant: str | None = "full",
    **kwargs: Any,
) -> AnimateXCheckpoint:
    """Read and split a release checkpoint: ``path``, or the registered file of ``variant`` (``full``/``simple``).

    Keyword arguments go to :func:`split_state_dict`.
    """
    if path is None:
        if variant not in VARIANT_FILES:
            raise ValueError(f"variant must be 'full' or 'simple' to pick the registered checkpoint, not {variant!r}")
        path = registered_path(VARIANT_FILES[variant])
    state = read_pickle(path, "Animate-X++ checkpoint")
    return split_state_dict(state, variant=variant, source=str(path), **kwargs)


def summary(checkpoint: AnimateXCheckpoint) -> str:
    """One paragraph: variant, LoRA count/ranks/targets, modules and their tensor counts, notes."""
    groups = ", ".join(f"{k} ({len(v)})" for k, v in sorted(checkpoint.groups.items()))
    lines = [
        f"{checkpoint.variant} model: {len(checkpoint.lora)} LoRA pairs, rank {sorted(checkpoint.ranks)}, "
        f"targets {sorted(checkpoint.lora_targets())}; modules {groups}"
    ]
    if checkpoint.ignored:
        lines.append(f"ignored {describe(checkpoint.ignored)}")
    lines += checkpoint.notes
    return "\n".join(lines)
