"""Speed of DWPose-convention skeleton rendering: 81 frames at 832×480 (Animate-X++'s default clip).

Renders a synthetic benchmark's poses, repeated to 81 frames, with ``a2bench.core.pose.render_poses``
(OpenCV drawing, frames in parallel threads) and with one thread, and prints seconds and frames/s.
The images are pixel-identical to the Animate-X++ release's ``dwpose/util.py`` drawing (tests/data
golden images). Usage: ``python benchmarks/pose_render_speed.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np

from a2bench.core.pose import PoseSequence, render_poses
from a2bench.core.synth import SynthOptions, generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        from a2bench.core.data import load_benchmark

        path = generate(f"{folder}/bench", SynthOptions(samples=2, frames=32, width=64, height=64), workers=1)
        pose = load_benchmark(str(path))["s000"].pose()
    frames = np.resize(pose.frames, (81, *pose.frames.shape[1:]))
    poses = PoseSequence(frames, (832, 480), pose.fps)
    for workers in (2, 1):
        render_poses(poses, workers=workers)  # warm-up
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            render_poses(poses, workers=workers)
            times.append(time.perf_counter() - start)
        best, median = min(times), statistics.median(times)
        print(
            f"81 frames at 832x480, {workers} thread(s): median {median:.3f} s, best {best:.3f} s "
            f"({81 / median:.0f} frames/s)"
        )


if __name__ == "__main__":
    main()
