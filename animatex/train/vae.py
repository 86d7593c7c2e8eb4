"""``animatex train-vae``: the small pipelines' Wan-style VAE, trained from scratch (docs/animatex.md "Training").

The 14B release uses Wan's VAE as it is; a small pipeline trained here (``animatex-tiny``) needs its own. This
trains diffusers' ``AutoencoderKLWan`` of the preset's components (:mod:`a2bench.animatex.components`) on clips of the
training benchmark (bf16 on CUDA, and on CPU when ``vae.mixed_precision`` says so): L1 + MSE of the reconstruction
from a posterior sample, plus ``kl_weight`` × the KL divergence to N(0, 1) per latent element. After training it
measures the latent channels' mean and standard deviation (distribution mode, over ``stats_clips`` clips) and
stores them in the VAE's config (``latents_mean``/``latents_std``, which the pipeline normalises latents with, as
for Wan's VAE), so the DiT sees latents of unit scale.

Output (``vae.output_dir``): ``vae.safetensors`` (the state dict; the config as JSON in the header's metadata),
``log.csv`` and ``loss.png``. Clip ``i`` is seeded by ``(vae.seed, i)``: a pure function of the step.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from a2bench.animatex.components import get_components
from a2bench.animatex.config import get_preset
from a2bench.animatex.train.config import SMALL_PRESETS, TrainConfig
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions
from a2bench.animatex.train.data import AnimationDataset, clip_indices, item_rng
from a2bench.animatex.train.grow import grow_vae_state
from a2bench.animatex.train.trainer import RunSettings, Stage, Trainer, total_seconds

FORMAT = "animatex-vae/1"


def clip_batch(dataset: AnimationDataset, first: int, count: int, num_frames: int, seed: int) -> torch.Tensor:
    """``(count, 3, num_frames, H, W)`` clips in [-1, 1] at the dataset's size: item ``first + j`` takes a random
    clip of a sample (the dataset's per-epoch order)."""
    clips = []
    for index in range(first, first + count):
        sample = dataset.sample_for(index)
        video = dataset.video(sample)
        idx = clip_indices(len(video), num_frames, 1, item_rng(seed, index, 5))
        clips.append(video[idx])
    x = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3).float()
    return x * (2 / 255) - 1


class VaeStage(Stage):
    """``animatex train-vae`` for the :class:`~a2bench.animatex.train.trainer.Trainer` (see the module docstring), on
    CUDA when there is one, else the CPU."""

    section, label, ylabel = "vae", "vae ", "L1 + MSE (+ KL)"

    def __init__(self, cfg: TrainConfig) -> None:
        if cfg.model.preset not in SMALL_PRESETS:
            raise ValueError(
                f"train-vae trains the small presets' VAE ({', '.join(SMALL_PRESETS)}), not {cfg.model.preset!r}"
            )
        self.cfg, v = cfg, cfg.vae
        self.settings = RunSettings(output_dir=Path(v.output_dir), steps=v.steps, lr=v.lr, warmup_steps=v.warmup_steps,
                                    log_every=v.log_every, max_seconds=v.max_seconds)  # fmt: skip
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.bf16 = v.mixed_precision == "bf16" or (v.mixed_precision == "auto" and self.device.type == "cuda")

    def setup(self, trainer: Trainer) -> tuple[nn.Module, list[nn.Parameter]]:
        from diffusers import AutoencoderKLWan

        v, d, echo = self.cfg.vae, self.cfg.data, trainer.log
        preset = get_preset(self.cfg.model.preset)
        size = tuple(d.size) if d.size else (preset.sampling.width, preset.sampling.height)
        self.vae_config = dict(get_components(SMALL_PRESETS[self.cfg.model.preset]).vae)
        if v.z_dim is not None:
            self.vae_config["z_dim"] = v.z_dim
        torch.manual_seed(v.seed)
        vae = AutoencoderKLWan(**self.vae_config)
        if v.init is not None:
            vae.load_state_dict(self._init_state(vae, echo))
        self.vae = vae = vae.to(self.device).train()
        count = sum(p.numel() for p in vae.parameters())
        echo(f"VAE {self.vae_config}: {count:,d} parameters, {v.steps} steps of {v.batch_size} clips of {v.num_frames} "
             f"frames at {size[0]}x{size[1]} on {self.device}")  # fmt: skip
        clip_frames = d.num_frames or preset.sampling.num_frames
        if v.num_frames < clip_frames:
            echo(
                f"WARNING: vae.num_frames {v.num_frames} < the {clip_frames} frames the model encodes and decodes: the "
                "causal VAE is not trained on the later 4-frame chunks and can fail there (animatex-tiny's first VAE, "
                "trained on 9- then 5-frame clips, reconstructed frames 10-33 of 33 at 9 dB); train or fine-tune it at "
                "the model's length"
            )
        self.dataset = AnimationDataset(d.benchmark, v.num_frames, size, seed=d.seed, exclude=d.exclude)
        self.generator = torch.Generator(self.device).manual_seed(v.seed)
        return vae, list(vae.parameters())

    def _init_state(self, vae: Any, echo: Callable[[str], None]) -> dict[str, torch.Tensor]:
        """``vae.init``'s weights for ``vae``, its latent channels grown to ``vae.z_dim``."""
        v, config = self.cfg.vae, self.vae_config
        start, start_config = load_trained_vae(v.init)
        same = {k: start_config.get(k) for k in config if k != "z_dim"} == {
            k: x for k, x in config.items() if k != "z_dim"
        }
        if not same or start_config["z_dim"] > config["z_dim"]:
            raise ValueError(
                f"vae.init {v.init}: another architecture ({start_config}) than {config} (only more latent "
                "channels can be grown)"
            )
        grown = f", latent channels grown {start_config['z_dim']} -> {config['z_dim']}"
        echo(f"VAE initialised from {v.init}{grown if start_config['z_dim'] != config['z_dim'] else ''}")
        return grow_vae_state(start.state_dict(), vae.state_dict(), start_config["z_dim"])

    def batches(self, trainer: Trainer, start: int) -> Iterator[torch.Tensor]:
        v = self.cfg.vae
        return (clip_batch(self.dataset, step * v.batch_size, v.batch_size, v.num_frames, v.seed).to(self.device)
                for step in range(start, v.steps))  # fmt: skip

    def context(self) -> Any:
        return bf16_convolutions(self.vae, self.bf16 and self.device.type == "cpu")  # AMX bf16, fp32 weight gradients

    def loss(self, module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """L1 + MSE of the reconstruction from a posterior sample + ``kl_weight`` × KL; statistics L1, MSE, KL."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):  # tensor cores on GPU, AMX on CPU
            posterior = self.vae.encode(x).latent_dist
            z = posterior.mean + posterior.std * torch.randn(
                posterior.mean.shape, generator=self.generator, device=self.device
            )
            reconstruction = self.vae.decode(z).sample.float()
        l1 = (reconstruction - x).abs().mean()
        mse = (reconstruction - x).square().mean()
        kl = 0.5 * (posterior.mean.square() + posterior.var - 1 - posterior.logvar).mean()  # per latent element
        return l1 + mse + self.cfg.vae.kl_weight * kl, torch.stack([l1, mse, kl]).detach()

    def row(self, step: int, loss: float, stats: torch.Tensor, lr: float, seconds: str) -> tuple[dict[str, Any], str]:
        l1, mse, kl = stats
        psnr = float(10 * torch.log10(4 / mse))  # [-1, 1] pixels: peak-to-peak 2
        row = {"step": step, "loss": f"{loss:.6g}", "l1": f"{float(l1):.6g}", "psnr": f"{psnr:.3f}",
               "kl": f"{float(kl):.6g}", "seconds": seconds}  # fmt: skip
        return row, f"loss {loss:.5f} psnr {psnr:.2f} dB"

    def finish(self, trainer: Trainer, rows: list[dict[str, Any]]) -> Path:
        """Measure the latent statistics and write ``vae.safetensors``."""
        from safetensors.torch import save_file

        vae, v, out_dir = self.vae.eval(), self.cfg.vae, self.settings.output_dir
        mean, std = latent_stats(vae, self.dataset, v, self.device)
        config = self.vae_config | {"latents_mean": mean, "latents_std": std}
        metadata = {"format": FORMAT, "config": json.dumps(config), "steps": str(len(rows)),
                    "seconds": f"{total_seconds(rows):.1f}", "device": str(self.device),
                    "precision": "bf16" if self.bf16 else "fp32"}  # fmt: skip
        path = out_dir / "vae.safetensors"
        state = {k: t.detach().float().cpu().contiguous() for k, t in vae.state_dict().items()}
        save_file(state, str(out_dir / "vae.safetensors.tmp"), metadata=metadata)
        (out_dir / "vae.safetensors.tmp").replace(path)
        stats = f"latent mean {np.round(mean, 3).tolist()}, std {np.round(std, 3).tolist()}"
        trainer.log(f"VAE written to {path} ({stats})")
        return path


def train_vae(cfg: TrainConfig, echo: Callable[[str], None] = print, plot: bool = True) -> Path:
    """Train the VAE of ``cfg.model.preset``'s components on ``cfg.data``; returns the ``vae.safetensors`` path."""
    return Trainer(VaeStage(cfg), echo).run(plot=plot).output


@torch.no_grad()
def latent_stats(vae: Any, dataset: AnimationDataset, v: Any, device: torch.device) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the latent (distribution mode) over ``v.stats_clips`` clips."""
    total = total_sq = None
    count = 0
    first = 10**9  # clips drawn apart from the training stream's indices
    for start in range(0, v.stats_clips, v.batch_size):
        n = min(v.batch_size, v.stats_clips - start)
        z = vae.encode(clip_batch(dataset, first + start, n, v.num_frames, v.seed).to(device)).latent_dist.mode()
        z = z.double().transpose(0, 1).flatten(1)
        total = z.sum(1) if total is None else total + z.sum(1)
        total_sq = z.square().sum(1) if total_sq is None else total_sq + z.square().sum(1)
        count += z.shape[1]
    mean = total / count
    std = (total_sq / count - mean.square()).clamp_min(1e-12).sqrt()
    return [round(float(x), 6) for x in mean], [round(float(x), 6) for x in std]


def load_trained_vae(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """``(AutoencoderKLWan, its config)`` from a ``vae.safetensors`` written by :func:`train_vae` (strict)."""
    from diffusers import AutoencoderKLWan
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained VAE here (write one with `animatex train-vae --config FILE`)")
    try:
        with safe_open(str(path), "pt") as fh:
            metadata = fh.metadata() or {}
    except Exception as exc:  # safetensors' own error type for a damaged or foreign file
        raise ValueError(f"{path}: not a safetensors file written by `animatex train-vae` ({exc})") from exc
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path}: not a VAE written by `animatex train-vae` (format {metadata.get('format')!r})")
    config = json.loads(metadata["config"])
    vae = AutoencoderKLWan(**config)
    vae.load_state_dict(load_file(str(path)), strict=True)
    return vae.eval(), config
