"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs")."""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), averaged over ``splits`` equal chunks (mean, std).

    ``logits`` are the classifier's unnormalized scores (N, K); p(y) is the
    marginal over each chunk. Fewer than ``splits`` images make one chunk per image (an empty
    chunk would have no score).
    """
    logp = log_softmax(np.asarray(logits, np.float64), axis=1)
    scores = []
    for chunk in np.array_split(logp, min(splits, len(logp))):
        p = np.exp(chunk)
        log_marginal = np.log(p.mean(0) + 1e-12)
        scores.append(np.exp((p * (chunk - log_marginal)).sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
