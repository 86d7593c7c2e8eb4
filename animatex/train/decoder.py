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

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from a2bench.animatex.train.config import TrainConfig
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions
from a2bench.animatex.train.loop import (
    LatentCache,
    StepLog,
    TrainModule,
    build_inputs,
    build_pipeline,
    lr_factor,
    plot_losses,
    training_dataset,
)

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


def train_decoder(cfg: TrainConfig, echo: Callable[[str], None] = print, plot: bool = True) -> Path:
    """Fine-tune ``cfg.model.weights``' VAE decoder as the module docstring says; returns the pipeline folder."""
    dec = cfg.decoder
    if cfg.model.weights == "random" or not cfg.model.small:
        raise ValueError("train-decoder fine-tunes a trained small pipeline: set model.weights to its folder")
    torch.set_flush_denormal(True)
    torch.manual_seed(dec.seed)
    pipe = build_pipeline(cfg)
    dataset = training_dataset(cfg)
    module = TrainModule(pipe).eval()
    for p in (*module.parameters(), *pipe.vae.parameters()):
        p.requires_grad_(False)
    decoder = [pipe.vae.post_quant_conv, pipe.vae.decoder]
    params = [p for part in decoder for p in part.parameters()]
    for p in params:
        p.requires_grad_(True)
    pipe.vae.decoder.train()
    echo(f"decoder: {sum(p.numel() for p in params):,d} of the VAE's {sum(p.numel() for p in pipe.vae.parameters()):,d}"
         f" parameters train; {dec.steps} steps of {dec.batch_size} clips of {dataset.num_frames} frames at "
         f"{dataset.size[0]}x{dataset.size[1]}")  # fmt: skip
    optimizer = torch.optim.AdamW(params, lr=dec.lr, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, dec.warmup_steps))
    bf16 = dec.mixed_precision == "bf16"
    device = torch.device("cpu")
    out_dir = Path(dec.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = LatentCache()
    log = StepLog(out_dir, "decoder", dec.steps, dec.log_every, dec.max_seconds, echo)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=bf16)
    with bf16_convolutions(pipe.vae, bf16):  # the encodings of the conditions too: most of a step's time on a CPU
        for step in range(dec.steps):
            began = time.perf_counter()
            items = [dataset[step * dec.batch_size + j] for j in range(dec.batch_size)]
            with autocast:
                inputs = build_inputs(pipe, items, cfg, device, cache)
            inputs = {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in inputs.items()}
            latents = one_step_latents(pipe, module, inputs)  # the DiT in float32, as the pipeline runs it
            clips = torch.stack([torch.from_numpy(i.video) for i in items]).permute(0, 4, 1, 2, 3).float() / 127.5 - 1
            with autocast:
                video = pipe.decode_video(latents).float()
            l1, mse = (video - clips).abs().mean(), (video - clips).square().mean()
            ssim = grey_ssim(video, clips)
            loss = l1 + mse + dec.ssim_weight * (1 - ssim)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"decoder step {step + 1}: the loss is {float(loss)}")
            loss, mse, ssim = loss.detach(), mse.detach(), ssim.detach()
            psnr = float(10 * torch.log10(4 / mse))
            row = {"step": step + 1, "loss": f"{float(loss):.6g}", "psnr": f"{psnr:.3f}", "ssim": f"{float(ssim):.4f}",
                   "seconds": f"{time.perf_counter() - began:.3f}"}  # fmt: skip
            if log.add(row, f"loss {float(loss):.5f} psnr {psnr:.2f} dB ssim {float(ssim):.4f}"):
                break
    pipe.vae.eval()
    for p in params:
        p.requires_grad_(False)
    run = {"steps": len(log.rows), "train_seconds": round(log.seconds, 1),
           **{k: cfg.to_dict()[k] for k in ("decoder", "data")}}  # fmt: skip
    metadata = {**(pipe.metadata or {}), "decoder": run}
    folder = pipe.save_pretrained(out_dir / "pipeline", metadata=metadata)
    if plot and log.rows:
        plot_losses(log.rows, out_dir / "loss.png", ylabel="L1 + MSE (+ SSIM term)")
    echo(f"pipeline with the fine-tuned decoder written to {folder}")
    return folder
