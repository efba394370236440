"""Inception Score (Salimans et al. 2016, "Improved techniques for training GANs")."""
from __future__ import annotations

import numpy as np
from scipy.special import log_softmax


SPLITS = 10  # as Salimans et al.'s code and every paper since: 50,000 images in 10 splits of 5,000


def split_sizes(num: int, splits: int = SPLITS) -> list[int]:
    """How many images each split of ``num`` holds: np.array_split's sizes, one image each where there are fewer
    than ``splits``. A split's IS is at most its size, since its p(y) is the mean of those images' p(y|x)."""
    return [len(chunk) for chunk in np.array_split(np.arange(num), min(splits, num))]


def inception_score(logits: np.ndarray, splits: int = SPLITS) -> tuple[float, float]:
    """IS = exp(E_x KL(p(y|x) || p(y))), averaged over ``splits`` equal chunks (mean, std).

    ``logits`` are the classifier's unnormalized scores (N, K); p(y) is the
    marginal over each chunk. Fewer than ``splits`` images make one chunk per image (an empty
    chunk would have no score).
    """
    logp = log_softmax(np.asarray(logits, np.float64), axis=1)
    scores = []
    for chunk in np.split(logp, np.cumsum(split_sizes(len(logp), splits))[:-1]):  # views, split_sizes' sizes
        p = np.exp(chunk)
        log_marginal = np.log(p.mean(0) + 1e-12)
        scores.append(np.exp((p * (chunk - log_marginal)).sum(1).mean()))
    return float(np.mean(scores)), float(np.std(scores))
