"""Peak memory of `a2bench run` and `a2bench eval` as the benchmark grows.

Scoring should stream samples: beyond a fixed base, peak resident memory may grow only by what a distribution
metric must keep (its feature matrices: frames × 2048 float64 for FID), never by the videos themselves. For each
benchmark size this makes a `synth` benchmark of small frames, runs `reference-copy` on it with the given metrics,
then scores the run's videos again with `a2bench eval`, each command in its own process, and prints the peak RSS
(the child's ``ru_maxrss``) beside the feature bytes a distribution metric has to hold.

    python benchmarks/memory.py                      # 16, 64, 256 samples of 8 frames at 64x64
    python benchmarks/memory.py --sizes 16,64 --metrics psnr,ssim,l1

The networks are random-weight files in the official layouts (metrics.testing.write_random_weights): memory does
not depend on the weights' values. Everything is written under a temporary folder.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

FEATURES = {"fid_clean": 2048, "fid": 2048, "fid_cleanfid": 2048, "kid_clean": 2048}  # per-frame feature width
# Children report ru_maxrss in KiB on Linux: one wrapper process per command, so each figure is that command's.
PEAK = "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:]).returncode; " \
       "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(rc)"  # fmt: skip


def peak_mib(command: list[str], env: dict[str, str]) -> float:
    """Peak resident memory of ``command`` (MiB); its own output goes to a log beside the run."""
    done = subprocess.run([sys.executable, "-c", PEAK, *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="16,64,256", help="benchmark sizes (samples), comma-separated")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", default="64x64", help="WIDTHxHEIGHT of the synth videos")
    parser.add_argument("--metrics", default="psnr,ssim,l1,fid_clean")
    args = parser.parse_args()
    a2bench = str(Path(sys.executable).with_name("a2bench"))
    with tempfile.TemporaryDirectory(prefix="a2bench-memory-") as tmp:
        root = Path(tmp)
        env = {**os.environ, "A2BENCH_WEIGHTS": str(root / "weights"), "A2BENCH_HOME": str(root / "home"),
               "A2BENCH_ALLOW_UNVERIFIED_WEIGHTS": "1", "HF_HUB_OFFLINE": "1"}  # fmt: skip
        os.environ.update(env)
        from a2bench.metrics.testing import write_random_weights  # after A2BENCH_WEIGHTS is set

        write_random_weights(root / "weights")
        print(f"# {platform.node()}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
              f"{args.frames} frames at {args.size}, metrics {args.metrics}")  # fmt: skip
        print("samples\trun peak MiB\teval peak MiB\tfeature MiB (pred + gt)")
        rows = []
        for samples in (int(s) for s in args.sizes.split(",")):
            bench, out = root / f"bench-{samples}", root / f"run-{samples}"
            subprocess.run([a2bench, "bench", "make", "synth", "--out", str(bench), "--samples", str(samples),
                            "--frames", str(args.frames), "--size", args.size], env=env, check=True,
                           capture_output=True)  # fmt: skip
            run = peak_mib([a2bench, "run", "--model", "reference-copy", "--bench", str(bench), "--out", str(out),
                            "--metrics", args.metrics, "--db", str(root / "results.sqlite")], env)  # fmt: skip
            named = root / f"pred-{samples}"  # a2bench eval reads <sample id>.mp4; the run keeps <id>-<key>.mp4
            named.mkdir()
            for video in (out / "videos").glob("*.mp4"):
                (named / f"{video.name.split('-')[0]}.mp4").symlink_to(video)
            evaluated = peak_mib([a2bench, "eval", "--pred", str(named), "--bench", str(bench),
                                  "--metrics", args.metrics, "--no-cache"], env)  # fmt: skip
            width = sum(FEATURES.get(m, 0) for m in args.metrics.split(","))
            features = 2 * samples * args.frames * width * 8 / 2**20
            rows.append({"samples": samples, "run_mib": run, "eval_mib": evaluated, "feature_mib": features})
            print(f"{samples}\t{run:.0f}\t{evaluated:.0f}\t{features:.1f}", flush=True)
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
