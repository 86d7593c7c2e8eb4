"""What a perfect DiT could score with a small pipeline's VAE: the ground truth through the VAE and back.

A latent diffusion model's output is the VAE's decoding of its latents, so no DiT scores above the VAE's own
round trip of the ground truth. For the first ``--samples`` samples of a benchmark, each video is resized to the
model's size (bicubic, as training does), cut or padded (last frame repeated) to the model's ``--frames``,
encoded (distribution mode) and decoded. Printed:

* the round trip's PSNR* at the model's size (per frame, averaged over samples): the first 9 frames
  (the VAE's first three chunks) and the rest apart, since a causal VAE trained on short clips fails later on;
* PSNR* and SSIM against the benchmark's frames at its size (the decoded frames resized back, bicubic, as
  ``a2bench run`` scores a model of another size), beside the same for the resize alone (no VAE) and for
  ``reference-copy`` (the reference image in every frame); with ``--lpips`` also ``lpips`` and ``lpips_disco``
  (their network files from the weights registry).

With ``--out DIR`` the round trips at the benchmark's size are also written as a run folder
(``DIR/videos/<sample>-vae.mp4``, lossless like ``a2bench run``'s), which the scripts that read runs take under
the ``self`` protocol (the round trip is of each sample's own video): ``scripts/ssim_by_region.py`` (where SSIM is
lost) and ``scripts/pose_following.py``, with ``--samples`` covering the benchmark and ``--frames`` its length.

    python scripts/vae_ceiling.py VAE [--bench synth] [--samples 8] [--size 64] [--frames 33] [--out DIR] [--lpips]

VAE: a ``vae.safetensors`` written by ``animatex train-vae``, or a saved pipeline folder (its VAE).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from a2bench.core.data import load_benchmark
from a2bench.core.frames import resize_frames
from a2bench.core.synth import cached_synth
from a2bench.core.videoio import write_video
from a2bench.metrics.perceptual import LPIPSAlex, LPIPSDisco
from a2bench.metrics.pixel import PSNR
from a2bench.metrics.ssim import SSIM


def load_vae(path: str | Path):
    """The VAE of a ``vae.safetensors`` or of a saved pipeline folder, in eval mode."""
    path = Path(path)
    if path.is_dir():
        from a2bench.animatex.pipeline import AnimateXPipeline

        return AnimateXPipeline.from_pretrained(path).vae.eval()
    from a2bench.animatex.train.vae import load_trained_vae

    return load_trained_vae(path)[0]


@torch.no_grad()
def round_trip(vae, frames: np.ndarray) -> np.ndarray:
    """``(T, H, W, 3)`` uint8 through the VAE (encode's mode, decode), uint8 again."""
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 127.5 - 1
    out = vae.decode(vae.encode(x).latent_dist.mode()).sample.clamp(-1, 1)[0]
    return ((out.permute(1, 2, 3, 0).numpy() + 1) * 127.5).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("vae", help="a vae.safetensors from `animatex train-vae`, or a saved pipeline folder")
    parser.add_argument("--bench", default=None, help="a benchmark folder (default: the built-in synth)")
    parser.add_argument("--samples", type=int, default=8, help="the first N samples (default 8)")
    parser.add_argument("--size", type=int, default=64, help="the model's square size (default 64)")
    parser.add_argument("--frames", type=int, default=33, help="the model's clip length, 4k + 1 (default 33)")
    parser.add_argument("--out", type=Path, default=None, help="also write the round trips as a run folder here")
    parser.add_argument("--lpips", action="store_true", help="also LPIPS (lpips and lpips_disco)")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    vae = load_vae(args.vae)
    bench = load_benchmark(args.bench or cached_synth())
    psnr = PSNR()
    columns = {"PSNR*": psnr, "SSIM": SSIM()}
    if args.lpips:
        columns |= {"lpips": LPIPSAlex(), "lpips_disco": LPIPSDisco()}
    model_psnr, scores = [], {"VAE round trip": [], "resize alone": [], "reference-copy": []}
    for sample in bench.samples[: args.samples]:
        truth = sample.video().frames
        if args.out and len(truth) > args.frames:
            raise SystemExit(f"{sample.id}: {len(truth)} frames, more than --frames {args.frames}: a run folder "
                             "needs every frame (raise --frames to 4k + 1 >= the benchmark's length)")  # fmt: skip
        truth = truth[: args.frames]
        height, width = truth.shape[1:3]
        small = resize_frames(truth, (args.size, args.size))
        clip = np.concatenate([small, np.repeat(small[-1:], args.frames - len(small), 0)])
        decoded = round_trip(vae, clip)
        model_psnr.append(psnr.frame_scores(decoded, clip))
        count = len(truth)
        restored = resize_frames(decoded[:count], (width, height))
        if args.out:
            write_video(args.out / "videos" / f"{sample.id}-vae.mp4", restored, bench.manifest.fps, lossless=True)
        for name, pred in (("VAE round trip", restored),
                           ("resize alone", resize_frames(small, (width, height))),
                           ("reference-copy", np.repeat(sample.reference()[None], count, 0))):  # fmt: skip
            scores[name].append([metric.frame_scores(pred, truth).mean() for metric in columns.values()])
    per_frame = np.mean(model_psnr, axis=0)
    print(f"{args.vae}: the first {len(model_psnr)} samples of {bench.name} ({bench.location})")
    print(f"round trip at {args.size}px: {per_frame.mean():.2f} dB (frames 1-9 {per_frame[:9].mean():.2f}, "
          f"10-{args.frames} {per_frame[9:].mean():.2f})")  # fmt: skip
    print(f"{'at the benchmark size':<22}" + "".join(f" {column:>11}" for column in columns))
    for name, rows in scores.items():
        print(f"{name:<22}" + "".join(f" {value:11.4f}" for value in np.mean(rows, axis=0)))


if __name__ == "__main__":
    main()
