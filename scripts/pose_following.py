"""Does a model move the character where the driving pose says? Error where the character moved, on a synth benchmark.

For every frame of every sample, the synth generator's exact character coverage at that frame's pose is compared
with its coverage at the reference image's pose; the pixels where the two differ are where the character moved to
or away from. The measure is the mean absolute error against the ground truth over those pixels (grey levels,
0-255; lower is better), per run, with the same measure for the reference image itself beside it (what a model
that never moves the character scores: `reference-copy`). Frames where fewer than 4 pixels changed are skipped.
PSNR and SSIM weigh these pixels little: a few percent of the frame.

    python scripts/pose_following.py RUN_DIR... [--bench synth] [--protocol self] [--json OUT]

RUN_DIR: folders written by `a2bench run --out` (their `videos/<sample>-*.mp4`) on the same benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from a2bench.data import Benchmark, load_benchmark
from a2bench.synth import SynthOptions, cached_synth
from a2bench.synth.draw import character_coverage
from a2bench.synth.generate import character_specs
from a2bench.videoio import read_video


def moved_errors(bench: Benchmark, protocol: str, videos: dict[str, np.ndarray] | None) -> dict[str, float]:
    """Per sample: the mean error over the moved pixels of all its frames, of ``videos`` (sample id -> frames)
    or, with ``None``, of the reference image held still."""
    specs = character_specs(SynthOptions(**bench.manifest.source["options"]))
    size = (bench.manifest.width, bench.manifest.height)
    out = {}
    for sample in bench:
        task = sample.task(protocol)
        spec = specs[sample.id]
        at_reference = character_coverage(spec, sample.pose().reference, size) > 0.5
        target = task.target.frames.astype(np.float64)
        frames = sample.reference()[None].repeat(len(target), 0) if videos is None else videos[sample.id]
        if len(frames) != len(target):
            raise SystemExit(f"{sample.id}: the run's video has {len(frames)} frames, the ground truth {len(target)}")
        errors = []
        for t in range(len(target)):
            moved = (character_coverage(spec, task.pose.frames[t], size) > 0.5) ^ at_reference
            if moved.sum() >= 4:
                errors.append(np.abs(frames[t].astype(np.float64) - target[t])[moved].mean())
        out[sample.id] = float(np.mean(errors)) if errors else float("nan")
    return out


def run_videos(run_dir: Path, bench: Benchmark) -> dict[str, np.ndarray]:
    """Sample id -> the run's frames; a sample without exactly one video is an error naming it."""
    out = {}
    for sample in bench:
        found = sorted((run_dir / "videos").glob(f"{sample.id}-*.mp4"))
        if len(found) != 1:
            raise SystemExit(
                f"{run_dir}: {len(found)} videos for sample {sample.id} (expected videos/{sample.id}-*.mp4)"
            )
        out[sample.id] = read_video(found[0]).frames
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="a2bench run --out folders")
    parser.add_argument("--bench", default=None, help="a synth benchmark folder (default: the built-in synth)")
    parser.add_argument("--protocol", default="self")
    parser.add_argument("--json", default=None, help="write the per-sample numbers here")
    args = parser.parse_args(argv)
    bench = load_benchmark(args.bench or cached_synth())
    if bench.manifest.source.get("generator") != "a2bench.synth":
        sys.exit(f"{args.bench}: not a synth benchmark (the exact character coverage comes from its generator)")
    results = {"reference image": moved_errors(bench, args.protocol, None)}
    for run in args.runs:
        results[str(run)] = moved_errors(bench, args.protocol, run_videos(run, bench))
    for name, per_sample in results.items():
        values = np.array(list(per_sample.values()))
        print(f"{np.nanmean(values):7.2f}  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
