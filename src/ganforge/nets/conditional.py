"""Class-conditional networks: any registered G and D made to take each image's class.

A class-conditional GAN (``model.num_classes > 0``) calls ``G(z, y)`` and ``D(x, y)``, ``y`` the
int64 classes (B,). A network registered with the class attribute ``class_conditional = True``
takes the labels itself: it is built with a ``num_classes`` keyword and called with ``y``.
Every other network is wrapped here, so the built-in networks and most of a user's work unchanged:

* G gets a learned class embedding concatenated to its noise (the cGAN of Mirza & Osindero, 2014,
  as the PyTorch tutorials write it): it is built with ``z_dim`` + the embedding's size.
* or, with ``model.class_conditioning = "batchnorm"``, conditional BatchNorm (de Vries et al. 2017,
  the G of SNGAN-proj and BigGAN): every BatchNorm of G gets a per-class gain and bias, and z stays
  as it is.
* D gets a projection (Miyato & Koyama, 2018, the discriminator of SNGAN-proj and BigGAN):
  ``score = head(h) + <embed(y), h>`` with ``h = features(x)``, the input of D's last layer. D must
  say where that is, with a ``features(x)`` and a ``head(h)`` method; the built-in ones do.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn

from ..errors import GanforgeError

MAX_EMBEDDING = 128  # G's class embedding has one dimension per class, at most BigGAN's 128


def takes_labels(builder: object) -> bool:
    """Whether a registered network takes the class labels itself (``class_conditional = True``)."""
    return bool(getattr(builder, "class_conditional", False))


def with_labels(net: Callable[..., torch.Tensor], x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
    """``net(x)``, or ``net(x, labels)`` in a class-conditional run (``labels`` not None)."""
    return net(x) if labels is None else net(x, labels)


def class_vectors(table: nn.Embedding, y: torch.Tensor) -> torch.Tensor:
    """The rows of ``table`` for classes ``y`` (B,) int64; or, for class weights ``y`` (B, num_classes) float
    (each row summing to 1), the same mixture of rows: a walk from one class to another
    (``sample --interpolate --to-class``)."""
    return y.to(table.weight.dtype) @ table.weight if y.is_floating_point() else table(y)


def takes_class_mixtures(G: nn.Module) -> bool:
    """Whether ``G`` is conditioned by ganforge's own class tables, which take class weights as well as classes
    (a network that takes its labels itself may only take whole classes)."""
    return isinstance(G, (ClassEmbeddingGenerator, ConditionalBatchNormGenerator))


def embedding_size(num_classes: int) -> int:
    """The size of the class embedding a wrapped G gets beside its noise."""
    return min(num_classes, MAX_EMBEDDING)


class ClassEmbeddingGenerator(nn.Module):
    """``G(cat(z, embed(y)))``: an unconditional generator, built for ``z_dim + embedding_size`` inputs,
    conditioned on the class through a learned embedding.

    Args:
        net: the generator, taking (B, z_dim + embedding_size(num_classes)).
        num_classes: the number of classes.
    """

    def __init__(self, net: nn.Module, num_classes: int) -> None:
        super().__init__()
        self.net = net
        self.embed = nn.Embedding(num_classes, embedding_size(num_classes))

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, class_vectors(self.embed, y).to(z.dtype)], 1))


class ClassAffine(nn.Module):
    """A per-class gain and bias for one BatchNorm's output, as its forward hook: ``out * (1 + gain[y]) +
    bias[y]``. Both start at zero, so the net starts as the unconditional one; with BatchNorm's own
    affine this is any per-class scale and shift of the normalized maps.

    A module rather than a closure, so ``copy.deepcopy`` (the EMA generator) hooks the copy's
    BatchNorms to the copy's gains.
    """

    def __init__(self, num_classes: int, channels: int) -> None:
        super().__init__()
        self.gain = nn.Embedding(num_classes, channels)
        self.bias = nn.Embedding(num_classes, channels)
        nn.init.zeros_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)
        self.y: torch.Tensor | None = None  # this batch's classes, set by the generator around its forward

    def forward(self, module: nn.Module, inputs: tuple, out: torch.Tensor) -> torch.Tensor:
        if self.y is None:
            raise RuntimeError("a class-conditional BatchNorm ran outside its generator's forward(z, y)")
        shape = (-1, out.shape[1]) + (1,) * (out.ndim - 2)  # (B, C, 1, 1) for maps, (B, C) for vectors
        gain, bias = class_vectors(self.gain, self.y), class_vectors(self.bias, self.y)
        return out * (1 + gain.view(shape).to(out.dtype)) + bias.view(shape).to(out.dtype)


class ConditionalBatchNormGenerator(nn.Module):
    """An unconditional generator with every BatchNorm made class-conditional (:class:`ClassAffine`).

    The generator's own modules and state-dict keys stay as they are (under ``net.``); the gains and
    biases are ``affine.N``, in the order of G's BatchNorms.

    Args:
        net: the generator, taking (B, z_dim), with at least one BatchNorm layer.
        num_classes: the number of classes.
        what: how errors name the generator.
    """

    def __init__(self, net: nn.Module, num_classes: int, what: str = "the generator") -> None:
        super().__init__()
        norms = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if not norms:
            raise GanforgeError(f"{what} has no BatchNorm layer, so model.class_conditioning = 'batchnorm' has "
                                "nothing to condition; use 'embedding' (the class embedding beside z).")
        self.net = net
        self.affine = nn.ModuleList(ClassAffine(num_classes, m.num_features) for m in norms)
        for norm, affine in zip(norms, self.affine):
            norm.register_forward_hook(affine)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        for a in self.affine:
            a.y = y
        try:
            return self.net(z)
        finally:
            for a in self.affine:
                a.y = None  # no stale classes held between calls


class ProjectionDiscriminator(nn.Module):
    """``head(h) + <embed(y), h>`` with ``h = net.features(x)``: Miyato & Koyama's projection discriminator.

    Args:
        net: the discriminator, with ``features(x)`` (B, ...) and ``head(h)`` -> (B,).
        num_classes: the number of classes.
        feature_shape: the shape of one image's ``features(x)``, found by a probe.
    """

    def __init__(self, net: nn.Module, num_classes: int, feature_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net = net
        self.feature_shape = feature_shape
        self.embed = nn.Embedding(num_classes, int(torch.Size(feature_shape).numel()))
        nn.init.xavier_uniform_(self.embed.weight)  # as SNGAN-proj: its N(0, 1) default would swamp head(h) at first

    @property
    def scores_each_image_alone(self) -> bool:
        """The projection scores each image by its own class: as ``net`` does (see nets.scores_each_image_alone)."""
        return bool(getattr(self.net, "scores_each_image_alone", False))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.net.features(x)
        # the embedding viewed as h is (C, H, W maps in any memory format): a product and a sum over
        # every feature dimension, so channels_last maps are not copied into NCHW order to flatten them
        e = self.embed(y).view(-1, *self.feature_shape).to(h.dtype)
        return self.net.head(h) + (e * h).sum(dim=tuple(range(1, h.ndim)))


def projection(net: nn.Module, num_classes: int, probe: torch.Tensor, what: str) -> ProjectionDiscriminator:
    """``net`` wrapped as a :class:`ProjectionDiscriminator`; ``probe`` (a batch of images) finds its feature shape."""
    if not (callable(getattr(net, "features", None)) and callable(getattr(net, "head", None))):
        raise GanforgeError(
            f"{what} cannot be class-conditional (model.num_classes > 0): ganforge adds a projection to D's last "
            "layer, so D needs a features(x) method (the input of its last layer) and a head(h) method (that layer, "
            "returning one score per image). Add those two methods, or take the labels yourself: set the class "
            "attribute class_conditional = True, accept num_classes in __init__ and call forward(x, y)."
        )
    from . import probe_output  # the package imports this module

    was_training = net.training
    net.eval()  # the probe must not touch BatchNorm running stats
    try:
        shape = tuple(probe_output(net.features, probe, f"{what}'s features()").shape[1:])
    finally:
        net.train(was_training)
    return ProjectionDiscriminator(net, num_classes, shape)
