"""The explicit pose path of Animate-X++: the pose-video encoder and the reference-pose encoder.

Both are small convolution stacks that run once per video, before the denoising loop.

* :class:`PoseVideoEncoder` (release ``dwpose_embedding``) turns the rendered driving-pose video into one
  DiT-width vector per latent token; :class:`~a2bench.animatex.transformer.AnimateXTransformer` adds them to the
  patch-embedded tokens (positive CFG branch only).
* :class:`RefPoseEncoder` (release ``randomref_embedding_pose``) turns the reference image's pose into a
  20-channel map at latent resolution that :func:`add_reference_pose` adds to the reference condition ``y``
  (4 mask + 16 reference-latent channels) on every latent frame; ``y`` then enters the DiT through its
  36-channel patch embedding, in both CFG branches.

State-dict keys (this module ↔ the release checkpoint, shapes for the 14B model):

=========================================  ============================================  ======================
here                                       release                                       shape
=========================================  ============================================  ======================
``pose_video_encoder.convs.0.weight``      ``dwpose_embedding.0.weight``                 (16, 3, 3, 3, 3)
``pose_video_encoder.convs.{2..10}.weight``  ``dwpose_embedding.{2,4,6,8,10}.weight``     (16, 16, 3, 3, 3)
``pose_video_encoder.convs.12.weight``     ``dwpose_embedding.12.weight``                (5120, 16, 1, 2, 2)
``ref_pose_encoder.convs.0.weight``        ``randomref_embedding_pose.0.weight``         (16, 3, 3, 3)
``ref_pose_encoder.convs.{2..8}.weight``   ``randomref_embedding_pose.{2,4,6,8}.weight``  (16, 16, 3, 3)
``ref_pose_encoder.convs.10.weight``       ``randomref_embedding_pose.10.weight``        (20, 16, 3, 3)
=========================================  ============================================  ======================

Every conv has a ``.bias`` under the same index. The indices are the release's ``nn.Sequential`` indices
(odd indices are the parameter-free SiLUs), so the mapping is the prefix rename
``dwpose_embedding.`` → ``pose_video_encoder.convs.`` and ``randomref_embedding_pose.`` →
``ref_pose_encoder.convs.`` (the prefixes are those of :class:`~a2bench.animatex.transformer.AnimateXModel`).
"""

from __future__ import annotations

import torch
from diffusers import ModelMixin
from torch import nn

from a2bench.animatex.config import PoseVideoEncoderConfig, RefPoseEncoderConfig


def _unit_range(images: torch.Tensor, dtype: torch.dtype, what: str) -> torch.Tensor:
    """``uint8`` 0..255 → ``dtype`` in [0, 1] (divided by 255 as the release does); float input is taken as is."""
    if images.dtype == torch.uint8:
        return (images.float() / 255).to(dtype)
    if not images.is_floating_point():
        raise TypeError(f"{what}: expected uint8 (0..255) or float in [0, 1], got {images.dtype}")
    if images.numel() and float(images.detach().amax()) > 1.5:
        raise ValueError(f"{what}: float input must be in [0, 1] (pass uint8 for 0..255 images)")
    return images.to(dtype)


class PoseVideoEncoder(ModelMixin):  # ModelMixin: device and dtype, as a pipeline component needs
    """Rendered pose video ``(B, 3, F, H, W)`` → pose tokens on the DiT's latent-token grid.

    Input: ``F = 4k + 1`` RGB pose frames, ``uint8`` (0..255) or float in [0, 1]; ``H`` and ``W``
    multiples of 16. The first frame is put in front ``repeat_first`` (3) more times, giving ``4(k + 1)``
    frames, then (``c`` = 16, every conv but the last followed by SiLU, padding 1 unless said):

    ==============  =========  ==========  =========================================
    layer           kernel     stride      output (832×480, 81 frames)
    ==============  =========  ==========  =========================================
    Conv3d 3 → c    3×3×3      1           c × 84 × 832 × 480
    Conv3d c → c    3×3×3      1           (twice)
    Conv3d c → c    3×3×3      (1, 2, 2)   c × 84 × 416 × 240
    Conv3d c → c    3×3×3      2           c × 42 × 208 × 120
    Conv3d c → c    3×3×3      2           c × 21 × 104 × 60
    Conv3d c → D    1×2×2      (1, 2, 2)   D × 21 × 52 × 30 (no activation; padding 0)
    ==============  =========  ==========  =========================================

    Output ``(B, D, k + 1, H/16, W/16)``: the grid of ``patch_embedding``'s output, which it is added to.
    PyTorch's default init, as the release (``zero_init_output`` zeroes the last conv instead).
    """

    def __init__(self, config: PoseVideoEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or PoseVideoEncoderConfig()
        c = config.hidden_channels
        self.convs = nn.Sequential(
            nn.Conv3d(config.in_channels, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=(1, 2, 2), padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv3d(c, config.out_channels, (1, 2, 2), stride=(1, 2, 2), padding=0),
        )
        if config.zero_init_output:
            nn.init.zeros_(self.convs[-1].weight)
            nn.init.zeros_(self.convs[-1].bias)

    def forward(self, pose_video: torch.Tensor) -> torch.Tensor:
        if pose_video.ndim != 5 or pose_video.shape[1] != self.config.in_channels:
            raise ValueError(
                f"pose video must be (B, {self.config.in_channels}, F, H, W), got {tuple(pose_video.shape)}"
            )
        frames, height, width = pose_video.shape[2:]
        if frames % 4 != 1:
            raise ValueError(f"pose video has {frames} frames; Animate-X++ needs 4k + 1 (e.g. 81)")
        if height % 16 or width % 16:
            raise ValueError(f"pose video is {height}x{width}; height and width must be multiples of 16")
        x = _unit_range(pose_video, self.convs[0].weight.dtype, "pose video")
        first = x[:, :, :1].expand(-1, -1, self.config.repeat_first, -1, -1)
        # channels-last: the full-resolution 3-D convolutions run about 1.6x faster on CPU (oneDNN), same values
        return self.convs(torch.cat([first, x], dim=2).contiguous(memory_format=torch.channels_last_3d))

    @staticmethod
    def tokens(grid: torch.Tensor) -> torch.Tensor:
        """``(B, D, f, h, w)`` → ``(B, f·h·w, D)`` in the DiT's token order (frame, then row, then column)."""
        return grid.flatten(2).transpose(1, 2)


class RefPoseEncoder(ModelMixin):  # ModelMixin: device and dtype, as a pipeline component needs
    """Reference pose image ``(B, 3, H, W)`` → ``(B, 20, 1, H/8, W/8)``, to add to ``y``.

    Input: ``uint8`` (0..255) or float in [0, 1], ``H`` and ``W`` multiples of 8 (16 for the DiT). Layers
    (``c`` = 16, kernel 3, padding 1, SiLU after every conv but the last): Conv2d 3 → c, c → c, c → c
    (stride 1), c → c, c → c, c → 20 (stride 2). PyTorch's default init, as the release.
    """

    def __init__(self, config: RefPoseEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or RefPoseEncoderConfig()
        c = config.hidden_channels
        self.convs = nn.Sequential(
            nn.Conv2d(config.in_channels, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, stride=1, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, c, 3, stride=2, padding=1),
            nn.SiLU(),
            nn.Conv2d(c, config.out_channels, 3, stride=2, padding=1),
        )
        if config.zero_init_output:
            nn.init.zeros_(self.convs[-1].weight)
            nn.init.zeros_(self.convs[-1].bias)

    def forward(self, ref_pose: torch.Tensor) -> torch.Tensor:
        if ref_pose.ndim != 4 or ref_pose.shape[1] != self.config.in_channels:
            raise ValueError(
                f"reference pose must be (B, {self.config.in_channels}, H, W), got {tuple(ref_pose.shape)}"
            )
        if ref_pose.shape[2] % 8 or ref_pose.shape[3] % 8:
            raise ValueError(f"reference pose is {ref_pose.shape[2]}x{ref_pose.shape[3]}; need multiples of 8")
        x = _unit_range(ref_pose, self.convs[0].weight.dtype, "reference pose")
        return self.convs(x).unsqueeze(2)


def add_reference_pose(y: torch.Tensor, ref_pose_features: torch.Tensor) -> torch.Tensor:
    """``y + ref_pose_features`` broadcast over the latent frames, all channels (mask ones included).

    ``y``: the reference condition ``(B, 20, f, h, w)`` (4 mask channels then 16 reference-latent channels);
    ``ref_pose_features``: :class:`RefPoseEncoder`'s ``(B, 20, 1, h, w)`` (or ``(B, 20, h, w)``); a batch of 1
    broadcasts. The result is cast to ``y``'s dtype, as the release adds a bf16 copy to its bf16 ``y``.
    """
    if ref_pose_features.ndim == 4:
        ref_pose_features = ref_pose_features.unsqueeze(2)
    if y.ndim != 5 or ref_pose_features.ndim != 5:
        raise ValueError(f"y must be (B, C, f, h, w) and the features (B, C, 1, h, w); got {tuple(y.shape)}, "
                         f"{tuple(ref_pose_features.shape)}")  # fmt: skip
    b, c, _, h, w = y.shape
    fb, fc, ff, fh, fw = ref_pose_features.shape
    if fc != c or ff != 1 or (fh, fw) != (h, w) or fb not in (1, b):
        raise ValueError(f"reference-pose features {tuple(ref_pose_features.shape)} do not fit y {tuple(y.shape)}")
    return y + ref_pose_features.to(y.dtype)
