"""Feature extractors, registered by name: uint8 images in, (features, logits) out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import GanforgeError, raised_at
from ..registry import Registry, require_built

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
    from .fmnist_net import WEIGHTS, for_inference, load_fmnist_net, preprocess, sha256_of

    net = for_inference(load_fmnist_net())
    return FeatureExtractor(
        name="fmnist", forward=lambda x: net(preprocess(x).contiguous(memory_format=torch.channels_last)),
        dim=net.feature_dim,
        weights_sha256=sha256_of(WEIGHTS),
        resize_rule="RGB -> luma (0.299, 0.587, 0.114); other sizes -> 28x28 antialiased bilinear; "
                    "then (x/255 - 0.2860) / 0.3530")


@FEATURES.register("inception")
def inception_features(weights: str = "") -> FeatureExtractor:
    """Standard FID's Inception-v3 (TF 2015-12-05 graph): 2048-d pool3 features, 1008 logits without bias."""
    from .inception import for_inference, load_inception

    net, digest = load_inception(weights)
    net = for_inference(net)
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
        extractor = (FEATURES.build(name, None, weights=inception_weights) if name == "inception"
                     else FEATURES.build(name))
    return require_built(extractor, FeatureExtractor, f"feature extractor '{name}'",  # a plugin's own network?
                         "return FeatureExtractor(name, forward, dim, weights_sha256, resize_rule) from its builder.")


def checked_features(extractor: FeatureExtractor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``extractor(images)``, checked to be what every metric reads: features (B, dim) and logits (B, K),
    finite. Called on the first batch of each extraction and on two blank images before training, so a
    plugin's extractor that fails or returns something else is one line naming it, not a traceback from
    inside a metric (NumPy's broadcast error, SciPy's "must not contain infs or NaNs")."""
    what = f"feature extractor '{extractor.name}'"
    try:
        out = extractor(images)
    except GanforgeError:
        raise
    except Exception as e:
        raise GanforgeError(f"{what} failed on images of shape {tuple(images.shape)}: {type(e).__name__}: {e} "
                            f"({raised_at(e)})") from None
    want = f"(features, logits) of shapes ({len(images)}, {extractor.dim}) and ({len(images)}, K)"
    if not (isinstance(out, tuple) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise GanforgeError(f"{what} must return {want}, got {_shapes(out)}.")
    f, lg = out
    if f.shape != (len(images), extractor.dim) or lg.ndim != 2 or len(lg) != len(images):
        raise GanforgeError(f"{what} must return {want} (its dim is {extractor.dim}), got {_shapes(out)}.")
    if not (torch.isfinite(f).all() and torch.isfinite(lg).all()):
        raise GanforgeError(f"{what} returns NaN or infinite features for images of shape {tuple(images.shape)}; "
                            "every metric needs finite ones.")
    return f, lg


def _shapes(value: object) -> str:
    """"a tuple of tensors of shapes (2, 5) and (2, 10)", or the type, for an error message."""
    if isinstance(value, torch.Tensor):
        return f"one tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple) and all(isinstance(t, torch.Tensor) for t in value):
        return f"a tuple of tensors of shapes {' and '.join(str(tuple(t.shape)) for t in value)}"
    return f"a '{type(value).__name__}'"
