"""Speed of Animate-X++: seconds per transformer forward / per sampling step, and peak memory.

The transformer gets every condition (pose-video tokens, reference-pose features in ``y``, IPI before blocks
2…L/2) at the preset's shapes; one sampling step is two forwards (classifier-free guidance). Weights are random:
no download. ``--preset tiny`` (default) runs anywhere and also times the whole ``tiny`` pipeline (encoders, VAE,
sampling loop, decode). ``--preset animatex`` builds the 14B transformer with random bf16 weights directly on the
GPU (about 33 GB) and needs CUDA; at 832×480×81 the sequence is 32,760 tokens.

The efficiency options (docs/animatex.md "Efficiency options"): ``--offload model|group|leaf`` builds the
transformer on the CPU (bf16 on CUDA; the random init of the 14B model there takes about 2 minutes) and times it
model-offloaded (moved to the GPU and back, both timed) or group-offloaded by diffusers (one block / one layer
on the GPU at a time, CUDA-stream prefetching), so the 14B timing also runs on a 24 GB card; ``--compile``
compiles the DiT blocks (regional, the pipeline's ``compile()``) and prints the compile time apart; ``--vae``
times a VAE decode of the run's latent with a full-size random-weight ``AutoencoderKLWan`` (diffusers' default
config = the Wan2.1 VAE) in the run's dtype, untiled and tiled (diffusers' default 256-pixel tiles, 192 stride),
with the peak memory of each.

Usage::

    python benchmarks/animatex_speed.py                                   # tiny, CPU
    python benchmarks/animatex_speed.py --offload model --compile --vae   # tiny, CPU: the options' plumbing
    python benchmarks/animatex_speed.py --preset animatex --device cuda   # 14B shapes, 832x480, 81 frames
    python benchmarks/animatex_speed.py --preset animatex --device cuda --frames 33 --size 480x832
    python benchmarks/animatex_speed.py --preset animatex --device cuda --offload group --vae   # a 24 GB card
    python benchmarks/animatex_speed.py --preset animatex --device cuda --compile

Prints a small table; no assertions.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time

import torch
import torch._dynamo

import a2bench.animatex  # noqa: F401 - the torchvision compatibility hook, before diffusers
from a2bench.animatex.config import get_preset
from a2bench.animatex.transformer import AnimateXModel

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


def offload_transformer(model: AnimateXModel, mode: str, device: torch.device) -> list[tuple[str, str]]:
    """Offload ``model.transformer`` (on the CPU) as the pipeline would, the rest of ``model`` to ``device``."""
    for name, child in model.named_children():
        if name != "transformer":
            child.to(device)
    if mode == "model":
        _sync(device)
        start = time.perf_counter()
        model.transformer.to(device)
        _sync(device)
        return [("model offload: transformer to the device (s, once per video)", f"{time.perf_counter() - start:.3f}")]
    model.transformer.enable_group_offload(
        onload_device=device,
        offload_device=torch.device("cpu"),
        offload_type="block_level" if mode == "group" else "leaf_level",
        num_blocks_per_group=1 if mode == "group" else None,
        use_stream=device.type == "cuda",
    )
    return []


def vae_rows(frames: int, width: int, height: int, device: torch.device, dtype: torch.dtype) -> list[tuple[str, str]]:
    """Decode time and peak memory of a full-size random-weight Wan2.1 VAE, untiled and tiled."""
    from diffusers import AutoencoderKLWan

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            vae = AutoencoderKLWan().eval().requires_grad_(False)  # diffusers' defaults: the Wan2.1 VAE
    finally:
        torch.set_default_dtype(previous)
    g = torch.Generator("cpu").manual_seed(0)
    latent = torch.randn(1, vae.config.z_dim, (frames - 1) // 4 + 1, height // 8, width // 8, generator=g)
    latent = latent.to(device, dtype)
    rows = []
    for tiled in (False, True):
        vae.enable_tiling() if tiled else vae.disable_tiling()
        label = "tiled" if tiled else "untiled"
        with torch.no_grad():
            vae.decode(latent[:, :, :1])  # warm-up (kernel selection) on one latent frame
            if device.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats(device)
                base = torch.cuda.memory_allocated(device) / 2**30
            try:
                seconds = _timed(lambda: vae.decode(latent), device, 1)[0]
            except torch.OutOfMemoryError:
                rows.append((f"VAE decode, {label}", "out of memory"))
                continue
        peak = "n/a on CPU"
        if device.type == "cuda":
            peak = f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} (before: {base:.2f})"
        rows += [(f"VAE decode, {label} (s)", f"{seconds:.3f}"), (f"VAE decode, {label}, peak (GiB)", peak)]
        if tiled and width <= vae.tile_sample_min_width and height <= vae.tile_sample_min_height:
            rows[-2] = (rows[-2][0], rows[-2][1] + f" (fits one {vae.tile_sample_min_width}-pixel tile: not tiled)")
    return rows


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
    parser.add_argument("--preset", default="tiny", help="tiny, tiny-simple, animatex-tiny, animatex, animatex-simple")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--dtype", choices=DTYPES, default=None, help="default: float32 on CPU, bfloat16 on CUDA")
    parser.add_argument("--frames", type=int, default=None, help="4k+1 (default: the preset's)")
    parser.add_argument("--size", default=None, help="WIDTHxHEIGHT, multiples of 16 (default: the preset's)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="sampling steps of the tiny pipeline run")
    offload_help = "build the transformer on the CPU, then model/group/leaf offloading to --device"
    parser.add_argument("--offload", choices=("none", "model", "group", "leaf"), default="none", help=offload_help)
    parser.add_argument("--compile", action="store_true", help="torch.compile the DiT blocks (regional)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend (default: inductor)")
    parser.add_argument("--vae", action="store_true", help="also time a full-size Wan2.1 VAE decode, untiled/tiled")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)  # random tiny weights otherwise hit slow denormal arithmetic on CPU

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: torch sees no CUDA device here")
    big = args.preset in ("animatex", "animatex-simple")
    if big and device.type != "cuda":
        sys.exit(f"--preset {args.preset}: the 14B shapes need --device cuda (use --preset tiny on CPU)")
    if args.compile and args.offload == "leaf":
        sys.exit("--compile with --offload leaf: leaf offloading hooks every layer inside the compiled blocks")
    dtype = DTYPES[args.dtype] if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    sampling = get_preset(args.preset).sampling
    frames = args.frames or sampling.num_frames
    width, height = (int(v) for v in args.size.lower().split("x")) if args.size else (sampling.width, sampling.height)

    offloaded = args.offload != "none"
    start = time.perf_counter()
    model = build_model(args.preset, torch.device("cpu") if offloaded else device, dtype)
    built = time.perf_counter() - start
    if model.ipi is not None and frames != model.config.ipi.num_frames:
        model.transformer.ipi_blocks = ()  # the IPI is fixed to its frame count; time the rest at other counts
        print(f"note: {frames} frames != the IPI's {model.config.ipi.num_frames}: timed without the IPI addition")
    inputs = transformer_inputs(model, frames, width, height, device, dtype)
    if not model.transformer.ipi_blocks:
        inputs.pop("ipi_tokens", None)
    extra_rows: list[tuple[str, str]] = []
    if args.compile:
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        model.transformer.compile_repeated_blocks(backend=args.compile_backend)
    if offloaded:
        extra_rows += offload_transformer(model, args.offload, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)

    def forward():
        with torch.no_grad():
            model.transformer(**inputs)

    first = _timed(forward, device, 1)[0]  # warm-up (and compile)
    times = _timed(forward, device, args.repeats)
    if args.compile:
        counters = torch._dynamo.utils.counters
        extra_rows += [
            ("compile: first forward (s)", f"{first:.2f}"),
            ("compile: time, est. = first - median (s)", f"{first - statistics.median(times):.2f}"),
            (
                "compile: frames compiled, graphs",
                f"{counters['frames']['total']}, {counters['stats']['unique_graphs']}",
            ),
        ]
    if args.offload == "model":
        start = time.perf_counter()
        model.transformer.to("cpu")
        _sync(device)
        extra_rows.append(("model offload: transformer back to the CPU (s)", f"{time.perf_counter() - start:.3f}"))
    tokens = ((frames - 1) // 4 + 1) * (height // 16) * (width // 16)
    params = sum(p.numel() for p in model.parameters())
    rows = [
        ("preset", args.preset),
        ("device", torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"),
        ("dtype", str(dtype).removeprefix("torch.")),
        ("offload, compile", f"{args.offload}, {args.compile_backend if args.compile else 'no'}"),
        ("parameters", f"{params:,}"),
        ("video", f"{frames} frames at {width}x{height} ({tokens:,} tokens)"),
        ("build (s)", f"{built:.2f}"),
        ("forward, median (s)", f"{statistics.median(times):.4f}"),
        ("forward, min (s)", f"{min(times):.4f}"),
        ("step = 2 forwards, CFG (s)", f"{2 * statistics.median(times):.4f}"),
        ("50 steps, est. (min)", f"{100 * statistics.median(times) / 60:.2f}"),
        ("peak memory (GiB)" + ("" if device.type == "cuda" else ", process RSS"), f"{_peak_gib(device):.2f}"),
        *extra_rows,
    ]
    if not big:
        from fractions import Fraction

        import numpy as np

        from a2bench.animatex.pipeline import AnimateXPipeline
        from a2bench.core.pose import PoseSequence

        load_on = "cpu" if offloaded else str(device)
        if args.preset == "animatex-tiny":  # the trained small model (docs/animatex-tiny.md)
            from a2bench.animatex.config import TINY_DIR

            pipe = AnimateXPipeline.from_pretrained(TINY_DIR, device=load_on)
        else:
            pipe = AnimateXPipeline.tiny(0, variant=args.preset, device=load_on)
        if args.compile:
            pipe.compile(backend=args.compile_backend)
        if args.offload == "model":
            pipe.enable_model_cpu_offload(device=device)
        elif offloaded:
            pipe.enable_group_offload(device, level="block" if args.offload == "group" else "leaf")
        rng = np.random.default_rng(0)
        pts = np.concatenate([rng.uniform(0.2, 0.8, (frames, 130, 2)), np.ones((frames, 130, 1))], -1)
        pose = PoseSequence(pts.astype(np.float32), (width, height), Fraction(15))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        run = _timed(lambda: pipe(image, pose, "a person is dancing.", num_frames=frames, size=(width, height),
                                  steps=args.steps), device, 2 if args.compile else 1)  # fmt: skip
        rows.append((f"tiny pipeline, {args.steps} steps, end to end (s)", f"{run[-1]:.3f}"))
        if args.compile:
            rows.append(("tiny pipeline, first run incl. compile (s)", f"{run[0]:.3f}"))
    if args.vae:
        del model, inputs, forward  # the VAE's peak memory without the transformer's (hooks make cycles: gc)
        torch._dynamo.reset()
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        rows += vae_rows(frames, width, height, device, dtype)
    width0 = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width0}}  {value}")


if __name__ == "__main__":
    main()
