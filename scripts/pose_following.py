"""Does a model move the character where the driving pose says? Error where the character moved, on a synth benchmark.

For every frame of every sample, the pixels where the character's exact coverage at that frame's pose differs
from its coverage at the reference image's pose are where it moved to or away from (a2bench.core.synth.pose_following).
The measure is the mean absolute error against the ground truth over those pixels (grey levels, 0-255; lower is
better), per run, with the same measure for the reference image itself beside it (what a model that never moves
the character scores: `reference-copy`). Frames where fewer than 4 pixels changed are skipped. PSNR and SSIM weigh
these pixels little: a few percent of the frame.

    python scripts/pose_following.py RUN_DIR... [--bench synth] [--protocol self] [--json OUT]

RUN_DIR: folders written by `a2bench run --out` (their `videos/<sample>-*.mp4`) on the same benchmark.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from a2bench.core.data import load_benchmark
from a2bench.core.runfolder import run_videos
from a2bench.core.synth import cached_synth
from a2bench.core.synth.pose_following import moved_errors, moved_pixels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="a2bench run --out folders")
    parser.add_argument("--bench", default=None, help="a synth benchmark folder (default: the built-in synth)")
    parser.add_argument("--protocol", default="self")
    parser.add_argument("--json", default=None, help="write the per-sample numbers here")
    args = parser.parse_args(argv)
    bench = load_benchmark(args.bench or cached_synth())
    try:
        moved = moved_pixels(bench, args.protocol)  # once: the same pixels for every run
    except ValueError as exc:
        sys.exit(str(exc))
    results = {}
    for name, run in {"reference image": None, **{str(r): r for r in args.runs}}.items():
        try:
            videos = None if run is None else run_videos(run, bench)
            per_frame = moved_errors(bench, args.protocol, moved, videos)
        except ValueError as exc:
            sys.exit(f"{name}: {exc}")
        results[name] = {k: float(np.mean(v)) if v else float("nan") for k, v in per_frame.items()}
    for name, per_sample in results.items():
        print(f"{np.nanmean(list(per_sample.values())):7.2f}  {name}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
