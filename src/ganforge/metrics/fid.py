"""Fréchet Inception Distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule")."""
from __future__ import annotations

import numpy as np
import scipy.linalg


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    The trace of the square root is the sum of the square roots of the eigenvalues of
    sigma1 sigma2, which has the same eigenvalues as the symmetric s sigma2 s with
    s = sigma1^(1/2) (AB and BA share them). That matrix is positive semi-definite, so
    ``scipy.linalg.eigh`` gives its eigenvalues stably even when the covariances are singular:
    dead features (the ``fmnist`` network has some) or fewer samples than dimensions. The
    usual route, ``sqrtm`` of the non-symmetric product, warns "matrix is singular" there
    and pytorch-fid then adds eps to the diagonals; this form needs neither and agrees with
    it to round-off where both apply.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    w, v = scipy.linalg.eigh(sigma1)
    s = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # round-off can leave tiny negative eigenvalues
    m = s @ sigma2 @ s
    eig = scipy.linalg.eigvalsh((m + m.T) / 2)  # symmetrize away round-off
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())
