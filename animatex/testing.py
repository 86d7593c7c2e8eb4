"""Tiny random-weight Animate-X++ / Wan2.1 files in the official layouts, for offline tests.

No real weights can be downloaded here, but the loaders only need files in the *same layout* as the release's:
original Wan key names, the DiT as 7 safetensors shards with an index JSON, ``.pth`` pickles for the VAE, umT5
and Wan's CLIP, a release-style ``animate-x++(_simple).ckpt`` (PEFT LoRA pairs under ``pipe.dit.`` plus the
module groups) and an OpenCLIP state dict. :func:`write_release` writes all of them for a tiny preset under
their registered names (:mod:`a2bench.animatex.weights`), from random reference models the tests compare against.
The files fail the registry's hash check: callers set ``A2BENCH_ALLOW_UNVERIFIED_WEIGHTS=1`` or pass paths.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from a2bench.animatex import weights as registry
from a2bench.animatex.ipi import import_open_clip
from a2bench.animatex.loading import animatex_ckpt, wan
from a2bench.animatex.loading.animatex_ckpt import MODULE_GROUPS
from a2bench.animatex.transformer import AnimateXModel
from a2bench.core.pose import PoseSequence

TINY_IPI = {"ipi_layers": 1, "resampler_depth": 2}  # addition_keys() arguments of the small release ckpts
LORA_TARGETS = [f"{a}.{p}" for a in ("self_attn", "cross_attn") for p in "qkvo"] + ["ffn.0", "ffn.2"]
# The OpenCLIP vision tower (and a small text tower) for the tiny presets: ViT-H-14's structure at width 32.
TINY_OPEN_CLIP_VISION = {"image_size": 28, "layers": 2, "width": 32, "head_width": 16, "patch_size": 14}
TINY_OPEN_CLIP_TEXT = {"context_length": 8, "vocab_size": 50, "width": 16, "heads": 2, "layers": 1}
TOKENIZER_VOCAB = 64  # pieces of the tiny umT5-style tokenizer (< the tiny text encoder's vocabulary)


def randomized(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter drawn at random (norm weights too, so that swapped keys cannot go unnoticed)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.2)
    return model.eval()


def save_sharded_original(state: Mapping[str, torch.Tensor], folder: Path, shards: int = 7) -> Path:
    """Original-layout DiT weights as ``diffusion_pytorch_model-0000N-of-0000S.safetensors`` + the index JSON."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    keys = sorted(state)
    weight_map = {}
    for i in range(shards):
        name = f"diffusion_pytorch_model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: state[k].contiguous() for k in keys[i::shards]}
        save_file(part, folder / name)
        weight_map.update(dict.fromkeys(part, name))
    index = folder / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return index


def addition_state(seed: int, groups: Iterable[str] = animatex_ckpt.GROUPS, **ipi: int) -> dict[str, dict]:
    """Random tensors under every key of the release's modules (shapes arbitrary but fixed per key)."""
    generator = torch.Generator().manual_seed(seed)
    keys = animatex_ckpt.addition_keys(**(ipi or TINY_IPI))
    return {g: {k: torch.randn(3, 2, generator=generator) for k in sorted(keys[g])} for g in groups}


def lora_state(shapes: Mapping[str, Any], rank: int, seed: int, prefix: str = "pipe.dit.", meta: bool = False) -> dict:
    """PEFT LoRA pairs (``lora_A.default`` rank × in, ``lora_B.default`` out × rank) over every block's targets."""
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for target, shape in shapes.items():
        parts = target.split(".")
        if parts[0] != "blocks" or parts[-1] != "weight" or ".".join(parts[2:-1]) not in LORA_TARGETS:
            continue
        module = target.removesuffix(".weight")
        for which, size in (("A", (rank, shape[1])), ("B", (shape[0], rank))):
            value = torch.empty(size, device="meta") if meta else torch.randn(size, generator=generator) * 0.1
            out[f"{prefix}{module}.lora_{which}.default.weight"] = value
    return out


def release_ckpt(
    shapes: Mapping[str, Any],
    seed: int,
    groups: Iterable[str] | Mapping[str, Mapping[str, torch.Tensor]] = animatex_ckpt.GROUPS,
    rank: int = 2,
) -> dict:
    """A release-style flat state dict: LoRA pairs over the DiT ``shapes`` (original names) and the module
    groups, either named (random tensors of arbitrary shape) or given as ``group → state dict``."""
    state = lora_state(shapes, rank, seed)
    tensors = groups if isinstance(groups, Mapping) else addition_state(seed + 1, groups)
    for group, values in tensors.items():
        state.update({f"{group}.{k}": v for k, v in values.items()})
    return state


def write_wan_dir(models: Mapping[str, torch.nn.Module], folder: Path) -> dict[str, torch.Tensor]:
    """``models`` (diffusers/transformers: transformer, vae, text_encoder, image_encoder) written as the
    Wan2.1-I2V repository's files into ``folder``; returns the DiT's original-layout state dict."""
    folder.mkdir(parents=True, exist_ok=True)
    dit_original = wan.dit_to_original(models["transformer"].state_dict())
    save_sharded_original(dit_original, folder)
    vae = {wan.vae_key_to_original(k): v for k, v in models["vae"].state_dict().items()}
    torch.save({"model_state": vae}, folder / "Wan2.1_VAE.pth")  # DiffSynth tolerates this wrapper
    torch.save(wan.t5_to_original(models["text_encoder"].state_dict()), folder / "models_t5_umt5-xxl-enc-bf16.pth")
    clip = wan.clip_to_original(models["image_encoder"].state_dict())  # the text tower and head, which are dropped
    clip.update({"textual.token_embedding.weight": torch.randn(5, 4), "log_scale": torch.tensor(4.6)})
    clip["visual.head"] = torch.randn(32, 16)
    torch.save(clip, folder / "models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth")
    return dit_original


def write_tokenizer(folder: Path, vocab_size: int = TOKENIZER_VOCAB) -> Path:
    """A tiny umT5-style tokenizer (Unigram over single characters, ``</s>`` appended; ids 0/1/2 = pad/eos/unk)
    under the release's file names, loadable offline with ``AutoTokenizer.from_pretrained(folder)``.

    ``spiece.model`` is a placeholder (the fast tokenizer reads ``tokenizer.json``; sentencepiece is not needed).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    folder.mkdir(parents=True, exist_ok=True)
    chars = "▁abcdefghijklmnopqrstuvwxyz.,"
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [(c, -1.0 - i / 100) for i, c in enumerate(chars)]
    pieces = pieces[:vocab_size]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=2, byte_fallback=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)]
    )
    tokenizer.save(str(folder / "tokenizer.json"))
    special = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}
    config = {"tokenizer_class": "T5TokenizerFast", "extra_ids": 0, "model_max_length": 512, **special}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "special_tokens_map.json").write_text(json.dumps(special))
    (folder / "spiece.model").write_bytes(b"placeholder: the tiny tokenizer is tokenizer.json")
    return folder


def tiny_component_configs(config: Any) -> dict[str, dict[str, Any]]:
    """Configs (``configs=`` of :meth:`~a2bench.animatex.pipeline.AnimateXPipeline.from_release`) whose shapes fit
    the preset ``config``: the VAE's latent width is the DiT's, CLIP's hidden width its ``image_dim``, umT5's
    width its ``text_dim``; with an IPI also the OpenCLIP file's key → shape table."""
    t = config.transformer
    out: dict[str, Any] = {
        "transformer": t.kwargs(),
        # Wan2.1's VAE structure (four stages, two residual blocks: what diffusers' converter assumes) at width 8.
        "vae": {"base_dim": 8, "z_dim": t.out_channels, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2},
        "text_encoder": {**wan.T5_XXL, "vocab_size": 100, "d_model": t.text_dim, "d_kv": 8, "d_ff": 64}
        | {"num_layers": 2, "num_heads": 4},
        "image_encoder": {**wan.CLIP_VIT_H, "hidden_size": t.image_dim, "intermediate_size": 32}
        | {"num_hidden_layers": 3, "num_attention_heads": 2, "image_size": 28, "projection_dim": 16},
    }
    if config.has_ipi:
        out["open_clip"] = {k: tuple(v.shape) for k, v in tiny_open_clip(config.open_clip.embed_dim).items()}
    return out


def tiny_open_clip(embed_dim: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """The state dict of an OpenCLIP ``CLIP`` with ViT-H-14's structure at tiny sizes (vision and text tower)."""
    open_clip = import_open_clip()
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(embed_dim, dict(TINY_OPEN_CLIP_VISION), dict(TINY_OPEN_CLIP_TEXT))
    return randomized(model, seed).state_dict()


def tiny_models(config: Any, seed: int = 0, configs: Mapping[str, Any] | None = None) -> dict[str, torch.nn.Module]:
    """Random reference models for every official file of the preset ``config`` (keys: ``transformer``, ``vae``,
    ``text_encoder``, ``image_encoder``, ``animatex`` (an :class:`~a2bench.animatex.transformer.AnimateXModel` whose
    pose encoders and IPI fill the release ckpt's module groups)). ``configs`` replaces
    :func:`tiny_component_configs` (e.g. another image size for Wan's CLIP)."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    configs = configs or tiny_component_configs(config)
    return {
        "transformer": randomized(WanTransformer3DModel(**configs["transformer"]), seed + 1),
        "vae": randomized(AutoencoderKLWan(**configs["vae"]), seed + 2),
        "text_encoder": randomized(UMT5EncoderModel(UMT5Config(**configs["text_encoder"])), seed + 3),
        "image_encoder": randomized(CLIPVisionModel(CLIPVisionConfig(**configs["image_encoder"])), seed + 4),
        "animatex": randomized(AnimateXModel(config), seed + 5),
    }


def write_release(
    root: Path, config: Any, seed: int = 0, rank: int = 2, configs: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Every file :meth:`~a2bench.animatex.pipeline.AnimateXPipeline.from_release` reads for the tiny preset ``config``,
    under its registered name inside ``root`` (lay it out as ``$A2BENCH_WEIGHTS``): the Wan folder with the
    tokenizer, ``animate-x++.ckpt`` (IPI presets) or ``animate-x++_simple.ckpt``, and with an IPI
    ``open_clip_pytorch_model.bin``.

    Returns the paths (``wan_dir``, ``checkpoint``, ``open_clip``, ``tokenizer``), the reference ``models``
    (:func:`tiny_models`), the checkpoint's state dict (``ckpt``) and ``configs`` (the component configs:
    ``configs`` when given, else :func:`tiny_component_configs`).
    """
    configs = configs or tiny_component_configs(config)
    models = tiny_models(config, seed, configs)
    wan_dir = root / registry.WAN_DIR
    dit_original = write_wan_dir(models, wan_dir)
    tokenizer = write_tokenizer(wan_dir / registry.TOKENIZER_SUBDIR)
    groups = {
        group: models["animatex"].get_submodule(attr).state_dict()
        for attr, group in MODULE_GROUPS.items()
        if config.has_ipi or not attr.startswith("ipi.")
    }
    shapes = {k: tuple(v.shape) for k, v in dit_original.items()}
    ckpt = release_ckpt(shapes, seed + 10, groups, rank=rank)
    checkpoint = root / (registry.CHECKPOINT_FULL if config.has_ipi else registry.CHECKPOINT_SIMPLE)
    torch.save(ckpt, checkpoint)
    open_clip = None
    if config.has_ipi:
        open_clip = root / registry.OPEN_CLIP
        torch.save(tiny_open_clip(config.open_clip.embed_dim, seed + 20), open_clip)
    return {
        "wan_dir": wan_dir,
        "checkpoint": checkpoint,
        "open_clip": open_clip,
        "tokenizer": tokenizer,
        "models": models,
        "ckpt": ckpt,
        "configs": configs,
    }


def random_poses(frames: int = 12, seed: int = 0, size: tuple[int, int] = (64, 64)) -> PoseSequence:
    """Random 130-point poses in [0.2, 0.8], all confident, with the first frame as the reference pose."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0.2, 0.8, (frames, 130, 2))
    points = np.concatenate([xy, np.ones((frames, 130, 1))], -1).astype(np.float32)
    return PoseSequence(points, size, Fraction(15), points[0], size)
