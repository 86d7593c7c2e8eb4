"""The Implicit Pose Indicator (IPI) of Animate-X++ (full model only) and its OpenCLIP frame encoder.

Per video, before the denoising loop: the driving video's body keypoints and its RGB frames give one
DiT-width vector per latent frame, which :class:`~a2bench.animatex.transformer.AnimateXTransformer` adds to every
token of that latent frame before each block of ``ipi_blocks`` (2…20 of 40), in both CFG branches.

1. :class:`KeypointEncoder` (release ``DwposeEncoder``, ``pose_embedding_before``): per frame the 18
   OpenPose body points as 36 numbers ``[x0..x17, y0..y17]`` (normalised by the frame size, ``-1`` for a
   missing point) → Linear(36 → 512) → Linear(512 → 1024) (no activation between) → plus sinusoidal frame
   positions → 3 post-norm transformer-encoder layers over the frames (8 heads, FFN 1024, ReLU, dropout
   0.1) → Linear–SiLU–Linear with the last Linear zero-initialised. One "pose query" per frame.
2. :class:`PoseResampler` (release ``Resampler``, ``pose_embedding_after``): the merged query (a
   learnable vector + the pose query) attends, frame by frame, to that frame's OpenCLIP ViT-H-14 image
   embedding (Perceiver attention: keys/values are the image token and the query itself; 8 layers of
   attention + FFN), then Linear + LayerNorm, a Conv1d with the 81 frames as channels → 21 latent frames
   (its kernel of 3 slides along the feature axis, as in the release), and a zero-initialised Linear to the
   DiT width.
3. :class:`OpenCLIPFrameEncoder`: the per-frame image embeddings (OpenCLIP ``encode_image``: pooled,
   projected, 1024-d for ViT-H-14). The IPI takes them precomputed, ``(B, T, 1024)``.

State-dict keys (this module under ``ipi.`` in :class:`~a2bench.animatex.transformer.AnimateXModel` ↔ the release;
the suffixes are the release's, so the mapping is a prefix rename):

========================================================  ==============================================
here                                                      release
========================================================  ==============================================
``ipi.keypoint_encoder.<suffix>``                          ``pose_embedding_before.<suffix>`` (45 tensors)
``ipi.resampler.<suffix>``                                 ``pose_embedding_after.<suffix>`` (99 tensors)
========================================================  ==============================================

``keypoint_encoder`` suffixes: ``increase_embed_dim.{0,1}.{weight,bias}``, ``pos_embed.pos_table``
(persistent buffer ``(1, 330, 1024)``, a deterministic table :func:`sinusoid_table` rebuilds),
``encoder.layers.{0,1,2}.self_attn.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias}``,
``encoder.layers.{0,1,2}.{linear1,linear2,norm1,norm2}.{weight,bias}``,
``pre_image_condition_p.{0,2}.{weight,bias}``.

``resampler`` suffixes: ``latents`` (1, 1, 1024), ``proj_in``, ``proj_out``, ``norm_out``,
``proj_out2`` (5120, 1024), ``proj_conv`` (21, 81, 3) (each ``.{weight,bias}``), and for ``i`` in 0..7
``layers.i.0.{norm1,norm2}.{weight,bias}``, ``layers.i.0.{to_q,to_kv,to_out}.weight`` (no biases),
``layers.i.1.0.{weight,bias}`` (LayerNorm), ``layers.i.1.1.weight``, ``layers.i.1.3.weight`` (FFN, no biases).

Dropout: the release never puts these modules in eval mode, so the keypoint encoder's dropout (p = 0.1,
unseeded) is live at its inference and its IPI output is random from run to run. Here eval mode is
deterministic; ``IPIConfig(release_dropout=True)`` keeps that dropout on in eval mode (global torch RNG).
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from diffusers import ModelMixin
from torch import nn

from a2bench.animatex.config import CLIP_MEAN, CLIP_STD, IPIConfig, OpenCLIPConfig

NUM_BODY_POINTS = 18
OPEN_CLIP_PACKAGE = "open_clip_torch"
OPEN_CLIP_PIN = "open_clip_torch==3.3.0"


def keypoint_features(points: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Body keypoints ``(..., K, C)`` (``K >= 18`` in OpenPose order, ``C >= 2``: x, y[, score]) → ``(..., 36)``.

    Takes the 18 body points' x and y (a2bench's 130-point layout starts with them) and lays them out as the
    release does, ``[x0..x17, y0..y17]``. Missing points keep their ``-1``.
    """
    points = torch.as_tensor(points)
    if points.ndim < 2 or points.shape[-2] < NUM_BODY_POINTS or points.shape[-1] < 2:
        raise ValueError(
            f"keypoints must be (..., K >= {NUM_BODY_POINTS}, C >= 2) with x, y last; got {tuple(points.shape)} "
            "(the release's (..., 2, 18) layout: transpose it first)"
        )
    return points[..., :NUM_BODY_POINTS, :2].transpose(-1, -2).flatten(-2)


def sinusoid_table(length: int, dim: int) -> torch.Tensor:
    """``(1, length, dim)`` float32: ``p / 10000^(2·(j // 2) / dim)``, sine on even ``j``, cosine on odd ``j``."""
    position = torch.arange(length, dtype=torch.float64)[:, None]
    index = torch.arange(dim, dtype=torch.float64)
    angle = position / torch.pow(10000.0, 2 * torch.div(index, 2, rounding_mode="floor") / dim)
    table = torch.where(index.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float().unsqueeze(0)


class FramePositions(nn.Module):
    """The sinusoidal frame-position table as the persistent buffer ``pos_table`` (release ``pos_embed``)."""

    def __init__(self, dim: int, length: int) -> None:
        super().__init__()
        self.register_buffer("pos_table", sinusoid_table(length, dim))

    def forward(self, frames: int) -> torch.Tensor:
        if frames > self.pos_table.shape[1]:
            raise ValueError(f"{frames} frames but the position table has {self.pos_table.shape[1]} rows")
        return self.pos_table[:, :frames]


class KeypointEncoder(nn.Module):
    """Per-frame body keypoints ``(B, T, 36)`` → pose queries ``(B, T, d_model)`` (release ``DwposeEncoder``).

    The transformer is PyTorch's post-norm ``nn.TransformerEncoderLayer`` (self-attention over the ``T``
    frames, ReLU FFN, dropout in the same four places as the release's DETR-style layer), its weight
    matrices xavier-uniform initialised as the release does; the positions are added once, at its input.
    """

    def __init__(self, config: IPIConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.increase_embed_dim = nn.Sequential(nn.Linear(config.keypoint_dim, d // 2), nn.Linear(d // 2, d))
        self.pos_embed = FramePositions(d, config.max_frames)
        layer = nn.TransformerEncoderLayer(
            d, config.nhead, config.dim_feedforward, config.dropout, activation="relu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        for p in self.encoder.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        self.pre_image_condition_p = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        nn.init.zeros_(self.pre_image_condition_p[-1].weight)
        nn.init.zeros_(self.pre_image_condition_p[-1].bias)

    def train(self, mode: bool = True) -> KeypointEncoder:
        super().train(mode)
        if self.config.release_dropout:
            self.encoder.train(True)  # the release's inference: dropout live (its LayerNorms/Linears are unaffected)
        return self

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        x = self.increase_embed_dim(keypoints)
        x = x + self.pos_embed(x.shape[1]).to(x.dtype)
        return self.pre_image_condition_p(self.encoder(x))


class PerceiverAttention(nn.Module):
    """Queries ``(N, n, dim)`` attend to ``[context; queries]`` (both LayerNorm-ed); no biases; fp32 softmax."""

    def __init__(self, dim: int, dim_head: int, heads: int) -> None:
        super().__init__()
        self.dim_head, self.heads = dim_head, heads
        inner = dim_head * heads
        self.norm1 = nn.LayerNorm(dim)  # context (the image features)
        self.norm2 = nn.LayerNorm(dim)  # queries
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, 2 * inner, bias=False)
        self.to_out = nn.Linear(inner, dim, bias=False)

    def forward(self, context: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        context, queries = self.norm1(context), self.norm2(queries)
        n, length, _ = queries.shape
        q = self.to_q(queries)
        k, v = self.to_kv(torch.cat([context, queries], dim=1)).chunk(2, dim=-1)
        q, k, v = (t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2) for t in (q, k, v))
        scale = self.dim_head**-0.25  # on both q and k: 1/sqrt(dim_head) overall, steadier in half precision
        scores = (q * scale) @ (k * scale).transpose(-2, -1)
        weights = torch.softmax(scores.float(), dim=-1).to(scores.dtype)
        out = (weights @ v).transpose(1, 2).reshape(n, length, -1)
        return self.to_out(out)


def _feed_forward(dim: int, mult: int) -> nn.Sequential:
    return nn.Sequential(
        nn.LayerNorm(dim),
        nn.Linear(dim, dim * mult, bias=False),
        nn.GELU(),
        nn.Linear(dim * mult, dim, bias=False),
    )


class PoseResampler(nn.Module):
    """Pose queries + per-frame image features → one DiT-width vector per latent frame (release ``Resampler``).

    ``forward(clip_features (B, T, clip_dim), pose_queries (B, T, dim)) -> (B, latent_frames, out_dim)`` with
    ``T = num_frames`` (81: the Conv1d is fixed to it). Attention is per frame (frames are the batch); the
    frames mix only in the keypoint encoder and in the Conv1d. ``proj_out2`` is zero-initialised, so a fresh
    IPI outputs zeros.
    """

    def __init__(self, config: IPIConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.latents = nn.Parameter(torch.randn(1, 1, dim) / dim**0.5)
        self.proj_in = nn.Linear(config.clip_dim, dim)
        self.proj_out = nn.Linear(dim, config.output_dim)
        self.norm_out = nn.LayerNorm(config.output_dim)
        self.proj_out2 = nn.Linear(config.output_dim, config.out_dim)
        self.proj_conv = nn.Conv1d(config.num_frames, config.latent_frames, kernel_size=3, stride=1, padding=1)
        nn.init.zeros_(self.proj_out2.weight)
        nn.init.zeros_(self.proj_out2.bias)
        self.layers = nn.ModuleList(
            nn.ModuleList([PerceiverAttention(dim, config.dim_head, config.heads), _feed_forward(dim, config.ff_mult)])
            for _ in range(config.depth)
        )

    def forward(self, clip_features: torch.Tensor, pose_queries: torch.Tensor) -> torch.Tensor:
        b, t, _ = clip_features.shape
        queries = (self.latents * self.config.query_weight + pose_queries).reshape(b * t, 1, -1)
        context = self.proj_in(clip_features).reshape(b * t, 1, -1)
        for attention, feed_forward in self.layers:
            queries = attention(context, queries) + queries
            queries = feed_forward(queries) + queries
        queries = self.norm_out(self.proj_out(queries)).reshape(b, t, -1)
        return self.proj_out2(self.proj_conv(queries))


class ImplicitPoseIndicator(ModelMixin):  # ModelMixin: device and dtype, as a pipeline component needs
    """The IPI: ``forward(keypoints, clip_features) -> (B, latent_frames, out_dim)``.

    ``keypoints``: ``(B, T, 36)`` in the release's ``[x0..x17, y0..y17]`` order, or ``(B, T, K, C)`` body
    keypoints (see :func:`keypoint_features`). ``clip_features``: ``(B, T, clip_dim)`` per-frame OpenCLIP
    image embeddings (:class:`OpenCLIPFrameEncoder`). ``T`` must be ``num_frames`` (81 for the release).
    Runs in its parameters' dtype (the release: float32, output cast to bfloat16 by the caller).
    """

    def __init__(self, config: IPIConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or IPIConfig()
        self.keypoint_encoder = KeypointEncoder(config)
        self.resampler = PoseResampler(config)

    def forward(self, keypoints: torch.Tensor, clip_features: torch.Tensor) -> torch.Tensor:
        cfg = self.config
        if keypoints.ndim == 4:
            keypoints = keypoint_features(keypoints)
        if keypoints.ndim != 3 or keypoints.shape[-1] != cfg.keypoint_dim:
            raise ValueError(
                f"keypoints must be (B, T, {cfg.keypoint_dim}) or (B, T, K, C); got {tuple(keypoints.shape)}"
            )
        if clip_features.ndim != 3 or clip_features.shape[-1] != cfg.clip_dim:
            raise ValueError(f"clip features must be (B, T, {cfg.clip_dim}); got {tuple(clip_features.shape)}")
        if keypoints.shape[:2] != clip_features.shape[:2]:
            raise ValueError(f"keypoints {tuple(keypoints.shape)} and clip features {tuple(clip_features.shape)} "
                             "differ in batch or frames")  # fmt: skip
        if keypoints.shape[1] != cfg.num_frames:
            raise ValueError(
                f"the IPI takes exactly {cfg.num_frames} frames (its Conv1d maps {cfg.num_frames} video frames to "
                f"{cfg.latent_frames} latent frames); got {keypoints.shape[1]}"
            )
        dtype = self.resampler.latents.dtype
        queries = self.keypoint_encoder(keypoints.to(dtype))
        return self.resampler(clip_features.to(dtype), queries)


# ------------------------------------------------------------------------------------ OpenCLIP encoder


def import_open_clip() -> Any:
    """``open_clip`` (package ``open_clip_torch``), or an ImportError that says how to install it."""
    try:
        return importlib.import_module("open_clip")
    except ImportError as err:
        raise ImportError(
            f"the Implicit Pose Indicator's image encoder needs the package {OPEN_CLIP_PACKAGE} "
            f"(pip install -c constraints.txt {OPEN_CLIP_PIN}); the 'animatex-simple' variant does not use it"
        ) from err


class OpenCLIPFrameEncoder(ModelMixin):  # ModelMixin: device and dtype, as a pipeline component needs
    """Per-frame OpenCLIP image embeddings for the IPI (release ``FrozenOpenCLIPVisualEmbedder``).

    Builds only OpenCLIP's vision tower of ``config.model_name`` (ViT-H-14: width 1280, 32 layers, patch 14,
    224 px, output 1024), randomly initialised, frozen and in eval mode; :meth:`load_open_clip_state_dict`
    loads the ``visual.*`` tensors of an OpenCLIP checkpoint (``open_clip_pytorch_model.bin``; the text
    tower's keys are ignored, as the release deletes it). ``forward(pixels (N, 3, S, S)) -> (N, embed_dim)``
    equals OpenCLIP's ``encode_image(pixels)`` (final pooled, projected embedding, not normalised).
    ``vision_overrides`` changes fields of the vision config (for small test models).
    """

    def __init__(self, config: OpenCLIPConfig | None = None, *, vision_overrides: dict[str, Any] | None = None):
        super().__init__()
        self.config = config = config or OpenCLIPConfig()
        open_clip = import_open_clip()
        model_cfg = open_clip.get_model_config(config.model_name)
        if model_cfg is None:
            raise ValueError(f"OpenCLIP has no model named {config.model_name!r}")
        vision_cfg = {**model_cfg["vision_cfg"], "image_size": config.image_size, **(vision_overrides or {})}
        self.visual = open_clip.model._build_vision_tower(config.embed_dim, vision_cfg)
        self.requires_grad_(False)
        self.eval()

    def load_open_clip_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load the ``visual.*`` tensors of a full OpenCLIP state dict (strict for the vision tower)."""
        visual = {k.removeprefix("visual."): v for k, v in state_dict.items() if k.startswith("visual.")}
        self.visual.load_state_dict(visual, strict=True)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.visual(pixels.to(next(self.parameters()).dtype))

    def preprocess(self, frames: Sequence[Any] | np.ndarray) -> torch.Tensor:
        """RGB frames (``uint8`` array ``(T, H, W, 3)`` or PIL images) → normalised pixels ``(T, 3, S, S)``.

        As the release: PIL bilinear resize to ``S × S`` (a squash, no crop), ``/ 255``, CLIP mean and std.
        """
        from PIL import Image

        size = (self.config.image_size, self.config.image_size)
        images = [f if isinstance(f, Image.Image) else Image.fromarray(np.asarray(f, dtype=np.uint8)) for f in frames]
        arrays = np.stack([np.asarray(im.convert("RGB").resize(size, Image.BILINEAR)) for im in images])
        x = torch.from_numpy(arrays).permute(0, 3, 1, 2).float() / 255
        mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        return (x - mean) / std

    @torch.no_grad()
    def encode_frames(
        self, frames: Sequence[Any] | np.ndarray, batch_size: int = 16, input_dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """``(T, embed_dim)`` float embeddings of RGB frames, computed ``batch_size`` frames at a time.

        ``input_dtype`` rounds the normalised pixels through that dtype first (the release: bf16, its
        ``q_former_data.to(torch_dtype)`` before the fp32 encoder).
        """
        pixels = self.preprocess(frames)
        if input_dtype is not None:
            pixels = pixels.to(input_dtype).float()
        device = next(self.parameters()).device
        chunks = [self(pixels[i : i + batch_size].to(device)) for i in range(0, len(pixels), batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, self.config.embed_dim)
