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

The pipeline is a diffusers ``DiffusionPipeline``: its components are registered (``register_modules``) and
diffusers' own ``to``, ``enable_model_cpu_offload`` (``model_cpu_offload_seq``), ``_execution_device`` and
``maybe_free_model_hooks`` move them; what this class adds, diffusers has no place for (each says why).
:meth:`AnimateXPipeline.tiny` builds every component with random weights at tiny sizes (no network, CPU, seconds),
:meth:`AnimateXPipeline.from_pretrained` loads a small pipeline's folder and :meth:`AnimateXPipeline.from_release`
the official files, assembled by :func:`a2bench.animatex.loading.release.release_components`.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from diffusers import DiffusionPipeline
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
from a2bench.animatex.loading.release import release_components
from a2bench.animatex.sampling import release_sigmas, sample_indices
from a2bench.animatex.transformer import PARTS, AnimateXModel
from a2bench.core.frames import resize_frames
from a2bench.core.pose import PoseSequence, render_poses
from a2bench.core.pose.render import POSE_VIDEO, as_model_input

__all__ = ["AnimateXOutput", "AnimateXPipeline", "ByteTokenizer", "release_sigmas", "sample_indices"]

SMALL_FORMAT = "animatex-small/1"


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


class AnimateXPipeline(DiffusionPipeline):
    """Animate-X++ inference: ``pipe(image, pose, prompt) -> AnimateXOutput``.

    Components: the model's parts ``transformer`` (:class:`~a2bench.animatex.transformer.AnimateXTransformer`, the
    conditioned Wan transformer), ``pose_video_encoder``, ``ref_pose_encoder`` and ``ipi`` (``None`` in the simple
    variant), registered one by one so that model offloading moves each on its own; ``vae``
    (``AutoencoderKLWan``), ``text_encoder`` (``UMT5EncoderModel``) and ``tokenizer``, ``image_encoder`` (Wan's CLIP
    as ``CLIPVisionModel``; its preprocessing is the release's, done here, not a ``CLIPImageProcessor``: that one
    crops), ``open_clip`` (:class:`~a2bench.animatex.ipi.OpenCLIPFrameEncoder`, full variant only) and ``scheduler``
    (``FlowMatchEulerDiscreteScheduler``, shift 5, driven with :func:`release_sigmas`). :attr:`model` is the
    :class:`~a2bench.animatex.transformer.AnimateXModel` of the four parts, and ``model.config`` the model config
    (``model_config``, the preset: sampling defaults, inputs); ``pipe.config`` is diffusers' record of the components.

    ``compute_dtype`` is the compute dtype of the transformer's inputs (bf16 on GPU, as the release); the pose
    encoders, the IPI and the CLIP encoders run in the dtype of their own weights (the release: fp32).
    """

    # The order __call__ uses them in, the VAE last: its decode then puts the transformer back.
    model_cpu_offload_seq = (
        "open_clip->ipi->text_encoder->image_encoder->pose_video_encoder->ref_pose_encoder->transformer->vae"
    )
    _optional_components: ClassVar[list[str]] = ["ipi", "open_clip"]  # the simple variant has neither

    def __init__(
        self,
        transformer: torch.nn.Module,
        pose_video_encoder: torch.nn.Module,
        ref_pose_encoder: torch.nn.Module,
        vae: torch.nn.Module,
        text_encoder: torch.nn.Module,
        tokenizer: Any,
        image_encoder: torch.nn.Module,
        scheduler: Any,
        ipi: torch.nn.Module | None = None,
        open_clip: torch.nn.Module | None = None,
        *,
        model_config: AnimateXConfig | None = None,
        max_sequence_length: int = 512,
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        # model_config has a default only because diffusers takes every required argument for a component.
        super().__init__()
        if model_config is None:
            raise ConfigError("AnimateXPipeline needs model_config: the AnimateXConfig its model parts were built from")
        if ipi is not None and open_clip is None:
            raise ConfigError(f"model {model_config.name!r} has an IPI: the pipeline needs the OpenCLIP frame encoder")
        self.register_modules(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, image_encoder=image_encoder,
                              scheduler=scheduler, open_clip=open_clip)  # fmt: skip
        parts = {"transformer": transformer, "pose_video_encoder": pose_video_encoder,
                 "ref_pose_encoder": ref_pose_encoder, "ipi": ipi}  # fmt: skip
        self.model = AnimateXModel(model_config, **parts)
        self.max_sequence_length, self.compute_dtype = max_sequence_length, compute_dtype
        self.components_config: ComponentsConfig | None = None  # set for pipelines built from_components
        self.metadata: dict[str, Any] = {}  # from_pretrained: the saved run's metadata
        self._compile_options: dict[str, Any] | None = None

    @property
    def model(self) -> AnimateXModel:
        """The Animate-X++ model: the four registered parts as one module, with the model config."""
        return self._model

    @model.setter
    def model(self, model: AnimateXModel) -> None:
        # Replace the model as a whole (e.g. a grown one): its parts become the registered components.
        self._model = model
        self.register_modules(**model.parts())

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
        config = config if isinstance(config, AnimateXConfig) else get_preset(config)
        components = components if isinstance(components, ComponentsConfig) else get_components(components)
        torch.manual_seed(seed)
        model = AnimateXModel(config)
        pipe = cls(**model.parts(), **build_components(config, components), model_config=config,
                   max_sequence_length=components.max_sequence_length)  # fmt: skip
        pipe.components_config = components
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

    @classmethod
    def from_release(
        cls, variant: str = "animatex", device: str = "cuda", dtype: torch.dtype = torch.bfloat16, **options: Any
    ) -> AnimateXPipeline:
        """The pipeline with the official weights from the registry (``a2bench weights fetch --model animatex``),
        on ``device``: :func:`~a2bench.animatex.loading.release.release_components` assembles the components
        (``options`` are its keyword arguments)."""
        return cls(**release_components(variant, dtype, **options)).to(device)

    # Saving and loading: one safetensors file. diffusers' save_pretrained/from_pretrained save only diffusers and
    # transformers classes, which the pose encoders, the IPI, OpenCLIP and the byte tokenizer are not.

    def _saved_modules(self) -> dict[str, torch.nn.Module]:
        """The modules of the saved file by key prefix: ``model`` (the four parts) and the other components."""
        others = {name: module for name, module in self.components.items()
                  if isinstance(module, torch.nn.Module) and name not in PARTS}  # fmt: skip
        return {"model": self.model, **others}

    def save_pretrained(
        self, folder: str | Path, metadata: Mapping[str, Any] | None = None, dtype: torch.dtype = torch.float32
    ) -> Path:
        """Write a small pipeline (one built :meth:`from_components`) to ``folder``: ``config.json`` (the model
        config, the components config and ``metadata``) and ``model.safetensors`` (``<component>.<key>``, stored
        as ``dtype``: float32, or float16 to halve the file; :meth:`from_pretrained` loads either into float32).
        """
        from safetensors.torch import save_file

        if self.components_config is None:
            raise ConfigError("save_pretrained needs a pipeline built from components (from_components/tiny)")
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for name, module in self._saved_modules().items():
            for key, tensor in module.state_dict().items():
                if name == "text_encoder" and key == "encoder.embed_tokens.weight":
                    continue  # tied to shared.weight (stored once)
                stored = dtype if tensor.is_floating_point() else tensor.dtype
                tensors[f"{name}.{key}"] = tensor.detach().to("cpu", stored).contiguous()
        doc = {"format": SMALL_FORMAT, "model": self.model.config.to_dict(),
               "components": self.components_config.to_dict(), "metadata": dict(metadata or {})}  # fmt: skip
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
        modules = pipe._saved_modules()
        for name, module in modules.items():
            part = {k.removeprefix(name + "."): v for k, v in state.items() if k.startswith(name + ".")}
            if name == "text_encoder" and "shared.weight" in part:
                part["encoder.embed_tokens.weight"] = part["shared.weight"]
            missing, unexpected = module.load_state_dict(part, strict=False)
            if missing or unexpected:
                raise ValueError(f"{weights_file}: component {name!r} has missing keys {missing[:5]} and unexpected "
                                 f"keys {unexpected[:5]}")  # fmt: skip
        stray = sorted(k for k in state if not k.startswith(tuple(n + "." for n in modules)))
        if stray:
            raise ValueError(f"{weights_file}: keys of no component: {stray[:5]}")
        pipe.metadata = dict(doc.get("metadata", {}))
        return pipe.to(device)

    # ------------------------------------------------------------------------------------------ efficiency
    # docs/animatex.md "Efficiency options". diffusers' own: to(), enable_model_cpu_offload() and its group-offloading
    # hooks. The rules they do not check are checked here: one offload mode per pipeline, enabled after to();
    # compile() before group/leaf offload (their hooks wrap each block's forward, compiled first); leaf offload never
    # with compile (its hooks sit on every layer inside the compiled blocks); no CUDA-graph compile modes with
    # group/leaf offload (the weights move every step). VAE tiling combines with everything.

    _CUDA_GRAPH_MODES = ("reduce-overhead", "max-autotune")
    _TILE_OPTIONS = ("tile_sample_min_height", "tile_sample_min_width", "tile_sample_stride_height",
                     "tile_sample_stride_width")  # fmt: skip

    @property
    def compiled(self) -> bool:
        return self._compile_options is not None

    def enable_efficiency(
        self, device: str | torch.device, offload: str = "none", vae_tiling: bool = False, compile_blocks: bool = False
    ) -> AnimateXPipeline:
        """The efficiency options by name, enabled in the order they require (tiling, compile, then offloading):
        ``offload`` ``none``, ``model`` (diffusers' ``enable_model_cpu_offload``: each component on ``device`` while
        it runs, the transformer for the whole denoising loop), ``group`` (block-level :meth:`enable_group_offload`)
        or ``leaf`` (layer-level) to ``device``; ``vae_tiling`` with the default tiles; ``compile_blocks``
        (:meth:`compile`). With offloading, load the pipeline on the CPU first. The video is the same."""
        if offload not in OFFLOAD_MODES:
            raise ConfigError(f"offload must be one of {', '.join(OFFLOAD_MODES)}, got {offload!r}")
        if vae_tiling:
            self.enable_vae_tiling()
        if compile_blocks:
            self.compile()
        if offload == "model":
            self.enable_model_cpu_offload(device=self._checked_device(device, "enable_model_cpu_offload"))
        elif offload in ("group", "leaf"):
            self.enable_group_offload(device, level="block" if offload == "group" else "leaf")
        return self

    def enable_vae_tiling(self, **tile_options: int) -> AnimateXPipeline:
        """Tiled VAE encode and decode (diffusers' ``AutoencoderKLWan.enable_tiling``, its options checked here):
        frames larger than a tile are processed as overlapping spatial tiles (all frames of a tile at once, the
        causal cache per tile), and the overlaps are blended linearly. Peak VAE memory then scales with the tile,
        not the frame.

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

    def _offload_mode(self) -> str | None:
        """``"group"`` or ``"model"`` when diffusers' offloading hooks are on the transformer, else ``None``."""
        if self._maybe_raise_error_if_group_offload_active(module=self.transformer):
            return "group"
        return "model" if hasattr(self.transformer, "_hf_hook") else None

    def _checked_device(self, device: str | torch.device, what: str) -> torch.device:
        """``device`` as a ``torch.device`` to offload to; a :class:`ConfigError` when torch cannot use it here or an
        offload mode is already on (diffusers would fail later, or mix the modes)."""
        device = torch.device(device)
        mode = self._offload_mode()
        if mode is not None:
            raise ConfigError(f"{what}: {mode} offloading is already enabled (one offload mode per pipeline)")
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

    def enable_group_offload(  # type: ignore[override]
        self,
        onload_device: str | torch.device = "cuda",
        level: str = "block",
        use_stream: bool = True,
        num_blocks_per_group: int = 1,
    ) -> AnimateXPipeline:
        """diffusers' group offloading, by component: the transformer ``num_blocks_per_group`` blocks at a time
        (``level="block"``) or one layer at a time (``"leaf"``: the least memory, the most transfers); every other
        component at block level (whole, for those without block lists: on ``onload_device`` only while its forward
        runs); the VAE stays on ``onload_device``.

        ``use_stream`` (CUDA only, ignored elsewhere) prefetches the transformer's next group on a side stream while
        the current one computes; it keeps a pinned CPU copy of its weights (about 33 GB of host memory at 14B) and
        diffusers then uses one block per group. Results are unchanged. Call after ``to``, and after
        :meth:`compile` if compiling (``level="leaf"`` cannot be compiled).
        """
        # diffusers' version gives every component one level: leaf level would break OpenCLIP's and the IPI's
        # nn.MultiheadAttention (it reads out_proj's weight without calling it), and its hooks wrap forward, which
        # the VAE's encode and decode do not call.
        from diffusers.hooks import apply_group_offloading

        if level not in ("block", "leaf"):
            raise ConfigError(f"level must be 'block' or 'leaf', got {level!r}")
        if num_blocks_per_group < 1:
            raise ConfigError(f"num_blocks_per_group must be >= 1, got {num_blocks_per_group}")
        device = self._checked_device(onload_device, "enable_group_offload")
        options = self._compile_options
        if options is not None and level == "leaf":
            raise ConfigError("leaf offloading of a compiled pipeline: its hooks on every layer would break the "
                              "compiled blocks into pieces; use level='block' or do not compile")  # fmt: skip
        if options is not None and options.get("mode") in self._CUDA_GRAPH_MODES:
            raise ConfigError(f"compile mode {options['mode']!r} records CUDA graphs, which keep weight addresses "
                              "fixed; group offloading moves the weights every step")  # fmt: skip
        self.transformer.enable_group_offload(
            onload_device=device,
            offload_type=f"{level}_level",
            num_blocks_per_group=num_blocks_per_group if level == "block" else None,
            use_stream=use_stream and device.type == "cuda",
        )
        for name, module in self.components.items():
            if isinstance(module, torch.nn.Module) and name not in ("transformer", "vae"):
                apply_group_offloading(module, onload_device=device, offload_type="block_level", num_blocks_per_group=1)
        self.vae.to(device)
        return self

    def compile(self, **torch_compile_kwargs: Any) -> AnimateXPipeline:
        """Regional compilation: ``torch.compile(block.forward, **torch_compile_kwargs)`` for each DiT block
        (:meth:`AnimateXTransformer.compile_repeated_blocks`; the pose/IPI hooks stay eager, all blocks share one
        graph). Compiles on the first call (about 20 s for the 14B blocks with inductor on an H100; a new frame
        count or size compiles again). Call before :meth:`enable_group_offload`.
        """
        if self._compile_options is not None:
            raise ConfigError("the pipeline is already compiled")
        if self._offload_mode() == "group":
            raise ConfigError("compile() after group offloading: call compile() first (the offloading hooks wrap "
                              "the blocks' forward and must stay outside the compiled graph)")  # fmt: skip
        self.transformer.compile_repeated_blocks(**torch_compile_kwargs)
        self._compile_options = dict(torch_compile_kwargs)
        return self

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
        device = self._execution_device
        ids, mask = ids.to(device), mask.to(device)
        hidden = self.text_encoder(ids, attention_mask=mask).last_hidden_state
        return (hidden * mask[..., None].to(hidden.dtype)).to(self.compute_dtype)

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
        out = self.image_encoder(pixels.to(self._execution_device, self.image_encoder.dtype), output_hidden_states=True)
        return out.hidden_states[-2].to(self.compute_dtype)

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
        latent = self.vae.encode(video.to(self._execution_device, self.vae.dtype)).latent_dist.mode()
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
        mask = torch.zeros(latent.shape[0], 4, *latent.shape[2:], device=latent.device, dtype=latent.dtype)
        mask[:, :, 0] = 1
        return torch.cat([mask, latent], dim=1).to(self.compute_dtype)

    @torch.no_grad()
    def encode_ipi(self, keypoints: np.ndarray, driving_frames: np.ndarray) -> torch.Tensor:
        """IPI tokens ``(1, f, D)`` from ``(F, K, C)`` normalised keypoints and ``(F, H, W, 3)`` RGB frames (any size:
        the OpenCLIP encoder squashes them straight to its input size, as the release's ``vit_transforms``).

        As the release, when the pipeline runs in bf16 the OpenCLIP encoder's normalised *input pixels* and the
        keypoints are rounded through bf16; OpenCLIP and the IPI run in fp32 and the CLIP features stay fp32.
        """
        rounding = torch.bfloat16 if self.compute_dtype == torch.bfloat16 else None
        clip = self.open_clip.encode_frames(driving_frames, input_dtype=rounding)[None]
        points = torch.as_tensor(np.asarray(keypoints, np.float32))[None].to(self._execution_device)
        if rounding is not None:
            points = points.to(rounding).float()
        return self.model.encode_ipi(points, clip).to(self.compute_dtype)

    def decode_video(self, latents: torch.Tensor) -> torch.Tensor:
        """Normalised latents → the VAE's decoded video ``(B, 3, T, H, W)`` in about [-1, 1], unclamped (and
        differentiable, for training)."""
        mean, std = self._latent_stats(latents)
        return self.vae.decode((latents * std + mean).to(self.vae.dtype)).sample

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
        rule = reference_pose or self.model.config.inputs.reference_pose
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
        inputs = self.model.config.inputs
        return as_model_input(images, swap_rb=inputs.swap_rb, jpeg_quality=inputs.jpeg_quality)

    # ------------------------------------------------------------------------------------------ sampling

    def _forward(self, latents, t, context, image_tokens, y, ref_pose, pose_grid, ipi) -> torch.Tensor:
        return self.transformer(
            latents.to(self.compute_dtype),
            t.expand(latents.shape[0]).to(self.compute_dtype),
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
        config = self.model.config
        s = config.sampling
        num_frames = num_frames or s.num_frames
        width, height = size or (s.width, s.height)
        steps = steps or s.num_inference_steps
        cfg = s.guidance_scale if cfg is None else float(cfg)
        seed = s.seed if seed is None else seed
        if num_frames % 4 != 1:
            raise ValueError(f"num_frames must be 4k + 1 (e.g. 81), got {num_frames}")
        if width % 16 or height % 16:
            raise ValueError(f"size {width}x{height} must be multiples of 16")
        ipi_cfg = config.ipi
        if ipi_cfg is not None and num_frames != ipi_cfg.num_frames:
            raise ValueError(f"the full model's IPI takes exactly {ipi_cfg.num_frames} frames; got {num_frames}")

        # 1. driving frames
        idx, pose_video, points, ref_pose_image = self.prepare_pose(
            pose, num_frames, (width, height), stride=stride, indices=indices, keypoints=keypoints, ref_pose=ref_pose,
            reference_pose=reference_pose,
        )  # fmt: skip
        reference = _rgb(image).resize((width, height), Image.BICUBIC)
        # 2. noise: CPU generator, fp32, (1, 16, f, h, w)
        latent_shape = (1, config.transformer.out_channels, (num_frames - 1) // 4 + 1, height // 8, width // 8)
        generator = generator or torch.Generator("cpu").manual_seed(int(seed))
        device = self._execution_device
        latents = torch.randn(latent_shape, generator=generator, dtype=torch.float32).to(device)
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
        pose_video_t = torch.from_numpy(pose_video).permute(3, 0, 1, 2)[None].to(device)
        pose_grid = self.model.encode_pose_video(pose_video_t).to(self.compute_dtype)
        ref_pose_t = torch.from_numpy(ref_pose_image).permute(2, 0, 1)[None].to(device)
        ref_features = self.model.encode_ref_pose(ref_pose_t).to(self.compute_dtype)
        # 7. denoising (under model offloading the transformer is on the device for the whole loop)
        self.scheduler.set_timesteps(sigmas=release_sigmas(steps), device=device)
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
        if output_type not in ("np", "latent"):
            raise ValueError(f"output_type must be 'np' or 'latent', got {output_type!r}")
        # 8. decode
        frames = latents if output_type == "latent" else self.decode(latents)
        self.maybe_free_model_hooks()  # model offloading: every component back on the CPU
        return AnimateXOutput(frames, rate, idx)
