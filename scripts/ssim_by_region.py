"""Where does a video lose SSIM? DisCo's SSIM map split into the character and the background, on synth.

The SSIM map of every frame (``metrics.ssim``: DisCo's SSIM, OpenCV grey, 7 × 7 uniform window) is averaged
over the pixels whose window sees the character at that frame's pose (its exact coverage from the synth
generator, grown by the window's half width, 3 pixels: ``a2bench.synth.pose_following.character_pixels``) and
over the rest, the background; then over all frames of all samples. ``all`` is the whole map's mean: the
``ssim`` score itself. Rows: the reference image held still (what ``reference-copy`` returns) and each run.
``scripts/vae_ceiling.py --out DIR`` writes the VAE's round trip of the ground truth as such a run folder.

    python scripts/ssim_by_region.py RUN_DIR... [--bench synth] [--protocol self] [--json OUT]

RUN_DIR: folders written by `a2bench run --out` (their ``videos/<sample>-*.mp4``) on the same benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from a2bench.data import Benchmark, load_benchmark
from a2bench.runner import run_videos
from a2bench.synth import cached_synth
from a2bench.synth.pose_following import character_pixels, videos_and_targets
from metrics.ssim import UNIFORM_7, gray, ssim_map

REGIONS = ("all", "character", "background")


def region_ssim(
    bench: Benchmark, protocol: str, character: dict[str, np.ndarray], videos: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Per sample id, ``(T, 3)``: each frame's mean SSIM over the whole map, over ``character``'s pixels and over
    the others (the map is cropped by the window's half width, as skimage averages it, and so is the mask)."""
    pad = len(UNIFORM_7) // 2
    out = {}
    for sid, frames, target in videos_and_targets(bench, protocol, videos):
        rows = []
        for pred, truth, mask in zip(gray(frames), gray(target), character[sid], strict=True):
            values, inside = ssim_map(pred, truth, UNIFORM_7, True), mask[pad:-pad, pad:-pad]
            rows.append((values.mean(dtype=np.float64), values[inside].mean(), values[~inside].mean()))
        out[sid] = np.array(rows)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="a2bench run --out folders")
    parser.add_argument("--bench", default=None, help="a synth benchmark folder (default: the built-in synth)")
    parser.add_argument("--protocol", default="self")
    parser.add_argument("--json", default=None, help="write the per-sample means here")
    args = parser.parse_args(argv)
    bench = load_benchmark(args.bench or cached_synth())
    results = {}
    try:
        character = character_pixels(bench, args.protocol, margin=len(UNIFORM_7) // 2)
        for name, run in {"reference image": None, **{str(r): r for r in args.runs}}.items():
            videos = None if run is None else run_videos(run, bench)
            results[name] = region_ssim(bench, args.protocol, character, videos)
    except ValueError as exc:
        sys.exit(str(exc))
    share = np.mean([mask.mean() for mask in character.values()])
    print(f"{bench.name} ({args.protocol}): the character's pixels are {share:.1%} of the frames")
    print(f"{'all':>7} {'character':>10} {'background':>11}")
    for name, per_sample in results.items():
        means = np.concatenate(list(per_sample.values())).mean(axis=0)
        print(f"{means[0]:7.3f} {means[1]:10.3f} {means[2]:11.3f}  {name}")
    if args.json:
        doc = {name: {sid: dict(zip(REGIONS, rows.mean(axis=0).tolist(), strict=True)) for sid, rows in runs.items()}
               for name, runs in results.items()}  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
