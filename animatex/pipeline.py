"""``AnimateXPipeline``: reference image + driving pose → video, as the release's inference scripts do.

Order of operations per video (docs/animatex.md "Pipeline"; the release's order, implementation spec §4.6):

1. choose which driving frames to use (:func:`sample_indices`, the release's stride rule) and render them;
2. initial noise from a CPU generator seeded with ``seed`` (the same noise on every device);
3. IPI (full model): OpenCLIP embeddings of the driving RGB frames + body keypoints → one vector per latent frame;
4. umT5 encodes the prompt and the negative prompt;
5. reference image → Wan CLIP tokens; VAE latent of ``[reference, F-1 grey frames]`` + first-frame mask → ``y``;
6. pose video → pose-video grid; reference pose image → 20 channels added to ``y``;
7. per step: positive forward (pose tokens + IPI), negative forward (IPI, no pose tokens) unless ``cfg == 1``,
   ``neg + cfg · (pos − neg)``, Euler step on the release's sigmas;
8. VAE decode → ``uint8`` frames by truncation, as the release.

Everything the pipeline owns is an argument of ``__init__`` (diffusers style); :meth:`AnimateXPipeline.tiny`
builds every component with random weights at tiny sizes (no network, CPU, seconds), and
:meth:`AnimateXPipeline.from_release` loads the official files through :mod:`a2bench.animatex.loading`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from a2bench.animatex.components import ByteTokenizer, ComponentsConfig, build_components, get_components
from a2bench.animatex.config import (
    CLIP_MEAN,
    CLIP_STD,
    LEGACY_SMALL_INPUTS,
    OFFLOAD_MODES,
    REFERENCE_POSE_RULES,
    AnimateXConfig,
    ConfigError,
    get_preset,
)
from a2bench.animatex.transformer import AnimateXModel
from a2bench.core.frames import resize_frames
from a2bench.core.pose import PoseSequence, render_poses
from a2bench.core.pose.render import POSE_VIDEO, as_model_input

__all__ = ["AnimateXOutput", "AnimateXPipeline", "ByteTokenizer", "release_sigmas", "sample_indices"]

SMALL_FORMAT = "animatex-small/1"


def sample_indices(available: int, num_frames: int, stride: int = 1) -> np.ndarray:
    """Which of ``available`` driving frames feed a ``num_frames`` video (the release's rule, spec §4.1).

    * enough frames (``available >= stride·num_frames + 1``): ``0, stride, …, stride·(num_frames − 1)``;
    * otherwise the stride drops to ``max(available // num_frames, 1)`` and the frames ``0, stride, …`` below
      ``min(stride·num_frames, available)`` are taken; if that is still short (fewer driving frames than
      ``num_frames``), the last one is repeated.

    Exactly ``num_frames`` indices, always starting at 0 (no random offset).
    """
    if available < 1 or num_frames < 1 or stride < 1:
        raise ValueError(f"need at least one frame and a positive stride; got {available=}, {num_frames=}, {stride=}")
    if available < stride * num_frames + 1:
        stride = max(available // num_frames, 1)
        end = min(stride * num_frames, available)
        idx = list(range(0, end, stride))[:num_frames]
        idx += [end - 1] * (num_frames - len(idx))
        return np.asarray(idx, dtype=np.int64)
    return np.arange(num_frames, dtype=np.int64) * stride


def release_sigmas(steps: int) -> np.ndarray:
    """The release's unshifted sigmas ``linspace(1, 0, steps + 1)[:-1]``; the scheduler applies shift 5 once.

    diffusers' ``set_timesteps(steps)`` without them spaces the *shifted* training sigmas instead and gives a
    different schedule (last timestep 24.4 instead of the release's 92.6 at 50 steps).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    return np.linspace(1.0, 0.0, steps + 1)[:-1]


@dataclass(frozen=True)
class AnimateXOutput:
    """The generated video: ``frames`` ``(T, H, W, 3)`` uint8 RGB (or the float latents for ``output_type="latent"``),
    its ``fps``, and the driving-frame ``indices`` each output frame was generated from."""

    frames: Any
    fps: Fraction
    indices: np.ndarray


def clean_prompt(text: str) -> str:
    """The release's prompt cleaning: ``ftfy.fix_text`` (when installed), HTML-unescape twice, collapse spaces."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def _rgb(image: Any) -> Image.Image:
    """An RGB PIL image from a PIL image or an ``(H, W, 3|4)`` uint8 array (alpha dropped, as the release's
    ``cv2.imread`` does)."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] not in (3, 4) or array.dtype != np.uint8:
        raise ValueError(f"the reference image must be (H, W, 3) uint8 RGB; got {array.shape} {array.dtype}")
    return Image.fromarray(array[..., :3])


def _set_tensor(module: torch.nn.Module, name: str, tensor: torch.Tensor) -> None:
    """Replace the buffer ``name`` (dotted) of ``module`` by ``tensor``, keeping its persistence."""
    owner, _, leaf = name.rpartition(".")
    target = module.get_submodule(owner) if owner else module
    target._buffers[leaf] = tensor


class AnimateXPipeline:
    """Animate-X++ inference: ``pipe(image, pose, prompt) -> AnimateXOutput``.

    Components: ``model`` (:class:`~a2bench.animatex.transformer.AnimateXModel`: the conditioned Wan transformer, the
    pose encoders and the IPI), ``vae`` (``AutoencoderKLWan``), ``text_encoder`` (``UMT5EncoderModel``) and
    ``tokenizer``, ``image_encoder`` (Wan's CLIP as ``CLIPVisionModel``; its preprocessing is the release's,
    done here, not a ``CLIPImageProcessor``: that one crops), ``open_clip``
    (:class:`~a2bench.animatex.ipi.OpenCLIPFrameEncoder`, full variant only) and ``scheduler``
    (``FlowMatchEulerDiscreteScheduler``, shift 5, driven with :func:`release_sigmas`).

    ``dtype`` is the compute dtype of the transformer's inputs (bf16 on GPU, as the release); the pose
    encoders, the IPI and the CLIP encoders run in the dtype of their own weights (the release: fp32).
    """

    def __init__(
        self,
        model: AnimateXModel,
        vae: Any,
        text_encoder: Any,
        tokenizer: Any,
        image_encoder: Any,
        scheduler: Any,
        open_clip: Any = None,
        *,
        max_sequence_length: int = 512,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if model.ipi is not None and open_clip is None:
            raise ConfigError(f"model {model.config.name!r} has an IPI: the pipeline needs the OpenCLIP frame encoder")
        self.model, self.vae, self.text_encoder, self.tokenizer = model, vae, text_encoder, tokenizer
        self.image_encoder, self.scheduler, self.open_clip = image_encoder, scheduler, open_clip
        self.max_sequence_length = max_sequence_length
        self.components: ComponentsConfig | None = None  # set for pipelines built from_components
        self.metadata: dict[str, Any] = {}  # from_pretrained: the saved run's metadata
        self.device, self.dtype = torch.device(device), dtype

    @property
    def config(self) -> AnimateXConfig:
        return self.model.config

    # ------------------------------------------------------------------------------------------ construction

    @classmethod
    def from_components(
        cls,
        config: str | AnimateXConfig,
        components: str | ComponentsConfig,
        *,
        seed: int = 0,
        device: str = "cpu",
    ) -> AnimateXPipeline:
        """A small pipeline with random weights: the model ``config`` (preset name or config) and the other
        components of :mod:`~a2bench.animatex.components` (name or config) built after ``torch.manual_seed(seed)``."""
        from diffusers import FlowMatchEulerDiscreteScheduler

        config = config if isinstance(config, AnimateXConfig) else get_preset(config)
        components = components if isinstance(components, ComponentsConfig) else get_components(components)
        torch.manual_seed(seed)
        model = AnimateXModel(config)
        parts = build_components(config, components)
        scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.sampling.shift)
        pipe = cls(model, parts["vae"], parts["text_encoder"], parts["tokenizer"], parts["image_encoder"], scheduler,
                   parts["open_clip"], max_sequence_length=components.max_sequence_length)  # fmt: skip
        pipe.components = components
        return pipe.to(device)

    @classmethod
    def tiny(cls, seed: int = 0, variant: str = "tiny", device: str = "cpu") -> AnimateXPipeline:
        """Every component with random weights at tiny sizes (``tiny`` or ``tiny-simple`` preset): a plumbing
        check that runs on CPU in seconds, **not a model** (its videos are noise)."""
        if variant not in ("tiny", "tiny-simple"):
            raise ConfigError(f"{variant!r} is not a tiny preset (use 'tiny' or 'tiny-simple')")
        pipe = cls.from_components(variant, "tiny", seed=seed)
        # A fresh IPI and zero-initialised heads output zeros; randomise them (on CPU: the same weights on every
        # device) so that the tiny IPI does something.
        if pipe.model.ipi is not None:
            for p in pipe.model.ipi.parameters():
                if p.abs().sum() == 0 and p.ndim > 1:
                    torch.nn.init.normal_(p, std=0.02)
        return pipe.to(device)

    def component_modules(self) -> dict[str, torch.nn.Module]:
        """The pipeline's modules by component name (``model``, ``vae``, ``text_encoder``, ``image_encoder`` and,
        full variant, ``open_clip``)."""
        modules = {"model": self.model, "vae": self.vae, "text_encoder": self.text_encoder,
                   "image_encoder": self.image_encoder, "open_clip": self.open_clip}  # fmt: skip
        return {name: module for name, module in modules.items() if module is not None}

    def save_pretrained(
        self, folder: str | Path, metadata: Mapping[str, Any] | None = None, dtype: torch.dtype = torch.float32
    ) -> Path:
        """Write a small pipeline (one built :meth:`from_components`) to ``folder``: ``config.json`` (the model
        config, the components config and ``metadata``) and ``model.safetensors`` (``<component>.<key>``, stored
        as ``dtype``: float32, or float16 to halve the file; :meth:`from_pretrained` loads either into float32).
        """
        from safetensors.torch import save_file

        if self.components is None:
            raise ConfigError("save_pretrained needs a pipeline built from components (from_components/tiny)")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, module in self.component_modules().items():
            for key, tensor in module.state_dict().items():
                if name == "text_encoder" and key == "encoder.embed_tokens.weight":
                    continue  # tied to shared.weight (stored once)
                stored = dtype if tensor.is_floating_point() else tensor.dtype
                tensors[f"{name}.{key}"] = tensor.detach().to("cpu", stored).contiguous()
        doc = {"format": SMALL_FORMAT, "model": self.config.to_dict(), "components": self.components.to_dict(),
               "metadata": dict(metadata or {})}  # fmt: skip
        tmp = folder / "model.safetensors.tmp"
        save_file(tensors, str(tmp), metadata={"format": SMALL_FORMAT})
        tmp.replace(folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return folder

    @classmethod
    def from_pretrained(cls, folder: str | Path, device: str = "cpu") -> AnimateXPipeline:
        """Load a small pipeline written by :meth:`save_pretrained` (every key checked: a missing or unexpected
        one is an error naming it)."""
        from safetensors.torch import load_file

        folder = Path(folder)
        config_file, weights_file = folder / "config.json", folder / "model.safetensors"
        for path in (config_file, weights_file):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: not found (a folder written by AnimateXPipeline.save_pretrained)")
        doc = json.loads(config_file.read_text())
        if doc.get("format") != SMALL_FORMAT:
            raise ValueError(f"{config_file}: format {doc.get('format')!r}, expected {SMALL_FORMAT!r}")
        # Files saved before the model config had ``inputs`` were all trained with pose colours as drawn and the
        # reference image's own pose.
        config = AnimateXConfig.from_dict({"inputs": LEGACY_SMALL_INPUTS, **doc["model"]})
        pipe = cls.from_components(config, ComponentsConfig.from_dict(doc["components"]), device="cpu")
        state = load_file(str(weights_file))
        for name, module in pipe.component_modules().items():
            part = {k.removeprefix(name + "."): v for k, v in state.items() if k.startswith(name + ".")}
            if name == "text_encoder" and "shared.weight" in part:
                part["encoder.embed_tokens.weight"] = part["shared.weight"]
            missing, unexpected = module.load_state_dict(part, strict=False)
            if missing or unexpected:
                raise ValueError(f"{weights_file}: component {name!r} has missing keys {missing[:5]} and unexpected "
                                 f"keys {unexpected[:5]}")  # fmt: skip
        known = tuple(n + "." for n in pipe.component_modules())
        stray = sorted(k for k in state if not k.startswith(known))
        if stray:
            raise ValueError(f"{weights_file}: keys of no component: {stray[:5]}")
        pipe.metadata = dict(doc.get("metadata", {}))
        return pipe.to(device)

    @classmethod
    def from_release(
        cls,
        variant: str = "animatex",
        device: str = "cuda",
        dtype: torch.dtype = torch.bfloat16,
        *,
        preset: str | AnimateXConfig | None = None,
        wan_dir: str | Path | None = None,
        checkpoint: str | Path | None = None,
        open_clip: str | Path | None = None,
        tokenizer: str | Path | None = None,
        configs: Mapping[str, Any] | None = None,
        open_clip_vision: Mapping[str, Any] | None = None,
    ) -> AnimateXPipeline:
        """The pipeline with the official weights from the registry (``a2bench weights fetch --model animatex``).

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
        from diffusers import FlowMatchEulerDiscreteScheduler
        from transformers import AutoTokenizer

        from a2bench.animatex import loading
        from a2bench.animatex import weights as files

        config = preset if isinstance(preset, AnimateXConfig) else get_preset(preset or variant)
        configs = dict(configs or {})
        wan_dir = Path(wan_dir) if wan_dir is not None else None

        def wan_file(name: str) -> Path | None:  # the registered name's file inside wan_dir
            return wan_dir / Path(name).relative_to(files.WAN_DIR) if wan_dir is not None else None

        with torch.device("meta"):
            model = AnimateXModel(config)
        modules = {"pose_video_encoder.convs": "dwpose_embedding", "ref_pose_encoder.convs": "randomref_embedding_pose"}
        ipi_options = {}
        if config.has_ipi:
            modules |= {"ipi.keypoint_encoder": "pose_embedding_before", "ipi.resampler": "pose_embedding_after"}
            ipi_options = {"ipi_layers": config.ipi.num_layers, "resampler_depth": config.ipi.depth}
        checkpoint = loading.read_checkpoint(
            checkpoint,
            variant="full" if config.has_ipi else "simple",
            transformer_config=config.transformer,
            expected={group: model.get_submodule(attr).state_dict() for attr, group in modules.items()},
            **ipi_options,
        )
        wan = loading.load_transformer(wan_dir, config=config.transformer, dtype=dtype, device="cpu", lora=checkpoint)
        model.transformer.load_state_dict(wan.state_dict(), strict=True, assign=True)
        for name, buffer in wan.named_buffers():  # non-persistent buffers (RoPE tables) are not in the state dict
            if model.transformer.get_buffer(name).is_meta:
                _set_tensor(model.transformer, name, buffer)
        del wan
        for attr, group in modules.items():
            state = dict(checkpoint.groups[group])
            module = model.get_submodule(attr)
            for key, buffer in module.state_dict().items():  # buffers the checkpoint may lack (pos_table)
                if key not in state and not buffer.is_meta:
                    state[key] = buffer
            if attr == "ipi.keypoint_encoder" and "pos_embed.pos_table" not in state:
                from a2bench.animatex.ipi import sinusoid_table

                state["pos_embed.pos_table"] = sinusoid_table(config.ipi.max_frames, config.ipi.d_model)
            module.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)
        still_meta = [name for name, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
        if still_meta:
            raise RuntimeError(f"from_release left {len(still_meta)} tensors unloaded: {', '.join(still_meta[:5])}")
        frame_encoder = None
        if config.has_ipi:
            from a2bench.animatex.ipi import OpenCLIPFrameEncoder

            vision = dict(open_clip_vision or {})
            clip_config = config.open_clip
            if "image_size" in vision:
                clip_config = dataclasses.replace(clip_config, image_size=vision.pop("image_size"))
            frame_encoder = OpenCLIPFrameEncoder(clip_config, vision_overrides=vision or None)
            frame_encoder.load_open_clip_state_dict(
                loading.read_open_clip(open_clip, visual_only=True, expected=configs.get("open_clip"))
            )
        text_encoder = loading.load_text_encoder(
            wan_file(files.TEXT_ENCODER), config=configs.get("text_encoder"), dtype=dtype
        )
        if tokenizer is None and wan_dir is not None:
            tokenizer = wan_dir / files.TOKENIZER_SUBDIR
        pipe = cls(
            model.eval(),
            loading.load_vae(wan_file(files.VAE), config=configs.get("vae"), dtype=dtype),
            text_encoder,
            AutoTokenizer.from_pretrained(loading.tokenizer_dir(tokenizer)),
            loading.load_image_encoder(
                wan_file(files.IMAGE_ENCODER), config=configs.get("image_encoder"), dtype=torch.float32
            ),
            FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=config.sampling.shift),
            frame_encoder,
            dtype=dtype,
        )
        return pipe.to(device)

    def to(self, device: str | torch.device) -> AnimateXPipeline:
        """Move every module to ``device``."""
        if self._offload is not None:
            raise ConfigError(
                f"{self._offload} offloading is enabled: it decides where the modules live; call to() first"
            )
        self.device = torch.device(device)
        for module in (self.model, self.vae, self.text_encoder, self.image_encoder, self.open_clip):
            if module is not None:
                module.to(self.device).eval()
        return self

    # ------------------------------------------------------------------------------------------ efficiency
    # docs/animatex.md "Efficiency options". Rules: one offload mode per pipeline, enabled after to() (the modules
    # then live on OFFLOAD_DEVICE and self.device is the execution device); compile() before group/leaf offload
    # (their hooks wrap each block's forward, compiled first); leaf offload never with compile (its hooks sit on
    # every layer inside the compiled blocks); no CUDA-graph compile modes with group/leaf offload (the weights
    # move every step). VAE tiling combines with everything.

    OFFLOAD_DEVICE = torch.device("cpu")
    _CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
    _TILE_OPTIONS = ("tile_sample_min_height", "tile_sample_min_width", "tile_sample_stride_height",
                     "tile_sample_stride_width")  # fmt: skip
    # Class defaults, so that __init__ does not need to know about them.
    _offload: str | None = None  # None, "model", "group" (block level) or "leaf"
    _compile_options: dict[str, Any] | None = None
    _onload_counts: dict[int, int] | None = None

    @property
    def offload(self) -> str | None:
        """The offloading mode: ``None``, ``"model"``, ``"group"`` (block level) or ``"leaf"``."""
        return self._offload

    @property
    def compiled(self) -> bool:
        return self._compile_options is not None

    def enable_efficiency(
        self, device: str | torch.device, offload: str = "none", vae_tiling: bool = False, compile_blocks: bool = False
    ) -> AnimateXPipeline:
        """The efficiency options by name, enabled in the order they require (tiling, compile, then offloading):
        ``offload`` ``none``, ``model`` (:meth:`enable_model_cpu_offload`), ``group`` (block-level
        :meth:`enable_group_offload`) or ``leaf`` (layer-level) to ``device``; ``vae_tiling`` with the default
        tiles; ``compile_blocks`` (:meth:`compile`). With offloading, load the pipeline on the CPU first."""
        if offload not in OFFLOAD_MODES:
            raise ConfigError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {offload!r}")
        if vae_tiling:
            self.enable_vae_tiling()
        if compile_blocks:
            self.compile()
        if offload == "model":
            self.enable_model_cpu_offload(device)
        elif offload in ("group", "leaf"):
            self.enable_group_offload(device, level="block" if offload == "group" else "leaf")
        return self

    def enable_vae_tiling(self, **tile_options: int) -> AnimateXPipeline:
        """Tiled VAE encode and decode (diffusers' ``AutoencoderKLWan.enable_tiling``): frames larger than a tile
        are processed as overlapping spatial tiles (all frames of a tile at once, the causal cache per tile), and
        the overlaps are blended linearly. Peak VAE memory then scales with the tile, not the frame.

        ``tile_options`` (pixels, multiples of the VAE's 8× spatial compression): ``tile_sample_min_height`` and
        ``tile_sample_min_width`` (tile size, default 256), ``tile_sample_stride_height`` and
        ``tile_sample_stride_width`` (tile step, default 192, at most the tile size; tile − step is the blended
        overlap). **Tiles change the output slightly**: each tile's convolutions see only the tile, and seams are
        blended, so the video is close to, not equal to, the untiled one (the release tiles its decode too, with its
        own blending).
        """
        unknown = sorted(set(tile_options) - set(self._TILE_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown VAE tile options {unknown}; use {', '.join(self._TILE_OPTIONS)}")
        ratio = int(self.vae.spatial_compression_ratio)
        for key, value in tile_options.items():
            if not isinstance(value, int) or value <= 0 or value % ratio:
                raise ConfigError(f"{key}={value!r}: a positive multiple of the VAE's compression, {ratio}")
        merged = {key: tile_options.get(key, getattr(self.vae, key)) for key in self._TILE_OPTIONS}
        for axis in ("height", "width"):
            if merged[f"tile_sample_stride_{axis}"] > merged[f"tile_sample_min_{axis}"]:
                raise ConfigError(f"the tile stride must not exceed the tile size ({axis}: {merged})")
        self.vae.enable_tiling(**merged)
        return self

    def disable_vae_tiling(self) -> AnimateXPipeline:
        """Back to one-piece VAE encode and decode (the default)."""
        self.vae.disable_tiling()
        return self

    @property
    def vae_tiling(self) -> bool:
        return bool(getattr(self.vae, "use_tiling", False))

    def _execution_device(self, device: str | torch.device, what: str) -> torch.device:
        """``device`` as a ``torch.device``; a :class:`ConfigError` if torch cannot use it here."""
        device = torch.device(device)
        if self._offload is not None:
            raise ConfigError(f"{what}: {self._offload} offloading is already enabled (one offload mode per pipeline)")
        if device.type == "cuda":
            if not torch.cuda.is_available():
                raise ConfigError(f"{what}: execution device {device}, but torch sees no CUDA device here")
            if device.index is not None and device.index >= torch.cuda.device_count():
                raise ConfigError(f"{what}: {device} does not exist ({torch.cuda.device_count()} CUDA devices)")
        elif device.type != "cpu":
            try:
                torch.empty(0, device=device)
            except (RuntimeError, AssertionError) as exc:
                raise ConfigError(f"{what}: torch cannot use device {device} here ({exc})") from exc
        return device

    def _offloadable(self) -> list[torch.nn.Module]:
        """The units moved by model offloading: each component, and the model's parts one by one (the pose
        encoders and the IPI are not worth moving the transformer for)."""
        units = [self.model.transformer, self.model.pose_video_encoder, self.model.ref_pose_encoder, self.model.ipi,
                 self.vae, self.text_encoder, self.image_encoder, self.open_clip]  # fmt: skip
        return [m for m in units if m is not None]

    def enable_model_cpu_offload(self, device: str | torch.device = "cuda") -> AnimateXPipeline:
        """Keep every component on the CPU and move each one to ``device`` only while it runs (text encoder, Wan
        CLIP, OpenCLIP, VAE, pose encoders, IPI; the transformer for the whole denoising loop), then back.

        The GPU then holds one component at a time: the transformer (about 33 GB in bf16 at 14B) plus activations.
        Costs one host↔device copy of each component per video (a few seconds at 14B); results are unchanged.
        ``self.device`` stays ``device``. Call after :meth:`to` (the modules' dtype stays theirs).
        """
        device = self._execution_device(device, "enable_model_cpu_offload")
        for module in self._offloadable():
            module.to(self.OFFLOAD_DEVICE)
        self._offload, self.device, self._onload_counts = "model", device, {}
        return self

    def enable_group_offload(
        self,
        device: str | torch.device = "cuda",
        level: str = "block",
        use_stream: bool = True,
        num_blocks_per_group: int = 1,
    ) -> AnimateXPipeline:
        """The transformer through diffusers' group offloading, the other components as in model offloading.

        ``level="block"``: ``num_blocks_per_group`` ``WanTransformerBlock`` s on ``device`` at a time (plus the
        small non-block layers during the forward); ``level="leaf"``: one layer at a time (≈ sequential offload;
        the least memory, the most transfers). ``use_stream`` (CUDA only, ignored elsewhere) prefetches the next
        group on a side stream while the current one computes; it keeps a pinned CPU copy of the weights (about
        33 GB of host memory at 14B) and diffusers then uses one block per group. Results are unchanged.
        Call after :meth:`to`, and after :meth:`compile` if compiling (``level="leaf"`` cannot be compiled).
        """
        if level not in ("block", "leaf"):
            raise ConfigError(f"level must be 'block' or 'leaf', got {level!r}")
        if num_blocks_per_group < 1:
            raise ConfigError(f"num_blocks_per_group must be >= 1, got {num_blocks_per_group}")
        device = self._execution_device(device, "enable_group_offload")
        options = self._compile_options
        if options is not None and level == "leaf":
            raise ConfigError("leaf offloading of a compiled pipeline: its hooks on every layer would break the "
                              "compiled blocks into pieces; use level='block' or do not compile")  # fmt: skip
        if options is not None and options.get("mode") in self._CUDA_GRAPH_MODES:
            raise ConfigError(f"compile mode {options['mode']!r} records CUDA graphs, which keep weight addresses "
                              "fixed; group offloading moves the weights every step")  # fmt: skip
        for module in self._offloadable():
            module.to(self.OFFLOAD_DEVICE)
        self.model.transformer.enable_group_offload(
            onload_device=device,
            offload_device=self.OFFLOAD_DEVICE,
            offload_type=f"{level}_level",
            num_blocks_per_group=num_blocks_per_group if level == "block" else None,
            use_stream=use_stream and device.type == "cuda",
        )
        self._offload, self.device, self._onload_counts = ("group" if level == "block" else "leaf"), device, {}
        return self

    def compile(self, **torch_compile_kwargs: Any) -> AnimateXPipeline:
        """Regional compilation: ``torch.compile(block.forward, **torch_compile_kwargs)`` for each DiT block
        (:meth:`AnimateXTransformer.compile_repeated_blocks`; the pose/IPI hooks stay eager, all blocks share one
        graph). Compiles on the first call (about 20 s for the 14B blocks with inductor on an H100; a new frame
        count or size compiles again). Call before :meth:`enable_group_offload`.
        """
        if self._compile_options is not None:
            raise ConfigError("the pipeline is already compiled")
        if self._offload in ("group", "leaf"):
            raise ConfigError(f"compile() after {self._offload} offloading: call compile() first (the offloading "
                              "hooks wrap the blocks' forward and must stay outside the compiled graph)")  # fmt: skip
        self.model.transformer.compile_repeated_blocks(**torch_compile_kwargs)
        self._compile_options = dict(torch_compile_kwargs)
        return self

    @contextlib.contextmanager
    def _onloaded(self, *modules: torch.nn.Module | None) -> Iterator[None]:
        """Under model or group offloading: ``modules`` on the execution device while the block runs, back on
        :attr:`OFFLOAD_DEVICE` after (counted, so a nested use keeps a module there until the outer one ends). The
        group-offloaded transformer is left to diffusers' hooks. Without offloading: nothing."""
        if self._offload is None:
            yield
            return
        moved = [
            m
            for m in modules
            if m is not None and not (m is self.model.transformer and self._offload in ("group", "leaf"))
        ]
        counts = self._onload_counts
        for module in moved:
            if counts.get(id(module), 0) == 0:
                module.to(self.device)
            counts[id(module)] = counts.get(id(module), 0) + 1
        try:
            yield
        finally:
            for module in reversed(moved):
                counts[id(module)] -= 1
                if counts[id(module)] == 0:
                    module.to(self.OFFLOAD_DEVICE)

    # ------------------------------------------------------------------------------------------ encoders

    def prompt_tokens(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ids, attention mask)``, each ``(1, max_sequence_length)``, of the cleaned prompt (as the release)."""
        tokens = self.tokenizer(
            [clean_prompt(prompt)],
            padding="max_length",
            max_length=self.max_sequence_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        return tokens["input_ids"], tokens["attention_mask"]

    def text_features(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """umT5 embeddings ``(B, L, text_dim)`` of token ids, zero past each prompt's length (as the release)."""
        ids, mask = ids.to(self.device), mask.to(self.device)
        with self._onloaded(self.text_encoder):
            hidden = self.text_encoder(ids, attention_mask=mask).last_hidden_state
        return (hidden * mask[..., None].to(hidden.dtype)).to(self.dtype)

    @torch.no_grad()
    def encode_prompt(self, prompt: str) -> torch.Tensor:
        """umT5 embeddings ``(1, max_sequence_length, text_dim)``, zero past the prompt's length (as the release)."""
        return self.text_features(*self.prompt_tokens(prompt))

    def image_pixels(self, reference: Image.Image) -> torch.Tensor:
        """The image encoder's input ``(1, 3, S, S)`` (CPU, float32) of the reference already squashed to the output
        size (spec §2.4): [-1, 1] → bicubic to the encoder's size (no antialias) → [0, 1] → CLIP mean/std."""
        size = self.image_encoder.config.image_size
        x = torch.from_numpy(np.array(reference)).permute(2, 0, 1)[None].float() * (2 / 255) - 1
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
        return (x * 0.5 + 0.5 - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)

    def image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Wan CLIP tokens ``(B, 257, 1280)`` (``hidden_states[-2]``) of :meth:`image_pixels` output."""
        weight_dtype = next(self.image_encoder.parameters()).dtype
        with self._onloaded(self.image_encoder):
            out = self.image_encoder(pixels.to(self.device, weight_dtype), output_hidden_states=True)
        return out.hidden_states[-2].to(self.dtype)

    @torch.no_grad()
    def encode_image(self, reference: Image.Image) -> torch.Tensor:
        """Wan CLIP tokens ``(1, 257, 1280)`` of the reference (:meth:`image_pixels`, :meth:`image_features`)."""
        return self.image_features(self.image_pixels(reference))

    def _latent_stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.vae.config
        mean = torch.tensor(cfg.latents_mean).view(1, -1, 1, 1, 1).to(like)
        std = torch.tensor(cfg.latents_std).view(1, -1, 1, 1, 1).to(like)
        return mean, std

    @torch.no_grad()
    def encode_video(self, video: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The normalised VAE latent (distribution mode) of a ``(B, 3, T, H, W)`` video in [-1, 1]; normalised in
        ``dtype`` (default: the VAE's)."""
        vae_dtype = next(self.vae.parameters()).dtype
        with self._onloaded(self.vae):
            latent = self.vae.encode(video.to(self.device, vae_dtype)).latent_dist.mode()
        if dtype is not None:
            latent = latent.to(dtype)
        mean, std = self._latent_stats(latent)
        return (latent - mean) / std

    @torch.no_grad()
    def encode_condition(self, reference: Image.Image | Sequence[Image.Image], num_frames: int) -> torch.Tensor:
        """``y`` ``(B, 20, f, h, w)``: the first-frame mask (4 channels, ones at latent frame 0) and the normalised
        VAE latent (distribution mode) of ``[reference, num_frames − 1 grey frames]`` (spec §4.2); one row per
        reference (a list of same-size images is encoded as one batch)."""
        references = [reference] if isinstance(reference, Image.Image) else list(reference)
        width, height = references[0].size
        video = torch.zeros(len(references), 3, num_frames, height, width)
        for row, image in enumerate(references):
            video[row, :, 0] = torch.from_numpy(np.array(image)).permute(2, 0, 1).float() * (2 / 255) - 1
        latent = self.encode_video(video)
        mask = torch.zeros(latent.shape[0], 4, *latent.shape[2:], device=self.device, dtype=latent.dtype)
        mask[:, :, 0] = 1
        return torch.cat([mask, latent], dim=1).to(self.dtype)

    @torch.no_grad()
    def encode_ipi(self, keypoints: np.ndarray, driving_frames: np.ndarray) -> torch.Tensor:
        """IPI tokens ``(1, f, D)`` from ``(F, K, C)`` normalised keypoints and ``(F, H, W, 3)`` RGB frames (any size:
        the OpenCLIP encoder squashes them straight to its input size, as the release's ``vit_transforms``).

        As the release, when the pipeline runs in bf16 the OpenCLIP encoder's normalised *input pixels* and the
        keypoints are rounded through bf16; OpenCLIP and the IPI run in fp32 and the CLIP features stay fp32.
        """
        rounding = torch.bfloat16 if self.dtype == torch.bfloat16 else None
        with self._onloaded(self.open_clip):
            clip = self.open_clip.encode_frames(driving_frames, input_dtype=rounding)[None]
        points = torch.as_tensor(np.asarray(keypoints, np.float32))[None].to(self.device)
        if rounding is not None:
            points = points.to(rounding).float()
        with self._onloaded(self.model.ipi):
            return self.model.encode_ipi(points, clip).to(self.dtype)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents → the VAE's decoded video ``(B, 3, T, H, W)`` in about [-1, 1], unclamped (and
        differentiable, for training)."""
        mean, std = self._latent_stats(latents)
        vae_dtype = next(self.vae.parameters()).dtype
        with self._onloaded(self.vae):
            return self.vae.decode((latents * std + mean).to(vae_dtype)).sample

    @torch.no_grad()
    def decode(self, latents: torch.Tensor) -> np.ndarray:
        """Latents → ``(T, H, W, 3)`` uint8 by the release's truncation ``uint8(clip((x + 1)·127.5, 0, 255))``."""
        video = self.decode_video(latents).clamp(-1, 1)
        video = ((video[0].float() + 1) * 127.5).clamp(0, 255).permute(1, 2, 3, 0)
        return video.to(torch.uint8).cpu().numpy()

    # ------------------------------------------------------------------------------------------ inputs

    def prepare_pose(
        self,
        pose: PoseSequence | np.ndarray,
        num_frames: int,
        size: tuple[int, int],
        *,
        stride: int = 1,
        indices: Sequence[int] | np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
        ref_pose: np.ndarray | None = None,
        reference_pose: str | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
        """``(indices, pose video (F, H, W, 3), keypoints (F, K, C) | None, reference pose image (H, W, 3))``, the
        images in the model's colours (red and blue exchanged when ``config.inputs.swap_rb``, as the release).

        A :class:`PoseSequence` is drawn at ``size`` as benchmark pose videos are (``animatex`` convention, no
        face), and its keypoints feed the IPI. Rendered frames (an array in a2bench's colours, as benchmark
        ``pose.mp4`` files hold them) are squashed to ``size`` (bilinear); their IPI keypoints come from
        ``keypoints`` (all frames, sampled with the same indices). The reference-pose image is ``ref_pose`` (an
        image in a2bench's colours) when given, else by the rule ``reference_pose`` (default
        ``config.inputs.reference_pose``): ``"driving"``, the driving sequence's frame 0 (the release's
        ``sorted(os.listdir(pose_dir))[0]``, whatever frames are sampled), or ``"reference"``, the sequence's
        ``reference`` pose (the reference image's).
        """
        rule = reference_pose or self.config.inputs.reference_pose
        if rule not in REFERENCE_POSE_RULES:
            raise ValueError(f"reference_pose must be one of {', '.join(REFERENCE_POSE_RULES)}, got {rule!r}")
        available = pose.num_frames if isinstance(pose, PoseSequence) else len(pose)
        idx = sample_indices(available, num_frames, stride) if indices is None else np.asarray(indices, np.int64)
        if len(idx) != num_frames or idx.min() < 0 or idx.max() >= available:
            raise ValueError(f"frame indices must be {num_frames} values in 0..{available - 1}")
        if isinstance(pose, PoseSequence):

            def draw(frames: np.ndarray) -> np.ndarray:
                return render_poses(PoseSequence(frames, pose.size, pose.fps), size, **POSE_VIDEO)

            video = draw(pose.frames[idx])
            points = pose.frames[idx] if keypoints is None else np.asarray(keypoints)[idx]
            if ref_pose is None and rule == "reference" and pose.reference is None:
                raise ValueError(
                    "reference_pose 'reference' needs the reference image's pose, and this pose sequence has none: "
                    "give the sequence a reference pose, pass ref_pose=, or use reference_pose='driving'"
                )
            if ref_pose is None:
                ref_pose = draw((pose.reference if rule == "reference" else pose.frames[0])[None])[0]
        else:
            frames = np.asarray(pose, np.uint8)
            video = resize_frames(frames[idx], size, "bilinear")
            points = None if keypoints is None else np.asarray(keypoints)[idx]
            if ref_pose is None and rule == "reference":
                raise ValueError("rendered pose frames carry no reference pose: pass ref_pose= (or reference_pose="
                                 "'driving' for the first frame)")  # fmt: skip
            if ref_pose is None:
                ref_pose = frames[0]
        ref_image = resize_frames(np.asarray(ref_pose, np.uint8)[None], size, "bilinear")[0]
        return idx, self.model_colours(video), points, self.model_colours(ref_image)

    def model_colours(self, images: np.ndarray) -> np.ndarray:
        """Pose images ``(..., H, W, 3)`` in a2bench's colours (as drawn) → as the model saw them in training
        (``config.inputs``): red and blue exchanged when ``swap_rb``, through a JPEG round trip when ``jpeg_quality``
        (the release's ``cv2.imwrite`` of its canvas as ``.jpg``, read back by PIL as RGB)."""
        inputs = self.config.inputs
        return as_model_input(images, swap_rb=inputs.swap_rb, jpeg_quality=inputs.jpeg_quality)

    # ------------------------------------------------------------------------------------------ sampling

    def _forward(self, latents, t, context, image_tokens, y, ref_pose, pose_grid, ipi) -> torch.Tensor:
        return self.model.transformer(
            latents.to(self.dtype),
            t.expand(latents.shape[0]).to(self.dtype),
            context,
            image_tokens,
            return_dict=False,
            condition=y,
            ref_pose_features=ref_pose,
            pose_tokens=pose_grid,
            ipi_tokens=ipi,
        )[0]

    @torch.no_grad()
    def __call__(
        self,
        image: Any,
        pose: PoseSequence | np.ndarray,
        prompt: str,
        negative_prompt: str | None = None,
        *,
        num_frames: int | None = None,
        size: tuple[int, int] | None = None,
        steps: int | None = None,
        cfg: float | None = None,
        seed: int | None = None,
        stride: int = 1,
        indices: Sequence[int] | np.ndarray | None = None,
        keypoints: np.ndarray | None = None,
        driving_frames: np.ndarray | None = None,
        ref_pose: np.ndarray | None = None,
        reference_pose: str | None = None,
        fps: float | Fraction | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        callback: Any = None,
    ) -> AnimateXOutput:
        """Animate ``image`` (PIL or ``(H, W, 3)`` uint8) with ``pose`` (a :class:`PoseSequence` or rendered
        ``(T, H, W, 3)`` frames).

        Defaults are from the preset's :class:`~a2bench.animatex.config.SamplingConfig`: ``num_frames`` (``4k + 1``; the
        full model takes exactly its IPI's count, 81), ``size`` ``(W, H)`` multiples of 16 (832 × 480 portrait →
        ``(480, 832)``), ``steps``, ``cfg`` (``1`` skips the negative branch), ``seed``, ``fps``. ``indices``
        overrides :func:`sample_indices` (``stride``). The IPI's RGB frames are ``driving_frames`` (all driving
        frames at their own size, sampled with the same indices; the release uses the driving video) or, when not
        given, the rendered pose frames. The reference-pose image is ``ref_pose``, else the ``reference_pose`` rule
        (default: the config's; see :meth:`prepare_pose`). ``generator`` (a CPU generator) overrides ``seed``.
        ``output_type="latent"`` skips the decode. ``callback(step, latents)`` is called after every step.
        """
        s = self.config.sampling
        num_frames = num_frames or s.num_frames
        width, height = size or (s.width, s.height)
        steps = steps or s.num_inference_steps
        cfg = s.guidance_scale if cfg is None else float(cfg)
        seed = s.seed if seed is None else seed
        if num_frames % 4 != 1:
            raise ValueError(f"num_frames must be 4k + 1 (e.g. 81), got {num_frames}")
        if width % 16 or height % 16:
            raise ValueError(f"size {width}x{height} must be multiples of 16")
        ipi_cfg = self.config.ipi
        if ipi_cfg is not None and num_frames != ipi_cfg.num_frames:
            raise ValueError(f"the full model's IPI takes exactly {ipi_cfg.num_frames} frames; got {num_frames}")

        # 1. driving frames
        idx, pose_video, points, ref_pose_image = self.prepare_pose(
            pose, num_frames, (width, height), stride=stride, indices=indices, keypoints=keypoints, ref_pose=ref_pose,
            reference_pose=reference_pose,
        )  # fmt: skip
        reference = _rgb(image).resize((width, height), Image.BICUBIC)
        # 2. noise: CPU generator, fp32, (1, 16, f, h, w)
        latent_shape = (1, self.config.transformer.out_channels, (num_frames - 1) // 4 + 1, height // 8, width // 8)
        generator = generator or torch.Generator("cpu").manual_seed(int(seed))
        latents = torch.randn(latent_shape, generator=generator, dtype=torch.float32).to(self.device)
        # 3. IPI (full model)
        ipi = None
        if self.model.ipi is not None:
            if points is None:
                raise ValueError("the full model's IPI needs keypoints: pass a PoseSequence or keypoints=")
            rgb = pose_video if driving_frames is None else np.asarray(driving_frames)[idx]
            ipi = self.encode_ipi(points, rgb)
        # 4. text
        context = self.encode_prompt(prompt)
        negative = self.encode_prompt(s.negative_prompt if negative_prompt is None else negative_prompt)
        # 5. reference: Wan CLIP tokens, y
        image_tokens = self.encode_image(reference)
        y = self.encode_condition(reference, num_frames)
        # 6. pose video grid, reference pose features
        pose_video_t = torch.from_numpy(pose_video).permute(3, 0, 1, 2)[None].to(self.device)
        with self._onloaded(self.model.pose_video_encoder):
            pose_grid = self.model.encode_pose_video(pose_video_t).to(self.dtype)
        ref_pose_t = torch.from_numpy(ref_pose_image).permute(2, 0, 1)[None].to(self.device)
        with self._onloaded(self.model.ref_pose_encoder):
            ref_features = self.model.encode_ref_pose(ref_pose_t).to(self.dtype)
        # 7. denoising (under model offloading the transformer is on the device for the whole loop)
        self.scheduler.set_timesteps(sigmas=release_sigmas(steps), device=self.device)
        with self._onloaded(self.model.transformer):
            for step, t in enumerate(self.scheduler.timesteps):
                noise_pred = self._forward(latents, t, context, image_tokens, y, ref_features, pose_grid, ipi)
                if cfg != 1.0:
                    # negative branch: the same y (with the reference pose) and IPI, no pose-video tokens
                    uncond = self._forward(latents, t, negative, image_tokens, y, ref_features, None, ipi)
                    noise_pred = uncond + cfg * (noise_pred - uncond)
                latents = self.scheduler.step(noise_pred.float(), t, latents, return_dict=False)[0]
                if callback is not None:
                    callback(step, latents)
        rate = Fraction(fps if fps is not None else s.fps).limit_denominator(1001)
        if output_type == "latent":
            return AnimateXOutput(latents, rate, idx)
        if output_type != "np":
            raise ValueError(f"output_type must be 'np' or 'latent', got {output_type!r}")
        # 8. decode
        return AnimateXOutput(self.decode(latents), rate, idx)
