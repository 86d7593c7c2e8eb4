"""Speed of Animate-X++: seconds per transformer forward / per sampling step, and peak memory.

The transformer gets every condition (pose-video tokens, reference-pose features in ``y``, IPI before blocks
2…L/2) at the preset's shapes; one sampling step is two forwards (classifier-free guidance). Weights are random:
no download. ``--preset tiny`` (default) runs anywhere and also times the whole ``tiny`` pipeline (encoders, VAE,
sampling loop, decode). ``--preset animatex`` builds the 14B transformer with random bf16 weights directly on the
GPU (about 33 GB) and needs CUDA; at 832×480×81 the sequence is 32,760 tokens.

Usage::

    python benchmarks/animatex_speed.py                                   # tiny, CPU
    python benchmarks/animatex_speed.py --preset animatex --device cuda   # 14B shapes, 832x480, 81 frames
    python benchmarks/animatex_speed.py --preset animatex --device cuda --frames 33 --size 480x832

Prints a small table; no assertions.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time

import torch

import animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers
from animatex.config import get_preset
from animatex.transformer import AnimateXModel

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB; the process's peak RSS


def _timed(fn, device: torch.device, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return times


def build_model(preset: str, device: torch.device, dtype: torch.dtype) -> AnimateXModel:
    """Random weights, built on ``device`` in ``dtype`` (no fp32 copy of the 14B model is ever made)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = AnimateXModel(get_preset(preset))
    finally:
        torch.set_default_dtype(previous)
    return model.eval().requires_grad_(False)


def transformer_inputs(model: AnimateXModel, frames: int, width: int, height: int, device, dtype) -> dict:
    cfg = model.config.transformer
    f, h, w = (frames - 1) // 4 + 1, height // 8, width // 8
    g = torch.Generator("cpu").manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g).to(device, dtype)

    inputs = {
        "hidden_states": randn(1, cfg.out_channels, f, h, w),
        "timestep": torch.tensor([999.0], device=device, dtype=dtype),
        "encoder_hidden_states": randn(1, 512, cfg.text_dim),
        "encoder_hidden_states_image": randn(1, 257, cfg.image_dim),
        "condition": randn(1, cfg.condition_channels, f, h, w),
        "ref_pose_features": randn(1, cfg.condition_channels, 1, h, w),
        "pose_tokens": randn(1, cfg.inner_dim, f, h // 2, w // 2),
        "return_dict": False,
    }
    if model.ipi is not None:
        inputs["ipi_tokens"] = randn(1, f, cfg.inner_dim)
    return inputs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="tiny, tiny-simple, animatex, animatex-simple")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", choices=DTYPES, default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--frames", type=int, default=None, help="4k+1 (default: the preset's)")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT, multiples of 16 (default: the preset's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="sampling steps of the tiny pipeline run")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # random tiny weights otherwise hit slow denormal arithmetic on CPU

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device here")
    big = not args.preset.startswith("tiny")
    if big and device.type != "cuda":
        sys.exit(f"--preset {args.preset}: the 14B shapes need --device cuda (use --preset tiny on CPU)")
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    sampling = get_preset(args.preset).sampling
    frames = args.frames or sampling.num_frames
    width, height = (int(v) for v in args.size.lower().split("x")) if args.size else (sampling.width, sampling.height)

    start = time.perf_counter()
    model = build_model(args.preset, device, dtype)
    built = time.perf_counter() - start
    if model.ipi is not None and frames != model.config.ipi.num_frames:
        model.transformer.ipi_blocks = ()  # the IPI is fixed to its frame count; time the rest at other counts
        print(f"note: {frames} frames != the IPI's {model.config.ipi.num_frames}: timed without the IPI addition")
    inputs = transformer_inputs(model, frames, width, height, device, dtype)
    if not model.transformer.ipi_blocks:
        inputs.pop("ipi_tokens", None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def forward():
        with torch.no_grad():
            model.transformer(**inputs)

    forward()  # warm-up
    times = _timed(forward, device, args.repeats)
    tokens = ((frames - 1) // 4 + 1) * (height // 16) * (width // 16)
    params = sum(p.numel() for p in model.parameters())
    rows = [
        ("preset", args.preset),
        ("device", torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"),
        ("dtype", str(dtype).removeprefix("torch.")),
        ("parameters", f"{params:,}"),
        ("video", f"{frames} frames at {width}x{height} ({tokens:,} tokens)"),
        ("build (s)", f"{built:.2f}"),
        ("forward, median (s)", f"{statistics.median(times):.4f}"),
        ("forward, min (s)", f"{min(times):.4f}"),
        ("step = 2 forwards, CFG (s)", f"{2 * statistics.median(times):.4f}"),
        ("50 steps, est. (min)", f"{100 * statistics.median(times) / 60:.2f}"),
        ("peak memory (GiB)" + ("" if device.type == "cuda" else ", process RSS"), f"{_peak_gib(device):.2f}"),
    ]
    if not big:
        from fractions import Fraction

        import numpy as np

        from a2bench.pose import PoseSequence
        from animatex.pipeline import AnimateXPipeline

        pipe = AnimateXPipeline.tiny(0, variant=args.preset, device=str(device))
        rng = np.random.default_rng(0)
        pts = np.concatenate([rng.uniform(0.2, 0.8, (frames, 130, 2)), np.ones((frames, 130, 1))], -1)
        pose = PoseSequence(pts.astype(np.float32), (width, height), Fraction(15))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        run = _timed(lambda: pipe(image, pose, "a person is dancing.", num_frames=frames, size=(width, height),
                                  steps=args.steps), device, 1)  # fmt: skip
        rows.append((f"tiny pipeline, {args.steps} steps, end to end (s)", f"{run[0]:.3f}"))
    width0 = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width0}}  {value}")


if __name__ == "__main__":
    main()
