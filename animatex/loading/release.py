"""The official release as a pipeline's components: Wan2.1-I2V-14B-720P and the Animate-X++ checkpoint.

:func:`release_components` assembles them from the registered files (or the same layouts elsewhere) for
:meth:`AnimateXPipeline.from_release <a2bench.animatex.pipeline.AnimateXPipeline.from_release>`. It builds the
model classes, so it needs diffusers (the ``model`` extra); the rest of :mod:`a2bench.animatex.loading` does not.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from a2bench.animatex import weights as files
from a2bench.animatex.components import flow_scheduler
from a2bench.animatex.config import AnimateXConfig, get_preset
from a2bench.animatex.ipi import OpenCLIPFrameEncoder, sinusoid_table
from a2bench.animatex.loading.animatex_ckpt import MODULE_GROUPS, read_checkpoint
from a2bench.animatex.loading.openclip import read_open_clip
from a2bench.animatex.loading.wan import (
    load_image_encoder,
    load_text_encoder,
    load_transformer,
    load_vae,
    tokenizer_dir,
)
from a2bench.animatex.transformer import AnimateXModel


def _set_tensor(module: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    """Replace the buffer ``name`` (dotted) of ``module`` by ``tensor``, keeping its persistence."""
    owner, _, leaf = name.rpartition(".")
    target = module.get_submodule(owner) if owner else module
    target._buffers[leaf] = tensor


def release_model(
    config: AnimateXConfig, dtype: torch.dtype, wan_dir: Path | None, checkpoint: str | Path | None
) -> AnimateXModel:
    """The :class:`AnimateXModel` of ``config`` with the release's weights: Wan's DiT (shards of ``wan_dir`` or the
    registered ones) with the checkpoint's LoRA merged, in ``dtype``; the pose encoders and the IPI in fp32."""
    with torch.device("meta"):
        model = AnimateXModel(config)
    modules = {attr: group for attr, group in MODULE_GROUPS.items() if config.has_ipi or not attr.startswith("ipi.")}
    ipi_options = {}
    if config.has_ipi:
        ipi_options = {"ipi_layers": config.ipi.num_layers, "resampler_depth": config.ipi.depth}
    ckpt = read_checkpoint(
        checkpoint,
        variant="full" if config.has_ipi else "simple",
        transformer_config=config.transformer,
        expected={group: model.get_submodule(attr).state_dict() for attr, group in modules.items()},
        **ipi_options,
    )
    wan = load_transformer(wan_dir, config=config.transformer, dtype=dtype, device="cpu", lora=ckpt)
    model.transformer.load_state_dict(wan.state_dict(), strict=True, assign=True)
    for name, buffer in wan.named_buffers():  # non-persistent buffers (RoPE tables) are not in the state dict
        if model.transformer.get_buffer(name).is_meta:
            _set_tensor(model.transformer, name, buffer)
    del wan
    for attr, group in modules.items():
        state = dict(ckpt.groups[group])
        module = model.get_submodule(attr)
        for key, buffer in module.state_dict().items():  # buffers the checkpoint may lack (pos_table)
            if key not in state and not buffer.is_meta:
                state[key] = buffer
        if attr == "ipi.keypoint_encoder" and "pos_embed.pos_table" not in state:
            state["pos_embed.pos_table"] = sinusoid_table(config.ipi.max_frames, config.ipi.d_model)
        module.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
    still_meta = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if still_meta:
        raise RuntimeError(f"the release left {len(still_meta)} tensors unloaded: {', '.join(still_meta[:5])}")
    return model.eval()


def release_components(
    variant: str = "animatex",
    dtype: torch.dtype = torch.bfloat16,
    *,
    preset: str | AnimateXConfig | None = None,
    wan_dir: str | Path | None = None,
    checkpoint: str | Path | None = None,
    open_clip: str | Path | None = None,
    tokenizer: str | Path | None = None,
    configs: Mapping[str, Any] | None = None,
    open_clip_vision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """:class:`~a2bench.animatex.pipeline.AnimateXPipeline`'s keyword arguments with the official weights from the
    registry (``a2bench weights fetch --model animatex``): its components, ``model_config`` and ``compute_dtype``.

    The release's dtypes: DiT and umT5 in ``dtype`` (bf16), the VAE in ``dtype``, Wan's CLIP, OpenCLIP and
    the Animate-X++ modules in fp32. Raises :class:`~a2bench.core.weights.WeightsError` naming the fetch command
    when a file is missing.

    Everything else defaults to the release and the registry; the options exist to load the official
    *layouts* at other sizes (the tests' tiny random files, :mod:`a2bench.animatex.testing`):

    * ``preset``: the model config (a preset name or :class:`~a2bench.animatex.config.AnimateXConfig`; default: the
      preset ``variant``); its IPI decides between ``animate-x++.ckpt`` and ``animate-x++_simple.ckpt``;
    * ``wan_dir``: a Wan2.1-I2V folder in the original layout (DiT shards + index, ``Wan2.1_VAE.pth``, umT5 and
      CLIP ``.pth``, ``google/umt5-xxl``) instead of the registered files; ``checkpoint``: the Animate-X++
      ckpt; ``open_clip``: ``open_clip_pytorch_model.bin``; ``tokenizer``: the umT5 tokenizer folder;
    * ``configs``: component configs for the loaders, as :func:`a2bench.animatex.loading.convert` takes them
      (``vae``, ``text_encoder``, ``image_encoder``: model configs; ``open_clip``: the OpenCLIP file's
      key → shape table); the DiT's is always the preset's transformer;
    * ``open_clip_vision``: overrides of OpenCLIP's vision config for the IPI's frame encoder (``image_size``
      also sets the encoder's input size).
    """
    from transformers import AutoTokenizer

    config = preset if isinstance(preset, AnimateXConfig) else get_preset(preset or variant)
    configs = dict(configs or {})
    wan_dir = Path(wan_dir) if wan_dir is not None else None

    def wan_file(name: str) -> Path | None:  # the registered name's file inside wan_dir
        return wan_dir / Path(name).relative_to(files.WAN_DIR) if wan_dir is not None else None

    model = release_model(config, dtype, wan_dir, checkpoint)
    frame_encoder = None
    if config.has_ipi:
        vision = dict(open_clip_vision or {})
        clip_config = config.open_clip
        if "image_size" in vision:
            clip_config = dataclasses.replace(clip_config, image_size=vision.pop("image_size"))
        frame_encoder = OpenCLIPFrameEncoder(clip_config, vision_overrides=vision or None)
        frame_encoder.load_open_clip_state_dict(
            read_open_clip(open_clip, visual_only=True, expected=configs.get("open_clip"))
        )
    text_encoder = load_text_encoder(wan_file(files.TEXT_ENCODER), config=configs.get("text_encoder"), dtype=dtype)
    if tokenizer is None and wan_dir is not None:
        tokenizer = wan_dir / files.TOKENIZER_SUBDIR
    return {
        **model.parts(),
        "vae": load_vae(wan_file(files.VAE), config=configs.get("vae"), dtype=dtype),
        "text_encoder": text_encoder,
        "tokenizer": AutoTokenizer.from_pretrained(tokenizer_dir(tokenizer)),
        "image_encoder": load_image_encoder(
            wan_file(files.IMAGE_ENCODER), config=configs.get("image_encoder"), dtype=torch.float32
        ),
        "scheduler": flow_scheduler(config),
        "open_clip": frame_encoder,
        "model_config": config,
        "compute_dtype": dtype,
    }
