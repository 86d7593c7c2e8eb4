"""Does the prompt move the background? animatex-tiny with the sample's prompt vs the same prompt made static.

For every sample of a synth benchmark whose scene has background motion (snow, fire, light rings, clouds), the
model animates the sample (self-driven) twice: with its prompt, and with the prompt's motion sentence replaced by
"The background stays still." The measure is the mean absolute difference between consecutive frames, in [0, 1]
units, over the background: pixels outside the box around every frame's body keypoints (plus a margin), so the
character's own motion does not count. The ground-truth video's value is printed beside it.

    python scripts/background_motion.py [--bench synth] [--weights FOLDER] [--steps 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
import torch

from a2bench.animatex.config import TINY_DIR
from a2bench.animatex.pipeline import AnimateXPipeline
from a2bench.core.data import load_benchmark
from a2bench.core.frames import resize_frames
from a2bench.core.pose.keypoints import BODY
from a2bench.core.synth import cached_synth
from a2bench.core.synth.backgrounds import SCENES, STILL

MOVING = {scene.motion for scene in SCENES if scene.effect is not None}


def background_mask(points: np.ndarray, size: tuple[int, int], margin: float = 0.08) -> np.ndarray:
    """``(H, W)`` True outside the box around all frames' visible keypoints (normalised ``(T, K, 3)``), widened
    by ``margin`` of the frame on each side."""
    width, height = size
    visible = points[..., 2] > 0
    xs, ys = points[..., 0][visible], points[..., 1][visible]
    x0, x1 = max(0.0, xs.min() - margin), min(1.0, xs.max() + margin)
    y0, y1 = max(0.0, ys.min() - margin), min(1.0, ys.max() + margin)
    mask = np.ones((height, width), bool)
    mask[int(y0 * height) : int(np.ceil(y1 * height)), int(x0 * width) : int(np.ceil(x1 * width))] = False
    return mask


def frame_difference(frames: np.ndarray, mask: np.ndarray) -> float:
    """Mean |frame[t] − frame[t−1]| over the masked pixels, [0, 1] units."""
    diff = np.abs(np.diff(frames.astype(np.float64) / 255, axis=0)).mean(axis=-1)
    return float(diff[:, mask].mean())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", default=None, help="a synth benchmark folder (default: the built-in synth)")
    parser.add_argument("--weights", default=str(TINY_DIR), help="a saved pipeline folder (default: the shipped one)")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the preset's)")
    parser.add_argument("--json", default=None, help="write the per-sample numbers here")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    bench = load_benchmark(args.bench or cached_synth())
    pipe = AnimateXPipeline.from_pretrained(args.weights)
    s = pipe.model.config.sampling
    rows = []
    for sample in bench:
        prompt = sample.prompt()
        motion = next((m for m in MOVING if prompt.endswith(m)), None)
        if motion is None:
            continue
        pose = sample.pose()
        size = (s.width, s.height)
        mask = background_mask(pose.frames[:, BODY], size)
        values = {}
        for name, text in (("moving", prompt), ("static", prompt[: -len(motion)] + STILL)):
            frames = pipe(sample.reference(), pose, text, steps=args.steps, seed=0).frames
            values[name] = frame_difference(frames, mask)
        truth = resize_frames(sample.video().frames, size)  # as the runner resizes a model's frames
        values["ground_truth"] = frame_difference(truth, mask)
        rows.append({"sample": sample.id, "motion": motion, "background_pixels": int(mask.sum()), **values})
        print(f"{sample.id}  moving {values['moving']:.4f}  static {values['static']:.4f}  "
              f"ground truth {values['ground_truth']:.4f}  ({motion})")  # fmt: skip
    if not rows:
        raise SystemExit("no sample of this benchmark has a moving background")
    moving = [r["moving"] for r in rows]
    static = [r["static"] for r in rows]
    higher = sum(m > st for m, st in zip(moving, static, strict=True))
    print(f"mean over {len(rows)} samples: moving prompt {statistics.mean(moving):.4f}, static prompt "
          f"{statistics.mean(static):.4f}; moving > static in {higher} of {len(rows)}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
