"""Streaming feature statistics and an exact, fast Fréchet distance.

The Fréchet distance between Gaussians fitted to two feature sets is
``|mu1 - mu2|² + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2)``. pytorch-fid, StyleGAN-V and cd-fvd get the last
term from ``scipy.linalg.sqrtm(S1 @ S2)``, about 29 s at 2048 dimensions on a 2-core CPU. The trace of
that square root is the sum of the square roots of the eigenvalues of ``S1 S2``, which are those of the
symmetric matrix ``A S2 Aᵀ`` whenever ``S1 = AᵀA``. So, all in float64:

* when one side has fewer samples than dimensions, ``A`` is its centred, scaled feature matrix
  (``n × d``) and the term is the sum of ``sqrt(eigvalsh(A S2 Aᵀ))``; when both sides do, it is the
  nuclear norm of ``A1 A2ᵀ`` (``n1 × n2``);
* otherwise ``A`` is the Cholesky factor of ``S1`` (or ``S1^{1/2}`` from a symmetric eigendecomposition
  when ``S1`` is singular), and the term is the sum of ``sqrt(eigvalsh(A S2 Aᵀ))``.

:class:`FeatureStats` keeps the feature rows themselves while there are at most as many rows as
dimensions (no more memory than a ``d × d`` matrix) and folds them into shifted float64 sums after
that, so a 10,000-video evaluation never holds all features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


class FeatureStats:
    """Mean and covariance of a stream of feature vectors, accumulated in float64.

    ``ddof`` picks the covariance normalisation of the recipe: 1 for ``np.cov`` (pytorch-fid, DisCo),
    0 for StyleGAN-V's and cd-fvd's ``FeatureStats`` (raw second moment over N minus mean outer product).
    """

    def __init__(self, dim: int | None = None, *, ddof: int = 1) -> None:
        self.ddof = ddof
        self.dim = dim
        self.count = 0
        self._rows: list[np.ndarray] | None = []
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None

    def update(self, features: np.ndarray) -> None:
        """Add a batch of feature vectors ``(n, d)``; non-finite values are an error."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2:
            raise ValueError(f"features must be (n, d), got shape {features.shape}")
        if self.dim is None:
            self.dim = features.shape[1]
        if features.shape[1] != self.dim:
            raise ValueError(f"features have {features.shape[1]} dimensions, expected {self.dim}")
        if not np.isfinite(features).all():
            raise ValueError("features contain NaN or Inf")
        self.count += len(features)
        if self._rows is not None:
            self._rows.append(features)
            if self.count > self.dim:
                self._fold(np.concatenate(self._rows))
            return
        self._accumulate(features)

    def _fold(self, rows: np.ndarray) -> None:
        self._rows = None
        self._shift = rows.mean(axis=0)
        self._sum = np.zeros(self.dim)
        self._outer = np.zeros((self.dim, self.dim))
        self._accumulate(rows)

    def _accumulate(self, features: np.ndarray) -> None:
        centred = features - self._shift
        self._sum += centred.sum(axis=0)
        self._outer += centred.T @ centred

    @property
    def rows(self) -> np.ndarray | None:
        """All feature rows while they are still kept (count ≤ dim), else None."""
        return None if self._rows is None else np.concatenate(self._rows)

    def mean(self) -> np.ndarray:
        self._need(1)
        if self._rows is not None:
            return self.rows.mean(axis=0)
        return self._shift + self._sum / self.count

    def cov(self) -> np.ndarray:
        self._need(self.ddof + 1)
        if self._rows is not None:
            return np.cov(self.rows, rowvar=False, ddof=self.ddof).reshape(self.dim, self.dim)
        centred_mean = self._sum / self.count
        return (self._outer - self.count * np.outer(centred_mean, centred_mean)) / (self.count - self.ddof)

    def factor(self) -> np.ndarray | None:
        """``A`` with ``cov() == AᵀA`` (``n × d``) while the rows are kept, else None."""
        if self._rows is None:
            return None
        rows = self.rows
        return (rows - rows.mean(axis=0)) / np.sqrt(self.count - self.ddof)

    def _need(self, n: int) -> None:
        if self.count < n:
            raise ValueError(f"need at least {n} feature vectors, have {self.count}")

    def merge(self, other: FeatureStats) -> FeatureStats:
        """Add another stream's statistics (e.g. from another process) to this one."""
        if other.count == 0:
            return self
        if other._rows is not None:
            for rows in other._rows:
                self.update(rows)
            return self
        if self.count == 0:
            self.dim, self._rows = other.dim, None
            self._shift, self._sum, self._outer = other._shift.copy(), other._sum.copy(), other._outer.copy()
            self.count = other.count
            return self
        if self._rows is not None:
            self._fold(self.rows)
        delta = other._shift - self._shift
        moved_sum = other._sum + other.count * delta
        self._outer += other._outer + np.outer(other._sum, delta) + np.outer(delta, other._sum)
        self._outer += other.count * np.outer(delta, delta)
        self._sum += moved_sum
        self.count += other.count
        return self

    def save(self, path: str | Path) -> None:
        """Write the statistics to an ``.npz`` file (no pickle)."""
        arrays: dict[str, np.ndarray] = {"count": np.array(self.count), "ddof": np.array(self.ddof)}
        arrays["dim"] = np.array(-1 if self.dim is None else self.dim)
        if self._rows is not None:
            arrays["rows"] = self.rows if self._rows else np.zeros((0, self.dim or 0))
        else:
            arrays |= {"shift": self._shift, "sum": self._sum, "outer": self._outer}
        with open(path, "wb") as handle:
            np.savez(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> FeatureStats:
        with np.load(path, allow_pickle=False) as data:
            dim = int(data["dim"])
            stats = cls(None if dim < 0 else dim, ddof=int(data["ddof"]))
            if "rows" in data:
                if len(data["rows"]):
                    stats.update(data["rows"])
            else:
                stats._rows = None
                stats._shift, stats._sum, stats._outer = data["shift"], data["sum"], data["outer"]
                stats.count = int(data["count"])
        return stats


def trace_sqrt_product(a: FeatureStats, b: FeatureStats) -> float:
    """``tr sqrt(cov_a cov_b)`` exactly, by the cheapest of the routes in the module docstring."""
    fa, fb = a.factor(), b.factor()
    if fa is not None and fb is not None:
        return float(np.linalg.svd(fa @ fb.T, compute_uv=False).sum())
    if fa is None and fb is not None:
        a, fa, b = b, fb, a
    if fa is None:
        fa = _factor_of(a.cov())
    inner = fa @ b.cov() @ fa.T
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())


def _factor_of(cov: np.ndarray) -> np.ndarray:
    """``A`` with ``AᵀA == cov``: the Cholesky factor when ``cov`` is positive definite, else ``cov^{1/2}``."""
    try:
        return np.linalg.cholesky(cov).T
    except np.linalg.LinAlgError:  # singular (rank-deficient) covariance: the symmetric square root
        values, vectors = np.linalg.eigh(cov)
        return (vectors * np.sqrt(np.clip(values, 0, None))).T


def frechet_distance(a: FeatureStats, b: FeatureStats) -> float:
    """The Fréchet distance between the Gaussians fitted to two feature streams."""
    if a.dim != b.dim:
        raise ValueError(f"feature dimensions differ: {a.dim} vs {b.dim}")
    for name, stats in (("first", a), ("second", b)):
        if stats.count < 2:
            raise ValueError(
                f"the {name} set has {stats.count} feature vector(s); a Fréchet distance needs at least 2 per set"
            )
    diff = a.mean() - b.mean()
    traces = _trace_cov(a) + _trace_cov(b)
    return float(diff @ diff + traces - 2 * trace_sqrt_product(a, b))


def _trace_cov(stats: FeatureStats) -> float:
    factor = stats.factor()
    return float(np.einsum("ij,ij->", factor, factor)) if factor is not None else float(np.trace(stats.cov()))
