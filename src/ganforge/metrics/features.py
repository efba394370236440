"""Feature extractors, registered by name: uint8 images in, (features, logits) out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..registry import Registry

FEATURES: Registry = Registry("feature extractor")


@dataclass
class FeatureExtractor:
    """A network that maps uint8 images (B, C, H, W) of any size to features and class logits.

    Args:
        name: registered name.
        forward: uint8 batch -> (features (B, dim), logits (B, classes)).
        dim: feature dimension.
        weights_sha256: hash of the weights, recorded in every evaluation's protocol.
        resize_rule: how inputs of another size or channel count are converted (documented).
    """

    name: str
    forward: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    dim: int
    weights_sha256: str
    resize_rule: str

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward(images)


@FEATURES.register("fmnist")
def fmnist_features() -> FeatureExtractor:
    """The shipped Fashion-MNIST CNN: 128-d penultimate features, 10 logits."""
    from .fmnist_net import WEIGHTS, load_fmnist_net, preprocess, sha256_of

    net = load_fmnist_net()
    return FeatureExtractor(
        name="fmnist", forward=lambda x: net(preprocess(x)), dim=net.feature_dim,
        weights_sha256=sha256_of(WEIGHTS),
        resize_rule="RGB -> luma (0.299, 0.587, 0.114); other sizes -> 28x28 antialiased bilinear; "
                    "then (x/255 - 0.2860) / 0.3530")


@FEATURES.register("inception")
def inception_features(weights: str = "") -> FeatureExtractor:
    """Standard FID's Inception-v3 (TF 2015-12-05 graph): 2048-d pool3 features, 1008 logits without bias."""
    from .inception import load_inception

    net, digest = load_inception(weights)
    return FeatureExtractor(
        name="inception", forward=net, dim=net.feature_dim, weights_sha256=digest,
        resize_rule="grayscale repeated to RGB; TensorFlow-1 bilinear resize to 299x299 (no half-pixel centers); "
                    "then (x - 128) / 128")


def build_features(name: str, inception_weights: str = "") -> FeatureExtractor:
    """The registered extractor ``name`` (the error lists the registered ones).

    Args:
        inception_weights: weights file for ``inception`` (else $GANFORGE_INCEPTION_WEIGHTS or the cache).
    """
    # Constructing a network draws its initial weights from the global RNG before the real weights
    # replace them; forking keeps that draw out of a training run that evaluates as it goes.
    with torch.random.fork_rng(devices=[]):
        if name == "inception":
            return FEATURES.build(name, None, weights=inception_weights)
        return FEATURES.build(name)
