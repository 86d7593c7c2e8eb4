"""Speed of one ``animatex train-vae`` step on CPU: fp32 against bf16 (``vae.mixed_precision: bf16``).

Times the forward and backward of the same training step (encode, posterior sample, decode, L1 + MSE) of the
``animatex-tiny`` components' VAE (random weights, no download) in fp32, with plain ``torch.autocast("cpu",
bf16)``, and with :func:`a2bench.animatex.train.cpu_bf16.bf16_convolutions` inside that autocast, in one run. Also
reports whether each step's gradients are finite and their largest relative difference from fp32's on the same
inputs and weights (per parameter tensor). The bf16 speed-up needs a CPU with AMX; elsewhere expect none.

Usage::

    python benchmarks/vae_cpu_bf16.py                           # 2 clips of 33 frames at 64 x 64, z_dim 16
    python benchmarks/vae_cpu_bf16.py --z-dim 64 --repeats 5

Prints a small table; no assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import statistics
import time

import torch

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers
from a2bench.animatex.components import get_components
from a2bench.animatex.train.cpu_bf16 import bf16_convolutions


def _step(vae, x: torch.Tensor, noise: torch.Tensor, mode: str) -> float:
    """One training step's forward and backward; returns its seconds."""
    autocast = torch.autocast("cpu", torch.bfloat16, enabled=mode != "fp32")
    convs = bf16_convolutions(vae) if mode == "bf16 (a2bench)" else contextlib.nullcontext()
    began = time.perf_counter()
    with convs, autocast:
        posterior = vae.encode(x).latent_dist
        reconstruction = vae.decode(posterior.mean + posterior.std * noise).sample.float()
    loss = (reconstruction - x).abs().mean() + (reconstruction - x).square().mean()
    vae.zero_grad(set_to_none=True)
    loss.backward()
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", type=int, default=33)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--z-dim", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from diffusers import AutoencoderKLWan

    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**{**get_components("animatex-tiny").vae, "z_dim": args.z_dim}).train()
    x = torch.rand(args.batch, 3, args.frames, args.size, args.size) * 2 - 1
    latent_frames = (args.frames - 1) // 4 + 1
    noise = torch.randn(args.batch, args.z_dim, latent_frames, args.size // 8, args.size // 8)
    grads = {}
    print(f"VAE training step: {args.batch} clips x {args.frames} frames at {args.size}px, z_dim {args.z_dim}, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'mode':<18} {'s/step':>8} {'x fp32':>7} {'finite':>7} {'max rel. grad diff':>19}")
    base = None
    for mode in ("fp32", "bf16 (autocast)", "bf16 (a2bench)"):
        model = copy.deepcopy(vae)
        times = [_step(model, x, noise, mode) for _ in range(args.repeats + 1)][1:]  # the first warms up
        grads[mode] = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        seconds = statistics.median(times)
        base = base or seconds
        finite = all(torch.isfinite(g).all() for g in grads[mode].values())
        diff = float("nan")  # a max over NaN differences would mean nothing
        if finite:
            diff = max(float((g - grads["fp32"][n]).norm() / grads["fp32"][n].norm()) for n, g in grads[mode].items())
        print(f"{mode:<18} {seconds:8.2f} {base / seconds:7.2f} {finite!s:>7} {diff:19.4f}")


if __name__ == "__main__":
    main()
