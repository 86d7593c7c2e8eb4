"""The Animate-X++ training step and loop (``animatex train``; docs/animatex.md "Training").

One step, per item of the batch (the conditions are built as :class:`~a2bench.animatex.pipeline.AnimateXPipeline`
builds them, with its own frozen encoders):

1. the clip → frozen VAE → normalised latent ``x0`` (distribution mode); umT5 prompt embedding; Wan CLIP tokens
   and ``y`` (first-frame mask + VAE latent of ``[reference, grey…]``) of the reference frame; OpenCLIP features
   of the IPI frames (all frozen, no gradient);
2. ``σ = shift·u / (1 + (shift − 1)·u)`` with ``u ~ U(0, 1)`` (the release's shifted flow-matching schedule,
   shift 5), ``x_σ = (1 − σ)·x0 + σ·ε``, timestep ``1000·σ``;
3. condition dropout (UniAnimate-DiT): with ``dropout.pose`` (0.05) the pose-video tokens and the reference-pose
   features are zeroed, with ``dropout.image`` (0.1) ``y`` and the CLIP image tokens; a TI2V item has every
   pose condition (pose-video tokens, reference pose, IPI) zeroed;
4. the trainable modules (pose-video encoder, reference-pose encoder, IPI, the DiT with its LoRA) predict the
   velocity; loss = MSE to ``ε − x0``, each latent channel weighted alike or, with ``train.channel_weights:
   decoder``, by :func:`decoder_channel_weights`.

Every random draw of item ``i`` (σ, ε, dropout) comes from a generator seeded with ``(seed, i)``, so a run's
items and draws depend only on the step, not on the number of processes or on a resume. A condition that no
item of a micro-batch uses is not computed at all, so its encoder gets no gradient (``None``, which AdamW
skips: a TI2V-only step leaves the pose encoders exactly as they were).

The run (processes, checkpoints, resume, the step log, the time limit) is the :class:`~a2bench.animatex.train.trainer.
Trainer`'s; :class:`DiTStage` is what this training gives it. Checkpoints hold the trainable parameters only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from a2bench.animatex.config import AnimateXConfig, ConfigError, get_preset
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.animatex.train.config import ENCODER_GROUPS, SMALL_PRESETS, TrainConfig
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions
from a2bench.animatex.train.data import ANIMATION, TI2V, AnimationDataset, ClipItem, item_rng
from a2bench.animatex.train.grow import grow_model, widen_model
from a2bench.animatex.train.trainer import RunSettings, Stage, Trainer, TrainResult, total_seconds
from a2bench.animatex.train.vae import load_trained_vae

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
Batch = tuple[list[ClipItem], dict[str, Any]]  # a micro-batch: its items and their inputs (build_inputs)


# ------------------------------------------------------------------------------------------------ model


def build_pipeline(cfg: TrainConfig) -> AnimateXPipeline:
    """The pipeline whose frozen encoders build the conditions and whose ``model`` is trained (on CPU)."""
    m = cfg.model
    if m.small:
        if m.weights != "random":
            pipe = AnimateXPipeline.from_pretrained(m.weights)
            name = pipe.model.config.name
            if name != m.preset:
                raise ConfigError(f"model.weights {m.weights}: a {name!r} pipeline, but model.preset is {m.preset!r}; "
                                  "set the preset it was trained with")  # fmt: skip
        elif m.preset in ("tiny", "tiny-simple"):
            pipe = AnimateXPipeline.tiny(seed=m.seed, variant=m.preset)
        else:
            pipe = AnimateXPipeline.from_components(m.preset, SMALL_PRESETS[m.preset], seed=m.seed)
        if m.vae is not None:
            pipe.vae, vae_config = load_trained_vae(m.vae)
            pipe.components_config = pipe.components_config.replace(vae=vae_config)
            z_dim, model_z = vae_config.get("z_dim", 16), pipe.model.config.transformer.out_channels
            if z_dim > model_z and m.weights != "random":
                pipe.model = grow_model(pipe.model, z_dim)  # the trained model, on more channels
            elif z_dim != model_z:
                raise ConfigError(f"model.vae {m.vae}: {z_dim} latent channels, but the {m.preset!r} DiT takes "
                                  f"{model_z} (a trained model.weights pipeline grows to more, not fewer)")  # fmt: skip
        if m.widen > 1:
            pipe.model = widen_model(pipe.model, m.widen, seed=m.seed)  # the trained DiT, m.widen times as wide
        dtype = DTYPES.get(m.dtype, torch.float32)
        if dtype != torch.float32:
            for module in (pipe.vae, pipe.text_encoder, pipe.image_encoder, pipe.model.transformer):
                module.to(dtype)
    else:
        dtype = torch.bfloat16 if m.dtype == "release" else DTYPES[m.dtype]
        pipe = AnimateXPipeline.from_release(m.preset, device="cpu", dtype=dtype)
    if m.ipi_dropout is not None and pipe.model.ipi is not None:
        for module in pipe.model.ipi.modules():
            if isinstance(module, nn.Dropout):
                module.p = float(m.ipi_dropout)
    return pipe


def training_dataset(cfg: TrainConfig) -> AnimationDataset:
    """The items ``cfg`` trains on: its ``data`` section, at the preset's frames and size unless it sets them."""
    d, sampling = cfg.data, get_preset(cfg.model.preset).sampling
    size = tuple(d.size) if d.size else (sampling.width, sampling.height)
    return AnimationDataset(d.benchmark, d.num_frames or sampling.num_frames, size, stride=d.stride, epi=d.epi,
                            ti2v_ratio=d.ti2v_ratio, seed=d.seed, exclude=d.exclude)  # fmt: skip


def trained_sampling(config: AnimateXConfig, dataset: AnimationDataset) -> AnimateXConfig:
    """``config`` with the sampling size and clip length the model was trained at (``data.size``,
    ``data.num_frames``): an exported pipeline samples as it was trained unless told otherwise."""
    width, height = dataset.size
    sampling = dataclasses.replace(config.sampling, width=width, height=height, num_frames=dataset.num_frames)
    return config.replace(sampling=sampling)


def setup_trainable(model: nn.Module, cfg: TrainConfig, pipe: Any = None) -> list[tuple[str, int, int]]:
    """Add the LoRA (when ``lora`` is listed), freeze everything, unfreeze the ``train.trainable`` groups (in
    fp32). The encoder groups (``text_encoder``, ``image_encoder``, ``open_clip``) are ``pipe``'s modules.
    Returns ``(group, tensors, parameters)`` rows."""
    groups = cfg.train.trainable
    encoders = {name: getattr(pipe, name, None) for name in ENCODER_GROUPS}
    for module in encoders.values():
        if module is not None:
            module.requires_grad_(False)
    if "lora" in groups:
        from peft import LoraConfig

        lora = cfg.lora
        model.transformer.add_adapter(
            LoraConfig(r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                       target_modules=list(lora.targets), init_lora_weights=True)
        )  # fmt: skip
    model.requires_grad_(False)
    rows = []
    for group in groups:
        if group == "lora":
            params = [p for n, p in model.named_parameters() if ".lora_A." in n or ".lora_B." in n]
            if not params:
                raise ConfigError(f"lora.targets {list(cfg.lora.targets)} matched no module of the transformer")
        elif group in ENCODER_GROUPS:
            if encoders[group] is None:
                raise ConfigError(f"train.trainable: this pipeline has no {group!r}")
            params = list(encoders[group].parameters())
        else:
            try:
                params = list(model.get_submodule(group).parameters())
            except AttributeError:
                raise ConfigError(f"train.trainable: the model has no module {group!r}") from None
        for p in params:
            p.requires_grad_(True)
            if p.dtype != torch.float32:
                p.data = p.data.float()
        rows.append((group, len(params), sum(p.numel() for p in params)))
    return rows


class TrainModule(nn.Module):
    """The trainable forward as one module, so that DDP/FSDP wrap all of it: the pipeline's text and image
    encoders (features of the prompt, the reference and the IPI's frames; frozen ones run without gradient), the
    pose encoders, the IPI and the transformer."""

    def __init__(self, pipe: Any) -> None:
        super().__init__()
        self.model = pipe.model
        self.text_encoder, self.image_encoder, self.open_clip = pipe.text_encoder, pipe.image_encoder, pipe.open_clip
        self._pipe = (pipe,)  # the pipeline's feature methods; a tuple, so not a submodule

    def train(self, mode: bool = True) -> TrainModule:
        """Train mode for the model and the trainable encoders; frozen encoders stay in eval mode (no dropout)."""
        super().train(mode)
        for encoder in (self.text_encoder, self.image_encoder, self.open_clip):
            if encoder is not None and not any(p.requires_grad for p in encoder.parameters()):
                encoder.eval()
        return self

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trainable parameters: the model's under their :class:`AnimateXModel` names, the encoders' under
        ``text_encoder.``, ``image_encoder.``, ``open_clip.``."""
        return {n.removeprefix("model."): p.detach().cpu().contiguous()
                for n, p in self.named_parameters() if p.requires_grad}  # fmt: skip

    def load_trainable(self, weights: dict[str, torch.Tensor]) -> None:
        """The inverse of :meth:`trainable_state` (the other parameters are left as they are)."""
        prefixed = {(k if k.startswith(tuple(g + "." for g in ENCODER_GROUPS)) else "model." + k): v
                    for k, v in weights.items()}  # fmt: skip
        self.load_state_dict(prefixed, strict=False)

    def _features(self, encoder: nn.Module | None, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        trainable = encoder is not None and any(p.requires_grad for p in encoder.parameters())
        with torch.set_grad_enabled(trainable and torch.is_grad_enabled()):
            return compute()

    def forward(self, inputs: dict[str, Any]) -> torch.Tensor:
        pipe, model, dtype = self._pipe[0], self.model, inputs["latents"].dtype
        context = self._features(self.text_encoder, lambda: pipe.text_features(inputs["prompt_ids"],
                                                                               inputs["prompt_mask"]))  # fmt: skip
        image_tokens = self._features(self.image_encoder, lambda: pipe.image_features(inputs["ref_pixels"]))
        image_tokens = image_tokens * inputs["image_keep"].to(image_tokens.dtype).view(-1, 1, 1)
        pose_keep, ipi_keep = inputs["pose_keep"], inputs["ipi_keep"]
        pose_grid = ref_features = ipi = None
        if bool(pose_keep.any()):
            keep = pose_keep.to(dtype)
            pose_grid = model.encode_pose_video(inputs["pose_video"]) * keep.view(-1, 1, 1, 1, 1)
            ref_features = model.encode_ref_pose(inputs["ref_pose"]) * keep.view(-1, 1, 1, 1, 1)
        if model.ipi is not None and bool(ipi_keep.any()):
            pixels = inputs["clip_pixels"]
            clip = self._features(self.open_clip, lambda: self.open_clip(pixels.flatten(0, 1)))
            clip = clip.unflatten(0, pixels.shape[:2]).float()
            ipi = model.encode_ipi(inputs["keypoints"], clip) * ipi_keep.to(dtype).view(-1, 1, 1)
        return model.transformer(
            inputs["latents"],
            inputs["timestep"],
            context,
            image_tokens,
            return_dict=False,
            condition=inputs["y"],
            ref_pose_features=ref_features,
            pose_tokens=pose_grid,
            ipi_tokens=ipi,
        )[0]


# ------------------------------------------------------------------------------------------------ step


class LatentCache:
    """The frozen VAE's encodings by key (a clip's frames, a reference frame), kept on the device.

    The VAE is frozen and deterministic (distribution mode), so an encoding depends only on which frames of which
    sample it encodes; ``train.latent_cache`` keeps them for the rest of the run (small benchmarks: a few hundred
    MB for synth-train), which removes the VAE from most steps. Off by default: numerically the same up to the
    VAE's batch composition (float rounding).
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.store: dict[tuple, torch.Tensor] = {}

    def get(self, keys: list[tuple], encode: Callable[[list[int]], torch.Tensor]) -> torch.Tensor:
        """The encodings of ``keys`` stacked; ``encode(positions)`` computes the missing ones in one batch."""
        missing = [i for i, key in enumerate(keys) if key not in self.store] if self.enabled else list(range(len(keys)))
        fresh = encode(missing) if missing else None
        if not self.enabled:
            return fresh
        for row, i in enumerate(missing):
            self.store[keys[i]] = fresh[row]
        return torch.stack([self.store[key] for key in keys])


def shifted_sigma(u: float, shift: float) -> float:
    """The release's time shift ``shift·u / (1 + (shift − 1)·u)``."""
    return shift * u / (1 + (shift - 1) * u)


@torch.no_grad()
def clip_latents(pipe: Any, items: list[ClipItem]) -> torch.Tensor:
    """The normalised VAE latents (float32) of the items' clips, encoded as one batch."""
    videos = torch.from_numpy(np.stack([item.video for item in items])).permute(0, 4, 1, 2, 3).float()
    return pipe.encode_video(videos * (2 / 255) - 1, torch.float32)


@torch.no_grad()
def build_inputs(
    pipe: Any, items: list[ClipItem], cfg: TrainConfig, device: torch.device, cache: LatentCache | None = None
) -> dict[str, Any]:
    """Frozen encodings, encoder inputs, noise, σ and dropout masks of a micro-batch (see the module docstring)."""
    shift = cfg.train.shift if cfg.train.shift is not None else pipe.model.config.sampling.shift
    seed = cfg.train.seed
    rows: dict[str, list] = {k: [] for k in ("latents", "target", "sigma", "prompt_ids", "prompt_mask", "ref_pixels",
                                             "image_keep", "y", "clip_pixels", "pose_keep", "ipi_keep")}  # fmt: skip
    num_frames = len(items[0].video)
    references = [Image.fromarray(item.reference) for item in items]
    cache = cache if cache is not None else LatentCache(enabled=False)

    x0s = cache.get([("clip", i.sample_id, *map(int, i.frames)) for i in items],
                    lambda batch: clip_latents(pipe, [items[i] for i in batch]))  # fmt: skip
    ys = cache.get([("reference", i.sample_id, i.reference_frame, num_frames) for i in items],
                   lambda batch: pipe.encode_condition([references[i] for i in batch], num_frames))  # fmt: skip
    for item, x0, y, reference in zip(items, x0s, ys, references, strict=True):
        x0, y = x0[None], y[None]
        draws = item_rng(seed, item.index, 3)
        u, drop_pose, drop_image = draws.random(3)
        generator = torch.Generator("cpu").manual_seed(int(draws.integers(2**62)))
        noise = torch.randn(x0.shape, generator=generator, dtype=torch.float32).to(device)
        sigma = shifted_sigma(float(u), shift)
        rows["latents"].append((1 - sigma) * x0 + sigma * noise)
        rows["target"].append(noise - x0)
        rows["sigma"].append(sigma)
        keep_image = float(drop_image >= cfg.dropout.image)
        drop_text = item_rng(seed, item.index, 4).random() < cfg.dropout.text
        ids, mask = pipe.prompt_tokens(pipe.model.config.sampling.negative_prompt if drop_text else item.prompt)
        rows["prompt_ids"].append(ids)
        rows["prompt_mask"].append(mask)
        rows["ref_pixels"].append(pipe.image_pixels(reference))
        rows["image_keep"].append(keep_image)
        rows["y"].append(y * keep_image)
        animation = item.task == ANIMATION
        rows["pose_keep"].append(animation and drop_pose >= cfg.dropout.pose)
        rows["ipi_keep"].append(animation)
        if pipe.open_clip is not None:
            frames = item.video if cfg.data.ipi_frames == "video" else pipe.model_colours(item.pose_video)
            rows["clip_pixels"].append(pipe.open_clip.preprocess(frames)[None])
    out = {k: torch.cat(v).to(device) for k, v in rows.items() if v and isinstance(v[0], torch.Tensor)}
    out["timestep"] = torch.tensor(rows["sigma"], device=device) * pipe.scheduler.config.num_train_timesteps
    out["sigma"] = torch.tensor(rows["sigma"])
    for key in ("image_keep", "pose_keep", "ipi_keep"):
        out[key] = torch.tensor(rows[key], device=device)
    pose_video = pipe.model_colours(np.stack([i.pose_video for i in items]))
    out["pose_video"] = torch.from_numpy(pose_video).permute(0, 4, 1, 2, 3).to(device)
    out["ref_pose"] = torch.from_numpy(pipe.model_colours(np.stack([i.ref_pose for i in items]))).permute(0, 3, 1, 2)
    out["ref_pose"] = out["ref_pose"].to(device)
    out["keypoints"] = torch.from_numpy(np.stack([i.keypoints for i in items])).to(device)
    out["latents"] = out["latents"].to(pipe.compute_dtype)
    return out


def compute_loss(
    module: nn.Module, inputs: dict[str, Any], channel_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Flow-matching loss: MSE between the predicted velocity and ``ε − x0``; with ``channel_weights`` (one per
    latent channel, mean 1) each channel's squared error is weighted."""
    error = (module(inputs).float() - inputs["target"].float()) ** 2
    if channel_weights is not None:
        error = error * channel_weights.view(1, -1, 1, 1, 1).to(error)
    return error.mean()


def decoder_channel_weights(pipe: Any, items: list[ClipItem], seed: int, probes: int = 2) -> torch.Tensor:
    """How much the decoded frames change per unit change of each normalised latent channel, scaled to mean 1.

    For the decoder's Jacobian ``J`` at the clips' latents, channel ``c``'s weight is ``‖J_c‖²`` (the squared
    Frobenius norm of its columns), so that ``Σ_c w_c · MSE_c`` is, to first order, the decoded frames' squared
    error of a latent error spread evenly over positions. Estimated by Hutchinson's trick: for ``r ~ N(0, I)`` in
    pixel space ``E[(Jᵀr)_c²]`` summed over channel ``c``'s positions is ``‖J_c‖²``; ``probes`` draws of ``r``
    (from ``seed``), one backward pass through the decoder each. Deterministic for the same items and seed."""
    latents = clip_latents(pipe, items)
    generator = torch.Generator("cpu").manual_seed(seed)
    total = torch.zeros(latents.shape[1], dtype=torch.float64)
    for _ in range(probes):
        z = latents.detach().clone().requires_grad_(True)
        with torch.enable_grad():
            frames = pipe.decode_video(z).float()
            probe = torch.randn(frames.shape, generator=generator).to(frames)
            (grad,) = torch.autograd.grad(frames, z, probe)
        total += grad.double().pow(2).sum(dim=(0, 2, 3, 4)).cpu()
    return (total / total.mean()).float()


# ------------------------------------------------------------------------------------------------ loop


def item_batches(
    dataset: AnimationDataset, steps: range, grad_accum: int, global_batch: int, offset: int, size: int, workers: int
) -> Iterator[list[ClipItem]]:
    """This process's micro-batches of ``steps``, in order: step ``s``, micro-step ``m`` takes the items
    ``(s·grad_accum + m)·global_batch + offset + j`` for ``j < size``. With ``workers > 0`` a DataLoader builds them
    in that many processes (the same items: an item is a pure function of its index), started by ``spawn``: a
    forked worker inherits OpenCV's thread pool in whatever state the training process left it, and hangs in its
    first OpenCV call once the parent has used that pool (pose rendering, resizing)."""
    indices = [[(s * grad_accum + m) * global_batch + offset + j for j in range(size)]
               for s in steps for m in range(grad_accum)]  # fmt: skip
    if workers == 0:
        return ([dataset[i] for i in batch] for batch in indices)
    from torch.utils.data import DataLoader

    loader = DataLoader(dataset, batch_sampler=indices, collate_fn=list, num_workers=workers, prefetch_factor=4,
                        worker_init_fn=_single_threaded, multiprocessing_context="spawn")  # fmt: skip
    return iter(loader)


def _single_threaded(_: int) -> None:
    """Data workers use one thread each (many workers × many threads oversubscribe the cores)."""
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def _export_metadata(cfg: TrainConfig, history: list[dict[str, Any]]) -> dict[str, Any]:
    tail = [float(r["loss"]) for r in history[-100:]]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return {"steps": len(history), "train_seconds": round(total_seconds(history), 1),
            "final_loss_mean100": sum(tail) / len(tail), "device": device, "config": cfg.to_dict()}  # fmt: skip


class DiTStage(Stage):
    """``animatex train`` for the :class:`~a2bench.animatex.train.trainer.Trainer`: the trainable groups of
    ``cfg.train.trainable`` (LoRA, pose encoders, IPI; a small preset's transformer and encoders) under accelerate,
    one flow-matching step per micro-batch (see the module docstring); at the end, the export (``train.export``)."""

    distributed = True

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg, t = cfg, cfg.train
        self.config = cfg.to_dict()
        self.settings = RunSettings(
            output_dir=Path(t.output_dir), steps=t.steps, lr=t.lr, warmup_steps=t.warmup_steps,
            lr_schedule=t.lr_schedule, weight_decay=t.weight_decay, betas=tuple(t.betas),
            max_grad_norm=t.max_grad_norm, grad_accum=t.grad_accum, log_every=t.log_every,
            max_seconds=t.max_seconds, checkpoint_every=t.checkpoint_every, mixed_precision=t.mixed_precision,
        )  # fmt: skip

    def setup(self, trainer: Trainer) -> tuple[nn.Module, list[nn.Parameter]]:
        cfg, log = self.cfg, trainer.log
        torch.manual_seed(cfg.train.seed)  # the same initial LoRA on every process
        pipe = build_pipeline(cfg)
        rows = setup_trainable(pipe.model, cfg, pipe)
        total = sum(p.numel() for name, module in pipe.components.items()
                    if isinstance(module, nn.Module) and name != "vae" for p in module.parameters())  # fmt: skip
        log(f"trainable parameters ({cfg.model.preset}):")
        for group, tensors, count in rows:
            log(f"  {group:<24} {tensors:>6} tensors {count:>14,d}")
        trained = sum(r[2] for r in rows)
        log(f"  {'total':<24} {'':>6}         {trained:>14,d} of {total:,d} ({100 * trained / max(total, 1):.2f}%)")
        if cfg.train.gradient_checkpointing:
            pipe.model.transformer.enable_gradient_checkpointing()
        self.dataset = training_dataset(cfg)
        self.device = trainer.device
        self.pipe = pipe.to(self.device)
        self.module = TrainModule(pipe).train()
        return self.module, [p for p in self.module.parameters() if p.requires_grad]

    def batches(self, trainer: Trainer, start: int) -> Iterator[Batch]:
        t, processes = self.cfg.train, trainer.accelerator.num_processes
        self.global_batch = t.batch_size * processes
        items = item_batches(self.dataset, range(start, t.steps), t.grad_accum, self.global_batch,
                             trainer.accelerator.process_index * t.batch_size, t.batch_size, t.num_workers)  # fmt: skip
        cache = LatentCache(enabled=t.latent_cache)
        self.channel_weights = None
        if t.channel_weights == "decoder":
            weights = decoder_channel_weights(self.pipe, [self.dataset[i] for i in range(4)], t.seed)
            shown = ", ".join(f"{w:.3g}" for w in weights.tolist())
            trainer.log(f"loss weights of the {len(weights)} latent channels (train.channel_weights: decoder): {shown}")
            self.channel_weights = weights.to(self.device)
        return ((batch, build_inputs(self.pipe, batch, self.cfg, self.device, cache)) for batch in items)

    def context(self) -> Any:
        # On a CPU in bf16 the 3-D convolutions compute their weight gradients in fp32: oneDNN's bf16 one can be NaN.
        return bf16_convolutions(self.module, self.cfg.train.mixed_precision == "bf16" and self.device.type == "cpu")

    def loss(self, module: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        items, inputs = batch
        stats = [float(inputs["sigma"].sum()), sum(i.task == TI2V for i in items), sum(i.epi_applied for i in items)]
        return compute_loss(module, inputs, self.channel_weights), torch.tensor(stats, device=self.device)

    def row(self, step: int, loss: float, stats: torch.Tensor, lr: float, seconds: str) -> tuple[dict[str, Any], str]:
        items = self.global_batch * self.cfg.train.grad_accum
        row = {"step": step, "loss": f"{loss:.8g}", "lr": f"{lr:.6g}", "sigma": f"{float(stats[0]) / items:.4f}",
               "ti2v": int(stats[1]), "epi": int(stats[2]), "seconds": seconds}  # fmt: skip
        return row, f"loss {loss:.6f} lr {row['lr']} ({seconds} s)"

    def finish(self, trainer: Trainer, rows: list[dict[str, Any]]) -> None:
        if self.cfg.train.export:
            self.pipe.model.config = trained_sampling(self.pipe.model.config, self.dataset)
            folder = self.pipe.save_pretrained(self.settings.output_dir / "pipeline", _export_metadata(self.cfg, rows))
            trainer.log(f"pipeline written to {folder}")

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return self.module.trainable_state()

    def load_trainable(self, weights: dict[str, torch.Tensor]) -> None:
        self.module.load_trainable(weights)


def train(
    cfg: TrainConfig, resume: str | Path | None = None, echo: Callable[[str], None] = print, plot: bool = True
) -> TrainResult:
    """Run (or resume: a checkpoint folder, or ``"latest"``) the training described by ``cfg``."""
    return Trainer(DiTStage(cfg), echo).run(resume, plot)
