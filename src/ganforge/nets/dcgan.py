"""DCGAN networks: HW6 (seeds 002/003), MMagic (seed 004) and ganforge's default for 28/32 px."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import GanforgeError, did_you_mean
from ..registry import DISCRIMINATORS, GENERATORS
from .init import dcgan_init
from .layers import ConvsThenLinear, ImageOutputConv2d, leaky_relu


def _norm2d(kind: str, channels: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":  # seed 002: WGAN-GP's D must not use BatchNorm
        return nn.InstanceNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    # spectral normalization wraps the layers rather than following them: the config's switch, for every network
    hint = (" Spectral normalization is model.discriminator.spectral_norm=true, for any network (with norm=none "
            "beside it, as SNGAN's D)." if kind.casefold() in ("spectral", "spectral_norm", "sn")
            else did_you_mean(kind, ("batch", "instance", "none")))
    raise GanforgeError(f"discriminator option 'norm' must be batch, instance or none, got '{kind}'.{hint}")


def need_resolution(resolution: int, allowed: str, ok: bool, net: str) -> None:
    """Refuse a data.resolution that network ``net`` cannot make (``ok`` False), naming what it supports."""
    if not ok:
        raise GanforgeError(
            f"network '{net}' cannot produce {resolution}x{resolution} images; it supports {allowed}. "
            "Change data.resolution or pick another network."
        )


# ------------------------------------------------------------------ HW6 (seed 002)

@dataclass(frozen=True)
class HW6Options:
    """Args:
        feature_dim: base width; the widest layer has 8x this (seed: 64).
    """

    feature_dim: int = 64


@dataclass(frozen=True)
class HW6DiscriminatorOptions(HW6Options):
    """Args:
        norm: batch (DCGAN, WGAN) or instance (WGAN-GP). G has no such option: it always uses BatchNorm.
    """

    norm: str = "batch"


class HW6Generator(nn.Module):
    """Seed 002's G: Linear -> (8f, 4, 4) -> 3 x ConvT(k5 s2 p2 op1)+BN+ReLU -> ConvT -> Tanh, 64x64."""

    def __init__(self, opts: HW6Options, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        need_resolution(resolution, "64x64 only", resolution == 64, "hw6-dcgan")
        f = opts.feature_dim
        self.l1 = nn.Sequential(nn.Linear(z_dim, f * 8 * 4 * 4, bias=False), nn.BatchNorm1d(f * 8 * 4 * 4), nn.ReLU())
        self.l2 = nn.Sequential(*(self._up(f * 2 ** (3 - i), f * 2 ** (2 - i)) for i in range(3)))
        self.l3 = nn.Sequential(
            nn.ConvTranspose2d(f, channels, 5, 2, padding=2, output_padding=1, bias=False), nn.Tanh())
        dcgan_init(self)  # seed's weights_init: Conv* N(0, .02), BatchNorm* N(1, .02); Linear keeps torch's default

    @staticmethod
    def _up(cin: int, cout: int) -> nn.Sequential:
        return nn.Sequential(nn.ConvTranspose2d(cin, cout, 5, 2, padding=2, output_padding=1, bias=False),
                             nn.BatchNorm2d(cout), nn.ReLU(True))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.l1(z).view(z.shape[0], -1, 4, 4)  # (B, 8f, 4, 4)
        return self.l3(self.l2(y))  # (B, C, 64, 64)


class HW6Discriminator(nn.Module):
    """Seed 002's D: Conv(k4 s2 p1)+LReLU(.2), 3 x Conv+norm+LReLU, Conv(k4) -> logit (B,).

    The seed's final Sigmoid is dropped: WGAN needs raw scores and the vanilla
    loss applies the sigmoid itself (BCE with logits).
    """

    scores_each_image_alone = True  # with norm=instance; BatchNorm turns it off (nets.scores_each_image_alone)

    def __init__(self, opts: HW6DiscriminatorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        need_resolution(resolution, "64x64 only", resolution == 64, "hw6-dcgan")
        f = opts.feature_dim
        blocks = [nn.Sequential(nn.Conv2d(f * 2 ** i, f * 2 ** (i + 1), 4, 2, 1), _norm2d(opts.norm, f * 2 ** (i + 1)),
                                nn.LeakyReLU(0.2)) for i in range(3)]
        self.l1 = nn.Sequential(nn.Conv2d(channels, f, 4, 2, 1), nn.LeakyReLU(0.2), *blocks,
                                nn.Conv2d(f * 8, 1, 4, 1, 0))
        dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.l1(x).view(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The (8f, 4, 4) maps the last conv scores (a class-conditional D projects its classes onto them)."""
        return self.l1[:-1](x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """One score per image (B,) from :meth:`features`."""
        return self.l1[-1](h).view(-1)


# ------------------------------------------------------------------ MMagic (seed 004)

@dataclass(frozen=True)
class MMagicGeneratorOptions:
    """Args:
        base_channels: width at 4x4, halved at every upsampling (MMagic: 1024).
        input_scale: side of the first feature map.
    """

    base_channels: int = 1024
    input_scale: int = 4


@dataclass(frozen=True)
class MMagicDiscriminatorOptions:
    """Args:
        base_channels: width of the first conv, doubled at every downsampling (MMagic: 128).
        output_scale: side of the last feature map before the output conv.
        slope: LeakyReLU slope; mmcv's ConvModule default LeakyReLU is 0.01.
    """

    base_channels: int = 128
    output_scale: int = 4
    slope: float = 0.01


def _log2_steps(resolution: int, scale: int, net: str) -> int:
    steps = math.log2(resolution / scale) if resolution >= scale else -1
    need_resolution(resolution, f"{scale} x a power of two (>= {scale * 2})", steps >= 1 and steps == int(steps), net)
    return int(steps)


class MMagicDCGANGenerator(nn.Module):
    """MMagic's DCGANGenerator: ConvT(k4)->(base, 4, 4), ConvT(k4 s2 p1)+BN+ReLU halving widths, ConvT+Tanh.

    mmcv's ConvModule drops the conv bias where a norm follows; the output layer keeps it.
    """

    def __init__(self, opts: MMagicGeneratorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        n_up = _log2_steps(resolution, opts.input_scale, "mmagic-dcgan")
        c = opts.base_channels
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, c, opts.input_scale, 1, 0, bias=False),
                                   nn.BatchNorm2d(c), nn.ReLU(True)]
        for _ in range(n_up - 1):
            layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        layers += [nn.ConvTranspose2d(c, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self, bn_weight_mean=0.0, bn_weight_std=1.0)  # MMagic: nn.init.normal_(bn.weight)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class MMagicDCGANDiscriminator(nn.Module):
    """MMagic's DCGANDiscriminator: Conv(k4 s2 p1) downsamples (BN from the second), Conv(k4) -> logit (B,)."""

    scores_each_image_alone = True  # only at one level, where it has no BatchNorm (nets.scores_each_image_alone)

    def __init__(self, opts: MMagicDiscriminatorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        n_down = _log2_steps(resolution, opts.output_scale, "mmagic-dcgan")
        layers: list[nn.Module] = []
        cin = channels
        for i in range(n_down):
            cout = opts.base_channels * 2 ** i
            norm = i > 0
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm))
            if norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(leaky_relu(opts.slope))
            cin = cout
        layers.append(nn.Conv2d(cin, 1, opts.output_scale, 1, 0))
        self.net = nn.Sequential(*layers)
        dcgan_init(self, bn_weight_mean=0.0, bn_weight_std=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The maps the output conv scores (a class-conditional D projects its classes onto them)."""
        return self.net[:-1](x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """One score per image (B,) from :meth:`features`."""
        return self.net[-1](h).view(-1)


# ------------------------------------------------------------------ ganforge default (28/32 px)

@dataclass(frozen=True)
class DCGANOptions:
    """ganforge's DCGAN for small images (28 = 7 x 2^2, 32 = 4 x 2^3, ...).

    Args:
        base_channels: width at full resolution; doubled at every halving.
    """

    base_channels: int = 32


@dataclass(frozen=True)
class DCGANDiscriminatorOptions(DCGANOptions):
    """Args:
        norm: none (default), batch or instance. G has no such option: it always uses BatchNorm.
    """

    norm: str = "none"


def _small_dcgan_levels(resolution: int) -> tuple[int, int]:
    """(lowest side, number of x2 steps): 28 -> (7, 2), 32 -> (4, 3)."""
    side, steps = resolution, 0
    while side > 7 and side % 2 == 0:
        side, steps = side // 2, steps + 1
    need_resolution(resolution, "s x 2^k with 4 <= s <= 7 and k >= 1 (e.g. 28, 32, 48, 64)",
                    4 <= side <= 7 and steps >= 1, "dcgan")
    return side, steps


class DCGANGenerator(nn.Module):
    """Linear -> (base*2^k, s, s) -> k x [ConvT(k4 s2 p1)+BN+ReLU] -> Conv3x3 -> Tanh."""

    def __init__(self, opts: DCGANOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        super().__init__()
        side, steps = _small_dcgan_levels(resolution)
        c = opts.base_channels * 2 ** steps
        self.start = (c, side)
        self.fc = nn.Sequential(nn.Linear(z_dim, c * side * side, bias=False), nn.BatchNorm1d(c * side * side),
                                nn.ReLU(True))
        ups: list[nn.Module] = []
        for _ in range(steps):
            ups += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU(True)]
            c //= 2
        self.ups = nn.Sequential(*ups)
        self.out = nn.Sequential(ImageOutputConv2d(c, channels, 3, 1, 1), nn.Tanh())
        dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        c, s = self.start
        return self.out(self.ups(self.fc(z).view(z.shape[0], c, s, s)))


class DCGANDiscriminator(ConvsThenLinear):
    """k x [Conv(k4 s2 p1)+norm+LReLU(.2)] -> Linear -> logit (B,)."""

    def __init__(self, opts: DCGANDiscriminatorOptions, *, z_dim: int, channels: int, resolution: int) -> None:
        side, steps = _small_dcgan_levels(resolution)
        layers: list[nn.Module] = []
        cin, cout = channels, opts.base_channels * 2
        for i in range(steps):
            layers.append(nn.Conv2d(cin, cout, 4, 2, 1))
            if i > 0:  # no norm on the input layer (DCGAN)
                layers.append(_norm2d(opts.norm, cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            cin, cout = cout, cout * 2
        super().__init__(nn.Sequential(*layers), cin * side * side)
        dcgan_init(self)


GENERATORS.register("hw6-dcgan", HW6Options)(HW6Generator)
DISCRIMINATORS.register("hw6-dcgan", HW6DiscriminatorOptions)(HW6Discriminator)
GENERATORS.register("mmagic-dcgan", MMagicGeneratorOptions)(MMagicDCGANGenerator)
DISCRIMINATORS.register("mmagic-dcgan", MMagicDiscriminatorOptions)(MMagicDCGANDiscriminator)
GENERATORS.register("dcgan", DCGANOptions)(DCGANGenerator)
DISCRIMINATORS.register("dcgan", DCGANDiscriminatorOptions)(DCGANDiscriminator)
# seed 004's config names MMagic's classes (ganforge's own DCGANGenerator is "dcgan", another network)
GENERATORS.known_as("mmagic-dcgan", DCGANGenerator="MMagic's")
DISCRIMINATORS.known_as("mmagic-dcgan", DCGANDiscriminator="MMagic's")
