"""Where does a video lose SSIM? DisCo's SSIM map split into the character and the background, on synth.

The SSIM map of every frame (``a2bench.metrics.ssim``: DisCo's SSIM, OpenCV grey, 7 × 7 uniform window) is averaged
over the pixels whose window sees the character at that frame's pose (its exact coverage from the synth
generator, grown by the window's half width, 3 pixels: ``a2bench.core.synth.pose_following.character_pixels``) and
over the rest, the background, pooling the pixels of all frames of all samples (a region empty in one frame
leaves no gap). ``all`` is the whole map's mean: the ``ssim`` score itself. Rows: the reference image held still
(what ``reference-copy`` returns) and each run. ``scripts/vae_ceiling.py --out DIR`` writes the VAE's round trip
of the ground truth as such a run folder.

    python scripts/ssim_by_region.py RUN_DIR... [--bench synth] [--protocol self] [--json OUT]

RUN_DIR: folders written by `a2bench run --out` (their ``videos/<sample>-*.mp4``) on the same benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from a2bench.core.data import Benchmark, load_benchmark
from a2bench.core.runfolder import run_videos
from a2bench.core.synth import cached_synth
from a2bench.core.synth.pose_following import character_pixels, videos_and_targets
from a2bench.metrics.ssim import UNIFORM_7, gray, ssim_map

REGIONS = ("all", "character", "background")


def region_ssim(
    bench: Benchmark, protocol: str, character: dict[str, np.ndarray], videos: dict[str, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """Per sample id, ``(3, 2)``: the sum and the number of the SSIM map's values over the whole map, over
    ``character``'s pixels and over the others, all frames together (the map is cropped by the window's half
    width, as skimage averages it, and so is the mask)."""
    pad = len(UNIFORM_7) // 2
    out = {}
    for sid, frames, target in videos_and_targets(bench, protocol, videos):
        totals = np.zeros((len(REGIONS), 2))
        for pred, truth, mask in zip(gray(frames), gray(target), character[sid], strict=True):
            values, inside = ssim_map(pred, truth, UNIFORM_7, True), mask[pad:-pad, pad:-pad]
            for row, part in enumerate((values, values[inside], values[~inside])):
                totals[row] += (part.sum(dtype=np.float64), part.size)
        out[sid] = totals
    return out


def means(totals: np.ndarray) -> np.ndarray:
    """``(3,)`` mean per region from ``(..., 3, 2)`` sums and counts (summed over the leading axes); NaN for a
    region with no pixels."""
    totals = totals.reshape(-1, len(REGIONS), 2).sum(axis=0)
    with np.errstate(invalid="ignore"):
        return totals[:, 0] / totals[:, 1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="a2bench run --out folders")
    parser.add_argument("--bench", default=None, help="a synth benchmark folder (default: the built-in synth)")
    parser.add_argument("--protocol", default="self")
    parser.add_argument("--json", default=None, help="write the per-sample means here")
    args = parser.parse_args(argv)
    bench = load_benchmark(args.bench or cached_synth())
    try:
        character = character_pixels(bench, args.protocol, margin=len(UNIFORM_7) // 2)
    except ValueError as exc:
        sys.exit(str(exc))
    results = {}
    for name, run in {"reference image": None, **{str(r): r for r in args.runs}}.items():
        try:
            videos = None if run is None else run_videos(run, bench)
            results[name] = region_ssim(bench, args.protocol, character, videos)
        except ValueError as exc:
            sys.exit(f"{name}: {exc}")
    share = np.mean([mask.mean() for mask in character.values()])
    print(f"{bench.name} ({args.protocol}): the character's pixels are {share:.1%} of the frames")
    print(f"{'all':>7} {'character':>10} {'background':>11}")
    for name, per_sample in results.items():
        pooled = means(np.stack(list(per_sample.values())))
        print(f"{pooled[0]:7.3f} {pooled[1]:10.3f} {pooled[2]:11.3f}  {name}")
    if args.json:
        doc = {name: {sid: dict(zip(REGIONS, means(totals).tolist(), strict=True)) for sid, totals in runs.items()}
               for name, runs in results.items()}  # fmt: skip
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
