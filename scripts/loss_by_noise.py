"""Where does a small pipeline's flow-matching loss go? Its loss, latent error and pixel error by noise level.

Builds training batches exactly as `animatex train` does (animation task only, no condition dropout, the
config's seed) from a benchmark, runs the pipeline's model once per item at the item's noise level σ, and reports
per σ bin: the flow-matching loss, the error of the clean latents it implies (x̂0 = x_σ − σ·v̂; MSE per latent
value, the latents at unit scale) and the PSNR of x̂0 decoded against the decoded true latents (the VAE's own
reconstruction, so only the DiT's error counts; 64 px, uint8 as the pipeline writes frames).

    python scripts/loss_by_noise.py WEIGHTS [--vae VAE] [--bench data/synth-val] [--items 80]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from a2bench.animatex.train.config import load_config
from a2bench.animatex.train.loop import LatentCache, TrainModule, build_inputs, build_pipeline, training_dataset

BINS = ((0.0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 0.9), (0.9, 1.0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights", help="a saved pipeline folder (AnimateXPipeline.save_pretrained)")
    parser.add_argument("--vae", default=None, help="a trained VAE in place of the pipeline's (as model.vae)")
    parser.add_argument("--bench", default="data/synth-val", help="an A2Bench-layout benchmark (held out)")
    parser.add_argument("--config", default="configs/animatex-tiny.yaml")
    parser.add_argument("--items", type=int, default=80, help="clips (in batches of 8)")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    cfg = load_config(args.config, {"model": {"weights": args.weights, "vae": args.vae},
                                    "data": {"benchmark": args.bench, "ti2v_ratio": 0.0},
                                    "dropout": {"pose": 0.0, "image": 0.0, "text": 0.0}})  # fmt: skip
    pipe = build_pipeline(cfg)
    module = TrainModule(pipe).eval()
    dataset = training_dataset(cfg)  # animation items only: data.ti2v_ratio is 0
    cache, rows = LatentCache(), []
    with torch.no_grad():
        for start in range(0, args.items, 8):
            x = build_inputs(pipe, [dataset[i] for i in range(start, start + 8)], cfg, torch.device("cpu"), cache)
            velocity, target = module(x).float(), x["target"].float()
            sigma = x["sigma"].view(-1, 1, 1, 1, 1)
            x0 = x["latents"].float() - sigma * target  # exactly the clean latents
            x0_hat = x["latents"].float() - sigma * velocity
            for i in range(len(velocity)):
                mse = float(((velocity[i] - target[i]) ** 2).mean())
                truth, guess = (pipe.decode(z[i : i + 1]).astype(np.float64) for z in (x0, x0_hat))
                psnr = 10 * np.log10(255**2 / max(float(((truth - guess) ** 2).mean()), 1e-10))
                rows.append((float(x["sigma"][i]), mse, float(sigma[i]) ** 2 * mse, psnr))
    table = np.array(rows)
    print(f"{args.weights}: loss {table[:, 1].mean():.4f} over {len(table)} clips")
    print("σ bin        clips   loss  x̂0 MSE  decoded x̂0 PSNR (dB)")
    for lo, hi in BINS:
        part = table[(table[:, 0] >= lo) & ((table[:, 0] < hi) | (hi == 1.0))]
        if len(part):
            print(
                f"[{lo:.2f}, {hi:.2f}) {len(part):6d} {part[:, 1].mean():6.3f} {part[:, 2].mean():7.3f} "
                f"{part[:, 3].mean():10.2f}"
            )


if __name__ == "__main__":
    main()
