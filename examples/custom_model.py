"""Your own generator, discriminator and loss, plugged into ganforge by name.

Seed 004 ("design your own model") registers modules and names them in a
config. ganforge does the same with three small registries: decorate your
classes, list this file under ``plugins`` in a config (see custom_model.toml),
and train it like any preset:

    ganforge train examples/custom_model.toml --out runs/custom

Each network declares a frozen dataclass of options; the config's
``options`` table is checked against it (unknown keys and wrong types are
errors before anything starts). A network registered without one takes its
options as its ``__init__``'s own keyword arguments, as MMagic passes them. Networks get ``z_dim``, ``channels`` and
``resolution`` from the config; G maps (B, z_dim) to (B, C, H, W) in [-1, 1],
D maps images to one score per image (B,).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganforge.losses import AdversarialLoss, register_loss
from ganforge.registry import DISCRIMINATORS, GENERATORS


@dataclass(frozen=True)
class UpsampleGOptions:
    """Args:
        width: channels of the first feature map.
    """

    width: int = 64


@GENERATORS.register("example-upsample", UpsampleGOptions)
class UpsampleGenerator(nn.Module):
    """Linear to (width, R/4, R/4), then two nearest-neighbour upsamplings with 3x3 convs."""

    def __init__(self, opts: UpsampleGOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        self.side, self.width = resolution // 4, opts.width
        self.fc = nn.Linear(z_dim, opts.width * self.side ** 2)
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2), nn.Conv2d(opts.width, opts.width // 2, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(opts.width // 2, channels, 3, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.fc(z).view(-1, self.width, self.side, self.side))


@dataclass(frozen=True)
class TinyDOptions:
    """Args:
        width: channels of the first conv.
    """

    width: int = 32


@DISCRIMINATORS.register("example-tiny", TinyDOptions)
class TinyDiscriminator(nn.Module):
    """Two strided convs and a global average pool."""

    def __init__(self, opts: TinyDOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(channels, opts.width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(opts.width, 2 * opts.width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(2 * opts.width, 1, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).mean((1, 2, 3))  # (B,)


# A loss is three functions of D's scores: D's real term, D's fake term, G's loss.
# This one is the non-saturating loss written with softplus (softplus(-x) = -log sigmoid(x)).
register_loss("example-softplus", AdversarialLoss(
    d_real=lambda r: F.softplus(-r).mean(),
    d_fake=lambda f: F.softplus(f).mean(),
    g=lambda f: F.softplus(-f).mean(),
))
