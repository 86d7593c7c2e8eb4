"""``open_clip_pytorch_model.bin``: the OpenCLIP ViT-H-14 the Implicit Pose Indicator encodes frames with.

The release builds ``open_clip.create_model_and_transforms("ViT-H-14", pretrained=<this file>)``, deletes the
text tower and calls ``encode_image`` (pooled, projected: 1024 per frame). The file is a plain OpenCLIP state
dict (the laion2b_s32b_b79k weights, by its sha256). Here it is read with ``weights_only=True`` and its keys
and shapes are checked against open_clip's own ViT-H-14 (built on the meta device) when ``open_clip`` is
importable, else against :func:`vit_h_14_shapes`, the same table written as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from a2bench.animatex import weights as files
from a2bench.animatex.loading.files import read_pickle, registered_path
from a2bench.animatex.loading.keys import check_state_dict, shape_of

MODEL_NAME = "ViT-H-14"


def vit_h_14_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of OpenCLIP's ViT-H-14 state dict with its shape (visual: width 1280, 32 layers, patch 14,
    224 px, output 1024; text: width 1024, 24 layers, 77 tokens, vocabulary 49408)."""
    out: dict[str, tuple[int, ...]] = {
        "visual.class_embedding": (1280,),
        "visual.positional_embedding": (257, 1280),
        "visual.proj": (1280, 1024),
        "visual.conv1.weight": (1280, 3, 14, 14),
        "visual.ln_pre.weight": (1280,),
        "visual.ln_pre.bias": (1280,),
        "visual.ln_post.weight": (1280,),
        "visual.ln_post.bias": (1280,),
        "positional_embedding": (77, 1024),
        "text_projection": (1024, 1024),
        "logit_scale": (),
        "token_embedding.weight": (49408, 1024),
        "ln_final.weight": (1024,),
        "ln_final.bias": (1024,),
    }
    for prefix, width, layers in (("visual.transformer", 1280, 32), ("transformer", 1024, 24)):
        for i in range(layers):
            block = f"{prefix}.resblocks.{i}"
            out.update(
                {
                    f"{block}.ln_1.weight": (width,),
                    f"{block}.ln_1.bias": (width,),
                    f"{block}.attn.in_proj_weight": (3 * width, width),
                    f"{block}.attn.in_proj_bias": (3 * width,),
                    f"{block}.attn.out_proj.weight": (width, width),
                    f"{block}.attn.out_proj.bias": (width,),
                    f"{block}.ln_2.weight": (width,),
                    f"{block}.ln_2.bias": (width,),
                    f"{block}.mlp.c_fc.weight": (4 * width, width),
                    f"{block}.mlp.c_fc.bias": (4 * width,),
                    f"{block}.mlp.c_proj.weight": (width, 4 * width),
                    f"{block}.mlp.c_proj.bias": (width,),
                }
            )
    return out


def open_clip_shapes(model_name: str = MODEL_NAME) -> dict[str, tuple[int, ...]]:
    """The key shapes of open_clip's ``model_name`` (meta device, no memory); the built-in table without it."""
    try:
        import open_clip
        from accelerate import init_empty_weights
    except ImportError:
        if model_name != MODEL_NAME:
            raise
        return vit_h_14_shapes()
    with init_empty_weights():
        model = open_clip.create_model(model_name, pretrained=None, load_weights=False, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def open_clip_path(path: str | Path | None = None) -> Path:
    """The OpenCLIP checkpoint: ``path``, or the registered ``open_clip_pytorch_model.bin`` (hash-checked)."""
    return Path(path) if path is not None else registered_path(files.OPEN_CLIP)


def read_open_clip(
    path: str | Path | None = None,
    *,
    visual_only: bool = False,
    expected: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The OpenCLIP state dict, every key checked (``expected``: key → shape; default open_clip's ViT-H-14).

    ``visual_only`` keeps the ``visual.*`` keys (the release deletes the text tower after loading).
    """
    path = open_clip_path(path)
    state = read_pickle(path, "OpenCLIP checkpoint")
    check_state_dict(state, expected if expected is not None else open_clip_shapes(), f"OpenCLIP checkpoint {path}")
    if visual_only:
        state = {k: v for k, v in state.items() if k.startswith("visual.")}
    return state


def visual_shapes(expected: Mapping[str, Any] | None = None) -> dict[str, tuple[int, ...]]:
    """The ``visual.*`` part of ``expected`` (default: ViT-H-14)."""
    table = expected if expected is not None else open_clip_shapes()
    return {k: shape_of(v) for k, v in table.items() if k.startswith("visual.")}
