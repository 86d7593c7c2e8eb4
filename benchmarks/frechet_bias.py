"""How far the Fréchet distance of two samples of the *same* distribution is from 0, by sample size.

Both samples are drawn independently from one distribution in d = 2048 dimensions (FID's pool3 size), so the
true distance is 0 and every value printed is the estimator's bias (plus noise, shown as the standard deviation
over ``--repeats`` draws). Statistics are ``np.cov``-style (N − 1), as FID's, through a2bench's exact
``frechet_distance``. Two distributions:

- ``normal``: standard normal features, N(0, I);
- ``decaying``: zero-mean Gaussian with covariance eigenvalues ∝ 1/k (k = 1..d), scaled to trace d: most
  variance in few directions, as real network features have (not fitted to any network).

Usage: ``python benchmarks/frechet_bias.py [--sizes 8,16,64,512,2048,4096] [--repeats 3] [--out FILE.md]``
(about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from a2bench.metrics import FeatureStats, frechet_distance

DIM = 2048


def sample(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((n, DIM))
    if kind == "normal":
        return z
    scale = 1 / np.arange(1, DIM + 1)
    return z * np.sqrt(scale * DIM / scale.sum())  # independent axes with the decaying variances


def distance(x: np.ndarray, y: np.ndarray) -> float:
    a, b = FeatureStats(ddof=1), FeatureStats(ddof=1)
    a.update(x)
    b.update(y)
    return frechet_distance(a, b)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sizes", default="8,16,64,512,2048,4096", help="sample sizes n per side")
    parser.add_argument("--repeats", type=int, default=3, help="independent draws per size")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args(argv)
    rows = ["| n per side | normal: mean FD (sd) | decaying: mean FD (sd) |", "|---:|---:|---:|"]
    for n in (int(part) for part in args.sizes.split(",")):
        cells = []
        for kind in ("normal", "decaying"):
            rng = np.random.default_rng(n)
            values = [distance(sample(kind, n, rng), sample(kind, n, rng)) for _ in range(args.repeats)]
            cells.append(f"{np.mean(values):.1f} ({np.std(values):.1f})")
        rows.append(f"| {n} | {' | '.join(cells)} |")
        print(rows[-1], flush=True)
    table = "\n".join(rows) + "\n"
    print(f"\nd = {DIM}, {args.repeats} draws per size, np.cov (N − 1), exact Fréchet distance\n\n{table}")
    if args.out:
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
