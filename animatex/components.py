"""The pipeline's other components as data: VAE, text encoder and tokenizer, image encoders.

The 14B release loads these from Wan's files (:mod:`a2bench.animatex.loading`). Small pipelines build them from a
:class:`ComponentsConfig` instead: ``tiny`` (random weights, a plumbing check) and ``animatex-tiny`` (the model
trained here, docs/animatex-tiny.md). Each is the same kind of model as the release's, smaller:

* ``vae``: keyword arguments of diffusers' ``AutoencoderKLWan`` (Wan's VAE: 8× space, 4× time);
* ``text_encoder``: a transformers ``UMT5Config`` (umT5), fed by :class:`ByteTokenizer` (UTF-8 bytes, no
  vocabulary file) of ``vocab_size`` ids, ``max_sequence_length`` tokens;
* ``image_encoder``: a transformers ``CLIPVisionConfig`` (in place of Wan's CLIP ViT-H/14);
* ``open_clip_vision``: overrides of OpenCLIP's vision tower config for the IPI's frame encoder (full variant).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from a2bench.animatex.config import AnimateXConfig, ConfigError
from a2bench.animatex.ipi import OpenCLIPFrameEncoder


class ByteTokenizer:
    """A dependency-free stand-in for the umT5 tokenizer of the small pipelines: UTF-8 bytes → ids.

    Id 0 is padding and 1 the end-of-sequence token, as in T5; byte ``b`` is ``2 + b % (vocab_size − 2)`` (no
    collisions from ``vocab_size = 258``). Called like a ``transformers`` tokenizer with the arguments the
    pipeline uses.
    """

    def __init__(self, vocab_size: int = 64) -> None:
        self.vocab_size = vocab_size

    def __call__(self, texts: Sequence[str], *, max_length: int, **_: Any) -> dict[str, torch.Tensor]:
        ids = torch.zeros(len(texts), max_length, dtype=torch.long)
        mask = torch.zeros(len(texts), max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            tokens = [2 + b % (self.vocab_size - 2) for b in text.encode("utf-8")][: max_length - 1] + [1]
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        return {"input_ids": ids, "attention_mask": mask}


@dataclass(frozen=True)
class ComponentsConfig:
    """The non-DiT components of a small pipeline (see the module docstring)."""

    vae: dict[str, Any] = field(default_factory=dict)
    text_encoder: dict[str, Any] = field(default_factory=dict)
    vocab_size: int = 64
    max_sequence_length: int = 16
    image_encoder: dict[str, Any] = field(default_factory=dict)
    open_clip_vision: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComponentsConfig:
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"unknown ComponentsConfig field(s): {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> ComponentsConfig:
        return dataclasses.replace(self, **changes)


def _umt5(d_model: int, d_ff: int, layers: int, heads: int, vocab: int, buckets: int, distance: int) -> dict:
    return {
        "vocab_size": vocab,
        "d_model": d_model,
        "d_kv": d_model // heads,
        "d_ff": d_ff,
        "num_layers": layers,
        "num_heads": heads,
        "relative_attention_num_buckets": buckets,
        "relative_attention_max_distance": distance,
        "feed_forward_proj": "gated-gelu",
        "layer_norm_epsilon": 1e-6,
        "dropout_rate": 0.0,  # deterministic training steps (transformers' default is 0.1)
    }


def _clip_vision(hidden: int, intermediate: int, layers: int, heads: int, image: int, patch: int) -> dict:
    return {
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "image_size": image,
        "patch_size": patch,
        "layer_norm_eps": 1e-5,
    }


COMPONENTS: dict[str, ComponentsConfig] = {
    # Random-weight plumbing check (AnimateXPipeline.tiny): sizes only big enough to exercise every code path.
    "tiny": ComponentsConfig(
        vae={"base_dim": 8, "z_dim": 16, "num_res_blocks": 1},
        text_encoder=_umt5(32, 64, 2, 4, 64, 8, 16),
        vocab_size=64,
        max_sequence_length=16,
        image_encoder=_clip_vision(16, 32, 2, 2, 28, 14),
        open_clip_vision={"image_size": 28, "layers": 2, "width": 32, "head_width": 16, "patch_size": 14},
    ),
    # The trained small model (docs/animatex-tiny.md): byte-level prompts of up to 255 bytes.
    "animatex-tiny": ComponentsConfig(
        vae={"base_dim": 16, "decoder_base_dim": 24, "z_dim": 64, "num_res_blocks": 1},
        text_encoder=_umt5(64, 256, 2, 4, 258, 32, 128),
        vocab_size=258,
        max_sequence_length=256,
        image_encoder=_clip_vision(64, 256, 2, 4, 64, 8),
        open_clip_vision={"image_size": 64, "layers": 2, "width": 64, "head_width": 16, "patch_size": 16},
    ),
}


def get_components(name: str) -> ComponentsConfig:
    try:
        return COMPONENTS[name]
    except KeyError:
        raise ConfigError(f"no small-pipeline components named {name!r}; known: {', '.join(COMPONENTS)}") from None


def flow_scheduler(config: AnimateXConfig) -> Any:
    """The release's sampler: diffusers' ``FlowMatchEulerDiscreteScheduler``, 1000 training steps, the preset's shift
    (driven with :func:`~a2bench.animatex.sampling.release_sigmas`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.sampling.shift)


def build_components(config: AnimateXConfig, components: ComponentsConfig) -> dict[str, Any]:
    """Randomly initialised ``vae``, ``text_encoder``, ``tokenizer``, ``image_encoder`` and ``open_clip`` (``None``
    without an IPI) of ``components``, checked against the model ``config`` (widths must agree), in eval mode, and
    the ``scheduler``."""
    from diffusers import AutoencoderKLWan
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    t = config.transformer
    problems = []
    if components.vae.get("z_dim", 16) != t.out_channels:
        problems.append(f"vae z_dim {components.vae.get('z_dim', 16)} != transformer out_channels {t.out_channels}")
    if components.text_encoder.get("d_model") != t.text_dim:
        problems.append(f"text_encoder d_model {components.text_encoder.get('d_model')} != text_dim {t.text_dim}")
    if components.image_encoder.get("hidden_size") != t.image_dim:
        problems.append(f"image_encoder hidden_size {components.image_encoder.get('hidden_size')} != {t.image_dim}")
    if components.vocab_size > components.text_encoder.get("vocab_size", 0):
        problems.append("the tokenizer's vocab_size exceeds the text encoder's")
    if config.has_ipi and components.open_clip_vision is None:
        problems.append("a model with an IPI needs open_clip_vision")
    if problems:
        raise ConfigError(f"components do not fit model {config.name!r}: " + "; ".join(problems))
    vae = AutoencoderKLWan(**components.vae)
    text_encoder = UMT5EncoderModel(UMT5Config(**components.text_encoder))
    image_encoder = CLIPVisionModel(CLIPVisionConfig(**components.image_encoder))
    open_clip = None
    if config.has_ipi:
        vision = dict(components.open_clip_vision or {})
        clip_config = dataclasses.replace(config.open_clip, image_size=vision.get("image_size", 224))
        open_clip = OpenCLIPFrameEncoder(clip_config, vision_overrides=vision)
    return {
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": ByteTokenizer(components.vocab_size),
        "image_encoder": image_encoder.eval(),
        "open_clip": open_clip,
        "scheduler": flow_scheduler(config),
    }
