"""``animatex train-decoder``: fine-tune a small pipeline's VAE decoder on what its DiT predicts.

Sampled in one step, the DiT returns its estimate of the clean latents given the conditions (x̂0 = ε − v̂ at
σ = 1), a smoothed latent that the VAE decoder, trained on posterior samples of real clips, never saw. This trains
the decoder alone (the VAE's encoder and latent statistics, the DiT and every encoder frozen) to render such
estimates as the clips they stand for: each step builds a batch exactly as ``animatex train`` does
(:func:`a2bench.animatex.train.loop.build_inputs`: ``model.weights``' pipeline, the ``data`` and ``dropout`` sections),
runs the DiT once from the batch's noise at σ = 1, decodes x̂0 with gradients into the decoder, and minimises
L1 + MSE + ``decoder.ssim_weight`` × (1 − SSIM) against the clip's frames in [-1, 1]. SSIM is computed as the
benchmark computes it (DisCo's recipe, :mod:`a2bench.metrics.ssim`): grey frames, skimage's defaults (7 × 7 uniform
window, sample covariance, K1 0.01, K2 0.03, the 3-pixel border left out), here at the model's size. It runs on
the CPU; with ``decoder.mixed_precision: bf16`` the VAE's 3-D convolutions (the conditions' encodings and the
decoder) run in bf16 (:mod:`a2bench.animatex.train.cpu_bf16`), the DiT in float32 as the pipeline runs it.

Output (``decoder.output_dir``): ``pipeline/`` (the whole pipeline with the new decoder), ``log.csv``, ``loss.png``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from a2bench.animatex.train.config import TrainConfig
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions
from a2bench.animatex.train.data import ClipItem
from a2bench.animatex.train.loop import (
    Batch,
    LatentCache,
    TrainModule,
    build_inputs,
    build_pipeline,
    training_dataset,
)
from a2bench.animatex.train.trainer import RunSettings, Stage, Trainer, total_seconds

_GREY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma, as OpenCV's BGR2GRAY
_WINDOW = 7


def grey_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean SSIM of the grey frames of videos ``(B, 3, T, H, W)`` in [-1, 1] (data range 2), skimage's defaults."""
    weights = torch.tensor(_GREY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
    a, b = ((v * weights).sum(1).flatten(0, 1)[:, None] for v in (x, y))  # (B·T, 1, H, W)
    mean = lambda v: F.avg_pool2d(v, _WINDOW, stride=1)  # noqa: E731 - the 'valid' region: border cropped
    n = _WINDOW * _WINDOW
    ma, mb = mean(a), mean(b)
    var_a = (mean(a * a) - ma * ma) * n / (n - 1)
    var_b = (mean(b * b) - mb * mb) * n / (n - 1)
    cov = (mean(a * b) - ma * mb) * n / (n - 1)
    c1, c2 = (0.01 * 2) ** 2, (0.03 * 2) ** 2
    ssim = ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (var_a + var_b + c2))
    return ssim.mean()


def one_step_latents(pipe: Any, module: TrainModule, inputs: dict[str, Any]) -> torch.Tensor:
    """The DiT's one-step estimate x̂0 = ε − v̂ from the batch's own noise ε at σ = 1 (timestep 1000, as the
    pipeline's first step), without gradient."""
    latents = inputs["latents"]
    sigma = inputs["sigma"].view(-1, 1, 1, 1, 1).to(latents)
    noise = latents + (1 - sigma) * inputs["target"].to(latents)  # x_σ = (1 − σ)·x0 + σ·ε and target = ε − x0
    timestep = torch.full_like(inputs["timestep"], float(pipe.scheduler.config.num_train_timesteps))
    with torch.no_grad():
        return (noise.float() - module({**inputs, "latents": noise, "timestep": timestep}).float()).to(latents.dtype)


class DecoderStage(Stage):
    """``animatex train-decoder`` for the :class:`~a2bench.animatex.train.trainer.Trainer` (see the module
    docstring), on the CPU."""

    section, label, ylabel = "decoder", "decoder ", "L1 + MSE (+ SSIM term)"

    def __init__(self, cfg: TrainConfig) -> None:
        if cfg.model.weights == "random" or not cfg.model.small:
            raise ValueError("train-decoder fine-tunes a trained small pipeline: set model.weights to its folder")
        self.cfg, dec = cfg, cfg.decoder
        self.settings = RunSettings(output_dir=Path(dec.output_dir), steps=dec.steps, lr=dec.lr,
                                    warmup_steps=dec.warmup_steps, log_every=dec.log_every,
                                    max_seconds=dec.max_seconds)  # fmt: skip
        self.bf16 = dec.mixed_precision == "bf16"

    def setup(self, trainer: Trainer) -> tuple[nn.Module, list[nn.Parameter]]:
        dec = self.cfg.decoder
        torch.manual_seed(dec.seed)
        self.pipe = pipe = build_pipeline(self.cfg)
        self.dataset = dataset = training_dataset(self.cfg)
        self.module = TrainModule(pipe).eval()
        for p in (*self.module.parameters(), *pipe.vae.parameters()):
            p.requires_grad_(False)
        self.params = [p for part in (pipe.vae.post_quant_conv, pipe.vae.decoder) for p in part.parameters()]
        for p in self.params:
            p.requires_grad_(True)
        pipe.vae.decoder.train()
        vae_count = sum(p.numel() for p in pipe.vae.parameters())
        trainer.log(f"decoder: {sum(p.numel() for p in self.params):,d} of the VAE's {vae_count:,d} parameters train; "
                    f"{dec.steps} steps of {dec.batch_size} clips of {dataset.num_frames} frames at "
                    f"{dataset.size[0]}x{dataset.size[1]}")  # fmt: skip
        return pipe.vae, self.params

    def batches(self, trainer: Trainer, start: int) -> Iterator[Batch]:
        dec, cache = self.cfg.decoder, LatentCache()
        return (self._batch([self.dataset[step * dec.batch_size + j] for j in range(dec.batch_size)], cache)
                for step in range(start, dec.steps))  # fmt: skip

    def _batch(self, items: list[ClipItem], cache: LatentCache) -> Batch:
        """The items and their inputs as ``animatex train`` builds them (the encodings in bf16 with
        ``mixed_precision: bf16``), in float32."""
        with self._autocast():
            inputs = build_inputs(self.pipe, items, self.cfg, self.device, cache)
        return items, {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in inputs.items()}

    def _autocast(self) -> AbstractContextManager:
        return torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16)

    def context(self) -> AbstractContextManager:
        return bf16_convolutions(self.pipe.vae, self.bf16)  # the conditions' encodings too: most of a step's CPU time

    def loss(self, module: nn.Module, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """L1 + MSE + ``ssim_weight`` × (1 − SSIM) of the decoded one-step estimate; statistics MSE and SSIM."""
        items, inputs = batch
        latents = one_step_latents(self.pipe, self.module, inputs)  # the DiT in float32, as the pipeline runs it
        clips = torch.stack([torch.from_numpy(i.video) for i in items]).permute(0, 4, 1, 2, 3).float() / 127.5 - 1
        with self._autocast():
            video = self.pipe.decode_video(latents).float()
        l1, mse = (video - clips).abs().mean(), (video - clips).square().mean()
        ssim = grey_ssim(video, clips)
        return l1 + mse + self.cfg.decoder.ssim_weight * (1 - ssim), torch.stack([mse, ssim]).detach()

    def row(self, step: int, loss: float, stats: torch.Tensor, lr: float, seconds: str) -> tuple[dict[str, Any], str]:
        mse, ssim = stats
        psnr = float(10 * torch.log10(4 / mse))
        row = {"step": step, "loss": f"{loss:.6g}", "psnr": f"{psnr:.3f}", "ssim": f"{float(ssim):.4f}",
               "seconds": seconds}  # fmt: skip
        return row, f"loss {loss:.5f} psnr {psnr:.2f} dB ssim {float(ssim):.4f}"

    def finish(self, trainer: Trainer, rows: list[dict[str, Any]]) -> Path:
        """The pipeline with the new decoder, its run recorded beside the DiT's in the metadata."""
        pipe = self.pipe
        pipe.vae.eval()
        for p in self.params:
            p.requires_grad_(False)
        run = {"steps": len(rows), "train_seconds": round(total_seconds(rows), 1),
               **{k: self.cfg.to_dict()[k] for k in ("decoder", "data")}}  # fmt: skip
        folder = pipe.save_pretrained(self.settings.output_dir / "pipeline", metadata={**pipe.metadata, "decoder": run})
        trainer.log(f"pipeline with the fine-tuned decoder written to {folder}")
        return folder


def train_decoder(cfg: TrainConfig, echo: Callable[[str], None] = print, plot: bool = True) -> Path:
    """Fine-tune ``cfg.model.weights``' VAE decoder as the module docstring says; returns the pipeline folder."""
    return Trainer(DecoderStage(cfg), echo).run(plot=plot).output
