"""Wan2.1-I2V-14B-720P in its original layout → diffusers and transformers models.

=================  ======================================================  ===============================
file               model                                                   mapping
=================  ======================================================  ===============================
7 DiT shards       diffusers ``WanTransformer3DModel``                     :data:`DIT_GLOBAL`, :data:`DIT_BLOCK`
``Wan2.1_VAE.pth`` diffusers ``AutoencoderKLWan`` (default config)          diffusers' ``convert_wan_vae_to_diffusers``
umT5 ``.pth``      transformers ``UMT5EncoderModel``                        :data:`T5_GLOBAL`, :data:`T5_BLOCK`
CLIP ``.pth``      transformers ``CLIPVisionModel`` (``hidden_states[-2]``) :func:`convert_clip_state_dict`
=================  ======================================================  ===============================

Each converter accepts the original layout or the target library's own layout (a diffusers/transformers
checkpoint passes through), maps every key, and refuses a key it does not know; each ``load_*`` then checks the
result against the model built for the config (every key present, none extra, equal shapes) before assigning the
tensors to a model created without allocating (``accelerate.init_empty_weights``). The tables are facts about the
two layouts, written as data; their inverses (``*_to_original``) are exact and used by the tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from a2bench.animatex import weights as files
from a2bench.animatex.config import get_preset
from a2bench.animatex.loading.files import DType, cast, read_sharded, read_tensor_file, registered_path
from a2bench.animatex.loading.keys import CheckpointKeyError, check_state_dict
from a2bench.animatex.loading.lora import merge_lora

# ---------------------------------------------------------------------------------------------------- configs

TRANSFORMER_14B: dict[str, Any] = get_preset("animatex").transformer.kwargs()  # Wan2.1-I2V-14B-720P
VAE_WAN21: dict[str, Any] = {}  # AutoencoderKLWan's defaults are Wan2.1's VAE (base_dim 96, z_dim 16, ...)
T5_XXL: dict[str, Any] = {  # Wan's WanTextEncoder: umT5-XXL encoder, per-layer relative position bias
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
}
CLIP_VIT_H: dict[str, Any] = {  # the visual tower of Wan's open-clip-xlm-roberta-large-vit-huge-14
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
    "projection_dim": 1024,
}


def config_kwargs(config: Any) -> dict[str, Any]:
    """Keyword arguments from a dict or from an object with ``kwargs()`` (a2bench.animatex.config's dataclasses)."""
    if config is None:
        return {}
    if hasattr(config, "kwargs"):
        return dict(config.kwargs())
    return dict(config)


# ---------------------------------------------------------------------------------------------------- DiT table


def _expand(rows: tuple[tuple[str, str, str], ...]) -> dict[str, str]:
    """``(original module, diffusers module, params)`` rows → full parameter names; params: w, wb or "" (bare)."""
    out = {}
    for original, diffusers, params in rows:
        if not params:
            out[original] = diffusers
        for short, name in (("w", "weight"), ("b", "bias")):
            if short in params:
                out[f"{original}.{name}"] = f"{diffusers}.{name}"
    return out


# Keys outside the blocks, original → diffusers.
DIT_GLOBAL: dict[str, str] = _expand(
    (
        ("patch_embedding", "patch_embedding", "wb"),
        ("text_embedding.0", "condition_embedder.text_embedder.linear_1", "wb"),
        ("text_embedding.2", "condition_embedder.text_embedder.linear_2", "wb"),
        ("time_embedding.0", "condition_embedder.time_embedder.linear_1", "wb"),
        ("time_embedding.2", "condition_embedder.time_embedder.linear_2", "wb"),
        ("time_projection.1", "condition_embedder.time_proj", "wb"),
        ("img_emb.proj.0", "condition_embedder.image_embedder.norm1", "wb"),
        ("img_emb.proj.1", "condition_embedder.image_embedder.ff.net.0.proj", "wb"),
        ("img_emb.proj.3", "condition_embedder.image_embedder.ff.net.2", "wb"),
        ("img_emb.proj.4", "condition_embedder.image_embedder.norm2", "wb"),
        ("head.head", "proj_out", "wb"),
        ("head.modulation", "scale_shift_table", ""),
    )
)
# Keys of block N (``blocks.N.`` on both sides), original → diffusers. The affine LayerNorm before the
# cross-attention is ``norm3`` in the original and ``norm2`` in diffusers (the other two norms have no weights).
DIT_BLOCK: dict[str, str] = _expand(
    (
        ("modulation", "scale_shift_table", ""),
        ("self_attn.q", "attn1.to_q", "wb"),
        ("self_attn.k", "attn1.to_k", "wb"),
        ("self_attn.v", "attn1.to_v", "wb"),
        ("self_attn.o", "attn1.to_out.0", "wb"),
        ("self_attn.norm_q", "attn1.norm_q", "w"),
        ("self_attn.norm_k", "attn1.norm_k", "w"),
        ("cross_attn.q", "attn2.to_q", "wb"),
        ("cross_attn.k", "attn2.to_k", "wb"),
        ("cross_attn.v", "attn2.to_v", "wb"),
        ("cross_attn.o", "attn2.to_out.0", "wb"),
        ("cross_attn.k_img", "attn2.add_k_proj", "wb"),
        ("cross_attn.v_img", "attn2.add_v_proj", "wb"),
        ("cross_attn.norm_q", "attn2.norm_q", "w"),
        ("cross_attn.norm_k", "attn2.norm_k", "w"),
        ("cross_attn.norm_k_img", "attn2.norm_added_k", "w"),
        ("norm3", "norm2", "wb"),
        ("ffn.0", "ffn.net.0.proj", "wb"),
        ("ffn.2", "ffn.net.2", "wb"),
    )
)
_DIT_GLOBAL_INV = {v: k for k, v in DIT_GLOBAL.items()}
_DIT_BLOCK_INV = {v: k for k, v in DIT_BLOCK.items()}
_BLOCK = re.compile(r"blocks\.(\d+)\.(.+)")
ORIGINAL_PREFIX = "model.diffusion_model."  # ComfyUI-style single files carry it


def _map(key: str, global_table: Mapping[str, str], block_table: Mapping[str, str]) -> str | None:
    if key in global_table:
        return global_table[key]
    match = _BLOCK.fullmatch(key)
    if match and match.group(2) in block_table:
        return f"blocks.{match.group(1)}.{block_table[match.group(2)]}"
    return None


def dit_key_to_diffusers(key: str) -> str | None:
    """The diffusers name of an original-layout DiT key (None when the key is not one)."""
    return _map(key.removeprefix(ORIGINAL_PREFIX), DIT_GLOBAL, DIT_BLOCK)


def dit_key_to_original(key: str) -> str | None:
    """The original-layout name of a diffusers DiT key (None when the key is not one)."""
    return _map(key, _DIT_GLOBAL_INV, _DIT_BLOCK_INV)


def dit_to_original(state: Mapping[str, Any]) -> dict[str, Any]:
    """A diffusers DiT state dict in the original layout (exact inverse of :func:`convert_dit_state_dict`)."""
    out, unknown = {}, []
    for key, value in state.items():
        original = dit_key_to_original(key)
        if original is None:
            unknown.append(key)
        else:
            out[original] = value
    if unknown:
        raise CheckpointKeyError("diffusers DiT keys without an original name", unexpected=unknown)
    return out


def convert_dit_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """Original-layout (or diffusers-layout) DiT weights → diffusers ``WanTransformer3DModel`` names.

    A diffusers-layout dict (every key a diffusers DiT name) is returned as is. Otherwise every key must be an
    original-layout name (optionally under ``model.diffusion_model.``); the others are listed in the error.
    """
    if all(dit_key_to_original(k) is not None for k in state):
        return dict(state)
    out, unknown = {}, []
    for key, value in state.items():
        new = dit_key_to_diffusers(key)
        if new is None:
            unknown.append(key)
        elif new in out:
            raise CheckpointKeyError("DiT keys mapped twice", unexpected=[key])
        out[new] = value
    if unknown:
        raise CheckpointKeyError(
            "DiT checkpoint keys that are neither original Wan2.1 nor diffusers names", unexpected=unknown
        )
    return out


# ---------------------------------------------------------------------------------------------------- VAE


def convert_vae_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """``Wan2.1_VAE.pth`` keys (or diffusers ``AutoencoderKLWan`` keys) → diffusers names.

    Uses diffusers' own ``convert_wan_vae_to_diffusers``, which is exact for Wan2.1's VAE layout
    (``num_res_blocks=2``, four stages); keys it passes through unchanged are caught by the model check.
    """
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    if "encoder.conv_in.weight" in state:  # already diffusers
        return dict(state)
    return convert_wan_vae_to_diffusers(dict(state))


_VAE_RESIDUAL = {"norm1.gamma": "residual.0.gamma", "norm2.gamma": "residual.3.gamma"}
_VAE_RESIDUAL.update({f"conv{i}.{p}": f"residual.{2 if i == 1 else 6}.{p}" for i in (1, 2) for p in ("weight", "bias")})
_VAE_RESIDUAL.update({f"conv_shortcut.{p}": f"shortcut.{p}" for p in ("weight", "bias")})
_VAE_FIXED = {
    "encoder.conv_in": "encoder.conv1",
    "decoder.conv_in": "decoder.conv1",
    "encoder.norm_out": "encoder.head.0",
    "decoder.norm_out": "decoder.head.0",
    "encoder.conv_out": "encoder.head.2",
    "decoder.conv_out": "decoder.head.2",
    "quant_conv": "conv1",
    "post_quant_conv": "conv2",
}


def vae_key_to_original(key: str, num_res_blocks: int = 2) -> str:
    """The ``Wan2.1_VAE.pth`` name of a diffusers ``AutoencoderKLWan`` key (inverse of the conversion).

    The decoder's stage ``b`` holds ``num_res_blocks + 1`` residual blocks then (except the last stage) its
    upsampler, numbered consecutively in the original ``decoder.upsamples`` list.
    """
    module, _, param = key.rpartition(".")
    if module in _VAE_FIXED:
        return f"{_VAE_FIXED[module]}.{param}"
    parts = key.split(".")
    side = parts[0]
    if parts[1] == "mid_block":  # resnets.0 → middle.0, attentions.0 → middle.1, resnets.1 → middle.2
        index = 1 if parts[2] == "attentions" else 2 * int(parts[3])
        rest = ".".join(parts[4:])
        rest = _VAE_RESIDUAL.get(rest, rest) if parts[2] == "resnets" else rest
        return f"{side}.middle.{index}.{rest}"
    if parts[1] == "down_blocks":
        rest = ".".join(parts[3:])
        return f"encoder.downsamples.{parts[2]}.{_VAE_RESIDUAL.get(rest, rest)}"
    if parts[1] == "up_blocks":
        stage, per_stage = int(parts[2]), num_res_blocks + 2
        if parts[3] == "resnets":
            rest = ".".join(parts[5:])
            return f"decoder.upsamples.{stage * per_stage + int(parts[4])}.{_VAE_RESIDUAL.get(rest, rest)}"
        if parts[3] == "upsamplers":
            return f"decoder.upsamples.{stage * per_stage + num_res_blocks + 1}.{'.'.join(parts[5:])}"
    raise CheckpointKeyError("VAE key without an original name", unexpected=[key])


# ---------------------------------------------------------------------------------------------------- umT5

T5_GLOBAL: dict[str, tuple[str, ...]] = {
    "token_embedding.weight": ("shared.weight", "encoder.embed_tokens.weight"),  # tied in transformers
    "norm.weight": ("encoder.final_layer_norm.weight",),
}
T5_BLOCK: dict[str, str] = {  # blocks.N. → encoder.block.N.
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",  # the GELU branch
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",  # the linear branch
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}
_T5_BLOCK_INV = {v: k for k, v in T5_BLOCK.items()}
_T5_HF_BLOCK = re.compile(r"encoder\.block\.(\d+)\.(.+)")


def convert_t5_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """``models_t5_umt5-xxl-enc-bf16.pth`` keys (or transformers keys) → ``UMT5EncoderModel`` names."""
    if "shared.weight" in state or "encoder.embed_tokens.weight" in state:  # already transformers
        out = dict(state)
        out.setdefault("shared.weight", out.get("encoder.embed_tokens.weight"))
        out.setdefault("encoder.embed_tokens.weight", out["shared.weight"])
        return out
    out, unknown = {}, []
    for key, value in state.items():
        if key in T5_GLOBAL:
            out.update(dict.fromkeys(T5_GLOBAL[key], value))
            continue
        match = _BLOCK.fullmatch(key)
        if match and match.group(2) in T5_BLOCK:
            out[f"encoder.block.{match.group(1)}.{T5_BLOCK[match.group(2)]}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointKeyError("umT5 checkpoint keys that are not Wan's WanTextEncoder names", unexpected=unknown)
    return out


def t5_to_original(state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``UMT5EncoderModel`` state dict in Wan's original layout (inverse of :func:`convert_t5_state_dict`)."""
    out = {}
    for key, value in state.items():
        if key == "encoder.embed_tokens.weight":
            continue  # tied to shared.weight
        if key == "shared.weight":
            out["token_embedding.weight"] = value
        elif key == "encoder.final_layer_norm.weight":
            out["norm.weight"] = value
        else:
            match = _T5_HF_BLOCK.fullmatch(key)
            if not match or match.group(2) not in _T5_BLOCK_INV:
                raise CheckpointKeyError("umT5 keys without an original name", unexpected=[key])
            out[f"blocks.{match.group(1)}.{_T5_BLOCK_INV[match.group(2)]}"] = value
    return out


# ---------------------------------------------------------------------------------------------------- CLIP

CLIP_GLOBAL: dict[str, str] = {  # visual.* → CLIPVisionModel (without its ``vision_model.`` prefix)
    "visual.patch_embedding.weight": "embeddings.patch_embedding.weight",
    "visual.cls_embedding": "embeddings.class_embedding",  # (1, 1, D) → (D,)
    "visual.pos_embedding": "embeddings.position_embedding.weight",  # (1, N, D) → (N, D)
    "visual.pre_norm.weight": "pre_layrnorm.weight",
    "visual.pre_norm.bias": "pre_layrnorm.bias",
    "visual.post_norm.weight": "post_layernorm.weight",
    "visual.post_norm.bias": "post_layernorm.bias",
}
CLIP_LAYER: dict[str, str] = {  # visual.transformer.N. → encoder.layers.N.; attn.to_qkv is split q, k, v
    "norm1.weight": "layer_norm1.weight",
    "norm1.bias": "layer_norm1.bias",
    "attn.proj.weight": "self_attn.out_proj.weight",
    "attn.proj.bias": "self_attn.out_proj.bias",
    "norm2.weight": "layer_norm2.weight",
    "norm2.bias": "layer_norm2.bias",
    "mlp.0.weight": "mlp.fc1.weight",
    "mlp.0.bias": "mlp.fc1.bias",
    "mlp.2.weight": "mlp.fc2.weight",
    "mlp.2.bias": "mlp.fc2.bias",
}
# In the file, not in CLIPVisionModel: the XLM-RoBERTa text tower, the contrastive logit scale and the visual
# projection (``visual.head``, used neither by Wan's image conditioning, which takes hidden_states[-2], nor here).
CLIP_DROPPED_PREFIXES = ("textual.",)
HF_PROJECTION = "visual_projection."  # CLIPVisionModelWithProjection's, likewise unused
CLIP_DROPPED = ("log_scale", "visual.head")
_CLIP_LAYER_INV = {v: k for k, v in CLIP_LAYER.items()}
_CLIP_ORIGINAL_LAYER = re.compile(r"visual\.transformer\.(\d+)\.(.+)")
_CLIP_HF_LAYER = re.compile(r"encoder\.layers\.(\d+)\.(.+)")
_QKV = re.compile(r"self_attn\.([qkv])_proj\.(weight|bias)")


def convert_clip_state_dict(state: Mapping[str, Any]) -> dict[str, Any]:
    """Wan's CLIP ``.pth`` (or a ``CLIPVisionModel`` state dict) → ``CLIPVisionModel`` names, unprefixed.

    The text tower, ``log_scale`` and ``visual.head`` are dropped (see :data:`CLIP_DROPPED`); every other key
    must be a visual-tower name.
    """
    if any(k.startswith(("vision_model.", "embeddings.")) for k in state):  # already transformers
        return {k.removeprefix("vision_model."): v for k, v in state.items() if not k.startswith(HF_PROJECTION)}
    out, unknown = {}, []
    for key, value in state.items():
        if key.startswith(CLIP_DROPPED_PREFIXES) or key in CLIP_DROPPED:
            continue
        if key in CLIP_GLOBAL:
            new = CLIP_GLOBAL[key]
            if key == "visual.cls_embedding":
                value = value.reshape(value.shape[-1])
            elif key == "visual.pos_embedding":
                value = value.reshape(value.shape[-2], value.shape[-1])
            out[new] = value
            continue
        match = _CLIP_ORIGINAL_LAYER.fullmatch(key)
        if not match:
            unknown.append(key)
            continue
        prefix, rest = f"encoder.layers.{match.group(1)}.", match.group(2)
        if rest in ("attn.to_qkv.weight", "attn.to_qkv.bias"):
            param = rest.rpartition(".")[2]
            for name, part in zip("qkv", value.chunk(3, dim=0), strict=True):
                out[f"{prefix}self_attn.{name}_proj.{param}"] = part
        elif rest in CLIP_LAYER:
            out[prefix + CLIP_LAYER[rest]] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointKeyError("CLIP checkpoint keys that are not Wan's CLIP visual-tower names", unexpected=unknown)
    return out


def clip_to_original(state: Mapping[str, Any]) -> dict[str, Any]:
    """A ``CLIPVisionModel`` state dict in Wan's original ``visual.*`` layout (q, k, v concatenated)."""
    inverse = {v: k for k, v in CLIP_GLOBAL.items()}
    out, qkv = {}, {}
    for key, value in state.items():
        key = key.removeprefix("vision_model.")
        if key == "embeddings.class_embedding":
            out[inverse[key]] = value.reshape(1, 1, -1)
        elif key == "embeddings.position_embedding.weight":
            out[inverse[key]] = value.unsqueeze(0)
        elif key in inverse:
            out[inverse[key]] = value
        else:
            match = _CLIP_HF_LAYER.fullmatch(key)
            if not match:
                raise CheckpointKeyError("CLIP keys without an original name", unexpected=[key])
            prefix, rest = f"visual.transformer.{match.group(1)}.", match.group(2)
            split = _QKV.fullmatch(rest)
            if split:
                qkv.setdefault(f"{prefix}attn.to_qkv.{split.group(2)}", {})[split.group(1)] = value
            elif rest in _CLIP_LAYER_INV:
                out[prefix + _CLIP_LAYER_INV[rest]] = value
            else:
                raise CheckpointKeyError("CLIP keys without an original name", unexpected=[key])
    for key, parts in qkv.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


# ---------------------------------------------------------------------------------------------------- models


def empty_transformer(config: Any = None):
    """A ``WanTransformer3DModel`` with meta parameters (no memory; buffers are real)."""
    from accelerate import init_empty_weights
    from diffusers import WanTransformer3DModel

    with init_empty_weights():
        return WanTransformer3DModel(**(config_kwargs(config) or TRANSFORMER_14B))


def empty_vae(config: Any = None):
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKLWan

    with init_empty_weights():
        return AutoencoderKLWan(**config_kwargs(config if config is not None else VAE_WAN21))


def empty_text_encoder(config: Any = None):
    from accelerate import init_empty_weights
    from transformers import UMT5Config, UMT5EncoderModel

    with init_empty_weights():
        return UMT5EncoderModel(UMT5Config(**(config_kwargs(config) or T5_XXL)))


def empty_image_encoder(config: Any = None):
    from accelerate import init_empty_weights
    from transformers import CLIPVisionConfig, CLIPVisionModel

    with init_empty_weights():
        return CLIPVisionModel(CLIPVisionConfig(**(config_kwargs(config) or CLIP_VIT_H)))


_LOW = (torch.float16, torch.bfloat16)


def _keeps_fp32(key: str, modules: tuple[str, ...]) -> bool:
    """diffusers' rule for ``_keep_in_fp32_modules``: a module name among the key's dotted parts."""
    parts = key.split(".")
    return any(m in parts for m in modules)


def materialize(
    model: torch.nn.Module,
    state: Mapping[str, torch.Tensor],
    what: str,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
    keep_fp32: tuple[str, ...] = (),
) -> torch.nn.Module:
    """Check ``state`` against ``model``'s keys and shapes, then assign its tensors (cast to ``dtype``).

    Parameters of modules named in ``keep_fp32`` stay float32 when ``dtype`` is a 16-bit type (diffusers'
    ``_keep_in_fp32_modules`` behaviour). Returns the model in eval mode.
    """
    check_state_dict(state, model.state_dict(), what)
    low = dtype in _LOW
    ready = {}
    for key, value in state.items():
        target = torch.float32 if low and keep_fp32 and _keeps_fp32(key, keep_fp32) else dtype
        value = cast(value, target)
        ready[key] = value.to(device) if device is not None else value
    model.load_state_dict(ready, strict=True, assign=True)
    if device is not None:
        model.to(device)  # the non-persistent buffers (RoPE tables, position ids)
    return model.eval()


def _path(path: str | Path | None, name: str) -> Path:
    return Path(path) if path is not None else registered_path(name)


def read_dit(path: str | Path | None = None, dtype: DType = None) -> dict[str, torch.Tensor]:
    """The DiT weights in diffusers names, from the registered shards or ``path``.

    ``path``: a folder with one ``*.safetensors.index.json`` (original or diffusers layout), the index, or a
    single safetensors/``.pth`` file. Tensors are cast to ``dtype`` while read; a callable ``dtype`` gets the
    diffusers name of each key.
    """
    if callable(dtype):
        chosen = dtype

        def dtype(key: str) -> torch.dtype | None:
            return chosen(dit_key_to_diffusers(key) or key)

    if path is None:
        shards = {Path(name).name: registered_path(name) for name in files.DIT_SHARDS}
        state = read_sharded(registered_path(files.DIT_INDEX), dtype, shards)
    else:
        state = read_tensor_file(path, dtype, "DiT checkpoint")
    return convert_dit_state_dict(state)


def load_transformer(
    path: str | Path | None = None,
    *,
    config: Any = None,
    dtype: torch.dtype = torch.bfloat16,
    device: torch.device | str | None = None,
    keep_fp32: bool = True,
    state: Mapping[str, torch.Tensor] | None = None,
    lora: Any = None,
    lora_scale: float = 1.0,
):
    """A ``WanTransformer3DModel`` with the Wan2.1-I2V-14B-720P weights (registered shards, ``path``, or
    ``state`` in either layout).

    ``lora``: an :class:`~a2bench.animatex.loading.animatex_ckpt.AnimateXCheckpoint` or its ``.lora`` mapping, merged
    before the weights are assigned as ``W + lora_scale · B @ A`` (the release: scale 1.0, see
    :func:`~a2bench.animatex.loading.lora.merge_lora`). ``keep_fp32`` keeps diffusers'
    ``_keep_in_fp32_modules`` (norms, modulation tables, time embedder) in float32 as ``from_pretrained`` does;
    the release runs everything in bfloat16.
    """
    model = empty_transformer(config)
    modules = tuple(model._keep_in_fp32_modules or ()) if keep_fp32 else ()
    if state is None:  # the kept modules are read at full precision, the rest cast while read

        def per_key(key: str) -> torch.dtype:
            return torch.float32 if _keeps_fp32(key, modules) and dtype in _LOW else dtype

        state = read_dit(path, per_key)
    else:
        state = convert_dit_state_dict(state)
    if lora is not None:
        state = dict(state)
        merge_lora(state, getattr(lora, "lora", lora), lora_scale)
    return materialize(model, state, "Wan DiT → WanTransformer3DModel", dtype=dtype, device=device, keep_fp32=modules)


def load_vae(
    path: str | Path | None = None,
    *,
    config: Any = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
):
    """An ``AutoencoderKLWan`` with ``Wan2.1_VAE.pth`` (registered, ``path`` or ``state``; ``model_state``
    unwrapped). The release runs the VAE in bfloat16."""
    if state is None:
        state = read_tensor_file(_path(path, files.VAE), what="VAE checkpoint")
    state = convert_vae_state_dict(state)
    return materialize(empty_vae(config), state, "Wan VAE → AutoencoderKLWan", dtype=dtype, device=device)


def load_text_encoder(
    path: str | Path | None = None,
    *,
    config: Any = None,
    dtype: torch.dtype = torch.bfloat16,
    device: torch.device | str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
):
    """A ``UMT5EncoderModel`` with ``models_t5_umt5-xxl-enc-bf16.pth`` (registered, ``path`` or ``state``; the
    release runs it in bfloat16)."""
    if state is None:
        state = read_tensor_file(_path(path, files.TEXT_ENCODER), what="umT5 checkpoint")
    state = convert_t5_state_dict(state)
    model = materialize(empty_text_encoder(config), state, "Wan umT5 → UMT5EncoderModel", dtype=dtype, device=device)
    model.encoder.embed_tokens = model.shared  # one embedding, as transformers ties them
    return model


def load_image_encoder(
    path: str | Path | None = None,
    *,
    config: Any = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    state: Mapping[str, torch.Tensor] | None = None,
):
    """A ``CLIPVisionModel`` with the visual tower of Wan's CLIP (registered, ``path`` or ``state``; the release
    runs it in float32).

    Wan's image conditioning is ``model(pixel_values, output_hidden_states=True).hidden_states[-2]``.
    """
    model = empty_image_encoder(config)
    if state is None:
        state = read_tensor_file(_path(path, files.IMAGE_ENCODER), what="CLIP checkpoint")
    state = convert_clip_state_dict(state)
    if any(k.startswith("vision_model.") for k in model.state_dict()):  # transformers versions that keep the prefix
        state = {f"vision_model.{k}": v for k, v in state.items()}
    return materialize(model, state, "Wan CLIP → CLIPVisionModel", dtype=dtype, device=device)


def tokenizer_dir(path: str | Path | None = None) -> Path:
    """The umT5 tokenizer folder (``<Wan dir>/google/umt5-xxl``) for ``AutoTokenizer.from_pretrained``."""
    if path is not None:
        return Path(path)
    located = [registered_path(name) for name in files.TOKENIZER_FILES]
    return located[0].parent
