"""Loading Animate-X++ and Wan2.1 weights from the official files (safe readers, key maps, bundles).

=========================================  ====================================================================
function                                   what
=========================================  ====================================================================
:func:`load_transformer`                   Wan DiT (7 original-layout shards or diffusers layout) → diffusers
                                           ``WanTransformer3DModel``, optionally with the release's LoRA merged
:func:`load_vae`                           ``Wan2.1_VAE.pth`` → ``AutoencoderKLWan``
:func:`load_text_encoder`                  ``models_t5_umt5-xxl-enc-bf16.pth`` → ``UMT5EncoderModel``
:func:`load_image_encoder`                 Wan's CLIP ``.pth`` → ``CLIPVisionModel`` (use ``hidden_states[-2]``)
:func:`tokenizer_dir`                      the umT5 tokenizer folder for ``AutoTokenizer.from_pretrained``
:func:`read_checkpoint`                    ``animate-x++(_simple).ckpt`` → LoRA pairs (diffusers names) and one
                                           state dict per Animate-X++ module
:func:`merge_lora`                         ``W ← W + scale · B @ A`` (release: scale 1.0, no rank division)
:func:`read_open_clip`                     ``open_clip_pytorch_model.bin``, keys checked against ViT-H-14
:func:`convert` / :func:`load_bundle`      one safetensors file per variant in library names, and reading it back
=========================================  ====================================================================

With no path, each reads its registered file (:mod:`a2bench.animatex.weights`): located in ``$A2BENCH_WEIGHTS`` and
hash-checked, or a :class:`~a2bench.core.weights.WeightsError` naming ``a2bench weights fetch <file>``. Every key of a
file is mapped; unknown, missing or wrongly shaped keys raise :class:`CheckpointKeyError` (a ``WeightsError``)
listing them. Loading is safe: safetensors, or ``torch.load(weights_only=True)``.
"""

from a2bench.animatex.loading.animatex_ckpt import (
    GROUPS,
    AnimateXCheckpoint,
    addition_keys,
    read_checkpoint,
    split_state_dict,
    summary,
)
from a2bench.animatex.loading.bundle import Bundle, convert, load_bundle, read_metadata
from a2bench.animatex.loading.keys import CheckpointKeyError, check_state_dict
from a2bench.animatex.loading.lora import RELEASE_LORA_SCALE, LoraPair, lora_adapter_state_dict, merge_lora
from a2bench.animatex.loading.openclip import read_open_clip
from a2bench.animatex.loading.wan import (
    CLIP_VIT_H,
    T5_XXL,
    TRANSFORMER_14B,
    load_image_encoder,
    load_text_encoder,
    load_transformer,
    load_vae,
    read_dit,
    tokenizer_dir,
)

__all__ = [
    "CLIP_VIT_H",
    "GROUPS",
    "RELEASE_LORA_SCALE",
    "T5_XXL",
    "TRANSFORMER_14B",
    "AnimateXCheckpoint",
    "Bundle",
    "CheckpointKeyError",
    "LoraPair",
    "addition_keys",
    "check_state_dict",
    "convert",
    "load_bundle",
    "load_image_encoder",
    "load_text_encoder",
    "load_transformer",
    "load_vae",
    "lora_adapter_state_dict",
    "merge_lora",
    "read_checkpoint",
    "read_dit",
    "read_metadata",
    "read_open_clip",
    "split_state_dict",
    "summary",
    "tokenizer_dir",
]
