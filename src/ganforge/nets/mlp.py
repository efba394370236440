"""MLP generator and discriminator of seeds 000 (MMEngine) and 001 (PyTorch tutorial)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..registry import DISCRIMINATORS, GENERATORS
from .layers import leaky_relu


@dataclass(frozen=True)
class MLPGeneratorOptions:
    """Args:
        hidden: widths of the hidden layers.
        batchnorm: BatchNorm1d after every hidden layer but the first (seed 000).
        bn_eps: BatchNorm1d's eps; seed 000 passes 0.8 positionally, which is eps.
        slope: LeakyReLU negative slope (0.01 in seed 001, 0.2 in seed 000).
    """

    hidden: tuple[int, ...] = (512,)
    batchnorm: bool = False
    bn_eps: float = 0.8
    slope: float = 0.01


@dataclass(frozen=True)
class MLPDiscriminatorOptions:
    """Args:
        hidden: widths of the hidden layers.
        slope: LeakyReLU negative slope.
    """

    hidden: tuple[int, ...] = (512,)
    slope: float = 0.01


class MLPGenerator(nn.Module):
    """z (B, z_dim) -> Linear/LeakyReLU stack -> Tanh image (B, C, H, W)."""

    def __init__(self, opts: MLPGeneratorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        self.image_shape = (channels, resolution, resolution)
        layers: list[nn.Module] = []
        width = z_dim
        for i, h in enumerate(opts.hidden):
            layers.append(nn.Linear(width, h))
            if opts.batchnorm and i > 0:
                layers.append(nn.BatchNorm1d(h, eps=opts.bn_eps))
            layers.append(leaky_relu(opts.slope))
            width = h
        layers += [nn.Linear(width, channels * resolution * resolution), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Image (B, C, H, W) -> flattened -> Linear/LeakyReLU stack -> logit (B,).

    The seeds end in ``nn.Sigmoid`` and use ``BCELoss``; ganforge returns the
    logit and applies the sigmoid inside the loss (same math, no overflow).
    """

    scores_each_image_alone = True  # no layer mixes the batch (see nets.scores_each_image_alone)

    def __init__(self, opts: MLPDiscriminatorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = channels * resolution * resolution
        for h in opts.hidden:
            layers += [nn.Linear(width, h), leaky_relu(opts.slope)]
            width = h
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view(-1)  # not head(features(x)): slicing the Sequential costs time every step

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer's activations (B, F), which a class-conditional D projects its classes onto."""
        return self.net[:-1](x.flatten(1))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """One score per image (B,) from :meth:`features`."""
        return self.net[-1](h).view(-1)


GENERATORS.register("mlp", MLPGeneratorOptions)(MLPGenerator)
DISCRIMINATORS.register("mlp", MLPDiscriminatorOptions)(MLPDiscriminator)
