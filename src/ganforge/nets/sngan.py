"""SNGAN's "standard CNN" (Miyato et al., 2018, CIFAR-10 and STL-10), as the authors' Chainer code builds it.

The discriminator is a plain CNN: spectral normalization is the config's
``model.discriminator.spectral_norm`` (on in the ``sngan-cifar10`` preset), so the
same network trains with or without it, as in the paper's comparisons.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..registry import DISCRIMINATORS, GENERATORS
from .dcgan import need_resolution
from .layers import ConvsThenLinear, ImageOutputConv2d, leaky_relu

UPSAMPLINGS = 3  # G starts at resolution / 8 (4x4 for CIFAR-10, 6x6 for STL-10's 48x48)


@dataclass(frozen=True)
class SNGANGeneratorOptions:
    """Args:
        base_channels: width at the lowest resolution, halved at each of the three upsamplings (paper: 512).
    """

    base_channels: int = 512


@dataclass(frozen=True)
class SNGANDiscriminatorOptions:
    """Args:
        base_channels: width of the first conv; the widths are b, 2b, 2b, 4b, 4b, 8b, 8b (paper: 64).
        slope: LeakyReLU slope (paper: 0.1).
    """

    base_channels: int = 64
    slope: float = 0.1


def _bottom(resolution: int, net: str) -> int:
    need_resolution(resolution, "multiples of 8 (32 for CIFAR-10, 48 for STL-10)", resolution % 8 == 0, net)
    return resolution // 2 ** UPSAMPLINGS


def _init(module: nn.Module) -> None:
    """N(0, 0.02) weights and zero biases for every conv and linear layer (the Chainer code's initializer)."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class SNGANGenerator(nn.Module):
    """Linear -> (b, M, M) + BN + ReLU -> 3 x [ConvT(k4 s2 p1) + BN + ReLU] -> Conv3x3 -> Tanh, M = resolution / 8."""

    def __init__(self, opts: SNGANGeneratorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        side, c = _bottom(resolution, "sngan-cnn"), opts.base_channels
        self.start = (c, side)
        self.fc = nn.Linear(z_dim, c * side * side)
        layers: list[nn.Module] = [nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(UPSAMPLINGS):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [ImageOutputConv2d(c, channels, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        _init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, s = self.start
        return self.net(self.fc(z).view(z.shape[0], c, s, s))


class SNGANDiscriminator(ConvsThenLinear):
    """Conv3x3 s1, then 3 x [Conv4x4 s2, Conv3x3 s1], each + LeakyReLU(0.1), then Linear -> logit (B,); no norm layers."""

    def __init__(self, opts: SNGANDiscriminatorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        side, b = _bottom(resolution, "sngan-cnn"), opts.base_channels
        layers: list[nn.Module] = [nn.Conv2d(channels, b, 3, 1, 1), leaky_relu(opts.slope)]
        c = b
        for _ in range(UPSAMPLINGS):
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), leaky_relu(opts.slope),
                       nn.Conv2d(2 * c, 2 * c, 3, 1, 1), leaky_relu(opts.slope)]
            c *= 2
        super().__init__(nn.Sequential(*layers), c * side * side)
        _init(self)


GENERATORS.register("sngan-cnn", SNGANGeneratorOptions)(SNGANGenerator)
DISCRIMINATORS.register("sngan-cnn", SNGANDiscriminatorOptions)(SNGANDiscriminator)
