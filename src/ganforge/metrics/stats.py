"""Streaming feature statistics: mean and covariance without holding all features."""
from __future__ import annotations

import numpy as np


class RunningStats:
    """Accumulates sum and outer-product sum in float64 so FID needs only O(D^2) memory.

    Args:
        dim: feature dimension.
    """

    def __init__(self, dim: int) -> None:
        self.n = 0
        self.sum = np.zeros(dim, dtype=np.float64)
        self.outer = np.zeros((dim, dim), dtype=np.float64)

    def update(self, features: np.ndarray) -> None:
        """Add a batch of features (B, D)."""
        f = np.asarray(features, dtype=np.float64)
        self.n += len(f)
        self.sum += f.sum(0)
        self.outer += f.T @ f

    def merge(self, other: "RunningStats") -> None:
        """Add another set's statistics (one rank's part of a sharded evaluation)."""
        self.n += other.n
        self.sum += other.sum
        self.outer += other.outer

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean (D,) and unbiased covariance (D, D), as ``np.cov(features, rowvar=False)``."""
        if self.n < 2:
            raise ValueError("need at least 2 samples for a covariance")
        mu = self.sum / self.n
        cov = (self.outer - self.n * np.outer(mu, mu)) / (self.n - 1)
        return mu, cov
