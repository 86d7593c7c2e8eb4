"""Animate-X++ configurations as data: frozen dataclasses and named presets.

Everything here is plain Python (no torch, no diffusers), so the command line and the ``a2bench``
adapter can read a preset without loading the model code.

=====================  =========================================================================
preset                 what it is
=====================  =========================================================================
``animatex``           the full model of the release (``animate-x++.ckpt``): Wan2.1-I2V-14B-720P,
                       explicit pose encoders and the Implicit Pose Indicator (IPI)
``animatex-simple``    the release's "simple version" (``animate-x++_simple.ckpt``): no IPI
``tiny``               the full model's code paths with a few layers and small widths (CPU, seconds)
``tiny-simple``        ``tiny`` without the IPI
``animatex-tiny``      the small model trained here from scratch on synthetic characters (64 px, CPU)
=====================  =========================================================================

The release's numbers and where they come from are in docs/animatex.md ("Model").
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The release's negative prompt (examples/inference_480p.py:332, identical in inference_480p_usp.py:255): Wan's
# default negative prompt without six of its items. Kept verbatim; the text encoder sees exactly this string.
DEFAULT_NEGATIVE_PROMPT = (
    "细节模糊不清，字幕，作品，画作，画面，静止，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，"
    "画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，杂乱的背景，三条腿，背景人很多，倒着走"
)

# The offloading modes of AnimateXPipeline.enable_efficiency (a light module, so that the adapter and the command
# line can check a name without importing diffusers).
OFFLOAD_MODES = ("none", "model", "group", "leaf")

# CLIP's pixel normalisation, used by the IPI's OpenCLIP frame encoder (and Wan's CLIP).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ConfigError(ValueError):
    """An inconsistent configuration or an unknown preset name; the message says what and how to fix it."""


@dataclass(frozen=True)
class TransformerConfig:
    """Keyword arguments of diffusers' ``WanTransformer3DModel`` (defaults: Wan2.1-I2V-14B-720P).

    The values are diffusers' own conversion config for "Wan-I2V-14B-720p"; they equal the original
    release's ``dim=5120, ffn_dim=13824, num_heads=40, num_layers=40, in_dim=36, out_dim=16, text_dim=4096,
    freq_dim=256, eps=1e-6`` with the image input on.
    """

    patch_size: tuple[int, int, int] = (1, 2, 2)
    num_attention_heads: int = 40
    attention_head_dim: int = 128
    in_channels: int = 36  # 16 noisy latent + 4 mask + 16 reference latent
    out_channels: int = 16
    text_dim: int = 4096
    freq_dim: int = 256
    ffn_dim: int = 13824
    num_layers: int = 40
    cross_attn_norm: bool = True
    qk_norm: str | None = "rms_norm_across_heads"
    eps: float = 1e-6
    image_dim: int | None = 1280  # Wan's CLIP ViT-H/14 hidden width
    added_kv_proj_dim: int | None = 5120  # = inner_dim: image tokens are projected to inner_dim first
    rope_max_seq_len: int = 1024
    pos_embed_seq_len: int | None = None

    @property
    def inner_dim(self) -> int:
        """The DiT width (5120 for the 14B model)."""
        return self.num_attention_heads * self.attention_head_dim

    @property
    def condition_channels(self) -> int:
        """Channels of the reference condition ``y`` (4 mask + 16 reference latent = 20)."""
        return self.in_channels - self.out_channels

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments for ``WanTransformer3DModel(**kwargs)``."""
        out = dataclasses.asdict(self)
        out["patch_size"] = tuple(self.patch_size)
        return out


@dataclass(frozen=True)
class PoseVideoEncoderConfig:
    """The pose-video encoder (release ``dwpose_embedding``): Conv3d stack → DiT-width tokens.

    ``hidden_channels`` is the release's ``concat_dim * 4`` = 16; ``out_channels`` must equal the DiT
    width. ``repeat_first`` extra copies of the first pose frame are put in front of the video (3), so that
    ``4k + 1`` frames become ``4(k + 1)`` and the two temporal stride-2 convs give the ``k + 1`` latent frames.
    ``zero_init_output`` zero-initialises the last conv (not the release, which uses PyTorch's default init;
    useful to start training from an unchanged Wan).
    """

    in_channels: int = 3
    hidden_channels: int = 16
    out_channels: int = 5120
    repeat_first: int = 3
    zero_init_output: bool = False


@dataclass(frozen=True)
class RefPoseEncoderConfig:
    """The reference-pose encoder (release ``randomref_embedding_pose``): Conv2d stack → ``y`` channels.

    ``out_channels`` must equal the channels of the reference condition ``y`` (20); the output is added to
    ``y`` on every latent frame, mask channels included, as the release does.
    """

    in_channels: int = 3
    hidden_channels: int = 16
    out_channels: int = 20
    zero_init_output: bool = False


@dataclass(frozen=True)
class IPIConfig:
    """The Implicit Pose Indicator (release ``pose_embedding_before`` + ``pose_embedding_after``).

    Keypoint encoder (release ``DwposeEncoder``): ``keypoint_dim`` inputs (18 body points × (x, y)) →
    Linear(→ ``d_model // 2``) → Linear(→ ``d_model``), plus sinusoidal frame positions (table of
    ``max_frames`` rows), a post-norm transformer encoder of ``num_layers`` layers (``nhead`` heads, FFN
    ``dim_feedforward``, ReLU, dropout ``dropout``), then a zero-initialised MLP.

    Resampler (release ``Resampler``): a learnable query plus the keypoint query, ``depth`` layers of
    Perceiver attention (``heads`` × ``dim_head``) + FFN (``ff_mult``) over per-frame OpenCLIP features of
    width ``clip_dim``, output projection to ``output_dim`` and LayerNorm, a Conv1d with the ``num_frames``
    video frames as channels → ``latent_frames``, and a zero-initialised Linear to ``out_dim`` (the DiT width).

    ``release_dropout=True`` keeps the keypoint encoder's dropout active in eval mode, as the release
    (which never calls ``.eval()`` on it) does at inference; the default is deterministic.
    """

    keypoint_dim: int = 36
    d_model: int = 1024
    nhead: int = 8
    num_layers: int = 3
    dim_feedforward: int = 1024
    dropout: float = 0.1
    max_frames: int = 330
    dim: int = 1024
    depth: int = 8
    dim_head: int = 64
    heads: int = 16
    ff_mult: int = 4
    clip_dim: int = 1024
    output_dim: int = 1024
    query_weight: float = 1.0
    num_frames: int = 81
    latent_frames: int = 21
    out_dim: int = 5120
    release_dropout: bool = False


@dataclass(frozen=True)
class OpenCLIPConfig:
    """The IPI's per-frame image encoder: OpenCLIP ``model_name`` (``encode_image``: pooled, projected)."""

    model_name: str = "ViT-H-14"
    image_size: int = 224
    embed_dim: int = 1024


@dataclass(frozen=True)
class SamplingConfig:
    """Sampling defaults of the release's scripts.

    Flow matching with ``shift``; sigmas ``linspace(1, 0, steps + 1)[:-1]`` shifted by
    ``shift·s / (1 + (shift - 1)·s)``; Euler steps; classifier-free guidance where the negative branch keeps
    ``y`` and the IPI but drops the pose-video tokens. ``guidance_scale`` is the release's per variant: 3 in the
    full script (hard-coded), 5 in the simple one. ``height × width`` is the release's portrait 832 × 480.
    """

    num_inference_steps: int = 50
    shift: float = 5.0
    guidance_scale: float = 5.0
    num_frames: int = 81
    height: int = 832
    width: int = 480
    fps: int = 15
    seed: int = 0
    negative_prompt: str = DEFAULT_NEGATIVE_PROMPT


REFERENCE_POSE_RULES = ("driving", "reference")


@dataclass(frozen=True)
class InputsConfig:
    """How the pose conditions are prepared: what the model saw in training (docs/animatex.md "Inputs").

    Defaults are the release's inference (``examples/inference_480p.py`` on ``process_data.py``'s files):

    * ``swap_rb``: the pose images have red and blue exchanged. ``process_data.py`` draws DWPose's colour tuples as
      R, G, B and writes the canvas with ``cv2.imwrite``, which takes it for BGR; the script reads the file back with
      PIL as RGB. So its model sees the first limb as (0, 0, 153) and the neck joint as (0, 85, 255).
    * ``jpeg_quality``: the pose images went through that JPEG round trip (``process_data.py`` writes ``.jpg`` files
      with ``cv2.imwrite``'s default quality, 95; ``None``: none).
    * ``reference_pose``: which pose becomes the reference-pose image. ``"driving"``: the driving sequence's first
      frame (the release's fallback when the pose folder has no ``pose.jpg``; ``process_data.py`` writes none).
      ``"reference"``: the reference image's own pose (what a user's ``pose.jpg`` would hold).
    """

    swap_rb: bool = True
    jpeg_quality: int | None = 95
    reference_pose: str = "driving"


# What every small pipeline saved before ``inputs`` existed was trained with (animatex-tiny releases 1-4).
LEGACY_SMALL_INPUTS = {"swap_rb": False, "jpeg_quality": None, "reference_pose": "reference"}


def default_ipi_blocks(num_layers: int) -> tuple[int, ...]:
    """The release's rule for the blocks the IPI is added before: ``1 < i <= num_layers // 2`` (2…20 for 40)."""
    return tuple(range(2, num_layers // 2 + 1))


@dataclass(frozen=True)
class AnimateXConfig:
    """One Animate-X++ model: the Wan transformer, the pose encoders, the IPI (``None``: no IPI) and sampling.

    ``ipi_blocks`` lists the transformer blocks the IPI output is added before; ``None`` means the release's
    rule (:func:`default_ipi_blocks`).
    """

    name: str
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    pose_video: PoseVideoEncoderConfig = field(default_factory=PoseVideoEncoderConfig)
    ref_pose: RefPoseEncoderConfig = field(default_factory=RefPoseEncoderConfig)
    ipi: IPIConfig | None = field(default_factory=IPIConfig)
    open_clip: OpenCLIPConfig | None = field(default_factory=OpenCLIPConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    ipi_blocks: tuple[int, ...] | None = None
    inputs: InputsConfig = field(default_factory=InputsConfig)

    def __post_init__(self) -> None:
        problems = _problems(self)
        if problems:
            raise ConfigError(f"config {self.name!r} is inconsistent:\n  " + "\n  ".join(problems))

    @property
    def has_ipi(self) -> bool:
        return self.ipi is not None

    @property
    def ipi_block_indices(self) -> tuple[int, ...]:
        """The blocks the IPI is added before (empty without an IPI)."""
        if self.ipi is None:
            return ()
        return self.ipi_blocks if self.ipi_blocks is not None else default_ipi_blocks(self.transformer.num_layers)

    def replace(self, **changes: Any) -> AnimateXConfig:
        """A copy with some top-level fields replaced (nested configs: pass a new dataclass)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for run records and JSON)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnimateXConfig:
        """The inverse of :meth:`to_dict`; unknown keys are an error."""
        data = dict(data)
        nested = {
            "transformer": TransformerConfig,
            "pose_video": PoseVideoEncoderConfig,
            "ref_pose": RefPoseEncoderConfig,
            "ipi": IPIConfig,
            "open_clip": OpenCLIPConfig,
            "sampling": SamplingConfig,
            "inputs": InputsConfig,
        }
        for key, kind in nested.items():
            if data.get(key) is not None:
                data[key] = _build(kind, data[key])
        if data.get("ipi_blocks") is not None:
            data["ipi_blocks"] = tuple(data["ipi_blocks"])
        return _build(cls, data)


def _build(kind: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown {kind.__name__} field(s): {', '.join(unknown)}")
    if kind is TransformerConfig and "patch_size" in data:
        data = {**data, "patch_size": tuple(data["patch_size"])}
    return kind(**data)


def _problems(cfg: AnimateXConfig) -> list[str]:
    t, s = cfg.transformer, cfg.sampling
    out = []
    if t.attention_head_dim % 2:
        out.append(f"attention_head_dim {t.attention_head_dim} must be even (RoPE rotates channel pairs)")
    if cfg.pose_video.out_channels != t.inner_dim:
        out.append(f"pose_video.out_channels {cfg.pose_video.out_channels} != transformer width {t.inner_dim}")
    if cfg.ref_pose.out_channels != t.condition_channels:
        out.append(f"ref_pose.out_channels {cfg.ref_pose.out_channels} != condition channels {t.condition_channels}")
    if t.patch_size != (1, 2, 2):
        out.append(f"patch_size {t.patch_size}: the pose-video encoder produces a (1, 2, 2)-patch token grid")
    if s.num_frames % 4 != 1:
        out.append(f"sampling.num_frames {s.num_frames} is not 4k + 1")
    if cfg.inputs.jpeg_quality is not None and not 1 <= cfg.inputs.jpeg_quality <= 100:
        out.append(f"inputs.jpeg_quality {cfg.inputs.jpeg_quality} is not in 1..100 (or null: no JPEG round trip)")
    if cfg.inputs.reference_pose not in REFERENCE_POSE_RULES:
        rules = ", ".join(REFERENCE_POSE_RULES)
        out.append(f"inputs.reference_pose {cfg.inputs.reference_pose!r} is not one of {rules}")
    if s.height % 16 or s.width % 16:
        out.append(f"sampling size {s.height}x{s.width} is not a multiple of 16")
    if cfg.ipi is not None:
        ipi = cfg.ipi
        if ipi.out_dim != t.inner_dim:
            out.append(f"ipi.out_dim {ipi.out_dim} != transformer width {t.inner_dim}")
        if ipi.latent_frames != (ipi.num_frames - 1) // 4 + 1 or ipi.num_frames % 4 != 1:
            out.append(f"ipi: {ipi.num_frames} video frames do not give {ipi.latent_frames} latent frames")
        if s.num_frames != ipi.num_frames:
            out.append(f"sampling.num_frames {s.num_frames} != ipi.num_frames {ipi.num_frames} (the IPI is fixed)")
        if ipi.num_frames > ipi.max_frames:
            out.append(f"ipi.num_frames {ipi.num_frames} > ipi.max_frames {ipi.max_frames}")
        if ipi.d_model % ipi.nhead or ipi.d_model % 2:
            out.append(f"ipi.d_model {ipi.d_model} must be even and divisible by nhead {ipi.nhead}")
        if cfg.open_clip is not None and cfg.open_clip.embed_dim != ipi.clip_dim:
            out.append(f"open_clip.embed_dim {cfg.open_clip.embed_dim} != ipi.clip_dim {ipi.clip_dim}")
        bad = [i for i in cfg.ipi_block_indices if not 0 <= i < t.num_layers]
        if bad:
            out.append(f"ipi_blocks {bad} outside 0..{t.num_layers - 1}")
    elif cfg.ipi_blocks:
        out.append("ipi_blocks given for a model without an IPI")
    return out


# --------------------------------------------------------------------------------------------- presets

_ANIMATEX = AnimateXConfig(name="animatex", sampling=SamplingConfig(guidance_scale=3.0))
_ANIMATEX_SIMPLE = AnimateXConfig(name="animatex-simple", ipi=None, open_clip=None)

_TINY_TRANSFORMER = TransformerConfig(
    num_attention_heads=2,
    attention_head_dim=12,  # RoPE t/h/w = 4/4/4
    text_dim=32,
    freq_dim=16,
    ffn_dim=48,
    num_layers=6,  # IPI before blocks 2 and 3
    image_dim=16,
    added_kv_proj_dim=24,
)
_TINY_IPI = IPIConfig(
    d_model=32,
    nhead=4,
    dim_feedforward=32,
    dim=32,
    depth=2,
    dim_head=8,
    heads=4,
    clip_dim=16,
    output_dim=32,
    num_frames=9,
    latent_frames=3,
    out_dim=24,
)
_TINY_SAMPLING = SamplingConfig(num_inference_steps=4, guidance_scale=3.0, num_frames=9, height=64, width=48)
_TINY = AnimateXConfig(
    name="tiny",
    transformer=_TINY_TRANSFORMER,
    pose_video=PoseVideoEncoderConfig(out_channels=24),
    ipi=_TINY_IPI,
    open_clip=OpenCLIPConfig(embed_dim=16),
    sampling=_TINY_SAMPLING,
)
_TINY_SIMPLE = _TINY.replace(
    name="tiny-simple", ipi=None, open_clip=None, sampling=dataclasses.replace(_TINY_SAMPLING, guidance_scale=5.0)
)

# animatex-tiny: the small model trained here from scratch on a 2-core CPU (docs/animatex-tiny.md). Same
# architecture and code paths at 64 x 64, 33 frames (9 latent frames of 4 x 4 tokens); its VAE (64 latent
# channels), text and image encoders are small models of the same kinds (a2bench.animatex.components "animatex-tiny").
# The IPI sees the rendered pose frames. Releases 1-3 were half as wide with 16 latent channels; release 4 was
# grown from them (a2bench.animatex.train.grow).
_ANIMATEX_TINY = AnimateXConfig(
    name="animatex-tiny",
    transformer=TransformerConfig(
        num_attention_heads=8,
        attention_head_dim=32,  # RoPE t/h/w = 12/10/10
        in_channels=132,  # 64 noisy latent + 4 mask + 64 reference latent
        out_channels=64,
        text_dim=64,
        freq_dim=64,
        ffn_dim=1024,
        num_layers=6,  # IPI before blocks 2 and 3
        image_dim=64,
        added_kv_proj_dim=256,
    ),
    pose_video=PoseVideoEncoderConfig(out_channels=256),
    ref_pose=RefPoseEncoderConfig(out_channels=68),
    ipi=IPIConfig(
        d_model=64,
        nhead=4,
        dim_feedforward=128,
        dim=64,
        depth=2,
        dim_head=16,
        heads=4,
        clip_dim=64,
        output_dim=64,
        num_frames=33,
        latent_frames=9,
        out_dim=256,
    ),
    open_clip=OpenCLIPConfig(image_size=64, embed_dim=64),
    sampling=SamplingConfig(
        num_inference_steps=1,  # and CFG 1: chosen on the validation set (docs/animatex-tiny.md "Sampling settings")
        shift=3.0,
        guidance_scale=1.0,
        num_frames=33,
        height=64,
        width=64,
        negative_prompt="",
    ),
    inputs=InputsConfig(**LEGACY_SMALL_INPUTS),  # what it was trained on: pose colours as drawn, its own pose
)
# Where its trained weights ship (docs/animatex-tiny.md): a folder written by AnimateXPipeline.save_pretrained.
TINY_DIR = Path(__file__).parent / "assets" / "animatex-tiny"

PRESETS: dict[str, AnimateXConfig] = {
    c.name: c for c in (_ANIMATEX, _ANIMATEX_SIMPLE, _TINY, _TINY_SIMPLE, _ANIMATEX_TINY)
}


def get_preset(name: str) -> AnimateXConfig:
    """The named preset; an unknown name is a :class:`ConfigError` that suggests the closest names."""
    try:
        return PRESETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, PRESETS, n=2, cutoff=0.4)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise ConfigError(f"unknown Animate-X++ preset {name!r}.{hint} Known: {', '.join(PRESETS)}.") from None
